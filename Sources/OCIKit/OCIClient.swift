import Foundation
import Logging
import OCICache
import OCIContent
import OCICredentials
import OCILayout
import OCIReference
import OCIRegistry
import OCISpec
import OCISync

/// The client: pull, push, copy, inspect and tag by location strings (registry references or
/// `ocidir://` layouts), over one registry client, one keyring and an optional blob cache.
///
/// Its lifetime is scoped: `OCIClient.withClient { client in ... }` shuts it down when the body returns or
/// throws, in the manner of AsyncHTTPClient's `withHTTPClient`.
///
/// ```swift
/// try await OCIClient.withClient { client in
///     try await client.copy(from: "ghcr.io/acme/app:1.0", to: "ocidir://backup:1.0")
/// }
/// ```
public final class OCIClient: Sendable {
    /// The client's settings, each in one place: the registry client's (TLS, retries, uploads, plain HTTP,
    /// credentials, concurrency, logger) and the blob cache's directory.
    public struct Configuration: Sendable {
        public var registry: RegistryClient.Configuration
        /// A directory for the verified blob cache that pulls and blob fetches read through; nil for none.
        public var cacheDirectory: String?

        public init(registry: RegistryClient.Configuration = RegistryClient.Configuration(), cacheDirectory: String? = nil) {
            self.registry = registry
            self.cacheDirectory = cacheDirectory
        }

        /// The default configuration with what the user's machine configures, as docker, podman and curl read it:
        /// the credentials docker, podman, `.netrc` and the environment provide (`KeyringBuilder`'s documented
        /// order) plus the docker config files in `configFiles`; the proxies of `HTTPS_PROXY`, `HTTP_PROXY`,
        /// `ALL_PROXY` and `NO_PROXY`; the `certs.d` directories (the user's `~/.config/containers/certs.d`, then
        /// `TLS.standardCertificateDirectories`); and containers' `registries.conf` with its drop-ins
        /// (`RegistriesConfiguration.standard(environment:)`). `logger` is the one logger of the client
        /// (registry, keyring and cache). See docs/network.md for the precedence of each.
        public static func automatic(configFiles: [String] = [],
                                     logger: Logger = Logger(label: "ociclient", factory: { _ in SwiftLogNoOpLogHandler() }),
                                     environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Configuration {
            var configuration = Configuration()
            configuration.registry.logger = logger
            configuration.registry.credentials = try KeyringBuilder(environment: environment).fromConfigFiles(configFiles)
                .withLogger(logger).build()
            configuration.registry.proxy = .environment(environment)
            configuration.registry.tls.certificateDirectories = Self.userCertificateDirectories(environment: environment)
                + RegistryClient.Configuration.TLS.standardCertificateDirectories
            configuration.registry.registries = try RegistriesConfiguration.standard(environment: environment)
            return configuration
        }

        /// The user's own `certs.d` (podman's rootless `$XDG_CONFIG_HOME/containers/certs.d`, default
        /// `~/.config/containers/certs.d`).
        public static func userCertificateDirectories(environment: [String: String]) -> [String] {
            let home = ConfigLocations.homeDirectory(environment: environment)
            let configHome = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.config"
            return [configHome + "/containers/certs.d"]
        }
    }

    public let configuration: Configuration
    /// The registry client underneath (for registry-only operations: delete, catalog, rate limits, login).
    public let registry: RegistryClient
    /// The blob cache, when one is configured.
    public let cache: ContentCache?

    /// Makes a client; call `shutdown()` when done, or use `withClient`.
    public init(configuration: Configuration = Configuration()) throws {
        self.configuration = configuration
        // The cache first: it is the part that fails on bad input, and a made registry client must be shut down.
        let cache: ContentCache?
        if let directory = configuration.cacheDirectory, !directory.isEmpty {
            cache = try ContentCache(options: CacheOptions(directory: directory, logger: configuration.registry.logger))
        } else {
            cache = nil
        }
        do {
            self.registry = try RegistryClient(configuration: configuration.registry)
        } catch {
            cache?.close()
            throw error
        }
        self.cache = cache
    }

    /// Runs `body` with a client that is shut down afterwards, whether `body` returns or throws.
    /// With no configuration, `Configuration.automatic()` (the user's docker and podman credentials).
    public static func withClient<Result>(
        configuration: Configuration? = nil, _ body: (OCIClient) async throws -> Result
    ) async throws -> Result {
        let client = try OCIClient(configuration: configuration ?? .automatic())
        let result: Result
        do {
            result = try await body(client)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
        return result
    }

    /// Closes connections and the cache. Requests after this fail.
    public func shutdown() async throws {
        cache?.close()
        try await registry.shutdown()
    }

    var concurrency: Int { configuration.registry.concurrency }

    // MARK: targets

    /// The target a location names: a registry repository (with the token scope `access` needs, and
    /// `mountSources` it may mount from) or an OCI layout (created when written to).
    public func target(_ location: OCILocation, access: RepositoryAccess = .pull, mountSources: [String] = []) throws -> any Target {
        switch location {
        case .registry(let reference):
            let registries = configuration.registry.registries
            guard !registries.isEmpty else {
                return registry.repository(reference, access: access, mountSources: mountSources)
            }
            if access != .pull {
                // Writes go to the reference as written, never to a mirror.
                if let entry = registries.registry(for: reference), entry.blocked {
                    throw RegistryError.blocked(registry: reference.name, origin: entry.origin)
                }
                return registry.repository(reference, access: access, mountSources: mountSources)
            }
            return try readRepository(reference, mountSources: mountSources)
        case .layout(let path, _):
            return try OCILayoutStore(path: path, create: access != .pull)
        }
    }

    /// The repository reads of `reference` go to: the reference itself, or, when `registries.conf` names mirrors or
    /// another location for it, a ``MirroredRepository`` over the mirrors that apply and the origin.
    func readRepository(_ reference: Reference, mountSources: [String] = []) throws -> any Target {
        let endpoints = try configuration.registry.registries.pullEndpoints(for: reference)
        guard let origin = endpoints.last else { return registry.repository(reference, mountSources: mountSources) }
        let originRepository = registry.repository(origin.reference, mountSources: mountSources)
        let mirrors = endpoints.dropLast().map { registry.repository($0.reference) }
        guard !mirrors.isEmpty else { return originRepository }
        return MirroredRepository(mirrors: Array(mirrors), origin: originRepository, logger: configuration.registry.logger)
    }

    /// The target a location string names (see `target(_:access:mountSources:)`).
    public func target(_ location: String, access: RepositoryAccess = .pull) throws -> any Target {
        try target(OCILocation(parsing: location), access: access)
    }

    private func source(_ text: String) throws -> (location: OCILocation, target: any Target, reference: String) {
        let location = try OCILocation(parsing: text)
        return (location, try target(location), location.reference ?? "latest")
    }

    // MARK: reading

    /// The descriptor a location's tag or digest resolves to.
    public func resolve(_ location: String) async throws -> Descriptor {
        let (_, target, reference) = try source(location)
        return try await target.resolve(reference)
    }

    /// The descriptor a location resolves to, or with `platform` the descriptor of that platform's manifest
    /// when the location names an index.
    public func resolve(_ location: String, platform: Platform?) async throws -> Descriptor {
        guard let platform else { return try await resolve(location) }
        return try await manifest(location, platform: platform).descriptor
    }

    /// A manifest's descriptor and exact bytes.
    public func manifest(_ location: String) async throws -> (descriptor: Descriptor, bytes: [UInt8]) {
        let (_, target, reference) = try source(location)
        return try await target.manifest(reference)
    }

    /// A manifest's descriptor and exact bytes; with `platform`, that platform's manifest of an index.
    public func manifest(_ location: String, platform: Platform?) async throws -> (descriptor: Descriptor, bytes: [UInt8]) {
        let (_, target, reference) = try source(location)
        let (descriptor, bytes) = try await target.manifest(reference)
        guard let platform, MediaType.isMultiArch(descriptor.mediaType) else { return (descriptor, bytes) }
        let index = try JSONCoding.decode(ImageIndex.self, from: bytes)
        let child = try OCI.choose(platform, in: index, root: descriptor)
        return try await target.manifest(child.digest.description)
    }

    /// The config blob's exact bytes of an image (of `platform`'s image for an index; linux/amd64 or the first
    /// entry when nil).
    public func config(_ location: String, platform: Platform? = nil) async throws -> [UInt8] {
        let inspection = try await inspect(location, platform: platform)
        guard let bytes = inspection.configBytes else {
            throw OCIClientError.unsupportedMediaType("\(location) has no image config (\(inspection.descriptor.mediaType))")
        }
        return bytes
    }

    /// The blob `REPO@DIGEST`'s descriptor (its size from the registry), nil when the repository lacks it.
    public func blob(_ location: String) async throws -> Descriptor? {
        let reference = try Reference(parsing: location, defaultTag: nil)
        guard let digest = reference.digest else {
            throw OCIClientError.invalidArgument("\(location) names no blob: use REPO@DIGEST")
        }
        return try await registry.repository(reference).blob(digest)
    }

    /// The digest of a file's bytes (sha256, one streaming pass) and its size.
    public static func digest(ofFile path: String) async throws -> Descriptor {
        var descriptor = try await FileStore(directory: ".").add(path)
        descriptor.annotations = nil
        return descriptor
    }

    /// Inspects a manifest or index without downloading layers (see `OCI.inspect`).
    public func inspect(_ location: String, platform: Platform? = nil) async throws -> ImageInspection {
        let (_, target, reference) = try source(location)
        return try await OCI.inspect(target, reference: reference, platform: platform)
    }

    /// The tags of a repository or layout.
    public func tags(_ location: String) async throws -> [String] {
        let target = try target(OCILocation(parsing: location, defaultTag: nil))
        guard let lister = target as? any TagLister else {
            throw ContentError.unsupported("\(location) cannot list its tags")
        }
        return try await lister.tags()
    }

    /// The tags of a repository or layout that pass `filter`.
    public func tags(_ location: String, filter: TagFilter) async throws -> [String] {
        filter.apply(try await tags(location))
    }

    /// What `copyRepository` did with one tag.
    public struct TagCopy: Sendable {
        public var tag: String
        /// The copy's result, or nil when it failed (`error` says why).
        public var result: CopyResult?
        public var error: (any Error)?
    }

    /// Copies every tag of the repository `source` that passes `filter` to the repository `destination`, tag by
    /// tag (blobs shared between tags move once: what the destination has is skipped). With `keepGoing`, a tag
    /// that fails is reported in its `TagCopy` and the others go on; otherwise the first failure is thrown.
    public func copyRepository(from source: String, to destination: String, filter: TagFilter,
                               keepGoing: Bool = false, options: CopyOptions = CopyOptions()) async throws -> [TagCopy] {
        let from = try OCILocation(parsing: source, defaultTag: nil)
        let to = try OCILocation(parsing: destination, defaultTag: nil)
        let tags = try await self.tags(source, filter: filter)
        var results: [TagCopy] = []
        for tag in tags {
            do {
                let result = try await copy(from: Self.location(from, tag: tag), to: Self.location(to, tag: tag), options: options)
                results.append(TagCopy(tag: tag, result: result))
            } catch where keepGoing && !(error is CancellationError) {
                results.append(TagCopy(tag: tag, error: error))
            }
        }
        return results
    }

    /// The string of `location` with its tag replaced by `tag`.
    static func location(_ location: OCILocation, tag: String) -> String {
        switch location {
        case .registry(let reference): return "\(reference.name):\(tag)"
        case .layout(let path, _): return "\(OCILayoutStore.scheme)\(path):\(tag)"
        }
    }

    /// The manifests that refer to the manifest a location names (OCI 1.1); with `platform`, to that
    /// platform's manifest of an index.
    public func referrers(_ location: String, artifactType: String? = nil, platform: Platform? = nil) async throws -> [Descriptor] {
        let (_, target, _) = try source(location)
        guard let lister = target as? any ReferrerLister else {
            throw ContentError.unsupported("\(location) cannot list referrers; referrers need a registry")
        }
        let subject = try await resolve(location, platform: platform)
        return try await lister.referrers(of: subject.digest, artifactType: artifactType)
    }

    /// A blob of `REPO@DIGEST`, streamed and verified; through the cache when one is configured. `onEvent`
    /// hears `.started` and a running `.progress` count as the stream is read.
    public func fetchBlob(_ location: String, onEvent: (@Sendable (CopyEvent) -> Void)? = nil) async throws -> ByteStream {
        let reference = try Reference(parsing: location, defaultTag: nil)
        guard let digest = reference.digest else {
            throw OCIClientError.invalidArgument("\(location) names no blob: use REPO@DIGEST")
        }
        let repository = try readRepository(reference)
        var descriptor = Descriptor(mediaType: "application/octet-stream", digest: digest, size: -1)
        let stream: ByteStream
        if let cache {
            // The cache needs the size: ask the registry.
            descriptor = try await repository.resolve(digest.description)
            descriptor.mediaType = "application/octet-stream"
            stream = try await CachingFetcher(upstream: repository, cache: cache).fetch(descriptor)
        } else {
            stream = try await repository.fetch(descriptor)
            descriptor.size = stream.verification?.size ?? -1
        }
        guard let onEvent else { return stream }
        let observed = descriptor
        onEvent(.started(observed))
        let counted = Locked<Int64>(0)
        return stream.onChunk { chunk in
            onEvent(.progress(observed, bytes: counted.withLock { $0 += Int64(chunk.count); return $0 }))
        }
    }

    // MARK: writing

    /// Copies an image, index or artifact between two locations (registries and layouts), byte for byte:
    /// blobs stream from the source, children go first, what the destination has is skipped, and within one
    /// registry blobs are mounted. Platforms, referrers and schema1 sources as `options` says.
    @discardableResult
    public func copy(from source: String, to destination: String, options: CopyOptions = CopyOptions()) async throws -> CopyResult {
        let from = try OCILocation(parsing: source)
        let to = try OCILocation(parsing: destination)
        var mountSources: [String] = []
        if case .registry(let s) = from, case .registry(let d) = to, s.endpointHost == d.endpointHost,
           s.repository != d.repository {
            mountSources = [s.repository]
        }
        var options = options
        options.concurrency = options.concurrency ?? concurrency
        let sourceTarget = try target(from)
        let destinationTarget = try target(to, access: .push, mountSources: mountSources)
        return try await OCI.copy(from: sourceTarget, reference: from.reference ?? "latest", to: destinationTarget,
                                  tag: to.tag, options: options)
    }

    /// `copy` in the background, its events as an `AsyncSequence`.
    public func startCopy(from source: String, to destination: String, options: CopyOptions = CopyOptions()) -> Transfer<CopyResult> {
        Transfer { onEvent in
            var options = options
            options.onEvent = Self.both(options.onEvent, onEvent)
            return try await self.copy(from: source, to: destination, options: options)
        }
    }

    /// A handler that calls the caller's own handler, then the transfer's.
    private static func both(_ first: (@Sendable (CopyEvent) -> Void)?,
                             _ second: @escaping @Sendable (CopyEvent) -> Void) -> @Sendable (CopyEvent) -> Void {
        { event in
            first?(event)
            second(event)
        }
    }

    /// Pulls an image or artifact into a directory of files (see `OCI.pull`); blobs come through the cache
    /// when one is configured.
    @discardableResult
    public func pull(_ location: String, into directory: String, options: PullOptions = PullOptions()) async throws -> PullResult {
        let (_, target, reference) = try source(location)
        var options = options
        options.concurrency = options.concurrency ?? concurrency
        let blobs: (any ContentFetcher)? = cache.map { CachingFetcher(upstream: target, cache: $0) }
        return try await OCI.pull(from: target, reference: reference, into: directory, blobs: blobs, options: options)
    }

    /// `pull` in the background, its events as an `AsyncSequence`.
    public func startPull(_ location: String, into directory: String, options: PullOptions = PullOptions()) -> Transfer<PullResult> {
        Transfer { onEvent in
            var options = options
            options.onEvent = Self.both(options.onEvent, onEvent)
            return try await self.pull(location, into: directory, options: options)
        }
    }

    /// Pushes files as an OCI artifact to a location (see `OCI.push`); returns the manifest's descriptor.
    @discardableResult
    public func push(files: [FileToPush], to location: String, options: PushOptions = PushOptions()) async throws -> Descriptor {
        let destination = try OCILocation(parsing: location)
        var options = options
        options.concurrency = options.concurrency ?? concurrency
        return try await OCI.push(files: files, to: try target(destination, access: .push), tag: destination.tag,
                                  options: options)
    }

    /// `push` in the background, its events as an `AsyncSequence`.
    public func startPush(files: [FileToPush], to location: String, options: PushOptions = PushOptions()) -> Transfer<Descriptor> {
        Transfer { onEvent in
            var options = options
            options.onEvent = Self.both(options.onEvent, onEvent)
            return try await self.push(files: files, to: location, options: options)
        }
    }

    /// Uploads a file as one blob to a repository (hashed in one pass; skipped when the repository has it),
    /// through the graph copy, so `onEvent` hears the same events as a push.
    @discardableResult
    public func pushBlob(file path: String, to location: String, mediaType: String = "application/octet-stream",
                         onEvent: (@Sendable (CopyEvent) -> Void)? = nil) async throws -> Descriptor {
        let target = try target(OCILocation(parsing: location, defaultTag: nil), access: .push)
        let source = FileStore(directory: ".")
        var descriptor = try await source.add(path, mediaType: mediaType)
        descriptor.annotations = nil
        try await OCI.copyGraph(from: source, to: target, root: descriptor,
                                options: GraphCopyOptions(concurrency: 1, onEvent: onEvent))
        return descriptor
    }

    /// Uploads manifest bytes unchanged to a location's tag or digest.
    @discardableResult
    public func pushManifest(_ bytes: [UInt8], mediaType: String, to location: String) async throws -> Descriptor {
        let destination = try OCILocation(parsing: location)
        let target = try target(destination, access: .push)
        if let writer = target as? any ManifestWriter {
            return try await writer.pushManifest(bytes, mediaType: mediaType, reference: destination.tag)
        }
        let descriptor = Descriptor.of(bytes, mediaType: mediaType)
        try await target.push(descriptor, content: ByteStream(bytes: bytes))
        if let tag = destination.tag { try await target.tag(descriptor, as: tag) }
        return descriptor
    }

    /// Points several tags at the manifest a location names, one upload of its bytes per tag.
    @discardableResult
    public func tag(_ location: String, as tags: [String]) async throws -> Descriptor {
        let source = try OCILocation(parsing: location)
        return try await OCI.tag(try target(source, access: .push), reference: source.reference ?? "latest", as: tags)
    }
}
