import OCIKit
import OCISchema1
import OCISpec

/// Errors of the legacy artifact model and API (messages as Go's where Go has them).
public enum OCIArtifactError: Error, Sendable, Equatable, CustomStringConvertible {
    case manifestIsNil
    case indexIsNil
    case manifestOnIndexArtifact
    case indexOnManifestArtifact
    /// An index entry is itself an index; the artifact model holds one level of manifests only.
    case nestedIndex(digest: OCIDigest, mediaType: String)
    /// The reference's media type is neither a manifest nor an index.
    case unsupportedMediaType(String)
    /// The push reference names a digest that differs from the digest of what would be pushed.
    case referenceDigestMismatch(reference: OCIDigest, content: OCIDigest)

    public var description: String {
        switch self {
        case .manifestIsNil: return "manifest must not be nil"
        case .indexIsNil: return "index must not be nil"
        case .manifestOnIndexArtifact: return "unable to set manifest on index artifact"
        case .indexOnManifestArtifact: return "unable to set index on manifest artifact"
        case .nestedIndex(let digest, let mediaType):
            return "index entry \(digest) is itself an index (\(mediaType)); the artifact model holds only manifests, "
                + "use getRawManifest or copy for nested indexes"
        case .unsupportedMediaType(let mt): return "unable to handle mediatype: \(mt)"
        case .referenceDigestMismatch(let reference, let content):
            return "the reference names digest \(reference) but the content to push has digest \(content); "
                + "push to a tag or to the content's digest"
        }
    }
}

/// A manifest in the legacy artifact model (Go: `oci.Manifest`): its descriptor and decoded content.
/// JSON: `{"Descriptor": …, "Data": …}` (Go's field names).
public struct OCIArtifactManifest: Hashable, Sendable, Codable {
    /// The manifest's descriptor; in an index, its platform and annotations go into the index entry.
    public var descriptor: Descriptor
    /// The manifest.
    public var data: Manifest

    public init(descriptor: Descriptor, data: Manifest) {
        self.descriptor = descriptor
        self.data = data
    }

    enum CodingKeys: String, CodingKey {
        case descriptor = "Descriptor"
        case data = "Data"
    }
}

/// An index in the legacy artifact model (Go: `oci.Index`). JSON: `{"Manifests": […], "Annotations": …}`.
public struct OCIArtifactIndex: Hashable, Sendable, Codable {
    /// The index's manifests, in index order.
    public var manifests: [OCIArtifactManifest]
    /// The index's annotations.
    public var annotations: [String: String]?

    public init(manifests: [OCIArtifactManifest], annotations: [String: String]? = nil) {
        self.manifests = manifests
        self.annotations = annotations
    }

    enum CodingKeys: String, CodingKey {
        case manifests = "Manifests"
        case annotations = "Annotations"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        manifests = try c.decodeIfPresent([OCIArtifactManifest].self, forKey: .manifests) ?? []
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(manifests, forKey: .manifests)
        if let annotations { try c.encode(annotations, forKey: .annotations) } else { try c.encodeNil(forKey: .annotations) }
    }
}

/// An OCI artifact in the legacy model (Go: `oci.Artifact`): exactly one manifest or one index.
/// JSON: `{"manifest": {…} | null, "index": {…} | null}`.
public struct OCIArtifact: Hashable, Sendable, Codable {
    private enum Content: Hashable, Sendable {
        case manifest(OCIArtifactManifest)
        case index(OCIArtifactIndex)
    }

    private var content: Content

    /// A manifest artifact.
    public static func manifest(_ manifest: OCIArtifactManifest) -> OCIArtifact { OCIArtifact(content: .manifest(manifest)) }

    /// An index artifact.
    public static func index(_ index: OCIArtifactIndex) -> OCIArtifact { OCIArtifact(content: .index(index)) }

    private init(content: Content) { self.content = content }

    /// A manifest artifact (Go: `NewManifestArtifact`); fails with "manifest must not be nil" for nil.
    public init(manifest: OCIArtifactManifest?) throws(OCIArtifactError) {
        guard let manifest else { throw .manifestIsNil }
        content = .manifest(manifest)
    }

    /// An index artifact (Go: `NewIndexArtifact`); fails with "index must not be nil" for nil.
    public init(index: OCIArtifactIndex?) throws(OCIArtifactError) {
        guard let index else { throw .indexIsNil }
        content = .index(index)
    }

    /// The manifest, for a manifest artifact (Go: `GetManifest`).
    public var manifest: OCIArtifactManifest? {
        if case .manifest(let m) = content { return m }
        return nil
    }

    /// The index, for an index artifact (Go: `GetIndex`).
    public var index: OCIArtifactIndex? {
        if case .index(let i) = content { return i }
        return nil
    }

    /// True for a manifest artifact (Go: `IsManifest`).
    public var isManifest: Bool { manifest != nil }
    /// True for an index artifact (Go: `IsIndex`).
    public var isIndex: Bool { index != nil }

    /// Replaces the manifest (Go: `SetManifest`); an index artifact refuses.
    public mutating func setManifest(_ manifest: OCIArtifactManifest?) throws(OCIArtifactError) {
        guard let manifest else { throw .manifestIsNil }
        guard !isIndex else { throw .manifestOnIndexArtifact }
        content = .manifest(manifest)
    }

    /// Replaces the index (Go: `SetIndex`); a manifest artifact refuses.
    public mutating func setIndex(_ index: OCIArtifactIndex?) throws(OCIArtifactError) {
        guard let index else { throw .indexIsNil }
        guard !isManifest else { throw .indexOnManifestArtifact }
        content = .index(index)
    }

    enum CodingKeys: String, CodingKey { case manifest, index }

    /// Decodes Go's JSON shape; exactly one of `manifest` and `index` must be non-null.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let m = try c.decodeIfPresent(OCIArtifactManifest.self, forKey: .manifest)
        let i = try c.decodeIfPresent(OCIArtifactIndex.self, forKey: .index)
        switch (m, i) {
        case (let m?, nil): content = .manifest(m)
        case (nil, let i?): content = .index(i)
        default:
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath,
                                                    debugDescription: "an artifact holds exactly one of manifest and index"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        if let manifest { try c.encode(manifest, forKey: .manifest) } else { try c.encodeNil(forKey: .manifest) }
        if let index { try c.encode(index, forKey: .index) } else { try c.encodeNil(forKey: .index) }
    }
}

extension OCIArtifactError: OCIError {
    public var kind: OCIErrorKind {
        switch self {
        case .referenceDigestMismatch: return .integrity
        case .unsupportedMediaType: return .unsupported
        default: return .invalidArgument
        }
    }
}
