import OCISpec

/// Reads content by descriptor: the read side of every store (registry repository, OCI layout, memory, cache).
public protocol ContentFetcher: Sendable {
    /// Streams the content of `descriptor`. The stream is verified against the descriptor's digest and size.
    func fetch(_ descriptor: Descriptor) async throws -> ByteStream
    /// Whether the store has the content of `descriptor`.
    func exists(_ descriptor: Descriptor) async throws -> Bool
    /// Streams the content from `offset` on (not verifiable unless offset is 0). Has a default.
    func fetch(_ descriptor: Descriptor, offset: Int64) async throws -> ByteStream
}

/// Writes content by descriptor.
public protocol ContentPusher: Sendable {
    /// Stores `content`, which must match `descriptor`; content that does not match is not kept.
    func push(_ descriptor: Descriptor, content: ByteStream) async throws
    /// Stores content from a source that can be reopened at an offset, so that a failed transfer resumes.
    /// Has a default that opens the source once.
    func push(_ descriptor: Descriptor, source: BlobSource) async throws
}

/// Resolves a tag or digest to a descriptor.
public protocol ReferenceResolver: Sendable {
    /// Resolves a tag, or a digest string, to the descriptor of the manifest it names.
    func resolve(_ reference: String) async throws -> Descriptor
}

/// Points a tag at a manifest already in the store.
public protocol ReferenceTagger: Sendable {
    func tag(_ descriptor: Descriptor, as reference: String) async throws
}

/// Read access to a store that holds manifests and blobs: resolve, fetch, exists.
public protocol ReadOnlyTarget: ContentFetcher, ReferenceResolver {}

/// A read/write store: resolve, fetch, exists, push, tag. The graph copy works over any two targets.
public protocol Target: ReadOnlyTarget, ContentPusher, ReferenceTagger {}

/// A store that can list its tags.
public protocol TagLister: Sendable {
    func tags() async throws -> [String]
}

/// A store that can delete content.
public protocol ContentDeleter: Sendable {
    func delete(_ descriptor: Descriptor) async throws
}

/// A store that can mount a blob from another repository of the same registry instead of uploading it.
public protocol BlobMounter: Sendable {
    /// Tries to mount `descriptor` from `repository`; returns false when the registry wants an upload instead.
    func mount(_ descriptor: Descriptor, fromRepository repository: String) async throws -> Bool
}

extension ContentFetcher {
    /// Fetches the whole content into memory, refusing more than `limit` bytes.
    public func fetchAll(_ descriptor: Descriptor, limit: Int = ContentLimits.maxManifestBytes) async throws -> [UInt8] {
        guard descriptor.size <= Int64(limit) else { throw ContentError.tooLarge(limit: limit) }
        return try await fetch(descriptor).collect(upTo: limit)
    }
}

/// The namespace of the package's verbs (`OCI.copyGraph`, and in OCIKit `OCI.copy`, `OCI.pull`, `OCI.push`, ...).
/// Verbs are static functions here rather than free functions, so that a type's own `copy` never hides them.
public enum OCI {}
