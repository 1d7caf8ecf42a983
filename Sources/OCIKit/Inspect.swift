import OCIContent
import OCISpec

/// What `OCI.inspect` found: the manifest (and the index above it), the config, without any layer downloaded.
public struct ImageInspection: Sendable {
    /// The descriptor the reference resolved to (an index's, for a multi-platform image).
    public var descriptor: Descriptor
    /// The exact bytes of that manifest or index.
    public var bytes: [UInt8]
    /// The index, when the reference names one.
    public var index: ImageIndex?
    /// The platforms the index lists, in its order.
    public var platforms: [Platform]
    /// The image manifest inspected: the reference's own, or the chosen platform's for an index (nil when an
    /// index is inspected without a platform and has no entry for the default platform).
    public var manifestDescriptor: Descriptor?
    public var manifest: Manifest?
    /// The config's exact bytes and, when it is an image config, its decoded form.
    public var configBytes: [UInt8]?
    public var config: ImageConfiguration?
}

extension OCI {
    /// Inspects a manifest or index: for an index, the platforms it lists and the manifest of `platform`
    /// (when nil: linux/amd64 when listed, else the first entry); for an image, its manifest and config.
    /// Layers are never downloaded.
    public static func inspect(_ source: any ReadOnlyTarget, reference: String,
                               platform: Platform? = nil) async throws -> ImageInspection {
        let (descriptor, bytes) = try await source.manifest(reference)
        var inspection = ImageInspection(descriptor: descriptor, bytes: bytes, platforms: [])
        var manifestDescriptor = descriptor
        var manifestBytes = bytes
        if MediaType.isMultiArch(descriptor.mediaType) {
            let index = try JSONCoding.decode(ImageIndex.self, from: bytes)
            inspection.index = index
            inspection.platforms = index.manifests.compactMap(\.platform)
            let child: Descriptor?
            if let platform {
                child = try choose(platform, in: index, root: descriptor)
            } else {
                child = (try? choose(defaultPullPlatform, in: index, root: descriptor)) ?? index.manifests.first
            }
            guard let child, MediaType.isSingleArch(child.mediaType) else { return inspection }
            (manifestDescriptor, manifestBytes) = try await source.manifest(child.digest.description)
        }
        guard MediaType.isSingleArch(manifestDescriptor.mediaType) else { return inspection }
        let manifest = try JSONCoding.decode(Manifest.self, from: manifestBytes)
        inspection.manifestDescriptor = manifestDescriptor
        inspection.manifest = manifest
        if manifest.config.size <= Int64(ContentLimits.maxManifestBytes) {
            let configBytes = try await source.fetchAll(manifest.config)
            inspection.configBytes = configBytes
            if manifest.config.mediaType == MediaType.ociConfig || manifest.config.mediaType == MediaType.dockerConfig {
                inspection.config = try? JSONCoding.decode(ImageConfiguration.self, from: configBytes)
            }
        }
        return inspection
    }

    /// Points every tag in `tags` at the manifest `reference` names: its bytes are fetched once and stored
    /// under each tag (one request per tag for a registry, no blob moves). Returns the manifest's descriptor.
    @discardableResult
    public static func tag(_ target: any Target, reference: String, as tags: [String]) async throws -> Descriptor {
        guard !tags.isEmpty else { throw OCIClientError.invalidArgument("tag needs at least one tag") }
        let (descriptor, bytes) = try await target.manifest(reference)
        for tag in tags {
            if let writer = target as? any ManifestWriter {
                try await writer.pushManifest(bytes, mediaType: descriptor.mediaType, reference: tag)
            } else {
                try await target.tag(descriptor, as: tag)
            }
        }
        return descriptor
    }
}
