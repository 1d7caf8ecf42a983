/// Media types of the OCI image spec, the Docker formats and the Go `ociclient` package.
public enum MediaType {
    // OCI image spec
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayout = "application/vnd.oci.layout.header.v1+json"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let ociLayerNondistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar"
    public static let ociLayerNondistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    public static let ociLayerNondistributableZstd = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
    /// OCI 1.1's empty descriptor content: the two bytes `{}`.
    public static let ociEmpty = "application/vnd.oci.empty.v1+json"

    // Docker
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    public static let dockerSchema1Manifest = "application/vnd.docker.distribution.manifest.v1+json"
    public static let dockerSchema1SignedManifest = "application/vnd.docker.distribution.manifest.v1+prettyjws"

    // Go ociclient constants (byte-identical)
    /// Go: `MediaTypeTarGzip`.
    public static let tarGzip = "application/tar+gzip"
    /// Go: `MediaTypeTar`.
    public static let tar = "application/tar"
    /// Go: `MediaTypeDockerV2Schema1Manifest`.
    public static let dockerV2Schema1Manifest = dockerSchema1Manifest
    /// Go: `MediaTypeDockerV2Schema1SignedManifest`.
    public static let dockerV2Schema1SignedManifest = dockerSchema1SignedManifest
    /// Go: `MediaTypeImageLayerZstd`.
    public static let imageLayerZstd = ociLayerZstd
    /// Go: `DefaultKnownMediaTypes`.
    public static let defaultKnownMediaTypes: Set<String> = [tarGzip, tar]

    /// The Accept list sent when resolving or fetching a manifest, in this order: containerd's resolver list, which
    /// the Go ociclient sends (Docker v2 manifest and list, OCI manifest and index, then `*/*`). Naming the Docker
    /// v2 and OCI types keeps registries from converting Docker manifests to schema1 or hiding OCI manifests
    /// (distribution 2.8 does both for clients that do not name them); `*/*` lets a registry serve what it has
    /// otherwise, a stored schema1 manifest among it.
    public static let manifestAccept: [String] = [
        dockerManifest, dockerManifestList, ociManifest, ociIndex, "*/*",
    ]

    /// True for the OCI manifest and the Docker v2 manifest (Go: `IsSingleArchImage`).
    public static func isSingleArch(_ mediaType: String) -> Bool {
        mediaType == ociManifest || mediaType == dockerManifest
    }

    /// True for the OCI index and the Docker manifest list (Go: `IsMultiArchImage`).
    public static func isMultiArch(_ mediaType: String) -> Bool {
        mediaType == ociIndex || mediaType == dockerManifestList
    }

    /// True for Docker schema1 manifests, signed or not.
    public static func isSchema1(_ mediaType: String) -> Bool {
        mediaType == dockerSchema1Manifest || mediaType == dockerSchema1SignedManifest
    }

    /// True for any type served from `/manifests/`: manifests, indexes and schema1.
    public static func isManifest(_ mediaType: String) -> Bool {
        isSingleArch(mediaType) || isMultiArch(mediaType) || isSchema1(mediaType)
    }

    /// Strips parameters (`; charset=utf-8`) and white space from a Content-Type value.
    public static func normalise(contentType: String) -> String {
        let base = contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return base.trimmingWhitespace().lowercased()
    }
}

/// Size limits for documents the client parses.
public enum ContentLimits {
    /// Manifests and indexes larger than this are refused (4 MiB, as the distribution spec recommends).
    public static let maxManifestBytes = 4 * 1024 * 1024
}

extension String {
    package func trimmingWhitespace() -> String {
        var s = Substring(self).unicodeScalars
        func isSpace(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\n" || c == "\r" }
        while let f = s.first, isSpace(f) { s = s.dropFirst() }
        while let l = s.last, isSpace(l) { s = s.dropLast() }
        return String(String.UnicodeScalarView(s))
    }
}
