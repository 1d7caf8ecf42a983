import Foundation

/// An image or artifact manifest (OCI `application/vnd.oci.image.manifest.v1+json`, also Docker v2 schema 2).
public struct Manifest: Hashable, Sendable, Codable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var artifactType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(schemaVersion: Int = 2, mediaType: String? = MediaType.ociManifest, artifactType: String? = nil,
                config: Descriptor, layers: [Descriptor], subject: Descriptor? = nil,
                annotations: [String: String]? = nil) {
        self.schemaVersion = schemaVersion
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.config = config
        self.layers = layers
        self.subject = subject
        self.annotations = annotations
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try c.decodeIfPresent(Int.self, forKey: .schemaVersion) ?? 0
        mediaType = try c.decodeIfPresent(String.self, forKey: .mediaType)
        artifactType = try c.decodeIfPresent(String.self, forKey: .artifactType)
        config = try c.decode(Descriptor.self, forKey: .config)
        layers = try c.decodeIfPresent([Descriptor].self, forKey: .layers) ?? []
        subject = try c.decodeIfPresent(Descriptor.self, forKey: .subject)
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
    }

    /// The config and layers, in that order.
    public var blobs: [Descriptor] { [config] + layers }
}

/// An image index (OCI `application/vnd.oci.image.index.v1+json`, also the Docker manifest list).
public struct ImageIndex: Hashable, Sendable, Codable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var artifactType: String?
    public var manifests: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(schemaVersion: Int = 2, mediaType: String? = MediaType.ociIndex, artifactType: String? = nil,
                manifests: [Descriptor], subject: Descriptor? = nil, annotations: [String: String]? = nil) {
        self.schemaVersion = schemaVersion
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.manifests = manifests
        self.subject = subject
        self.annotations = annotations
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try c.decodeIfPresent(Int.self, forKey: .schemaVersion) ?? 0
        mediaType = try c.decodeIfPresent(String.self, forKey: .mediaType)
        artifactType = try c.decodeIfPresent(String.self, forKey: .artifactType)
        manifests = try c.decodeIfPresent([Descriptor].self, forKey: .manifests) ?? []
        subject = try c.decodeIfPresent(Descriptor.self, forKey: .subject)
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
    }
}

/// A decoded manifest document together with the exact bytes it was decoded from.
public enum ManifestDocument: Sendable {
    case manifest(Manifest)
    case index(ImageIndex)
    case schema1(V1Manifest)

    /// Decodes `bytes` as the given media type. A missing or generic media type is sniffed from the JSON.
    public static func decode(_ bytes: [UInt8], mediaType: String) throws(SpecError) -> ManifestDocument {
        guard bytes.count <= ContentLimits.maxManifestBytes else {
            throw .tooLarge(limit: ContentLimits.maxManifestBytes, actual: bytes.count)
        }
        let kind: String
        if MediaType.isManifest(mediaType) {
            kind = mediaType
        } else {
            kind = sniffMediaType(bytes) ?? mediaType
        }
        if MediaType.isMultiArch(kind) {
            return .index(try JSONCoding.decode(ImageIndex.self, from: bytes))
        } else if MediaType.isSingleArch(kind) {
            return .manifest(try JSONCoding.decode(Manifest.self, from: bytes))
        } else if MediaType.isSchema1(kind) {
            return .schema1(try JSONCoding.decode(V1Manifest.self, from: bytes))
        }
        throw .unsupportedMediaType(mediaType)
    }

    /// Guesses a manifest's media type from its JSON: `mediaType` if present, else its shape.
    public static func sniffMediaType(_ bytes: [UInt8]) -> String? {
        struct Probe: Decodable {
            var schemaVersion: Int?
            var mediaType: String?
            var manifests: [Descriptor]?
            var config: Descriptor?
            var fsLayers: [V1Manifest.FSLayer]?
            var signatures: [JSONValue]?
        }
        guard let probe = try? JSONCoding.decode(Probe.self, from: bytes) else { return nil }
        if let mt = probe.mediaType, !mt.isEmpty { return mt }
        if probe.manifests != nil { return MediaType.ociIndex }
        if probe.config != nil { return MediaType.ociManifest }
        if probe.fsLayers != nil {
            return probe.signatures != nil ? MediaType.dockerSchema1SignedManifest : MediaType.dockerSchema1Manifest
        }
        return nil
    }

    /// Every descriptor this document references (config and layers, or child manifests), subject excluded.
    public var children: [Descriptor] {
        switch self {
        case .manifest(let m): return m.blobs
        case .index(let i): return i.manifests
        case .schema1(let m):
            // The layers, once each; schema1 records no sizes (-1) or media types.
            var seen: Set<OCIDigest> = []
            return m.fsLayers.compactMap { layer in
                seen.insert(layer.blobSum).inserted
                    ? Descriptor(mediaType: MediaType.dockerLayerGzip, digest: layer.blobSum, size: -1) : nil
            }
        }
    }

    public var subject: Descriptor? {
        switch self {
        case .manifest(let m): return m.subject
        case .index(let i): return i.subject
        case .schema1: return nil
        }
    }
}

/// Errors in spec documents.
public enum SpecError: Error, Sendable, CustomStringConvertible {
    case invalidJSON(String)
    case tooLarge(limit: Int, actual: Int)
    case unsupportedMediaType(String)

    public var description: String {
        switch self {
        case .invalidJSON(let why): return "invalid JSON document: \(why)"
        case .tooLarge(let limit, let actual): return "document of \(actual) bytes exceeds the limit of \(limit) bytes"
        case .unsupportedMediaType(let mt): return "media type is not an image manifest or image index: \(mt)"
        }
    }
}

/// The project's JSON settings: decoding tolerates unknown fields; encoding is deterministic (sorted keys,
/// no escaped slashes), so generated documents hash the same on every run.
public enum JSONCoding {
    /// Maximum nesting depth accepted when decoding untrusted documents.
    public static let maxDepth = 64

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(SpecError) -> T {
        guard nestingDepth(bytes) <= maxDepth else { throw .invalidJSON("nesting deeper than \(maxDepth) levels") }
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch let error as DecodingError {
            throw .invalidJSON(describe(error))
        } catch {
            throw .invalidJSON("\(error)")
        }
    }

    public static func encode<T: Encodable>(_ value: T) throws(SpecError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(value))
        } catch {
            throw .invalidJSON("cannot encode: \(error)")
        }
    }

    /// The deepest nesting of objects and arrays, skipping strings. Linear, no recursion.
    public static func nestingDepth(_ bytes: [UInt8]) -> Int {
        var depth = 0, maxSeen = 0, inString = false, escaped = false
        for b in bytes {
            if inString {
                if escaped { escaped = false } else if b == 0x5C { escaped = true } else if b == 0x22 { inString = false }
                continue
            }
            switch b {
            case 0x22: inString = true
            case 0x7B, 0x5B: depth += 1; maxSeen = max(maxSeen, depth)
            case 0x7D, 0x5D: depth -= 1
            default: break
            }
        }
        return maxSeen
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let ctx): return path(ctx) + ctx.debugDescription
        case .keyNotFound(let key, let ctx): return path(ctx) + "missing field \"\(key.stringValue)\""
        case .typeMismatch(_, let ctx): return path(ctx) + ctx.debugDescription
        case .valueNotFound(_, let ctx): return path(ctx) + ctx.debugDescription
        @unknown default: return "\(error)"
        }
    }

    private static func path(_ ctx: DecodingError.Context) -> String {
        let p = ctx.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return p.isEmpty ? "" : "at \(p): "
    }
}

/// Any JSON value, for fields kept but not interpreted.
public indirect enum JSONValue: Hashable, Sendable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n): try c.encode(n)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

extension SpecError: OCIError {
    public var kind: OCIErrorKind {
        switch self {
        case .invalidJSON: return .invalidResponse
        case .tooLarge: return .tooLarge
        case .unsupportedMediaType: return .unsupported
        }
    }
}
