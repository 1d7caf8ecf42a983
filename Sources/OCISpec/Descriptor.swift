import Foundation

/// The platform a manifest runs on.
public struct Platform: Hashable, Sendable, Codable, CustomStringConvertible {
    public var architecture: String
    public var os: String
    public var osVersion: String?
    public var osFeatures: [String]?
    public var variant: String?
    public var features: [String]?

    public init(architecture: String, os: String, osVersion: String? = nil, osFeatures: [String]? = nil,
                variant: String? = nil, features: [String]? = nil) {
        self.architecture = architecture
        self.os = os
        self.osVersion = osVersion
        self.osFeatures = osFeatures
        self.variant = variant
        self.features = features
    }

    /// Parses `os/arch[/variant][:osversion]` (`windows/amd64:10.0.17763.1234`).
    public init?(parsing string: String) {
        var text = Substring(string)
        var osVersion: String?
        if let colon = text.lastIndex(of: ":") {
            osVersion = String(text[text.index(after: colon)...])
            text = text[..<colon]
            guard osVersion?.isEmpty == false else { return nil }
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        self.init(architecture: parts[1], os: parts[0], osVersion: osVersion,
                  variant: parts.count == 3 && !parts[2].isEmpty ? parts[2] : nil)
    }

    /// `os/arch[/variant]` (the OS version is left out, as platforms are usually named).
    public var description: String {
        variant.map { "\(os)/\(architecture)/\($0)" } ?? "\(os)/\(architecture)"
    }

    /// True when `self`, as a wanted platform, is satisfied by `other` (a missing variant matches any).
    public func matches(_ other: Platform) -> Bool {
        guard os == other.os, architecture == other.architecture else { return false }
        if let v = variant, v != other.variant { return false }
        if let version = osVersion, version != other.osVersion { return false }
        return true
    }

    enum CodingKeys: String, CodingKey {
        case architecture, os, variant, features
        case osVersion = "os.version"
        case osFeatures = "os.features"
    }
}

/// A content descriptor: what a blob or manifest is, how big, and where it may be fetched.
public struct Descriptor: Hashable, Sendable, Codable {
    public var mediaType: String
    public var digest: OCIDigest
    public var size: Int64
    public var urls: [String]?
    public var annotations: [String: String]?
    public var platform: Platform?
    public var artifactType: String?
    /// Embedded content (base64 in JSON).
    public var data: Data?

    public init(mediaType: String, digest: OCIDigest, size: Int64, urls: [String]? = nil,
                annotations: [String: String]? = nil, platform: Platform? = nil, artifactType: String? = nil,
                data: Data? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.urls = urls
        self.annotations = annotations
        self.platform = platform
        self.artifactType = artifactType
        self.data = data
    }

    /// A descriptor for `bytes`, hashed with sha256.
    public static func of(_ bytes: [UInt8], mediaType: String, annotations: [String: String]? = nil) -> Descriptor {
        Descriptor(mediaType: mediaType, digest: .of(bytes), size: Int64(bytes.count), annotations: annotations)
    }

    /// The title annotation (`org.opencontainers.image.title`), if any.
    public var title: String? { annotations?[Annotation.title] }

    /// The descriptor reduced to media type, digest and size (for comparisons of identity).
    public var basic: Descriptor { Descriptor(mediaType: mediaType, digest: digest, size: size) }
}

/// Well-known annotation keys.
public enum Annotation {
    public static let title = "org.opencontainers.image.title"
    public static let refName = "org.opencontainers.image.ref.name"
    public static let created = "org.opencontainers.image.created"
}

/// The OCI 1.1 empty JSON blob `{}` and its descriptor.
public enum EmptyJSON {
    public static let bytes: [UInt8] = Array("{}".utf8)
    public static let digest = OCIDigest.of(bytes)
    /// `application/vnd.oci.empty.v1+json`, `sha256:44136fa3…`, size 2.
    public static let descriptor = Descriptor(mediaType: MediaType.ociEmpty, digest: digest, size: 2)
}
