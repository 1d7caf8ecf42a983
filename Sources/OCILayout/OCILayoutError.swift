import OCIContent
import OCISpec
import OCISync

/// Errors specific to OCI image layout directories. Missing content and verification failures are reported as
/// `ContentError` (`notFound`, `digestMismatch`, `sizeMismatch`), like every other store.
public enum OCILayoutError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The directory is not an OCI image layout (or cannot be made one).
    case notALayout(path: String, reason: String)
    /// The layout's `oci-layout` file names a version this store does not support.
    case unsupportedVersion(path: String, found: String)
    /// `index.json` cannot be read or parsed.
    case invalidIndex(path: String, reason: String)
    /// A tag (`org.opencontainers.image.ref.name`) this store refuses to write.
    case invalidTag(String)
    /// A digest reference that is not a valid digest.
    case invalidDigest(String, reason: String)
    /// The blob exists but is not a manifest or index, so it cannot be resolved.
    case notAManifest(digest: String, path: String)
    /// A file system operation failed.
    case io(path: String, operation: String, reason: String)

    public var description: String {
        switch self {
        case .notALayout(let path, let reason):
            return "\(path) is not an OCI image layout: \(reason)"
        case .unsupportedVersion(let path, let found):
            return "\(path)/oci-layout declares imageLayoutVersion \"\(found)\"; only 1.0.0 is supported"
        case .invalidIndex(let path, let reason):
            return "cannot read \(path): \(reason); repair or remove the file (a layout needs a valid OCI index there)"
        case .invalidTag(let tag):
            return "invalid tag \"\(tag)\": use letters, digits, '_', '.' and '-' (at most 128, starting with a letter, digit or '_', no \"..\")"
        case .invalidDigest(let reference, let reason):
            return "invalid digest reference \"\(reference)\": \(reason)"
        case .notAManifest(let digest, let path):
            return "\(digest) (\(path)) is a blob, not a manifest or index; only manifests can be resolved"
        case .io(let path, let operation, let reason):
            return "cannot \(operation) \(path): \(reason); \(Self.advice(for: reason))"
        }
    }
}

extension OCILayoutError {
    /// What to do about an operating system's message.
    static func advice(for reason: String) -> String {
        if reason.contains("No space left") || reason.contains("quota") { return "free space on that file system, or write elsewhere" }
        if reason.contains("Read-only file system") { return "the file system is read-only: write the layout elsewhere" }
        if reason.contains("Permission denied") || reason.contains("not permitted") {
            return "check the permissions of the directory, or write elsewhere"
        }
        return "check that the path exists and is writable"
    }

    /// The I/O error for a failure of the shared file primitives (their path and OS message kept) or of a stream.
    static func io(_ path: String, _ operation: String, _ error: any Error) -> OCILayoutError {
        switch error {
        case let error as OCILayoutError: return error
        case ContentError.io(let op, let p, let reason): return .io(path: p.isEmpty ? path : p, operation: op, reason: reason)
        case let error as FileSystemError: return .io(path: error.path, operation: error.operation, reason: error.reason)
        default: return .io(path: path, operation: operation, reason: String(describing: error))
        }
    }
}

extension OCILayoutError: OCIError {
    public var kind: OCIErrorKind {
        switch self {
        case .notALayout, .invalidIndex: return .invalidResponse
        case .unsupportedVersion, .notAManifest: return .unsupported
        case .invalidTag, .invalidDigest: return .invalidArgument
        case .io: return .io
        }
    }
}
