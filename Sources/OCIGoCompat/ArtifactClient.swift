import OCISync
import OCIContent
import OCIReference
import OCIRegistry
import OCIKit
import OCISchema1
import OCISpec

/// The legacy artifact API (Go: `GetOCIArtifact`, `PushOCIArtifact`, both deprecated there too).
extension GoClient {
    /// The manifest or index of `ref` as an artifact (Go: `GetOCIArtifact`).
    ///
    /// An index becomes an index artifact whose entries carry the index descriptors (platform and annotations
    /// included) and the decoded child manifests, in index order. A child that is itself an index is an error
    /// (``OCIArtifactError/nestedIndex(digest:mediaType:)``), never an empty manifest. Schema1 manifests are
    /// converted to OCI (see ``Schema1Converter``).
    public func getOCIArtifact(_ ref: String) async throws -> OCIArtifact {
        let reference = try Reference(parsing: ref)
        var (descriptor, bytes) = try await getRawManifest(ref)
        if MediaType.isSchema1(descriptor.mediaType) {
            let converted = try await convertSchema1(ref, descriptor: descriptor, bytes: bytes)
            (descriptor, bytes) = (converted.manifest, converted.manifestBytes)
        }
        if MediaType.isSingleArch(descriptor.mediaType) {
            return .manifest(OCIArtifactManifest(descriptor: descriptor, data: try JSONCoding.decode(Manifest.self, from: bytes)))
        }
        guard MediaType.isMultiArch(descriptor.mediaType) else {
            throw OCIArtifactError.unsupportedMediaType(descriptor.mediaType)
        }
        let index = try JSONCoding.decode(ImageIndex.self, from: bytes)
        let repository = registry.repository(reference)
        let concurrency = registry.configuration.concurrency
        let manifests = try await concurrentMap(index.manifests, limit: concurrency) { entry in
            try await Self.artifactManifest(for: entry, in: repository, concurrency: concurrency)
        }
        return .index(OCIArtifactIndex(manifests: manifests, annotations: index.annotations))
    }

    /// Fetches and decodes one index entry. A schema1 child is converted; its descriptor becomes the converted
    /// manifest's, with the entry's platform and annotations.
    private static func artifactManifest(for entry: Descriptor, in repository: RemoteRepository,
                                         concurrency: Int) async throws -> OCIArtifactManifest {
        if MediaType.isMultiArch(entry.mediaType) {
            throw OCIArtifactError.nestedIndex(digest: entry.digest, mediaType: entry.mediaType)
        }
        let (fetched, bytes) = try await repository.fetchManifest(entry.digest.description)
        if MediaType.isMultiArch(fetched.mediaType) {
            throw OCIArtifactError.nestedIndex(digest: entry.digest, mediaType: fetched.mediaType)
        }
        if MediaType.isSchema1(fetched.mediaType) {
            let converted = try await Schema1Converter(fetcher: repository, concurrency: concurrency)
                .convert(bytes, source: fetched)
            var descriptor = converted.manifest
            descriptor.platform = entry.platform
            descriptor.annotations = (descriptor.annotations ?? [:]).merging(entry.annotations ?? [:]) { $1 }
            return OCIArtifactManifest(descriptor: descriptor,
                                       data: try JSONCoding.decode(Manifest.self, from: converted.manifestBytes))
        }
        guard MediaType.isSingleArch(fetched.mediaType) else {
            throw OCIArtifactError.unsupportedMediaType(fetched.mediaType)
        }
        return OCIArtifactManifest(descriptor: entry, data: try JSONCoding.decode(Manifest.self, from: bytes))
    }

    /// Pushes an artifact to `ref` (Go: `PushOCIArtifact`), taking config and layer blobs the registry lacks
    /// from `store`.
    ///
    /// A manifest artifact is encoded (deterministic JSON) and pushed with its blobs to `ref`. An index artifact
    /// pushes each manifest **by digest** (the tag is written once, at the end), then an OCI index whose entries
    /// keep each manifest's platform and annotations, to `ref`. A manifest whose config has size 0 gets the OCI
    /// empty config (`EmptyJSON.descriptor`, content `{}`), which is pushed too, and the manifest is rewritten to
    /// reference it. A `schemaVersion` of 0 is encoded as 2. The media type is the manifest's own `mediaType`,
    /// else its descriptor's, else OCI; it is written into the JSON when missing.
    public func pushOCIArtifact(_ ref: String, artifact: OCIArtifact, store: (any BlobStore)?) async throws {
        let reference = try Reference(parsing: ref)
        let blobs = ArtifactBlobStore(base: store)
        if let manifest = artifact.manifest {
            let (descriptor, bytes) = try Self.encodeArtifactManifest(manifest)
            try Self.checkReferenceDigest(reference, descriptor)
            try await pushRawManifest(ref, descriptor: descriptor, bytes: bytes, store: blobs)
            return
        }
        guard let index = artifact.index else { throw OCIArtifactError.indexIsNil }
        let entries = try await concurrentMap(index.manifests, limit: registry.configuration.concurrency) { manifest in
            let (descriptor, bytes) = try Self.encodeArtifactManifest(manifest)
            try await self.pushRawManifest(reference.withDigest(descriptor.digest).description,
                                           descriptor: descriptor, bytes: bytes, store: blobs)
            return Descriptor(mediaType: descriptor.mediaType, digest: descriptor.digest,
                              size: descriptor.size, annotations: manifest.descriptor.annotations,
                              platform: manifest.descriptor.platform)
        }
        let document = ImageIndex(schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: entries,
                             annotations: index.annotations)
        let bytes = try JSONCoding.encode(document)
        let descriptor = Descriptor.of(bytes, mediaType: MediaType.ociIndex)
        try Self.checkReferenceDigest(reference, descriptor)
        try await pushRawManifest(ref, descriptor: descriptor, bytes: bytes, store: nil)
    }

    /// The bytes and descriptor a manifest artifact is pushed as (see ``pushOCIArtifact(_:artifact:store:)``).
    static func encodeArtifactManifest(_ artifact: OCIArtifactManifest) throws -> (descriptor: Descriptor, bytes: [UInt8]) {
        var manifest = artifact.data
        if let own = manifest.mediaType, !MediaType.isSingleArch(own) {
            throw OCIArtifactError.unsupportedMediaType(own)
        }
        let mediaType = manifest.mediaType
            ?? (MediaType.isSingleArch(artifact.descriptor.mediaType) ? artifact.descriptor.mediaType : MediaType.ociManifest)
        manifest.mediaType = mediaType
        if manifest.schemaVersion == 0 { manifest.schemaVersion = 2 }
        if manifest.config.size == 0 { manifest.config = EmptyJSON.descriptor }
        let bytes = try JSONCoding.encode(manifest)
        return (Descriptor.of(bytes, mediaType: mediaType), bytes)
    }

    private static func checkReferenceDigest(_ reference: Reference, _ descriptor: Descriptor) throws {
        if let digest = reference.digest, digest != descriptor.digest {
            throw OCIArtifactError.referenceDigestMismatch(reference: digest, content: descriptor.digest)
        }
    }
}

/// The caller's store plus the OCI empty blob `{}` that replaces zero-size configs.
struct ArtifactBlobStore: BlobStore {
    let base: (any BlobStore)?

    func get(_ descriptor: Descriptor) async throws -> ByteStream {
        if descriptor.digest == EmptyJSON.digest { return ByteStream(bytes: EmptyJSON.bytes) }
        guard let base else { throw OCIClientError.noStore(descriptor.digest) }
        return try await base.get(descriptor)
    }
}
