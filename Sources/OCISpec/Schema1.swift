import Foundation

/// A Docker v2 schema 1 manifest (Go: `V1Manifest`). Only the fields the conversion needs are decoded.
public struct V1Manifest: Hashable, Sendable, Codable {
    /// One item of `fsLayers` (Go: `FSLayer`).
    public struct FSLayer: Hashable, Sendable, Codable {
        public var blobSum: OCIDigest
        public init(blobSum: OCIDigest) { self.blobSum = blobSum }
    }

    /// One item of `history` (Go: `History`): the raw `v1Compatibility` JSON string.
    public struct History: Hashable, Sendable, Codable {
        public var v1Compatibility: String
        public init(v1Compatibility: String) { self.v1Compatibility = v1Compatibility }
    }

    public var schemaVersion: Int?
    public var name: String?
    public var tag: String?
    public var architecture: String?
    public var fsLayers: [FSLayer]
    public var history: [History]

    public init(fsLayers: [FSLayer], history: [History], name: String? = nil, tag: String? = nil,
                architecture: String? = nil) {
        self.schemaVersion = 1
        self.fsLayers = fsLayers
        self.history = history
        self.name = name
        self.tag = tag
        self.architecture = architecture
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try c.decodeIfPresent(Int.self, forKey: .schemaVersion)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        tag = try c.decodeIfPresent(String.self, forKey: .tag)
        architecture = try c.decodeIfPresent(String.self, forKey: .architecture)
        fsLayers = try c.decodeIfPresent([FSLayer].self, forKey: .fsLayers) ?? []
        history = try c.decodeIfPresent([History].self, forKey: .history) ?? []
    }
}

/// The parsed `v1Compatibility` of a schema1 history item (Go: `V1History`).
public struct V1History: Hashable, Sendable {
    public var author: String?
    public var created: Date?
    public var comment: String?
    public var throwAway: Bool?
    public var size: Int64?
    public var containerConfigCmd: [String]?

    public init(author: String? = nil, created: Date? = nil, comment: String? = nil, throwAway: Bool? = nil,
                size: Int64? = nil, containerConfigCmd: [String]? = nil) {
        self.author = author
        self.created = created
        self.comment = comment
        self.throwAway = throwAway
        self.size = size
        self.containerConfigCmd = containerConfigCmd
    }
}

/// Schema1 JWS helpers.
public enum Schema1 {
    /// The digest of a manifest as registries compute it: over the payload for schema1 (whose signatures a
    /// registry may renew on every GET), over the bytes for everything else.
    public static func manifestDigest(of bytes: [UInt8], mediaType: String, algorithm: OCIDigest.Algorithm = .sha256) -> OCIDigest {
        OCIDigest.of(MediaType.isSchema1(mediaType) ? payload(of: bytes) : bytes, algorithm: algorithm)
    }

    /// The payload of a signed schema1 manifest: the bytes the registry's digest is computed over.
    /// For an unsigned manifest the bytes are returned unchanged.
    public static func payload(of bytes: [UInt8]) -> [UInt8] {
        struct Signature: Decodable { var protected: String }
        struct Signed: Decodable { var signatures: [Signature]? }
        struct Protected: Decodable { var formatLength: Int; var formatTail: String }
        guard let signed = try? JSONDecoder().decode(Signed.self, from: Data(bytes)),
              let first = signed.signatures?.first,
              let protectedData = base64URLDecode(first.protected),
              let prot = try? JSONDecoder().decode(Protected.self, from: protectedData),
              prot.formatLength >= 0, prot.formatLength <= bytes.count,
              let tail = base64URLDecode(prot.formatTail)
        else { return bytes }
        return Array(bytes[..<prot.formatLength]) + Array(tail)
    }

    static func base64URLDecode(_ s: String) -> Data? {
        var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t)
    }
}
