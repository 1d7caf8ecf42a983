import Foundation
import OCISync

/// Everything the cache keeps in memory, guarded by one lock: the disk index and its byte count, the pins of
/// entries being read or written, and the in-memory overlay.
struct CacheState {
    var disk = CacheIndex()
    var diskSize: Int64 = 0
    /// Entries being read or committed, by name, with a count; garbage collection skips them.
    var pins: [String: Int] = [:]
    var overlay: [String: [UInt8]] = [:]
    var overlayIndex = CacheIndex()
    var overlaySize: Int64 = 0
    var lastDiskDecay: Date
    var lastOverlayDecay: Date
    var closed = false

    init(now: Date) {
        lastDiskDecay = now
        lastOverlayDecay = now
    }

    /// Adds or replaces a disk entry, keeping the byte count right when an entry is re-added.
    mutating func record(_ name: String, size: Int64, createdAt: Date) {
        if let old = disk.remove(name) { diskSize -= old.size }
        disk.add(name, size: size, createdAt: createdAt)
        diskSize += size
    }

    /// Adds an entry found on disk (written by another process) unless it is known with the same size.
    mutating func discover(_ name: String, size: Int64, modified: Date) {
        if let known = disk.get(name), known.size == size { return }
        record(name, size: size, createdAt: modified)
    }

    /// Drops a disk entry from the index.
    mutating func forget(_ name: String) {
        if let old = disk.remove(name) { diskSize -= old.size }
    }

    func isPinned(_ name: String) -> Bool { pins[name, default: 0] > 0 }

    /// Applies the hourly (configurable) hit decay to both indices, once per elapsed interval.
    mutating func decayIfDue(now: Date, disk diskGC: GarbageCollectionConfiguration,
                             overlay overlayGC: GarbageCollectionConfiguration) {
        Self.decay(&disk, last: &lastDiskDecay, now: now, config: diskGC)
        Self.decay(&overlayIndex, last: &lastOverlayDecay, now: now, config: overlayGC)
    }

    private static func decay(_ index: inout CacheIndex, last: inout Date, now: Date,
                              config: GarbageCollectionConfiguration) {
        let interval = config.resetSeconds
        guard interval > 0 else { return }
        let elapsed = now.timeIntervalSince(last)
        guard elapsed >= interval else { return }
        let periods = min(Int(elapsed / interval), 64)
        for _ in 0..<periods { index.reset(preservedHitsProportion: config.preservedHitsProportion) }
        last = periods == 64 ? now : last.addingTimeInterval(Double(periods) * interval)
    }

    /// Puts verified bytes into the overlay and evicts from it between its watermarks; the new entry is kept.
    mutating func fillOverlay(_ name: String, bytes: [UInt8], now: Date, limit: Int64,
                              gc: GarbageCollectionConfiguration) {
        let size = Int64(bytes.count)
        guard limit > 0, size <= limit, overlay[name] == nil else { return }
        overlay[name] = bytes
        overlayIndex.add(name, size: size, createdAt: now)
        overlaySize += size
        guard Double(overlaySize) >= gc.highThreshold * Double(limit) else { return }
        for entry in overlayIndex.priorityList() where entry.name != name {
            if Double(overlaySize) <= gc.lowThreshold * Double(limit) { break }
            removeFromOverlay(entry.name)
        }
    }

    mutating func removeFromOverlay(_ name: String) {
        guard overlay.removeValue(forKey: name) != nil else { return }
        if let e = overlayIndex.remove(name) { overlaySize -= e.size }
    }

    mutating func clearOverlay() {
        overlay = [:]
        overlayIndex = CacheIndex()
        overlaySize = 0
    }
}

/// Keeps an entry from being evicted while it is read or committed. Released explicitly or when dropped.
final class Pin: Sendable {
    private let state: Locked<CacheState>
    private let name: String
    private let released = Locked(false)

    init(_ name: String, in state: Locked<CacheState>) {
        self.state = state
        self.name = name
        state.withLock { $0.pins[name, default: 0] += 1 }
    }

    deinit { release() }

    func release() {
        let first = released.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        state.withLock { s in
            let n = s.pins[name, default: 0] - 1
            s.pins[name] = n > 0 ? n : nil
        }
    }
}
