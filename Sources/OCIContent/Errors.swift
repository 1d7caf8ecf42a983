import OCISpec

/// Errors from content stores and streams.
public enum ContentError: Error, Sendable, CustomStringConvertible {
    /// The content's digest differs from the descriptor's: the content is corrupt or the source misbehaves.
    case digestMismatch(expected: Digest, actual: Digest)
    /// The content's size differs from the descriptor's.
    case sizeMismatch(digest: Digest, expected: Int64, actual: Int64)
    /// Content was larger than a limit that applies to it (manifests: 4 MiB).
    case tooLarge(limit: Int)
    /// The store has no content for the descriptor or reference.
    case notFound(String)
    /// A reference or descriptor is not usable with this store.
    case invalidReference(String)
    /// The store cannot do this.
    case unsupported(String)

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
        }
    }
}
