import Foundation
import Logging
import Metrics

/// How a `ContentCache` is set up.
public struct CacheOptions: Sendable {
    /// The cache directory; nil makes a temporary directory that `close()` removes.
    /// Use `ContentCache.defaultDirectory()` for the shared per-user cache (`OCI_CACHE_DIR`).
    public var directory: String?
    /// The disk size limit in bytes; nil or 0 means unlimited (no garbage collection).
    /// Parse quantities such as `"10Gi"` with `ByteQuantity.parse`.
    public var sizeLimit: Int64?
    /// Garbage collection of the disk layer.
    public var gc: GarbageCollectionConfiguration
    /// Whether verified reads from disk are kept in memory and served from there first.
    public var inMemoryOverlay: Bool
    /// The size limit of the in-memory overlay (default 200 MiB).
    public var overlaySizeLimit: Int64
    /// Garbage collection of the in-memory overlay.
    public var overlayGC: GarbageCollectionConfiguration
    /// The cache identity: the `id` dimension of the metrics (default a random UUID).
    public var id: String
    /// The metrics backend; nil uses `MetricsSystem.factory` at open.
    public var metricsFactory: (any MetricsFactory)?
    /// Where warnings (corrupt entries, write failures) and debug details go.
    public var logger: Logger
    /// Entries up to this size are read and verified in full before `fetch` returns, so a corrupt entry is a
    /// plain miss; larger entries are verified while the caller reads them (default 4 MiB).
    public var eagerVerificationLimit: Int64
    /// Temporary files younger than this may belong to a writer in another process and are never removed by
    /// garbage collection, prune or open (default one hour).
    public var temporaryFileMaxAge: Duration
    /// How long a fetch waits for a download of the same digest by another caller of this cache to make progress
    /// before it downloads on its own (default 60 seconds).
    public var coalescingStallTimeout: Duration
    /// The clock used for entry ages and hit decay.
    public var clock: @Sendable () -> Date
    /// For the resumable read-through (`ContentCache.fetch(_:orDownloadFrom:)`, which `CachingFetcher` uses):
    /// whether a download that fails in this process (the upstream broke off after its own retries, or the reader
    /// stopped) keeps its partial entry for the next miss to resume. Default false: a failure the process sees
    /// leaves nothing partial, as for layouts; only a process that dies (SIGKILL, a power cut) leaves its partial
    /// entry, and the next miss resumes it.
    public var keepsBrokenDownloads: Bool

    /// Options with the defaults: a temporary directory, no size limit, no overlay.
    public init(directory: String? = nil, sizeLimit: Int64? = nil, inMemoryOverlay: Bool = false,
                overlaySizeLimit: Int64 = 200 * 1024 * 1024,
                gc: GarbageCollectionConfiguration = GarbageCollectionConfiguration(),
                overlayGC: GarbageCollectionConfiguration = GarbageCollectionConfiguration(),
                id: String = UUID().uuidString.lowercased(),
                metricsFactory: (any MetricsFactory)? = nil,
                logger: Logger = Logger(label: "ociclient.cache")) {
        self.directory = directory
        self.sizeLimit = sizeLimit
        self.gc = gc
        self.inMemoryOverlay = inMemoryOverlay
        self.overlaySizeLimit = overlaySizeLimit
        self.overlayGC = overlayGC
        self.id = id
        self.metricsFactory = metricsFactory
        self.logger = logger
        self.eagerVerificationLimit = 4 * 1024 * 1024
        self.temporaryFileMaxAge = .seconds(3600)
        self.coalescingStallTimeout = .seconds(60)
        self.clock = { Date() }
        self.keepsBrokenDownloads = false
    }

    func validate() throws(CacheError) {
        if let limit = sizeLimit, limit < 0 {
            throw .invalidConfiguration("the size limit \(limit) must not be negative")
        }
        guard overlaySizeLimit >= 0 else {
            throw .invalidConfiguration("the overlay size limit \(overlaySizeLimit) must not be negative")
        }
        try gc.validate("disk")
        try overlayGC.validate("overlay")
        guard coalescingStallTimeout > .zero else {
            throw .invalidConfiguration("the coalescing stall timeout must be positive")
        }
    }
}

/// What the cache holds: the disk layer's limit, usage and item count, and the overlay's.
public struct CacheInfo: Sendable, Equatable {
    /// The disk size limit in bytes; 0 means unlimited.
    public var size: Int64
    /// The bytes held on disk (as this process knows them).
    public var currentSize: Int64
    /// The number of entries on disk.
    public var items: Int
    /// The overlay's size limit in bytes; 0 when there is no overlay.
    public var overlaySize: Int64
    /// The bytes held in the overlay.
    public var overlayCurrentSize: Int64
    /// The number of entries in the overlay.
    public var overlayItems: Int

    /// Usage figures; the overlay's default to zero.
    public init(size: Int64, currentSize: Int64, items: Int,
                overlaySize: Int64 = 0, overlayCurrentSize: Int64 = 0, overlayItems: Int = 0) {
        self.size = size
        self.currentSize = currentSize
        self.items = items
        self.overlaySize = overlaySize
        self.overlayCurrentSize = overlayCurrentSize
        self.overlayItems = overlayItems
    }
}
