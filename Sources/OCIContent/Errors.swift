#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OCISpec

/// Errors from content stores and streams.
public enum ContentError: Error, Sendable, CustomStringConvertible {
    /// The content's digest differs from the descriptor's: the content is corrupt or the source misbehaves.
    case digestMismatch(expected: OCIDigest, actual: OCIDigest)
    /// The content's size differs from the descriptor's.
    case sizeMismatch(digest: OCIDigest, expected: Int64, actual: Int64)
    /// Content was larger than a limit that applies to it (manifests: 4 MiB).
    case tooLarge(limit: Int)
    /// The store has no content for the descriptor or reference.
    case notFound(String)
    /// A reference or descriptor is not usable with this store.
    case invalidReference(String)
    /// The store cannot do this.
    case unsupported(String)
    /// A file-system operation failed: what was being done, on which path, and the operating system's message.
    case io(operation: String, path: String, reason: String)

    public var description: String {
        switch self {
        case .digestMismatch(let e, let a):
            return "digest mismatch: expected \(e), got \(a); the content is corrupt or the source served the wrong bytes"
        case .sizeMismatch(let d, let e, let a):
            return "size mismatch for \(d): expected \(e) bytes, got \(a)"
        case .tooLarge(let limit): return "content exceeds the limit of \(limit) bytes"
        case .notFound(let what): return "\(what): not found"
        case .invalidReference(let why): return why
        case .unsupported(let why): return why
        case .io(let operation, let path, let reason): return "cannot \(operation) \(path): \(reason)"
        }
    }
}

extension ContentError: OCIError {
    public var kind: OCIErrorKind {
        switch self {
        case .digestMismatch, .sizeMismatch: return .integrity
        case .tooLarge: return .tooLarge
        case .notFound: return .notFound
        case .invalidReference: return .invalidArgument
        case .unsupported: return .unsupported
        case .io: return .io
        }
    }

    /// An I/O error for `path` from the current `errno`.
    public static func posix(_ operation: String, _ path: String, errno code: Int32) -> ContentError {
        .io(operation: operation, path: path, reason: String(cString: strerror(code)))
    }
}
