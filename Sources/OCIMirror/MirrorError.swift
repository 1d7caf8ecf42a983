import OCIKit

/// Errors of the mirror engine itself; failures of copies keep their own types (`RegistryError`, ...).
public enum MirrorError: Error, Sendable, CustomStringConvertible {
    /// The configuration file cannot be read or says something the engine cannot do: which file, which key, why.
    case invalidConfiguration(String, String)
    /// A `--shard K/N` or `JOB_COMPLETION_INDEX` that names no shard.
    case invalidShard(String)
    /// A source or destination this engine cannot use as written.
    case unsupportedEndpoint(String, String)
    /// A registry's pull rate limit would run out: the host, what it reports, and what to do.
    case rateLimitExhausted(host: String, detail: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let name, let reason):
            return name.isEmpty ? "invalid sync configuration: \(reason)" : "invalid sync configuration \(name): \(reason)"
        case .invalidShard(let reason):
            return "invalid shard: \(reason); use K/N with 1 <= K <= N (JOB_COMPLETION_INDEX counts from 0)"
        case .unsupportedEndpoint(let endpoint, let reason):
            return "cannot sync \(endpoint): \(reason)"
        case .rateLimitExhausted(let host, let detail):
            return "\(host): the pull rate limit would run out (\(detail)); not copied. Wait for the window to pass, log in for a higher limit, or set hosts.\"\(host)\".rateLimit: wait"
        }
    }

    /// The error with the configuration's name filled in.
    func named(_ name: String) -> MirrorError {
        if case .invalidConfiguration("", let reason) = self { return .invalidConfiguration(name, reason) }
        return self
    }
}

extension MirrorError: OCIError {
    public var kind: OCIErrorKind {
        switch self {
        case .invalidConfiguration, .invalidShard: return .invalidArgument
        case .unsupportedEndpoint: return .unsupported
        case .rateLimitExhausted: return .denied
        }
    }
}
