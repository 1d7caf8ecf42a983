import Foundation

/// The credential parts of a docker `config.json`, a containers `auth.json` or a legacy `.dockercfg`.
///
/// `auths` entries: `auth` is base64 of `user:password`, split at the first `:`; NUL characters are trimmed from both
/// ends of the password, other whitespace (such as a trailing newline) is kept, as docker does. A non-empty `auth`
/// overrides `username`/`password`. `identitytoken` and `registrytoken` are kept. `credsStore` names the helper for all
/// `auths` entries that have no credentials in the file; `credHelpers` maps addresses to helpers.
public struct DockerConfig: Sendable, Equatable {
    /// Address as written in the file → credential (anonymous when the entry is empty, e.g. with `credsStore`).
    public var auths: [String: Credential]
    /// The default helper (`docker-credential-<credsStore>`).
    public var credsStore: String?
    /// Address → helper name.
    public var credHelpers: [String: String]

    public init(auths: [String: Credential] = [:], credsStore: String? = nil, credHelpers: [String: String] = [:]) {
        self.auths = auths
        self.credsStore = credsStore
        self.credHelpers = credHelpers
    }

    /// Parses the current format (`{"auths":{…},"credsStore":…,"credHelpers":{…}}`). An empty file is an empty config;
    /// the legacy flat `.dockercfg` format yields no entries here (use ``init(legacyData:origin:)``).
    /// - Parameter origin: names the file or variable in errors and becomes the credentials' `source` (`config:<origin>`
    ///   unless it already contains a `:`).
    public init(data: Data, origin: String) throws(CredentialsError) {
        let object = try Self.topLevelObject(data, origin: origin)
        let source = Self.sourceLabel(origin)
        var auths: [String: Credential] = [:]
        if let value = object["auths"], !(value is NSNull) {
            guard let entries = value as? [String: Any] else { throw .invalidConfig(origin: origin, reason: "\"auths\" is not an object") }
            for (address, entry) in entries {
                guard let credential = try Self.parseEntry(entry, address: address, origin: origin, source: source) else { continue }
                auths[address] = credential
            }
        }
        var credsStore: String?
        if let value = object["credsStore"], !(value is NSNull) {
            guard let name = value as? String else { throw .invalidConfig(origin: origin, reason: "\"credsStore\" is not a string") }
            credsStore = Credential.nonEmpty(name)
        }
        var credHelpers: [String: String] = [:]
        if let value = object["credHelpers"], !(value is NSNull) {
            guard let helpers = value as? [String: Any] else { throw .invalidConfig(origin: origin, reason: "\"credHelpers\" is not an object") }
            for (address, helper) in helpers {
                guard let name = helper as? String else {
                    throw .invalidConfig(origin: origin, reason: "credHelpers[\(String(reflecting: address))] is not a string")
                }
                if !name.isEmpty { credHelpers[address] = name }
            }
        }
        self.init(auths: auths, credsStore: credsStore, credHelpers: credHelpers)
    }

    /// Parses the legacy `.dockercfg` format: `{"<address>":{"auth":"…","email":"…"},…}` (Kubernetes `kubernetes.io/dockercfg`).
    public init(legacyData data: Data, origin: String) throws(CredentialsError) {
        let object = try Self.topLevelObject(data, origin: origin)
        let source = Self.sourceLabel(origin)
        var auths: [String: Credential] = [:]
        for (address, entry) in object {
            guard let credential = try Self.parseEntry(entry, address: address, origin: origin, source: source) else { continue }
            auths[address] = credential
        }
        self.init(auths: auths)
    }

    /// Decodes a docker `auth` value: base64 of `user:password`, split at the first `:`, NULs trimmed from the password.
    /// nil when it is not valid base64 or has no `:`.
    public static func decodeAuth(_ auth: String) -> (username: String, password: String)? {
        var text = auth.filter { $0 != "\n" && $0 != "\r" }
        var data = Data(base64Encoded: text)
        if data == nil, text.count % 4 != 0 {
            text += String(repeating: "=", count: 4 - text.count % 4)
            data = Data(base64Encoded: text)
        }
        guard let data, let decoded = String(data: data, encoding: .utf8),
              let colon = decoded.firstIndex(of: ":") else { return nil }
        let username = String(decoded[..<colon])
        var password = Substring(decoded[decoded.index(after: colon)...])
        while password.first == "\0" { password.removeFirst() }
        while password.last == "\0" { password.removeLast() }
        return (username, String(password))
    }

    /// base64 of `user:password`, as written to `auth`.
    public static func encodeAuth(username: String, password: String) -> String {
        Data("\(username):\(password)".utf8).base64EncodedString()
    }

    // MARK: parsing helpers

    static func sourceLabel(_ origin: String) -> String {
        origin.contains(":") ? origin : "config:\(origin)"
    }

    static func topLevelObject(_ data: Data, origin: String) throws(CredentialsError) -> [String: Any] {
        let trimmed = data.trimmingJSONWhitespace()
        if trimmed.isEmpty { return [:] }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: trimmed, options: []) } catch {
            throw .invalidConfig(origin: origin, reason: "not valid JSON")
        }
        guard let object = parsed as? [String: Any] else { throw .invalidConfig(origin: origin, reason: "the top level is not a JSON object") }
        return object
    }

    private static func parseEntry(_ entry: Any, address: String, origin: String, source: String) throws(CredentialsError) -> Credential? {
        if entry is NSNull { return nil }
        guard let fields = entry as? [String: Any] else {
            throw .invalidConfig(origin: origin, reason: "the entry for \(String(reflecting: address)) is not an object")
        }
        func string(_ name: String) throws(CredentialsError) -> String? {
            guard let value = fields[name], !(value is NSNull) else { return nil }
            guard let text = value as? String else {
                throw .invalidConfig(origin: origin, reason: "\(name) of \(String(reflecting: address)) is not a string")
            }
            return text
        }
        var credential = Credential(username: Credential.nonEmpty(try string("username")),
                                    password: Credential.nonEmpty(try string("password")),
                                    identityToken: Credential.nonEmpty(try string("identitytoken")),
                                    registryToken: Credential.nonEmpty(try string("registrytoken")),
                                    source: source)
        if let auth = Credential.nonEmpty(try string("auth")) {
            guard let (username, password) = decodeAuth(auth) else {
                throw .invalidConfig(origin: origin, reason: "the auth field of \(String(reflecting: address)) is not base64 of user:password")
            }
            credential.username = Credential.nonEmpty(username)
            credential.password = Credential.nonEmpty(password)
        }
        return credential
    }
}
