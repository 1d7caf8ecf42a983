import Foundation
import OCIContent
import OCISpec

/// One file to push as a layer.
public struct FileToPush: Sendable, Hashable {
    public var path: String
    public var mediaType: String
    /// The title annotation (the file name a pull writes it to); nil takes the file's name.
    public var title: String?

    public init(_ path: String, mediaType: String = "application/octet-stream", title: String? = nil) {
        self.path = path
        self.mediaType = mediaType
        self.title = title
    }
}

/// Builds OCI image manifests for artifacts and images (oras-go's `PackManifest`).
public enum ManifestPacker {
    /// The artifact type of a manifest that names none and has the empty config (the OCI 1.1 guidance).
    public static let unknownArtifactType = "application/vnd.unknown.artifact.v1"

    /// An OCI image manifest over `layers` and `config` (the empty config `{}` when nil), with the OCI 1.1
    /// `artifactType` (required with the empty config: `unknownArtifactType` when none is given), `subject`
    /// and annotations. Returns the descriptor and the exact bytes (deterministic JSON).
    public static func pack(layers: [Descriptor], config: Descriptor? = nil, artifactType: String? = nil,
                            subject: Descriptor? = nil,
                            annotations: [String: String] = [:]) throws -> (descriptor: Descriptor, bytes: [UInt8]) {
        let type = artifactType ?? (config == nil ? unknownArtifactType : nil)
        let manifest = Manifest(artifactType: type, config: config ?? EmptyJSON.descriptor, layers: layers,
                                subject: subject, annotations: annotations.isEmpty ? nil : annotations)
        let bytes = try JSONCoding.encode(manifest)
        var descriptor = Descriptor.of(bytes, mediaType: MediaType.ociManifest)
        descriptor.artifactType = type
        return (descriptor, bytes)
    }
}

/// Options of `OCI.push` and `OCIClient.push`.
public struct PushOptions: Sendable {
    /// The manifest's `artifactType` (default `ManifestPacker.unknownArtifactType` with the empty config).
    public var artifactType: String?
    /// Manifest annotations.
    public var annotations: [String: String]
    /// The manifest this one refers to (OCI 1.1 `subject`).
    public var subject: Descriptor?
    /// A config blob (its media type and bytes); nil gives the empty config `{}`.
    public var config: (mediaType: String, bytes: [UInt8])?
    /// How many blobs move at once; nil takes the client's setting (4 without a client).
    public var concurrency: Int?
    /// Called for every event, from several tasks at once.
    public var onEvent: (@Sendable (CopyEvent) -> Void)?

    public init(artifactType: String? = nil, annotations: [String: String] = [:], subject: Descriptor? = nil,
                config: (mediaType: String, bytes: [UInt8])? = nil, concurrency: Int? = nil,
                onEvent: (@Sendable (CopyEvent) -> Void)? = nil) {
        self.artifactType = artifactType
        self.annotations = annotations
        self.subject = subject
        self.config = config
        self.concurrency = concurrency
        self.onEvent = onEvent
    }
}

extension OCI {
    /// Pushes files as an OCI artifact: each file a layer titled with its name (hashed in one streaming pass),
    /// a manifest packed over them, everything copied to `destination` by the graph copy (what the destination
    /// has is skipped), and `tag` pointed at the manifest (one request for a registry). Returns the manifest's
    /// descriptor.
    @discardableResult
    public static func push(files: [FileToPush], to destination: any Target, tag: String?,
                            options: PushOptions = PushOptions()) async throws -> Descriptor {
        guard !files.isEmpty else { throw OCIClientError.invalidArgument("push needs at least one file") }
        let store = FileStore(directory: FileManager.default.currentDirectoryPath)
        var layers: [Descriptor] = []
        for file in files {
            layers.append(try await store.add(file.path, mediaType: file.mediaType, title: file.title))
        }
        var config: Descriptor?
        if let given = options.config {
            config = await store.add(bytes: given.bytes, mediaType: given.mediaType)
        } else {
            await store.add(bytes: EmptyJSON.bytes, mediaType: MediaType.ociEmpty)
        }
        let (descriptor, bytes) = try ManifestPacker.pack(layers: layers, config: config,
                                                          artifactType: options.artifactType,
                                                          subject: options.subject.map(\.basic),
                                                          annotations: options.annotations)
        await store.add(bytes: bytes, mediaType: MediaType.ociManifest)
        let graph = GraphCopyOptions(concurrency: options.concurrency ?? 4, onEvent: options.onEvent, rootTag: tag)
        let outcome = try await copyGraph(from: store, to: destination, root: descriptor, options: graph)
        if let tag, !outcome.rootTagged { try await destination.tag(descriptor, as: tag) }
        return descriptor
    }
}
