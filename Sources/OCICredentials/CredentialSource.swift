import OCIReference

/// Anything that can answer "which credentials for this repository?". ``Keyring`` implements it; users may implement it
/// to plug in their own stores (a vault, a cloud metadata service) and combine them with ``CredentialSourceChain``.
public protocol CredentialSource: Sendable {
    /// Credentials for a repository on a registry host (host as in a reference, e.g. "index.docker.io" or "127.0.0.1:5000";
    /// repository may be "" for registry-wide lookups). nil when nothing matches.
    func credential(forHost host: String, repository: String) async throws -> Credential?
}

extension CredentialSource {
    /// Credentials for a parsed reference's repository.
    public func credential(for reference: Reference) async throws -> Credential? {
        try await credential(forHost: reference.host, repository: reference.repository)
    }
}

/// Asks several sources in order; the first one that answers with a usable (non-anonymous) credential wins.
/// An error from a source is thrown only if no later source answers.
public struct CredentialSourceChain: CredentialSource {
    public var sources: [any CredentialSource]

    public init(_ sources: [any CredentialSource]) {
        self.sources = sources
    }

    public func credential(forHost host: String, repository: String) async throws -> Credential? {
        var firstError: (any Error)?
        for source in sources {
            do {
                if let found = try await source.credential(forHost: host, repository: repository), !found.isAnonymous {
                    return found
                }
            } catch {
                if firstError == nil { firstError = error }
            }
        }
        if let firstError { throw firstError }
        return nil
    }
}

/// A source that never has credentials.
public struct AnonymousCredentialSource: CredentialSource {
    public init() {}
    public func credential(forHost host: String, repository: String) async throws -> Credential? { nil }
}
