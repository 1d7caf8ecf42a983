import OCIContent
import OCISpec

/// An image in a store: the store and a tag or digest there.
public struct StoredImage: Sendable {
    public var store: any ReadOnlyTarget
    public var reference: String

    public init(_ store: any ReadOnlyTarget, reference: String) {
        self.store = store
        self.reference = reference
    }
}

/// What a build starts from: an image in a store, or nothing (`scratch`: no layers, an empty config).
public enum BaseImage: Sendable {
    case scratch
    case image(StoredImage)
}

/// One platform's image, read for editing: its manifest and config (as a JSON object, every field kept).
struct LoadedImage {
    /// Where its blobs are (nil for scratch).
    var store: (any ReadOnlyTarget)?
    var manifest: Manifest
    var config: ConfigDocument
    var family: MediaTypeFamily

    /// The platform an image is built for when nothing says otherwise.
    static let defaultPlatform = Platform(architecture: "amd64", os: "linux")

    static func scratch(platform: Platform?, family: MediaTypeFamily?) -> LoadedImage {
        let family = family ?? .oci
        let config = ConfigDocument(scratch: platform ?? defaultPlatform, created: BuildTime.rfc3339(BuildTime.sourceDateEpoch))
        let manifest = Manifest(mediaType: family.manifest,
                                config: Descriptor(mediaType: family.config, digest: EmptyJSON.digest, size: 2), layers: [])
        return LoadedImage(store: nil, manifest: manifest, config: config, family: family)
    }

    static func load(_ base: BaseImage, platform: Platform?, family: MediaTypeFamily? = nil) async throws -> LoadedImage {
        switch base {
        case .scratch: return scratch(platform: platform, family: family)
        case .image(let image): return try await load(image, platform: platform)
        }
    }

    /// Reads an image (for an index: `platform`'s, default linux/amd64).
    /// With `strict`, an image (not an index) whose config names another platform than `platform` is refused.
    static func load(_ image: StoredImage, platform: Platform?, strict: Bool = true) async throws -> LoadedImage {
        var (descriptor, bytes) = try await image.store.manifest(image.reference)
        if MediaType.isMultiArch(descriptor.mediaType) {
            let index = try JSONCoding.decode(ImageIndex.self, from: bytes)
            let child = try choose(platform ?? defaultPlatform, in: index, root: descriptor, explicit: platform != nil)
            (descriptor, bytes) = try await image.store.manifest(child.digest.description)
        }
        guard MediaType.isSingleArch(descriptor.mediaType) else {
            throw BuildError.unsupported("\(image.reference) is \(descriptor.mediaType), not an image manifest; convert a schema1 image with ocictl copy first")
        }
        let manifest = try JSONCoding.decode(Manifest.self, from: bytes)
        guard manifest.config.mediaType == MediaType.ociConfig || manifest.config.mediaType == MediaType.dockerConfig else {
            throw BuildError.unsupported("\(image.reference) is an artifact (config \(manifest.config.mediaType)), not a container image")
        }
        let configBytes = try await image.store.fetchAll(manifest.config)
        let config = try ConfigDocument(bytes: configBytes)
        if strict, let platform, let has = config.platform, !platform.matches(has) {
            throw BuildError.notFound("\(image.reference) is a \(has) image, not \(platform)")
        }
        return LoadedImage(store: image.store, manifest: manifest, config: config,
                           family: MediaTypeFamily(manifestMediaType: descriptor.mediaType))
    }

    /// The index entry for `platform`, or an error listing those there are.
    static func choose(_ platform: Platform, in index: ImageIndex, root: Descriptor, explicit: Bool) throws -> Descriptor {
        if let child = index.manifests.first(where: { $0.platform.map(platform.matches) ?? false }) { return child }
        let available = index.manifests.compactMap { $0.platform?.description }.joined(separator: ", ")
        let hint = explicit ? "" : "; name one with --platform"
        throw BuildError.notFound("platform \(platform) in the index \(root.digest) (available: \(available.isEmpty ? "none" : available))\(hint)")
    }

    /// Converts the manifest's and its layers' media types to `target`'s family.
    mutating func convert(to target: MediaTypeFamily) throws(BuildError) {
        guard target != family else { return }
        manifest.mediaType = target.manifest
        manifest.config.mediaType = target.config
        manifest.layers = try manifest.layers.map { layer throws(BuildError) in
            var layer = layer
            layer.mediaType = try Self.layerMediaType(layer.mediaType, in: target)
            return layer
        }
        family = target
    }

    static func layerMediaType(_ mediaType: String, in family: MediaTypeFamily) throws(BuildError) -> String {
        let toDocker: [String: String] = [
            MediaType.ociLayerGzip: MediaType.dockerLayerGzip, MediaType.ociLayer: MediaType.dockerLayer,
            MediaType.ociLayerNondistributableGzip: MediaType.dockerForeignLayerGzip,
        ]
        let toOCI: [String: String] = [
            MediaType.dockerLayerGzip: MediaType.ociLayerGzip, MediaType.dockerLayer: MediaType.ociLayer,
            MediaType.dockerForeignLayerGzip: MediaType.ociLayerNondistributableGzip,
        ]
        switch family {
        case .docker:
            if toOCI[mediaType] != nil { return mediaType }
            guard let mapped = toDocker[mediaType] else {
                throw .unsupported("a layer of type \(mediaType) has no Docker media type; keep the OCI format")
            }
            return mapped
        case .oci:
            return toOCI[mediaType] ?? mediaType
        }
    }

    /// The new manifest and config, staged; returns the manifest's descriptor (with the platform).
    func stage(into staging: StagingStore) async throws -> Descriptor {
        let configBytes = try config.encoded()
        let configDescriptor = await staging.add(bytes: configBytes, mediaType: family.config)
        var manifest = self.manifest
        manifest.schemaVersion = 2
        manifest.mediaType = family.manifest
        manifest.config = configDescriptor
        if family == .docker { manifest.artifactType = nil }
        let bytes = try JSONCoding.encode(manifest)
        var descriptor = await staging.add(bytes: bytes, mediaType: family.manifest)
        descriptor.platform = config.platform
        return descriptor
    }
}
