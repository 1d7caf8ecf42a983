import OCIReference
import OCIKit
import OCISchema1
import OCISpec

/// Go `ociclient` package-level helpers, with the same behaviour.
public enum OCIHelpers {
    /// Splits an image reference into repository and version (Go: `ParseImageRef`).
    ///
    /// Kept exactly as Go does it, quirks included, because callers rely on it: `host:5000/repo` (no tag) gives
    /// `("host", "5000/repo")` and `repo` gives `("", "repo")`. Use `Reference(parsing:)` for real parsing;
    /// this package's own copy code never uses this function.
    public static func parseImageRef(_ ref: String) throws(OCIClientError) -> (repository: String, version: String) {
        if ref.contains("@") {
            let parts = ref.split(separator: "@", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw .invalidArgument("invalid image reference \"\(ref)\", expected only 1 char of '@'")
            }
            return (String(parts[0]), String(parts[1]))
        }
        let parts = ref.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 3 else {
            throw .invalidArgument("invalid image reference \"\(ref)\", expected maximum 3 chars of ':'")
        }
        return (parts.dropLast().joined(separator: ":"), parts.last ?? "")
    }

    /// True when `tag` is a valid digest (Go: `TagIsDigest`).
    public static func tagIsDigest(_ tag: String) -> Bool { OCIDigest(tag) != nil }

    /// True for OCI manifests and Docker v2 manifests (Go: `IsSingleArchImage`).
    public static func isSingleArchImage(_ mediaType: String) -> Bool { MediaType.isSingleArch(mediaType) }

    /// True for OCI indexes and Docker manifest lists (Go: `IsMultiArchImage`).
    public static func isMultiArchImage(_ mediaType: String) -> Bool { MediaType.isMultiArch(mediaType) }

    /// The first layer whose title annotation is `name` (Go: `GetLayerByName`).
    public static func layer(named name: String, in layers: [Descriptor]) -> Descriptor? {
        layers.first { $0.title == name }
    }

    /// Every layer with that media type, in order (Go: `GetLayerByMediaType`).
    public static func layers(withMediaType mediaType: String, in layers: [Descriptor]) -> [Descriptor] {
        layers.filter { $0.mediaType == mediaType }
    }

    /// Every layer with that digest, in order (Go: `GetLayerByDigest`).
    public static func layers(withDigest digest: String, in layers: [Descriptor]) -> [Descriptor] {
        layers.filter { $0.digest.description == digest }
    }

    /// The descriptor of a manifest's JSON encoding: OCI manifest media type, sha256, size
    /// (Go: `CreateDescriptorFromManifest`). Unlike Go it does not change its argument; a schemaVersion of 0
    /// is encoded as 2. Returns the bytes too, since the digest is only valid for exactly these bytes.
    public static func descriptor(for manifest: Manifest) throws(OCIClientError) -> (descriptor: Descriptor, bytes: [UInt8]) {
        var m = manifest
        if m.schemaVersion == 0 { m.schemaVersion = 2 }
        do {
            let bytes = try JSONCoding.encode(m)
            return (Descriptor.of(bytes, mediaType: MediaType.ociManifest), bytes)
        } catch {
            throw .invalidArgument("cannot encode manifest: \(error)")
        }
    }
}
