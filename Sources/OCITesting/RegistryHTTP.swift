import Crypto
import Foundation
import NIOCore
import NIOHTTP1

// Internal building blocks of ``InProcessRegistry``: spec error codes, digests checked before they name a path,
// the name/tag grammar, responses and the request body reader.

// MARK: - Spec errors

/// The error codes of the distribution spec, each with the status code a registry answers with.
enum RegistryErrorCode: String, Sendable {
    case blobUnknown = "BLOB_UNKNOWN"
    case blobUploadInvalid = "BLOB_UPLOAD_INVALID"
    case blobUploadUnknown = "BLOB_UPLOAD_UNKNOWN"
    case digestInvalid = "DIGEST_INVALID"
    case manifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
    case manifestInvalid = "MANIFEST_INVALID"
    case manifestUnknown = "MANIFEST_UNKNOWN"
    case nameInvalid = "NAME_INVALID"
    case nameUnknown = "NAME_UNKNOWN"
    case sizeInvalid = "SIZE_INVALID"
    case tagInvalid = "TAG_INVALID"
    case unauthorized = "UNAUTHORIZED"
    case denied = "DENIED"
    case unsupported = "UNSUPPORTED"
    case tooManyRequests = "TOOMANYREQUESTS"
    case paginationNumberInvalid = "PAGINATION_NUMBER_INVALID"
    /// distribution's code for an internal failure.
    case unknown = "UNKNOWN"

    /// The status distribution sends with the code.
    var status: Int {
        switch self {
        case .blobUnknown, .blobUploadUnknown, .manifestUnknown, .nameUnknown: return 404
        case .blobUploadInvalid, .digestInvalid, .manifestBlobUnknown, .manifestInvalid, .nameInvalid, .sizeInvalid,
             .tagInvalid, .paginationNumberInvalid:
            return 400
        case .unauthorized: return 401
        case .denied: return 403
        case .unsupported: return 405
        case .tooManyRequests: return 429
        case .unknown: return 500
        }
    }

    /// The spec's message for the code.
    var message: String {
        switch self {
        case .blobUnknown: return "blob unknown to registry"
        case .blobUploadInvalid: return "blob upload invalid"
        case .blobUploadUnknown: return "blob upload unknown to registry"
        case .digestInvalid: return "provided digest did not match uploaded content"
        case .manifestBlobUnknown: return "manifest references a manifest or blob unknown to registry"
        case .manifestInvalid: return "manifest invalid"
        case .manifestUnknown: return "manifest unknown to registry"
        case .nameInvalid: return "invalid repository name"
        case .nameUnknown: return "repository name not known to registry"
        case .sizeInvalid: return "provided length did not match content length"
        case .tagInvalid: return "manifest tag did not match URI"
        case .unauthorized: return "authentication required"
        case .denied: return "requested access to the resource is denied"
        case .unsupported: return "the operation is unsupported"
        case .tooManyRequests: return "too many requests"
        case .paginationNumberInvalid: return "invalid number of results requested"
        case .unknown: return "unknown error"
        }
    }
}

/// A failed request: answered with the spec's error body.
struct RegistryFailure: Error, Sendable {
    var code: RegistryErrorCode
    var message: String?
    var detail: String?
    var status: Int?
    var headers: [(String, String)] = []

    init(_ code: RegistryErrorCode, _ detail: String? = nil, message: String? = nil, status: Int? = nil,
         headers: [(String, String)] = []) {
        self.code = code
        self.detail = detail
        self.message = message
        self.status = status
        self.headers = headers
    }

    var response: RegistryResponse {
        var response = RegistryResponse.error(code, detail: detail, message: message, status: status)
        for (name, value) in headers { response.headers.append((name, value)) }
        return response
    }
}

// MARK: - Responses

/// The bytes of a response body.
enum ResponseBody: Sendable {
    case empty
    case bytes([UInt8])
    /// A stored blob, or a byte range of it.
    case blob(RegistryBlobContent, range: Range<Int>)

    var count: Int {
        switch self {
        case .empty: return 0
        case .bytes(let b): return b.count
        case .blob(_, let range): return range.count
        }
    }
}

/// What a route answers.
struct RegistryResponse: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: ResponseBody
    /// Closes the connection after the response.
    var closeConnection = false

    init(status: Int, headers: [(String, String)] = [], body: ResponseBody = .empty) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    func header(_ name: String) -> String? {
        headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
    }

    mutating func setHeader(_ name: String, _ value: String) {
        headers.removeAll { $0.0.caseInsensitiveCompare(name) == .orderedSame }
        headers.append((name, value))
    }

    static func json(_ status: Int, _ object: Any, headers: [(String, String)] = []) -> RegistryResponse {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return RegistryResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: .bytes(Array(data)))
    }

    static func error(_ code: RegistryErrorCode, detail: String? = nil, message: String? = nil, status: Int? = nil) -> RegistryResponse {
        var entry: [String: Any] = ["code": code.rawValue, "message": message ?? code.message]
        if let detail { entry["detail"] = detail }
        return json(status ?? code.status, ["errors": [entry]])
    }

    static func text(_ status: Int, _ text: String) -> RegistryResponse {
        RegistryResponse(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")], body: .bytes(Array(text.utf8)))
    }
}

// MARK: - Digests

/// A digest whose algorithm is supported and whose encoded part has the algorithm's length in lowercase hex:
/// the only form that ever names a file of the store.
struct CheckedDigest: Hashable, Sendable, Comparable, CustomStringConvertible {
    enum Algorithm: String, Sendable {
        case sha256, sha512

        var hexLength: Int { self == .sha256 ? 64 : 128 }
    }

    let algorithm: Algorithm
    let hex: String

    init?(_ string: some StringProtocol) {
        guard let colon = string.firstIndex(of: ":"),
              let algorithm = Algorithm(rawValue: String(string[..<colon])) else { return nil }
        let hex = string[string.index(after: colon)...]
        guard hex.utf8.count == algorithm.hexLength,
              hex.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })  // 0-9, a-f
        else { return nil }
        self.algorithm = algorithm
        self.hex = String(hex)
    }

    init(sha256 bytes: some Sequence<UInt8>) {
        var hasher = SHA256()
        hasher.update(data: Array(bytes))
        self.algorithm = .sha256
        self.hex = Self.hexString(hasher.finalize())
    }

    private init(algorithm: Algorithm, hex: String) {
        self.algorithm = algorithm
        self.hex = hex
    }

    /// The digest of `bytes` with `algorithm`.
    static func of(_ bytes: [UInt8], algorithm: Algorithm) -> CheckedDigest {
        switch algorithm {
        case .sha256: return CheckedDigest(algorithm: .sha256, hex: hexString(SHA256.hash(data: bytes)))
        case .sha512: return CheckedDigest(algorithm: .sha512, hex: hexString(SHA512.hash(data: bytes)))
        }
    }

    static func sha256(finalizing hasher: SHA256) -> CheckedDigest {
        CheckedDigest(algorithm: .sha256, hex: hexString(hasher.finalize()))
    }

    static func sha512(finalizing hasher: SHA512) -> CheckedDigest {
        CheckedDigest(algorithm: .sha512, hex: hexString(hasher.finalize()))
    }

    static func hexString(_ digest: some Sequence<UInt8>) -> String {
        let table = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in digest {
            out.append(table[Int(byte >> 4)])
            out.append(table[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    var description: String { "\(algorithm.rawValue):\(hex)" }

    static func < (lhs: CheckedDigest, rhs: CheckedDigest) -> Bool { lhs.description < rhs.description }
}

// MARK: - Names and tags

enum RegistryGrammar {
    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most 255 characters.
    static func isValidName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255 else { return false }
        for component in name.split(separator: "/", omittingEmptySubsequences: false) {
            guard isValidComponent(Array(component.utf8)) else { return false }
        }
        return true
    }

    private static func isAlnum(_ c: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
    }

    private static func isValidComponent(_ bytes: [UInt8]) -> Bool {
        guard let first = bytes.first, let last = bytes.last, isAlnum(first), isAlnum(last) else { return false }
        var i = 0
        while i < bytes.count {
            if isAlnum(bytes[i]) { i += 1; continue }
            // a separator: ".", "_", "__" or one or more "-", followed by an alphanumeric
            let start = i
            switch bytes[i] {
            case UInt8(ascii: "."):
                i += 1
            case UInt8(ascii: "_"):
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "_") { i += 1 }
            case UInt8(ascii: "-"):
                while i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
            default:
                return false
            }
            guard i > start, i < bytes.count, isAlnum(bytes[i]) else { return false }
        }
        return true
    }

    /// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
    static func isValidTag(_ tag: String) -> Bool {
        let bytes = Array(tag.utf8)
        guard let first = bytes.first, bytes.count <= 128 else { return false }
        func word(_ c: UInt8) -> Bool {
            isAlnum(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c) || c == UInt8(ascii: "_")
        }
        guard word(first) else { return false }
        return bytes.dropFirst().allSatisfy { word($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }
}

// MARK: - Query strings

struct RegistryQuery: Sendable {
    var items: [(name: String, value: String)]

    init(_ query: Substring) {
        items = query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            guard let eq = pair.firstIndex(of: "=") else { return (Self.decode(pair), "") }
            return (Self.decode(pair[..<eq]), Self.decode(pair[pair.index(after: eq)...]))
        }
    }

    /// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` an escape (kept literally when malformed).
    static func decode(_ s: Substring) -> String {
        let bytes = Array(s.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
                i += 1
            } else if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, let hi = hex(bytes[i + 1]), let lo = hex(bytes[i + 2]) {
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    subscript(_ name: String) -> String? {
        items.first { $0.name == name }?.value
    }

    func all(_ name: String) -> [String] {
        items.filter { $0.name == name }.map(\.value)
    }
}

/// Percent-encodes a query value (unreserved characters stay as they are).
func registryQueryEncode(_ value: String) -> String {
    let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
    return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
}

// MARK: - Request bodies

/// The body of the request being handled, as it arrives; owned by the request's task.
final class RegistryRequestBody {
    typealias Producer = NIOThrowingAsyncSequenceProducer<
        ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, RegistryBodyDelegate>

    private var iterator: Producer.AsyncIterator
    private let channel: Channel
    private let version: HTTPVersion
    /// The client waits for `100 Continue` before it sends the body.
    private(set) var continuePending: Bool
    /// Whether the body has been read to its end.
    private(set) var finished = false
    /// The body bytes read so far.
    private(set) var bytesRead = 0

    init(_ sequence: Producer, expectsContinue: Bool, channel: Channel, version: HTTPVersion) {
        self.iterator = sequence.makeAsyncIterator()
        self.continuePending = expectsContinue
        self.channel = channel
        self.version = version
    }

    /// The next chunk; nil at the end.
    func next() async throws -> ByteBuffer? {
        guard !finished else { return nil }
        if continuePending {
            continuePending = false
            try await channel.writeAndFlush(HTTPServerResponsePart.head(HTTPResponseHead(version: version, status: .continue))).get()
        }
        while true {
            guard let buffer = try await iterator.next() else {
                finished = true
                return nil
            }
            bytesRead += buffer.readableBytes
            if buffer.readableBytes > 0 { return buffer }
        }
    }

    /// The whole body, or nil when it exceeds `limit` bytes (the rest is then left unread).
    func collect(limit: Int) async throws -> [UInt8]? {
        var out: [UInt8] = []
        while let chunk = try await next() {
            if out.count + chunk.readableBytes > limit { return nil }
            out.append(contentsOf: chunk.readableBytesView)
        }
        return out
    }

    /// Reads and drops the rest of the body, at most `limit` more bytes; false when more was left.
    func drain(limit: Int) async throws -> Bool {
        var seen = 0
        while let chunk = try await next() {
            seen += chunk.readableBytes
            if seen > limit { return false }
        }
        return true
    }
}
