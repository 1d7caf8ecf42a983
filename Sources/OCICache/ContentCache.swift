import Foundation
import Logging
import Metrics
import OCIContent
import OCISpec
import OCISync

/// A verified, size-bounded content cache keyed by digest (`ROOT/blobs/<algorithm>/<hex>`), usable as a content
/// store and as a read-through cache in front of any fetcher (`fetch(_:orDownload:)`, `CachingFetcher`).
///
/// - Every read re-checks size and digest while it streams; a corrupt or truncated entry is deleted and is a miss.
/// - Writes go to a uniquely named temporary file and are renamed into place only after verification, so
///   processes sharing the directory never see partial entries and never remove each other's writes in progress.
/// - With a size limit, garbage collection evicts by priority (hits decayed over time, then age) between the
///   high and low watermarks, and never evicts an entry being read or committed.
/// - An optional in-memory overlay keeps verified reads and serves them first.
public final class ContentCache: ContentFetcher, ContentPusher, Sendable {
    /// The cache directory.
    public let directory: String
    /// The cache identity (the metrics `id`).
    public let id: String

    let layout: DiskLayout
    let logger: Logger
    let metrics: CacheMetrics
    let state: Locked<CacheState>
    let flights = FlightTable()
    let sizeLimit: Int64?
    let gc: GarbageCollectionConfiguration
    let overlayLimit: Int64?
    let overlayGC: GarbageCollectionConfiguration
    let eagerVerificationLimit: Int64
    let temporaryMaxAge: Double
    let stallTimeout: Duration
    let keepsBrokenDownloads: Bool
    let clock: @Sendable () -> Date
    private let ownsDirectory: Bool
    private let writeFailureReported = Locked(false)

    /// Opens (creating if needed) the cache directory and rebuilds the index from the files in it.
    ///
    /// Throws when the options are invalid or the path is not a directory. A directory that cannot be written
    /// (read-only, a file where `blobs` should be) is logged and leaves a cache whose writes fail with
    /// `CacheError.writeFailed` and whose read-through passes downloads through uncached.
    public init(options: CacheOptions = CacheOptions()) throws {
        try options.validate()
        id = options.id
        logger = options.logger
        clock = options.clock
        sizeLimit = (options.sizeLimit ?? 0) > 0 ? options.sizeLimit : nil
        gc = options.gc
        overlayLimit = options.inMemoryOverlay ? options.overlaySizeLimit : nil
        overlayGC = options.overlayGC
        eagerVerificationLimit = options.eagerVerificationLimit
        temporaryMaxAge = Self.seconds(options.temporaryFileMaxAge)
        stallTimeout = options.coalescingStallTimeout
        keepsBrokenDownloads = options.keepsBrokenDownloads
        metrics = CacheMetrics(id: options.id, factory: options.metricsFactory ?? MetricsSystem.factory)

        if let dir = options.directory {
            directory = dir
            ownsDirectory = false
        } else {
            let base = NSTemporaryDirectory()
            directory = (base.hasSuffix("/") ? base : base + "/") + "ociclient-cache-\(UUID().uuidString.lowercased())"
            ownsDirectory = true
        }
        layout = DiskLayout(root: directory)
        do {
            if !DiskLayout.isDirectory(directory) {
                // mkdir -p copes with another process creating the directory at the same moment; only a path
                // that is still no directory afterwards is the user's mistake.
                do {
                    try DiskLayout.makeDirectories(directory)
                } catch {
                    if !DiskLayout.isDirectory(directory), case .success = FileStatus.of(directory) {
                        throw CacheError.notADirectory(path: directory)
                    }
                    throw error
                }
            }
            try layout.prepareDirectory(for: .sha256)
        } catch CacheError.notADirectory(let path) {
            throw CacheError.notADirectory(path: path)
        } catch {
            if ownsDirectory { throw error }
            options.logger.warning("the cache cannot store anything: \(error)")
        }

        let now = options.clock()
        var initial = CacheState(now: now)
        let layout = self.layout
        let maxAge = temporaryMaxAge
        for entry in layout.withFileLock({ layout.scan(now: now, temporaryMaxAge: maxAge) }) {
            initial.record(entry.name, size: entry.size, createdAt: entry.modified)
        }
        state = Locked(initial)
        metrics.publishDisk(size: initial.diskSize, items: initial.disk.count)
        metrics.publishOverlay(size: 0)
        collectGarbage()
    }

    deinit {
        let wasClosed = state.withLock { $0.closed }
        if ownsDirectory, !wasClosed { try? FileManager.default.removeItem(atPath: directory) }
    }

    // MARK: Content protocols

    /// Streams a cached entry, verified while it is read; throws `ContentError.notFound` on a miss.
    ///
    /// Entries up to `eagerVerificationLimit` are verified before this returns, so a corrupt one is deleted
    /// and reported as not found. Larger ones fail the stream's last read on a mismatch and are deleted then.
    public func fetch(_ descriptor: Descriptor) async throws -> ByteStream {
        try checkOpen()
        if let hit = try lookup(descriptor) { return hit }
        throw ContentError.notFound("\(descriptor.digest) in the cache at \(directory)")
    }

    /// Whether an entry with the descriptor's digest and size is cached (without reading it).
    public func exists(_ descriptor: Descriptor) async throws -> Bool {
        try checkOpen()
        guard descriptor.size >= 0 else { return false }
        let name = DiskLayout.name(of: descriptor.digest)
        if overlayLimit != nil, state.withLock({ $0.overlay[name]?.count }) == Int(clamping: descriptor.size) {
            return true
        }
        switch FileStatus.of(layout.path(of: name)) {
        case .success(let st) where st.isRegularFile && st.size == descriptor.size:
            update { $0.discover(name, size: st.size, modified: st.modified) }
            return true
        case .failure(let e) where e.isMissing:
            update { $0.forget(name) }
            return false
        default:
            return false
        }
    }

    /// Stores verified content. Nothing is kept when the content does not match the descriptor; an entry that is
    /// already cached is left as it is without reading `content`.
    public func push(_ descriptor: Descriptor, content: ByteStream) async throws {
        try checkOpen()
        guard descriptor.size >= 0 else {
            throw CacheError.invalidDescriptor(digest: descriptor.digest, reason: "the size \(descriptor.size) is negative")
        }
        if let limit = sizeLimit, descriptor.size > limit {
            throw CacheError.entryTooLarge(digest: descriptor.digest, size: descriptor.size, limit: limit)
        }
        let name = DiskLayout.name(of: descriptor.digest)
        if case .success(let st) = FileStatus.of(layout.path(of: name)), st.isRegularFile, st.size == descriptor.size {
            update { $0.discover(name, size: st.size, modified: st.modified) }
            return
        }
        let temporary = try layout.temporaryFile(for: name, algorithm: descriptor.digest.algorithm)
        do {
            let verified = content.verifying(VerificationTarget(digest: descriptor.digest, size: descriptor.size))
            for try await chunk in verified where !chunk.isEmpty { try temporary.append(chunk) }
        } catch {
            temporary.discard()
            throw error
        }
        try commit(temporary, descriptor)
    }

    // MARK: Info, prune, close

    /// The disk limit, usage and item count as this process knows them, and the overlay's.
    public func info() -> CacheInfo {
        state.withLock { s in
            CacheInfo(size: sizeLimit ?? 0, currentSize: s.diskSize, items: s.disk.count,
                      overlaySize: overlayLimit ?? 0, overlayCurrentSize: s.overlaySize, overlayItems: s.overlay.count)
        }
    }

    /// Removes every entry from disk (including other processes' committed entries) and clears the overlay.
    /// Temporary files of writes in progress are left alone unless they are older than `temporaryFileMaxAge`.
    /// Returns the number of disk entries removed.
    @discardableResult
    public func prune() -> Int {
        let now = clock()
        let maxAge = temporaryMaxAge
        let layout = self.layout
        return layout.withFileLock {
            var removed = 0
            for entry in layout.scan(now: now, temporaryMaxAge: maxAge) where layout.remove(entry.name) {
                removed += 1
            }
            update { s in
                s.disk = CacheIndex()
                s.diskSize = 0
                s.clearOverlay()
            }
            logger.debug("pruned \(removed) cache entries from \(directory)")
            return removed
        }
    }

    /// Closes the cache; a temporary directory made for it is removed. Calling it again does nothing.
    public func close() {
        let first = state.withLock { s -> Bool in
            guard !s.closed else { return false }
            s.closed = true
            s.clearOverlay()
            return true
        }
        guard first else { return }
        metrics.publishOverlay(size: 0)
        if ownsDirectory {
            do {
                try FileManager.default.removeItem(atPath: directory)
            } catch {
                logger.warning("cannot remove the temporary cache directory \(directory): \(error)")
            }
        }
    }

    // MARK: Internals shared by the read and write paths

    func checkOpen() throws(CacheError) {
        if state.withLock({ $0.closed }) { throw .closed }
    }

    /// Mutates the state and publishes the usage gauges.
    @discardableResult
    func update<R>(_ body: (inout CacheState) -> R) -> R {
        state.withLock { s in
            let result = body(&s)
            metrics.publishDisk(size: s.diskSize, items: s.disk.count)
            metrics.publishOverlay(size: s.overlaySize)
            return result
        }
    }

    /// Renames a verified temporary file into place, records it and runs garbage collection, keeping the new
    /// entry pinned meanwhile so it survives its own collection.
    func commit(_ temporary: TemporaryFile, _ descriptor: Descriptor) throws(CacheError) {
        try commitEntry(descriptor, discard: { temporary.discard() }) { () throws(CacheError) -> Int64 in
            try temporary.commit()
            return temporary.bytesWritten
        }
    }

    /// Moves a finished file into place as `descriptor`'s entry (`move` renames it and returns its size) and
    /// records it, under the file lock and pinned so that it survives the garbage collection that follows; a
    /// closed cache `discard`s the file instead.
    func commitEntry(_ descriptor: Descriptor, discard: () -> Void, move: () throws(CacheError) -> Int64) throws(CacheError) {
        let name = DiskLayout.name(of: descriptor.digest)
        let pin = Pin(name, in: state)
        defer { pin.release() }
        let now = clock()
        try layout.withFileLock { () throws(CacheError) -> Void in
            if state.withLock({ $0.closed }) {
                discard()
                throw CacheError.closed
            }
            let size = try move()
            update { $0.record(name, size: size, createdAt: now) }
        }
        collectGarbage()
    }

    /// Logs that a download could not be cached: the first failure as a warning, later ones at debug level.
    func reportWriteFailure(_ digest: OCIDigest, _ error: any Error) {
        if case CacheError.closed = error {
            logger.debug("not caching \(digest): the cache is closed")
            return
        }
        let first = writeFailureReported.withLock { reported -> Bool in
            defer { reported = true }
            return !reported
        }
        if first {
            logger.warning("not caching \(digest): \(error) (later write failures are logged at debug level)")
        } else {
            logger.debug("not caching \(digest): \(error)")
        }
    }

    static func seconds(_ d: Duration) -> Double {
        let c = d.components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}
