import OCISpec

/// Errors of the content cache. A plain miss is `ContentError.notFound`, like every other store.
public enum CacheError: Error, Sendable, CustomStringConvertible {
    /// The cache path exists and is not a directory.
    case notADirectory(path: String)
    /// The options are inconsistent (thresholds out of range, low above high, …).
    case invalidConfiguration(String)
    /// An entry could not be written; the content was not cached.
    case writeFailed(path: String, reason: String)
    /// An entry exists but could not be read.
    case readFailed(path: String, reason: String)
    /// The entry is larger than the cache's size limit and is never stored.
    case entryTooLarge(digest: OCIDigest, size: Int64, limit: Int64)
    /// The descriptor cannot be cached (for example a negative size).
    case invalidDescriptor(digest: OCIDigest, reason: String)
    /// The cache was closed.
    case closed

    /// What failed and what to do about it.
    public var description: String {
        switch self {
        case .notADirectory(let path):
            return "cache path \(path) exists and is not a directory: point OCI_CACHE_DIR or the cache directory option at a directory"
        case .invalidConfiguration(let why):
            return "invalid cache configuration: \(why)"
        case .writeFailed(let path, let reason):
            return "cannot write \(path) in the cache: \(reason); check that the cache directory is writable and has free space, or disable the cache"
        case .readFailed(let path, let reason):
            return "cannot read the cache entry \(path): \(reason); check the permissions of the cache directory"
        case .entryTooLarge(let digest, let size, let limit):
            return "\(digest) (\(size) bytes) is larger than the cache size limit of \(limit) bytes and is not cached; raise the limit to cache it"
        case .invalidDescriptor(let digest, let reason):
            return "cannot cache \(digest): \(reason)"
        case .closed:
            return "the cache is closed; open a new ContentCache"
        }
    }
}

extension CacheError: OCIError {
    public var kind: OCIErrorKind {
        switch self {
        case .notADirectory, .writeFailed, .readFailed: return .io
        case .invalidConfiguration, .invalidDescriptor: return .invalidArgument
        case .entryTooLarge: return .tooLarge
        case .closed: return .unsupported
        }
    }
}
