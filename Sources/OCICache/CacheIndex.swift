import Foundation

/// The in-memory index of a cache layer: size, hit counts and creation time per entry, and the eviction order
/// (the `Index` of the Go package). A value type; the cache guards it with its lock.
public struct CacheIndex: Sendable, Equatable {
    /// One cached entry.
    public struct Entry: Sendable, Equatable {
        /// The entry's name (`<algorithm>/<hex>` in the cache).
        public var name: String
        /// The entry's size in bytes.
        public var size: Int64
        /// Hits, decayed at each `reset`.
        public var hits: Int64
        /// When the entry was written (or, for entries found on disk, the file's modification time).
        public var createdAt: Date
        /// Hits since the last `reset`; they are kept in full at the next reset.
        public var hitsSinceLastReset: Int64

        public init(name: String, size: Int64, hits: Int64 = 0, createdAt: Date, hitsSinceLastReset: Int64 = 0) {
            self.name = name
            self.size = size
            self.hits = hits
            self.createdAt = createdAt
            self.hitsSinceLastReset = hitsSinceLastReset
        }
    }

    /// The entries by name.
    public private(set) var entries: [String: Entry] = [:]

    /// An empty index.
    public init() {}

    /// The number of entries.
    public var count: Int { entries.count }

    /// The entry named `name`, if any.
    public func get(_ name: String) -> Entry? { entries[name] }

    /// Adds or replaces an entry; its hits start at zero.
    public mutating func add(_ name: String, size: Int64, createdAt: Date) {
        entries[name] = Entry(name: name, size: size, createdAt: createdAt)
    }

    /// Removes an entry and returns it.
    @discardableResult
    public mutating func remove(_ name: String) -> Entry? { entries.removeValue(forKey: name) }

    /// Counts a hit; unknown names are ignored.
    public mutating func hit(_ name: String) {
        guard var e = entries[name] else { return }
        e.hits += 1
        e.hitsSinceLastReset += 1
        entries[name] = e
    }

    /// Decays the hits: `hits = floor(oldHits * preservedHitsProportion) + hitsSinceLastReset`.
    public mutating func reset(preservedHitsProportion: Double = 0.5) {
        for (name, var e) in entries {
            let old = e.hits - e.hitsSinceLastReset
            e.hits = Int64((Double(old) * preservedHitsProportion).rounded(.down)) + e.hitsSinceLastReset
            e.hitsSinceLastReset = 0
            entries[name] = e
        }
    }

    /// The entries in eviction order: lowest priority first. Ties go to the older entry, then by name.
    public func priorityList() -> [Entry] {
        guard let first = entries.values.first else { return [] }
        var minHits = first.hits, maxHits = first.hits
        var oldest = first.createdAt, newest = first.createdAt
        for e in entries.values {
            minHits = min(minHits, e.hits)
            maxHits = max(maxHits, e.hits)
            oldest = min(oldest, e.createdAt)
            newest = max(newest, e.createdAt)
        }
        return entries.values
            .map { (entry: $0, priority: Self.priority(of: $0, minHits: minHits, maxHits: maxHits, oldest: oldest, newest: newest)) }
            .sorted {
                if $0.priority != $1.priority { return $0.priority < $1.priority }
                if $0.entry.createdAt != $1.entry.createdAt { return $0.entry.createdAt < $1.entry.createdAt }
                return $0.entry.name < $1.entry.name
            }
            .map(\.entry)
    }

    /// The eviction priority of an entry (Go `CalculatePriority`): `0.6 * normalisedHits + 0.4 * normalisedAge`,
    /// where each term is scaled to [0, 1] between the index's extremes and a 0/0 term counts as 0.
    /// Fewer hits and an older creation time give a lower priority, which is evicted first.
    public static func priority(of entry: Entry, minHits: Int64, maxHits: Int64, oldest: Date, newest: Date) -> Double {
        var hitsValue = Double(entry.hits - minHits) / Double(maxHits - minHits)
        if !hitsValue.isFinite { hitsValue = 0 }
        var dateValue = entry.createdAt.timeIntervalSince(oldest) / newest.timeIntervalSince(oldest)
        if !dateValue.isFinite { dateValue = 0 }
        return 0.6 * hitsValue + 0.4 * dateValue
    }
}
