import OCISpec

/// Errors of the client verbs and the Go-style client API.
public enum OCIClientError: Error, Sendable, CustomStringConvertible {
    case invalidArgument(String)
    case noStore(OCIDigest)
    case unsupportedMediaType(String)
    case notAManifest(String)

    public var description: String {
        switch self {
        case .invalidArgument(let why): return why
        case .noStore(let d): return "a store is needed to upload content but none has \(d); pass one with store:"
        case .unsupportedMediaType(let mt): return "media type is not an image manifest or image index: \(mt)"
        case .notAManifest(let mt): return "media type is not an image manifest: \(mt)"
        }
    }
}

extension OCIClientError: OCIError {
    public var kind: OCIErrorKind {
        switch self {
        case .invalidArgument, .noStore: return .invalidArgument
        case .unsupportedMediaType, .notAManifest: return .unsupported
        }
    }
}
