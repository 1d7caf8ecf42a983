import OCIContent
import OCISchema1
import OCISpec

/// Options of `OCI.pull` and `OCIClient.pull`.
public struct PullOptions: Sendable {
    /// The platform to pull from an index; nil takes linux/amd64 when the index has it, else its first entry.
    public var platform: Platform?
    /// How many blobs move at once; nil takes the client's setting (4 without a client).
    public var concurrency: Int?
    /// Called for every event, from several tasks at once.
    public var onEvent: (@Sendable (CopyEvent) -> Void)?

    public init(platform: Platform? = nil, concurrency: Int? = nil, onEvent: (@Sendable (CopyEvent) -> Void)? = nil) {
        self.platform = platform
        self.concurrency = concurrency
        self.onEvent = onEvent
    }
}

/// What a pull wrote.
public struct PullResult: Sendable, Encodable {
    /// The manifest pulled (the chosen platform's, for an index).
    public var descriptor: Descriptor
    /// The files written, relative to the directory: `index.json` (for an index), `manifest.json`,
    /// `config.json`, then the layers in manifest order.
    public var files: [String]
}

extension OCI {
    /// The platform a pull takes from an index when none is asked for (then the index's first entry).
    public static let defaultPullPlatform = Platform(architecture: "amd64", os: "linux")

    /// Pulls an image or artifact into a directory of files through a `FileStore`: `manifest.json` (its exact
    /// bytes), `config.json`, and each layer under its title annotation when that is a safe file name, else
    /// under `blobs/ALG/HEX`. For an index, `index.json` is written too and one platform's manifest is pulled.
    /// Every file is written atomically after its digest and size were verified.
    @discardableResult
    public static func pull(from source: any ReadOnlyTarget, reference: String, into directory: String,
                            blobs: (any ContentFetcher)? = nil, options: PullOptions = PullOptions()) async throws -> PullResult {
        let store = FileStore(directory: directory)
        var (descriptor, bytes) = try await source.manifest(reference)
        var files: [String] = []
        if MediaType.isMultiArch(descriptor.mediaType) {
            try await store.write(bytes, as: "index.json")
            files.append("index.json")
            let index = try JSONCoding.decode(ImageIndex.self, from: bytes)
            let child: Descriptor
            if let wanted = options.platform {
                child = try choose(wanted, in: index, root: descriptor)
            } else if let preferred = try? choose(defaultPullPlatform, in: index, root: descriptor) {
                child = preferred
            } else if let first = index.manifests.first {
                child = first
            } else {
                throw ContentError.notFound("a manifest in the empty index \(descriptor.digest)")
            }
            (descriptor, bytes) = try await source.manifest(child.digest.description)
        }
        let staged = MemoryStore()
        if MediaType.isSchema1(descriptor.mediaType) {
            // A Docker schema1 image is pulled converted to an OCI image (its layers unchanged, a config made
            // from its history), as `OCI.copy` converts it into a layout.
            let converter = Schema1Converter(fetcher: blobs ?? source, concurrency: options.concurrency ?? 4)
            let converted = try await converter.convert(bytes, source: descriptor, into: staged)
            (descriptor, bytes) = (converted.manifest, converted.manifestBytes)
        }
        guard MediaType.isSingleArch(descriptor.mediaType) else {
            throw OCIClientError.unsupportedMediaType(descriptor.mediaType)
        }
        let manifest = try JSONCoding.decode(Manifest.self, from: bytes)
        try await store.write(bytes, as: "manifest.json")
        files.append("manifest.json")
        try store.name(manifest.config.digest, as: "config.json")
        // Names in manifest order, before any download: the first layer with a title gets it, whatever finishes first.
        var used: Set<String> = ["index.json", "manifest.json", "config.json"]
        var named: Set<OCIDigest> = [manifest.config.digest]
        for layer in manifest.layers where !named.contains(layer.digest) {
            guard let title = layer.title, let name = FileStore.safeFileName(title), used.insert(name).inserted else { continue }
            try store.name(layer.digest, as: name)
            named.insert(layer.digest)
        }
        // The manifest's bytes are in hand: the graph copy takes them from memory, and the blobs from `blobs`
        // (a cache in front of the source, say) when given.
        await staged.push(bytes: bytes, mediaType: descriptor.mediaType)
        let blobSource: any ReadOnlyTarget = blobs.map { FetcherTarget(fetcher: $0, resolver: source) } ?? source
        try await copyGraph(from: OverlayTarget(overlay: staged, base: blobSource), to: store, root: descriptor,
                            options: GraphCopyOptions(concurrency: options.concurrency ?? 4, onEvent: options.onEvent))
        files.append("config.json")
        for layer in manifest.layers {
            if let name = store.writtenName(of: layer.digest), !files.contains(name) { files.append(name) }
        }
        return PullResult(descriptor: descriptor, files: files)
    }
}

/// A target that fetches content through one fetcher and resolves through another (a cache in front of a
/// registry repository).
struct FetcherTarget: ReadOnlyTarget {
    let fetcher: any ContentFetcher
    let resolver: any ReferenceResolver

    func fetch(_ descriptor: Descriptor) async throws -> ByteStream { try await fetcher.fetch(descriptor) }
    func fetch(_ descriptor: Descriptor, offset: Int64) async throws -> ByteStream {
        try await fetcher.fetch(descriptor, offset: offset)
    }
    func exists(_ descriptor: Descriptor) async throws -> Bool { try await fetcher.exists(descriptor) }
    func resolve(_ reference: String) async throws -> Descriptor { try await resolver.resolve(reference) }
}
