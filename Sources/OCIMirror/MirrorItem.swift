import OCIKit

/// One unit of a sync: a tag to copy, skip or delete, or a listing that failed; planned, then done or failed.
public struct MirrorItem: Sendable, Encodable {
    public enum Action: String, Sendable, Encodable {
        /// The destination lacks the tag or has another digest.
        case copy
        /// The destination has the tag at the digest the copy would write.
        case skip
        /// The destination has a tag the source no longer has (`prune: true`).
        case delete
        /// Listing the repositories or tags of a source failed (the item says which and why).
        case list
    }

    public enum Status: String, Sendable, Encodable {
        /// In the plan (a dry run stops here).
        case planned
        /// Done: copied, found unchanged, or deleted.
        case done
        /// Failed; `error` says why.
        case failed
        /// Not run, because an earlier item failed and the sync was not told to keep going.
        case notRun = "not-run"
    }

    /// The job's index in the configuration's `sync` list (from 0).
    public var job: Int
    /// The source location of the tag (`host/repo:tag`, `ocidir://PATH:TAG`, ...).
    public var source: String
    /// The destination location of the tag.
    public var destination: String
    public var tag: String
    public var action: Action
    public var status: Status
    /// Why the action was chosen ("missing at the destination", "unchanged", ...).
    public var reason: String?
    /// The digest the destination gets (the source's root, or the platform selection's).
    public var sourceDigest: String?
    /// The digest the destination had.
    public var destinationDigest: String?
    /// What a copy did: nodes copied, skipped and mounted, blob bytes moved, referrers copied.
    public var copied = 0
    public var skipped = 0
    public var mounted = 0
    public var bytes: Int64 = 0
    public var referrers = 0
    /// For a deletion from a layout or an archive: the blobs that no remaining tag reached any more, removed
    /// after the run's deletions from that store (counted on its first deletion item).
    public var removedBlobs = 0
    public var removedBytes: Int64 = 0
    /// Why the item failed.
    public var error: String?

    /// The source's root as resolved while planning (not encoded).
    var root: Descriptor?

    init(job: Int, source: String, destination: String, tag: String, action: Action, status: Status = .planned,
         reason: String? = nil) {
        self.job = job
        self.source = source
        self.destination = destination
        self.tag = tag
        self.action = action
        self.status = status
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case job, source, destination, tag, action, status, reason, sourceDigest, destinationDigest, copied, skipped,
             mounted, bytes, referrers, removedBlobs, removedBytes, error
    }
}

/// What a sync did (or, for a dry run, would do).
public struct MirrorReport: Sendable, Encodable {
    /// Counts and time of a sync.
    public struct Summary: Sendable, Encodable, Equatable {
        /// Tags copied (or, in a dry run, to copy).
        public var copied = 0
        /// Tags found unchanged.
        public var skipped = 0
        /// Destination tags deleted (`prune`).
        public var deleted = 0
        /// Items that failed, and items not run after a failure.
        public var failed = 0
        public var notRun = 0
        /// Blob bytes moved.
        public var bytes: Int64 = 0
        /// Blobs removed from layouts and archives after prune deletions, and their bytes.
        public var removedBlobs = 0
        public var removedBytes: Int64 = 0
        /// Wall-clock seconds.
        public var seconds: Double = 0
        /// How often the engine waited for a host's rate-limit window (`rateLimit: wait`), and for how long in all.
        public var rateLimitWaits = 0
        public var rateLimitWaitSeconds = 0
    }

    public var dryRun: Bool
    /// The shard this run did (`K/N`), if any.
    public var shard: String?
    public var items: [MirrorItem]
    public var summary: Summary

    /// Whether anything failed (the command's exit status says so).
    public var hasFailures: Bool { summary.failed > 0 || summary.notRun > 0 }

    init(dryRun: Bool, shard: MirrorShard?, items: [MirrorItem], seconds: Double) {
        self.dryRun = dryRun
        self.shard = shard?.description
        self.items = items
        var summary = Summary()
        for item in items {
            switch item.status {
            case .failed: summary.failed += 1
            case .notRun: summary.notRun += 1
            case .done, .planned:
                switch item.action {
                case .copy: summary.copied += 1
                case .skip: summary.skipped += 1
                case .delete: summary.deleted += 1
                case .list: break
                }
            }
            summary.bytes += item.bytes
            summary.removedBlobs += item.removedBlobs
            summary.removedBytes += item.removedBytes
        }
        summary.seconds = seconds
        self.summary = summary
    }
}

/// What the engine reports while it runs.
public enum MirrorEvent: Sendable {
    /// An item was planned (every item, before anything moves).
    case planned(MirrorItem)
    /// An item finished (done or failed).
    case finished(MirrorItem)
    /// The engine waits for a host's rate-limit window (`rateLimit: wait`).
    case waiting(host: String, seconds: Int, reason: String)
}
