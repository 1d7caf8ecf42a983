import OCISpec
import OCISync

/// Options for `OCI.copyGraph`.
public struct GraphCopyOptions: Sendable {
    /// How many blobs are transferred at once. Manifests do not wait for these slots, so small requests are
    /// never starved behind large blobs.
    public var concurrency: Int
    /// Repositories of the destination's registry that may hold a blob, tried as cross-repository mounts
    /// before uploading (only when the destination is a `BlobMounter`). When nil, the destination's own
    /// `mountSources` are tried.
    public var mountFrom: (@Sendable (Descriptor) -> [String])?
    /// Called for every event of the copy (from several tasks at once).
    public var onEvent: (@Sendable (CopyEvent) -> Void)?
    /// A tag for the root manifest. A destination that is a `ManifestWriter` gets the root in one request under
    /// this tag; others get it by digest, and the caller tags it (`GraphCopyOutcome.rootTagged` says which).
    public var rootTag: String?

    /// Blobs of at most `smallBlobSize` bytes move in slots of their own, `smallBlobConcurrency` at once: their
    /// transfers are bound by round trips, not bandwidth, so more of them in flight finish sooner, and they never
    /// wait behind large blobs. 0 puts every blob in the `concurrency` slots.
    public var smallBlobSize: Int64
    public var smallBlobConcurrency: Int

    public init(concurrency: Int = 4, mountFrom: (@Sendable (Descriptor) -> [String])? = nil,
                onEvent: (@Sendable (CopyEvent) -> Void)? = nil, rootTag: String? = nil,
                smallBlobSize: Int64 = 1 << 20, smallBlobConcurrency: Int = 16) {
        self.concurrency = max(1, concurrency)
        self.mountFrom = mountFrom
        self.onEvent = onEvent
        self.rootTag = rootTag
        self.smallBlobSize = max(0, smallBlobSize)
        self.smallBlobConcurrency = max(1, smallBlobConcurrency)
    }
}

/// What `OCI.copyGraph` did with the root.
public struct GraphCopyOutcome: Sendable {
    /// Whether the root was pushed under `GraphCopyOptions.rootTag` (so it needs no separate tagging).
    public var rootTagged: Bool
}

/// What happened to one node during a copy.
public enum CopyEvent: Sendable {
    /// A transfer of the node began.
    case started(Descriptor)
    /// Bytes of the node's content moved (a running count for this node).
    case progress(Descriptor, bytes: Int64)
    /// The node was copied.
    case copied(Descriptor)
    /// The destination already had the node (for a manifest: with its whole subgraph).
    case skipped(Descriptor)
    /// The blob was mounted from another repository instead of uploaded.
    case mounted(Descriptor, from: String)
}

/// Copies the graph rooted at `root` from `source` to `destination`: children before parents, so that every
/// manifest's blobs exist before the manifest does. A node that already exists at the destination is skipped;
/// for a manifest that exists, its whole subgraph is skipped. A node shared by several parents moves once.
extension OCI {
    @discardableResult
    public static func copyGraph(
        from source: any ContentFetcher, to destination: any ContentFetcher & ContentPusher,
        root: Descriptor, options: GraphCopyOptions = GraphCopyOptions()
    ) async throws -> GraphCopyOutcome {
        let context = CopyContext(source: source, destination: destination, options: options, root: root.digest)
        try await context.copy(root)
        return GraphCopyOutcome(rootTagged: context.rootTagged.current)
    }
}

/// Shared state of one graph copy.
final class CopyContext: Sendable {
    let source: any ContentFetcher
    let destination: any ContentFetcher & ContentPusher
    let options: GraphCopyOptions
    let tracker = CopyTracker()
    let blobSlots: ConcurrencyLimiter
    let smallBlobSlots: ConcurrencyLimiter
    let root: OCIDigest
    let rootTagged = Locked(false)
    /// The destination's optional capabilities, looked up once per copy rather than once per node.
    let mounter: (any BlobMounter)?
    let manifestWriter: (any ManifestWriter)?
    let uncheckedPusher: (any UncheckedBlobPusher)?
    /// Blobs up to this size are pushed without an existence check (-1: every blob is checked).
    let uncheckedPushLimit: Int64

    init(source: any ContentFetcher, destination: any ContentFetcher & ContentPusher, options: GraphCopyOptions,
         root: OCIDigest) {
        self.source = source
        self.destination = destination
        self.options = options
        self.root = root
        self.blobSlots = ConcurrencyLimiter(limit: options.concurrency)
        self.smallBlobSlots = ConcurrencyLimiter(limit: options.smallBlobConcurrency)
        self.mounter = destination as? any BlobMounter
        self.manifestWriter = destination as? any ManifestWriter
        self.uncheckedPusher = destination as? any UncheckedBlobPusher
        self.uncheckedPushLimit = uncheckedPusher?.uncheckedPushLimit ?? -1
    }

    func copy(_ node: Descriptor) async throws {
        try await tracker.once(node.digest) { try await self.copyOnce(node) }
    }

    private func copyOnce(_ node: Descriptor) async throws {
        let emit = options.onEvent
        let unchecked = node.size >= 0 && node.size <= uncheckedPushLimit && !MediaType.isManifest(node.mediaType)
        if !unchecked, try await destination.exists(node) {
            emit?(.skipped(node))
            return
        }
        if MediaType.isManifest(node.mediaType) {
            let bytes = try await source.fetchAll(node)
            let children = try ManifestDocument.decode(bytes, mediaType: node.mediaType).children
            try await withThrowingTaskGroup(of: Void.self) { group in
                for child in children {
                    group.addTask { try await self.copy(child) }
                }
                try await group.waitForAll()
            }
            emit?(.started(node))
            if node.digest == root, let tag = options.rootTag, let writer = manifestWriter {
                try await writer.pushManifest(bytes, mediaType: node.mediaType, reference: tag)
                rootTagged.withLock { $0 = true }
            } else {
                try await destination.push(node, content: ByteStream(bytes: bytes))
            }
            emit?(.copied(node))
            return
        }
        let pushUnchecked = unchecked ? uncheckedPusher : nil
        let small = node.size >= 0 && node.size <= options.smallBlobSize
        try await (small ? smallBlobSlots : blobSlots).run {
            if let mounter = self.mounter {
                let candidates = self.options.mountFrom?(node) ?? mounter.mountSources
                for repository in candidates {
                    // A mount is an optimisation: whatever the refusal (Harbor answers 401 without a challenge
                    // when the source project is missing, others 404 or 5xx), the blob is uploaded instead.
                    let mounted: Bool
                    do {
                        mounted = try await mounter.mount(node, fromRepository: repository)
                    } catch is CancellationError {
                        throw CancellationError()
                    } catch {
                        try Task.checkCancellation()
                        mounted = false
                    }
                    if mounted {
                        emit?(.mounted(node, from: repository))
                        return
                    }
                }
            }
            emit?(.started(node))
            let source = self.source
            // A blob of unknown size (a schema1 layer) is opened first: the source's stream knows its length
            // (for a registry, the Content-Length it verifies against), and the destination needs it.
            var known = node
            let first = Locked<ByteStream?>(nil)
            if node.size < 0 {
                let stream = try await source.fetch(node)
                guard let length = stream.verification?.size, length >= 0 else {
                    throw ContentError.unsupported("the size of blob \(node.digest) is unknown and its source does not tell it")
                }
                known.size = length
                first.withLock { $0 = stream }
            }
            let sized = known
            let blobSource = BlobSource { offset in
                let opened = offset == 0 ? first.withLock { stream in defer { stream = nil }; return stream } : nil
                let stream: ByteStream
                if let opened { stream = opened } else { stream = try await source.fetch(sized, offset: offset) }
                guard let emit else { return stream }
                let counter = ByteCounter()
                _ = counter.add(Int(offset))
                return stream.onChunk { chunk in emit(.progress(sized, bytes: counter.add(chunk.count))) }
            }
            if let pushUnchecked {
                try await pushUnchecked.pushUnchecked(sized, source: blobSource)
            } else {
                try await self.destination.push(sized, source: blobSource)
            }
            emit?(.copied(sized))
        }
    }
}

/// A running byte count shared by one stream's chunks (one consumer at a time).
final class ByteCounter: @unchecked Sendable {
    private var total: Int64 = 0
    func add(_ n: Int) -> Int64 {
        total += Int64(n)
        return total
    }
    var value: Int64 { total }
}

actor CopyTracker {
    private var inFlight: [OCIDigest: Task<Void, any Error>] = [:]

    /// Runs `work` once per digest; later callers wait for the first one's outcome.
    func once(_ digest: OCIDigest, _ work: @escaping @Sendable () async throws -> Void) async throws {
        let task: Task<Void, any Error>
        if let existing = inFlight[digest] {
            task = existing
        } else {
            task = Task { try await work() }
            inFlight[digest] = task
        }
        try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }
}

/// Limits concurrent work to a fixed number of slots.
package actor ConcurrencyLimiter {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    package init(limit: Int) { available = max(1, limit) }

    package func acquire() async {
        if available > 0 { available -= 1; return }
        await withCheckedContinuation { waiters.append($0) }
    }

    package func release() {
        if waiters.isEmpty { available += 1 } else { waiters.removeFirst().resume() }
    }

    /// Runs `body` while holding a slot.
    package func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await acquire()
        do {
            let value = try await body()
            release()
            return value
        } catch {
            release()
            throw error
        }
    }
}
