import Crypto

/// A content digest such as `sha256:6c3c…`: a registered algorithm and its lowercase hex encoding.
///
/// An `OCIDigest` is always valid: the initialiser rejects unknown algorithms, non-hex or uppercase encodings and wrong
/// lengths, so a digest can safely become a file name (`blobs/sha256/<hex>`).
public struct OCIDigest: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// The hash algorithms that digests may use.
    public enum Algorithm: String, Sendable, CaseIterable, Codable {
        case sha256, sha384, sha512

        /// The length of the hex encoding for this algorithm.
        public var hexLength: Int {
            switch self {
            case .sha256: return 64
            case .sha384: return 96
            case .sha512: return 128
            }
        }
    }

    public let algorithm: Algorithm
    /// The lowercase hex encoding of the hash.
    public let encoded: String

    /// Parses `alg:hex`, throwing `DigestError` when the string is not a valid digest.
    public init(parsing string: String) throws(DigestError) {
        guard let colon = string.firstIndex(of: ":") else { throw DigestError.invalidFormat(string) }
        let algName = String(string[..<colon])
        let hex = String(string[string.index(after: colon)...])
        guard let algorithm = Algorithm(rawValue: algName) else {
            throw DigestError.unsupportedAlgorithm(algName)
        }
        guard hex.utf8.count == algorithm.hexLength,
              hex.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) })
        else { throw DigestError.invalidEncoding(string) }
        self.algorithm = algorithm
        self.encoded = hex
    }

    /// Returns nil when `string` is not a valid digest.
    public init?(_ string: String) {
        guard let d = try? OCIDigest(parsing: string) else { return nil }
        self = d
    }

    /// The digest of `bytes` with the given algorithm.
    public static func of<Bytes: Sequence>(_ bytes: Bytes, algorithm: Algorithm = .sha256) -> OCIDigest where Bytes.Element == UInt8 {
        var hasher = DigestHasher(algorithm: algorithm)
        hasher.update(Array(bytes))
        return hasher.finalize()
    }

    /// `alg:hex`
    public var description: String { "\(algorithm.rawValue):\(encoded)" }
    public var string: String { description }

    public static func < (lhs: OCIDigest, rhs: OCIDigest) -> Bool { lhs.description < rhs.description }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        do {
            self = try OCIDigest(parsing: raw)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    init(algorithm: Algorithm, hashBytes: some Sequence<UInt8>) {
        self.algorithm = algorithm
        let table: [Character] = Array("0123456789abcdef")
        var out = ""
        out.reserveCapacity(algorithm.hexLength)
        for b in hashBytes {
            out.append(table[Int(b >> 4)])
            out.append(table[Int(b & 0x0f)])
        }
        self.encoded = out
    }
}

/// Why a string is not a digest.
public enum DigestError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidFormat(String)
    case unsupportedAlgorithm(String)
    case invalidEncoding(String)

    public var description: String {
        switch self {
        case .invalidFormat(let s): return "invalid digest \"\(s)\": expected ALGORITHM:HEX"
        case .unsupportedAlgorithm(let a): return "unsupported digest algorithm \"\(a)\": use sha256, sha384 or sha512"
        case .invalidEncoding(let s): return "invalid digest \"\(s)\": the hex part must be lowercase and of the algorithm's length"
        }
    }
}

/// Incrementally hashes content for a digest, for verification while streaming.
public struct DigestHasher {
    public typealias Algorithm = OCIDigest.Algorithm
    public let algorithm: Algorithm
    // One of these is set; updating an optional in place keeps the hash context uniquely referenced
    // (no copy per chunk).
    private var sha256: SHA256?
    private var sha384: SHA384?
    private var sha512: SHA512?
    /// The number of bytes hashed so far.
    public private(set) var count: Int64 = 0

    public init(algorithm: OCIDigest.Algorithm = .sha256) {
        self.algorithm = algorithm
        switch algorithm {
        case .sha256: sha256 = SHA256()
        case .sha384: sha384 = SHA384()
        case .sha512: sha512 = SHA512()
        }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        count += Int64(bytes.count)
        sha256?.update(bufferPointer: bytes)
        sha384?.update(bufferPointer: bytes)
        sha512?.update(bufferPointer: bytes)
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public mutating func update(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBytes { update($0) }
    }

    public func finalize() -> OCIDigest {
        if let h = sha384 { return OCIDigest(algorithm: .sha384, hashBytes: h.finalize()) }
        if let h = sha512 { return OCIDigest(algorithm: .sha512, hashBytes: h.finalize()) }
        return OCIDigest(algorithm: .sha256, hashBytes: (sha256 ?? SHA256()).finalize())
    }
}

extension DigestError: OCIError {
    public var kind: OCIErrorKind { .invalidArgument }
}
