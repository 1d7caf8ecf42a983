import Logging
import OCICache
import OCIContent
import OCICredentials
import OCIReference
import OCIRegistry
import OCISpec
import OCISync
import OCIKit
import OCISchema1

/// A source of blobs for pushes (Go: `Store`).
public protocol BlobStore: Sendable {
    func get(_ descriptor: Descriptor) async throws -> ByteStream
}

/// A store made from a closure (Go: `GenericStore`). The closure runs only when the blob is asked for, so a
/// push that finds the blob at the destination never calls it.
public struct GenericStore: BlobStore {
    private let body: @Sendable (Descriptor) async throws -> ByteStream
    public init(_ body: @escaping @Sendable (Descriptor) async throws -> ByteStream) { self.body = body }
    public func get(_ descriptor: Descriptor) async throws -> ByteStream { try await body(descriptor) }
}

/// Any content fetcher (a registry repository, a layout, the memory store) serves as a blob store.
public struct FetcherStore: BlobStore {
    public let fetcher: any ContentFetcher
    public init(_ fetcher: any ContentFetcher) { self.fetcher = fetcher }
    public func get(_ descriptor: Descriptor) async throws -> ByteStream { try await fetcher.fetch(descriptor) }
}

/// The Go `ociclient.Client` interface in Swift form: operations addressed by reference strings.
public protocol GoClientProtocol: Sendable {
    /// Resolves a reference to its normalised name and manifest descriptor.
    func resolve(_ ref: String) async throws -> (name: String, descriptor: Descriptor)
    /// Streams the content of `descriptor` from the repository of `ref` into `sink`, verified.
    func fetch(_ ref: String, descriptor: Descriptor, into sink: (@Sendable ([UInt8]) async throws -> Void)) async throws
    /// Uploads a blob from `store` unless the repository has it.
    func pushBlob(_ ref: String, descriptor: Descriptor, store: (any BlobStore)?) async throws
    /// The raw manifest or index of a reference, bytes exactly as stored.
    func getRawManifest(_ ref: String) async throws -> (descriptor: Descriptor, bytes: [UInt8])
    /// Uploads a manifest (after its config and layers, from `store`) or an index (only the index).
    func pushRawManifest(_ ref: String, descriptor: Descriptor, bytes: [UInt8], store: (any BlobStore)?) async throws
    /// A decoded image manifest (indexes are refused).
    func getManifest(_ ref: String) async throws -> Manifest
    /// Encodes and pushes a manifest (OCI media type).
    func pushManifest(_ ref: String, manifest: Manifest, store: (any BlobStore)?) async throws
}

/// The Go `ExtendedClient`: listing, which not every registry allows.
public protocol GoExtendedClientProtocol: GoClientProtocol {
    func listTags(_ ref: String) async throws -> [String]
    func listRepositories(_ registryHostAndPrefix: String) async throws -> [String]
}

/// Options of `GoClient` (Go: `Options` and its `Option` values).
public struct GoClientOptions: Sendable {
    /// Docker config files to read credentials from besides the default one (Go: `Paths`); used only when
    /// `registry.credentials` is nil, to build the keyring. (Go's `Keyring` is `registry.credentials`, its
    /// `AllowPlainHttp` is `registry.plainHTTP = .allowed`.)
    public var configPaths: [String] = []
    /// A verified blob cache used by `fetch` (Go: `WithCache`): hits stream from it, misses fill it while
    /// streaming; pushes without a store read blobs from it. `copy` never uses it. Unlike Go, no cache is made
    /// when none is given (Go creates one in a temporary directory): a cache costs a disk write per fetched
    /// blob, so it is the caller's choice (`ContentCache(options:)`, or `CacheOptions()` for Go's temporary one).
    public var cache: ContentCache?
    /// Media types the caller knows (Go: `WithKnownMediaType`). Kept for source compatibility: as in Go, where
    /// the set is stored and never read, it changes nothing (every media type is accepted).
    public var knownMediaTypes: Set<String> = MediaType.defaultKnownMediaTypes
    /// The registry client's settings: TLS, retries, timeouts, concurrency, credentials, plain-HTTP policy.
    public var registry = RegistryClient.Configuration()

    public init() {}
}

/// The Go `ociclient` client on top of `RegistryClient`.
public final class GoClient: GoExtendedClientProtocol {
    public let registry: RegistryClient
    public let options: GoClientOptions
    /// OCI manifests and configs converted from schema1; only this client knows them, so `fetch` serves them.
    public let convertedContent = MemoryStore()

    /// Builds a client; reads the keyring from the config files unless one is given (Go: `NewClient`).
    public init(options: GoClientOptions = GoClientOptions()) throws {
        var config = options.registry
        if config.credentials == nil {
            config.credentials = try KeyringBuilder().fromConfigFiles(options.configPaths).build()
        }
        self.options = options
        self.registry = try RegistryClient(configuration: config)
    }

    /// Closes connections.
    public func shutdown() async throws { try await registry.shutdown() }

    private func parse(_ ref: String) throws -> Reference { try Reference(parsing: ref) }

    public func resolve(_ ref: String) async throws -> (name: String, descriptor: Descriptor) {
        let reference = try parse(ref)
        guard let r = reference.manifestReference else { throw OCIClientError.invalidArgument("\(ref) has no tag or digest") }
        let descriptor = try await registry.repository(reference).resolve(r)
        return (reference.description, descriptor)
    }

    public func fetch(_ ref: String, descriptor: Descriptor, into sink: (@Sendable ([UInt8]) async throws -> Void)) async throws {
        let reference = try parse(ref)
        if try await convertedContent.exists(descriptor) {
            for try await chunk in try await convertedContent.fetch(descriptor) where !chunk.isEmpty { try await sink(chunk) }
            return
        }
        let repo = registry.repository(reference)
        let stream: ByteStream
        if let cache = options.cache {
            stream = try await CachingFetcher(upstream: repo, cache: cache).fetch(descriptor)
        } else {
            stream = try await repo.fetch(descriptor)
        }
        for try await chunk in stream where !chunk.isEmpty {
            try await sink(chunk)
        }
    }

    public func pushBlob(_ ref: String, descriptor: Descriptor, store: (any BlobStore)?) async throws {
        let repo = registry.repository(try parse(ref), access: .push)
        try await pushBlob(descriptor, to: repo, store: store)
    }

    /// Without a store the client's cache serves as one, as Go's client falls back to its cache.
    private func pushBlob(_ descriptor: Descriptor, to repo: RemoteRepository, store: (any BlobStore)?) async throws {
        if try await repo.exists(descriptor) { return }
        guard let store = store ?? options.cache.map({ FetcherStore($0) }) else { throw OCIClientError.noStore(descriptor.digest) }
        try await repo.push(descriptor, content: try await store.get(descriptor))
    }

    public func getRawManifest(_ ref: String) async throws -> (descriptor: Descriptor, bytes: [UInt8]) {
        let reference = try parse(ref)
        guard let r = reference.manifestReference else { throw OCIClientError.invalidArgument("\(ref) has no tag or digest") }
        let (descriptor, bytes) = try await registry.repository(reference).fetchManifest(r)
        if MediaType.isSchema1(descriptor.mediaType) {
            // Converted to an OCI manifest (Go: ConvertV1ManifestToV2); kept in memory and in the cache if any.
            let converted = try await convertSchema1(ref, descriptor: descriptor, bytes: bytes, cache: convertedContent)
            if let cache = options.cache {
                try? await cache.push(converted.config, content: ByteStream(bytes: converted.configBytes))
                try? await cache.push(converted.manifest, content: ByteStream(bytes: converted.manifestBytes))
            }
            return (converted.manifest, converted.manifestBytes)
        }
        guard MediaType.isSingleArch(descriptor.mediaType) || MediaType.isMultiArch(descriptor.mediaType) else {
            throw OCIClientError.unsupportedMediaType(descriptor.mediaType)
        }
        return (descriptor, bytes)
    }

    public func pushRawManifest(_ ref: String, descriptor: Descriptor, bytes: [UInt8], store: (any BlobStore)?) async throws {
        guard MediaType.isSingleArch(descriptor.mediaType) || MediaType.isMultiArch(descriptor.mediaType) else {
            throw OCIClientError.unsupportedMediaType(descriptor.mediaType)
        }
        let actual = OCIDigest.of(bytes, algorithm: descriptor.digest.algorithm)
        guard actual == descriptor.digest, Int64(bytes.count) == descriptor.size else {
            throw ContentError.digestMismatch(expected: descriptor.digest, actual: actual)
        }
        let reference = try parse(ref)
        let repo = registry.repository(reference, access: .push)
        if MediaType.isSingleArch(descriptor.mediaType) {
            let manifest = try JSONCoding.decode(Manifest.self, from: bytes)
            try await concurrentForEach(Array(Set(manifest.blobs)), limit: registry.configuration.concurrency) { blob in
                try await self.pushBlob(blob, to: repo, store: store)
            }
        }
        // Go skips the PUT when the reference already names this digest (F16): one HEAD instead of an upload.
        if let existing = reference.manifestReference, let current = try? await repo.resolve(existing),
           current.digest == descriptor.digest {
            return
        }
        try await repo.pushManifest(bytes, mediaType: descriptor.mediaType, reference: reference.manifestReference)
    }

    public func getManifest(_ ref: String) async throws -> Manifest {
        let (descriptor, bytes) = try await getRawManifest(ref)
        guard MediaType.isSingleArch(descriptor.mediaType) else { throw OCIClientError.notAManifest(descriptor.mediaType) }
        return try JSONCoding.decode(Manifest.self, from: bytes)
    }

    public func pushManifest(_ ref: String, manifest: Manifest, store: (any BlobStore)?) async throws {
        let (descriptor, bytes) = try OCIHelpers.descriptor(for: manifest)
        try await pushRawManifest(ref, descriptor: descriptor, bytes: bytes, store: store)
    }

    public func listTags(_ ref: String) async throws -> [String] {
        try await registry.repository(try Reference(parsing: ref, defaultTag: nil)).tags()
    }

    /// Lists repositories under `host[/prefix]` as full names `host/repo`. A bare host lists all; the prefix
    /// matches whole path segments.
    public func listRepositories(_ registryHostAndPrefix: String) async throws -> [String] {
        do {
            return try await registry.repositories(under: registryHostAndPrefix)
        } catch RegistryError.invalidArgument(let why) {
            throw OCIClientError.invalidArgument(why)
        }
    }

    /// Copies an image or index byte for byte from one reference to another (Go: `Copy`): blobs stream
    /// from the source, nothing is cached, children go before parents, what the target has is skipped, and
    /// within one registry blobs are mounted instead of moved. With `platform`, one platform of an index.
    /// A Docker schema1 source is handled by `schema1` (by default converted when the destination refuses it).
    /// The work is `OCI.copy`'s.
    @discardableResult
    public func copy(from srcRef: String, to dstRef: String, platform: Platform? = nil,
                     schema1: Schema1CopyPolicy = .auto,
                     onEvent: (@Sendable (CopyEvent) -> Void)? = nil) async throws -> CopyResult {
        let src = try parse(srcRef)
        let dst = try parse(dstRef)
        guard let srcR = src.manifestReference else {
            throw OCIClientError.invalidArgument("copy needs a tag or digest on the source")
        }
        let sameRegistry = src.endpointHost == dst.endpointHost && src.repository != dst.repository
        let source = registry.repository(src)
        let destination = registry.repository(dst, access: .push, mountSources: sameRegistry ? [src.repository] : [])
        let options = CopyOptions(concurrency: registry.configuration.concurrency, onEvent: onEvent,
                                  platforms: platform.map { .one($0) } ?? .all, schema1: schema1)
        return try await OCI.copy(from: source, reference: srcR, to: destination, tag: dst.tag, options: options)
    }
}
