import Logging

/// Registry credentials: a user name and password, an OAuth2 identity (refresh) token, or a registry (bearer) token.
///
/// Secrets never appear in `description`, `debugDescription` or `Mirror` output: they print as `<redacted>`.
/// Equality and hashing compare the four credential fields only; ``source`` is provenance, not part of the value.
public struct Credential: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// User name for basic auth and the token endpoint.
    public var username: String?
    /// Password or access token sent with ``username``.
    public var password: String?
    /// OAuth2 refresh token (docker `identitytoken`), exchanged at the token endpoint.
    public var identityToken: String?
    /// Bearer token sent to the registry as is (docker `registrytoken`).
    public var registryToken: String?
    /// Where the credential came from, for logs: e.g. `config:/root/.docker/config.json`, `helper:pass`,
    /// `env:OCI_REGISTRY_USERNAME`, `pull-secret:regcred`, `keyring`. Never secret.
    public var source: String?

    public init(username: String? = nil, password: String? = nil, identityToken: String? = nil, registryToken: String? = nil) {
        self.username = username
        self.password = password
        self.identityToken = identityToken
        self.registryToken = registryToken
    }

    /// Creates a credential and records its provenance.
    public init(username: String? = nil, password: String? = nil, identityToken: String? = nil, registryToken: String? = nil,
                source: String?) {
        self.init(username: username, password: password, identityToken: identityToken, registryToken: registryToken)
        self.source = source
    }

    /// No credentials at all.
    public static let anonymous = Credential()

    /// True when nothing usable is set: no user name, password, identity token or registry token (empty strings count as unset).
    /// Identity-token-only and registry-token-only credentials are usable (the Go keyring skipped them).
    public var isAnonymous: Bool {
        Self.isEmpty(username) && Self.isEmpty(password) && Self.isEmpty(identityToken) && Self.isEmpty(registryToken)
    }

    /// This credential with ``source`` replaced.
    public func withSource(_ source: String?) -> Credential {
        var copy = self
        copy.source = source
        return copy
    }

    /// Metadata for a log context (Go: `ociUser` plus the informer metadata): the user name or `anonymous`, and the source.
    /// Contains no secret.
    public var logMetadata: Logger.Metadata {
        var metadata: Logger.Metadata = [Self.userLogKey: .string(Self.isEmpty(username) ? "anonymous" : username ?? "")]
        if let source { metadata["credentialSource"] = .string(source) }
        if !Self.isEmpty(identityToken) { metadata["credentialKind"] = "identity-token" }
        else if !Self.isEmpty(registryToken) { metadata["credentialKind"] = "registry-token" }
        return metadata
    }

    /// The log key for the user name (Go: `UsedUserLogKey`).
    public static let userLogKey = "ociUser"

    // MARK: redaction

    public var description: String {
        if isAnonymous && source == nil { return "Credential(anonymous)" }
        var parts: [String] = []
        if let username { parts.append("username: \(String(reflecting: username))") }
        if password != nil { parts.append("password: <redacted>") }
        if identityToken != nil { parts.append("identityToken: <redacted>") }
        if registryToken != nil { parts.append("registryToken: <redacted>") }
        if let source { parts.append("source: \(String(reflecting: source))") }
        if isAnonymous { parts.insert("anonymous", at: 0) }
        return "Credential(\(parts.joined(separator: ", ")))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        let redacted: (String?) -> String? = { $0 == nil ? nil : "<redacted>" }
        return Mirror(self, children: [
            "username": username as Any,
            "password": redacted(password) as Any,
            "identityToken": redacted(identityToken) as Any,
            "registryToken": redacted(registryToken) as Any,
            "source": source as Any,
        ], displayStyle: .struct)
    }

    // MARK: equality without provenance

    public static func == (lhs: Credential, rhs: Credential) -> Bool {
        lhs.username == rhs.username && lhs.password == rhs.password
            && lhs.identityToken == rhs.identityToken && lhs.registryToken == rhs.registryToken
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(username)
        hasher.combine(password)
        hasher.combine(identityToken)
        hasher.combine(registryToken)
    }

    static func isEmpty(_ value: String?) -> Bool { value?.isEmpty ?? true }

    /// nil for an empty string.
    static func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return value
    }
}
