import OCISpec

/// Options for `copyGraph`.
public struct CopyOptions: Sendable {
    /// How many nodes are transferred at once.
    public var concurrency: Int
    /// Called when a node was copied, skipped because it exists, or mounted.
    public var onEvent: (@Sendable (CopyEvent) -> Void)?

    public init(concurrency: Int = 4, onEvent: (@Sendable (CopyEvent) -> Void)? = nil) {
        self.concurrency = max(1, concurrency)
        self.onEvent = onEvent
    }
}

/// What happened to one node during a copy.
public enum CopyEvent: Sendable {
    case copied(Descriptor)
    case skipped(Descriptor)
}

/// Copies the graph rooted at `root` from `source` to `destination`: children before parents, so that every
/// manifest's blobs exist before the manifest does. A node that already exists at the destination is skipped;
/// for a manifest that exists, its whole subgraph is skipped. A node shared by several parents moves once.
public func copyGraph(
    from source: any ContentFetcher, to destination: any ContentFetcher & ContentPusher,
    root: Descriptor, options: CopyOptions = CopyOptions()
) async throws {
    let tracker = CopyTracker()
    try await copyNode(root, source: source, destination: destination, options: options, tracker: tracker)
}

actor CopyTracker {
    private var inFlight: [Digest: Task<Void, any Error>] = [:]

    /// Runs `work` once per digest; later callers wait for the first one's outcome.
    func once(_ digest: Digest, _ work: @escaping @Sendable () async throws -> Void) async throws {
        if let existing = inFlight[digest] { return try await existing.value }
        let task = Task { try await work() }
        inFlight[digest] = task
        try await task.value
    }
}

/// Limits concurrent work to a fixed number of slots.
public actor ConcurrencyLimiter {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init(limit: Int) { available = max(1, limit) }

    public func acquire() async {
        if available > 0 { available -= 1; return }
        await withCheckedContinuation { waiters.append($0) }
    }

    public func release() {
        if waiters.isEmpty { available += 1 } else { waiters.removeFirst().resume() }
    }

    /// Runs `body` while holding a slot.
    public func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
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

private func copyNode(
    _ node: Descriptor, source: any ContentFetcher, destination: any ContentFetcher & ContentPusher,
    options: CopyOptions, tracker: CopyTracker, limiter: ConcurrencyLimiter? = nil
) async throws {
    let limiter = limiter ?? ConcurrencyLimiter(limit: options.concurrency)
    try await tracker.once(node.digest) {
        if try await destination.exists(node) {
            options.onEvent?(.skipped(node))
            return
        }
        if MediaType.isManifest(node.mediaType) {
            let bytes = try await limiter.run { try await source.fetchAll(node) }
            let document = try ManifestDocument.decode(bytes, mediaType: node.mediaType)
            let children = document.children
            try await withThrowingTaskGroup(of: Void.self) { group in
                for child in children {
                    group.addTask {
                        try await copyNode(child, source: source, destination: destination, options: options,
                                           tracker: tracker, limiter: limiter)
                    }
                }
                try await group.waitForAll()
            }
            try await limiter.run { try await destination.push(node, content: ByteStream(bytes: bytes)) }
        } else {
            try await limiter.run {
                let stream = try await source.fetch(node)
                try await destination.push(node, content: stream)
            }
        }
        options.onEvent?(.copied(node))
    }
}
