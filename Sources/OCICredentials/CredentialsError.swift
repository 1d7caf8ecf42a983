import OCISpec

/// What went wrong while reading, resolving or writing credentials. Messages name the file, variable or helper
/// involved and say what to do; they never contain a password or token.
public enum CredentialsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A configuration file could not be read.
    case unreadableFile(path: String, reason: String)
    /// A docker config / auth.json (or the JSON in an environment variable) is not valid. `origin` is a path or `env:NAME`.
    case invalidConfig(origin: String, reason: String)
    /// A Kubernetes pull secret is malformed.
    case invalidPullSecret(name: String, reason: String)
    /// An environment variable is set inconsistently.
    case invalidEnvironment(variable: String, reason: String)
    /// An address is not a usable registry address (e.g. empty).
    case invalidAddress(String)
    /// The helper name is not a plain name (`docker-credential-<name>` must not contain `/`).
    case invalidHelperName(String)
    /// `docker-credential-<helper>` was not found in any searched directory.
    case helperNotFound(helper: String, searched: [String])
    /// The helper could not be started.
    case helperLaunchFailed(helper: String, reason: String)
    /// The helper exited with a non-zero status. `message` is its (trimmed, truncated) output.
    case helperFailed(helper: String, action: String, status: Int32, message: String)
    /// The helper did not finish in time and was killed.
    case helperTimedOut(helper: String, action: String, seconds: Double)
    /// The helper answered something that is not the credential-helper protocol's JSON.
    case helperInvalidOutput(helper: String, action: String, reason: String)
    /// The helper protocol cannot carry this credential (e.g. a registry token).
    case unsupportedCredential(helper: String, reason: String)
    /// Writing a configuration file failed.
    case writeFailed(path: String, reason: String)
    /// A `.netrc` file is malformed at `line` (the message never contains a password).
    case invalidNetrc(path: String, line: Int, reason: String)

    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            return "unable to read credentials file \(path): \(reason); check that it exists and is readable, or remove it from the configured files"
        case .invalidConfig(let origin, let reason):
            return "invalid docker config in \(origin): \(reason); fix the JSON (expected {\"auths\":{...},\"credsStore\":...,\"credHelpers\":{...}})"
        case .invalidPullSecret(let name, let reason):
            return "invalid pull secret \(name): \(reason); expected a secret of type kubernetes.io/dockerconfigjson (.dockerconfigjson) or kubernetes.io/dockercfg (.dockercfg)"
        case .invalidEnvironment(let variable, let reason):
            return "invalid credentials environment \(variable): \(reason)"
        case .invalidAddress(let address):
            return "invalid registry address \(String(reflecting: address)): expected a host (with optional port and path), e.g. ghcr.io or registry.example.com:5000/team"
        case .invalidHelperName(let name):
            return "invalid credential helper name \(String(reflecting: name)): it must be a plain name such as \"pass\" (the program run is docker-credential-<name>)"
        case .helperNotFound(let helper, let searched):
            return "credential helper docker-credential-\(helper) not found (searched: \(searched.isEmpty ? "no directories" : searched.joined(separator: ":"))); install it, put it on PATH, or remove it from credsStore/credHelpers"
        case .helperLaunchFailed(let helper, let reason):
            return "unable to run credential helper docker-credential-\(helper): \(reason); check that it is executable"
        case .helperFailed(let helper, let action, let status, let message):
            return "credential helper docker-credential-\(helper) \(action) failed with exit status \(status)\(message.isEmpty ? "" : ": \(message)"); check the helper's own setup (e.g. run `docker-credential-\(helper) list`)"
        case .helperTimedOut(let helper, let action, let seconds):
            return "credential helper docker-credential-\(helper) \(action) did not finish within \(seconds)s and was stopped; it may be waiting for a password prompt or a locked keychain"
        case .helperInvalidOutput(let helper, let action, let reason):
            return "credential helper docker-credential-\(helper) \(action) gave an unexpected answer: \(reason); the helper may not implement the docker credential-helper protocol"
        case .unsupportedCredential(let helper, let reason):
            return "cannot store this credential with docker-credential-\(helper): \(reason)"
        case .writeFailed(let path, let reason):
            return "unable to write credentials file \(path): \(reason); check permissions of the file and its directory"
        case .invalidNetrc(let path, let line, let reason):
            return "invalid netrc file \(path), line \(line): \(reason); expected \"machine HOST login USER password SECRET\" entries (set NETRC to use another file)"
        }
    }
}

extension CredentialsError: OCIError {
    public var kind: OCIErrorKind {
        switch self {
        case .unreadableFile, .writeFailed: return .io
        case .invalidConfig, .invalidNetrc, .invalidPullSecret, .invalidEnvironment, .invalidAddress, .invalidHelperName: return .invalidArgument
        case .helperNotFound: return .notFound
        case .helperLaunchFailed, .helperFailed, .helperTimedOut: return .unauthorized
        case .helperInvalidOutput: return .invalidResponse
        case .unsupportedCredential: return .unsupported
        }
    }
}
