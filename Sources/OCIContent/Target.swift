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
    /// The repositories this store was told it may mount from; the graph copy tries them for every blob when
    /// its options name none. Declared once, where the store is made (its token scopes include them).
    var mountSources: [String] { get }
    /// Tries to mount `descriptor` from `repository`; returns false when the registry wants an upload instead.
    func mount(_ descriptor: Descriptor, fromRepository repository: String) async throws -> Bool
}

/// A store for which sending a small blob costs about what asking whether it has the blob costs (a registry: one
/// round trip either way on a warm connection). `OCI.copyGraph` pushes blobs of at most `uncheckedPushLimit`
/// bytes with `pushUnchecked`, without calling `exists` first, which saves one request per small blob.
public protocol UncheckedBlobPusher: Sendable {
    var uncheckedPushLimit: Int64 { get }
    /// Pushes a blob without an existence check first (the store may still find out on the way that it has it).
    func pushUnchecked(_ descriptor: Descriptor, source: BlobSource) async throws
}

/// A store that fetches a manifest by tag or digest in one request, bytes exactly as stored.
public protocol ManifestReader: Sendable {
    func fetchManifest(_ reference: String) async throws -> (descriptor: Descriptor, bytes: [UInt8])
}

/// A store that stores manifest bytes under a tag (or their digest, when `reference` is nil) in one request.
public protocol ManifestWriter: Sendable {
    @discardableResult
    func pushManifest(_ bytes: [UInt8], mediaType: String, reference: String?) async throws -> Descriptor
}

/// A store that lists the manifests referring to a manifest (OCI 1.1 `subject`).
public protocol ReferrerLister: Sendable {
    func referrers(of subject: OCIDigest, artifactType: String?) async throws -> [Descriptor]
}

/// A store that is one repository of a registry. Verbs compare identities to tell a copy within one registry,
/// where blobs can be mounted instead of moved.
public protocol RegistryRepository: Sendable {
    /// The host requests go to (with port).
    var host: String { get }
    /// The repository path.
    var name: String { get }
}

extension ReadOnlyTarget {
    /// A manifest's descriptor and exact bytes by tag or digest: one request where the store is a
    /// `ManifestReader`, else a resolve and a verified fetch.
    public func manifest(_ reference: String) async throws -> (descriptor: Descriptor, bytes: [UInt8]) {
        if let reader = self as? any ManifestReader { return try await reader.fetchManifest(reference) }
        let descriptor = try await resolve(reference)
        return (descriptor, try await fetchAll(descriptor))
    }
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
