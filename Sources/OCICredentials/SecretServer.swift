import Foundation
import Logging

/// Gardener CI's secrets server (cc-utils `secrets_server.py`), which serves a "concourse config" with container-registry
/// credentials, optionally AES-ECB encrypted (Go: `credentials/secretserver`).
///
/// Environment:
///
/// | Variable | Meaning |
/// |---|---|
/// | `SECRETS_SERVER_ENDPOINT` | Base URL. Unset: there is no secrets server (not an error). |
/// | `SECRETS_SERVER_CONCOURSE_CFG_NAME` | Path of the config under the endpoint; required with `SECRET_KEY`. Without a key it is always `concourse-secrets/concourse_cfg`. |
/// | `SECRET_KEY` | base64 AES key (16, 24 or 32 bytes); set means the body is encrypted. |
/// | `SECRET_CIPHER_ALGORITHM` | Must be `AES.ECB` when `SECRET_KEY` is set. |
///
/// Networking is injected (``Fetch``) so the caller decides the HTTP client; a non-2xx status is an error.
public struct SecretServer: Sendable {
    /// GETs a URL: status code and body. Should apply a timeout.
    public typealias Fetch = @Sendable (URL) async throws -> (status: Int, body: Data)

    public static let endpointVariable = "SECRETS_SERVER_ENDPOINT"
    public static let configNameVariable = "SECRETS_SERVER_CONCOURSE_CFG_NAME"
    public static let keyVariable = "SECRET_KEY"
    public static let cipherVariable = "SECRET_CIPHER_ALGORITHM"
    public static let unencryptedConfigName = "concourse-secrets/concourse_cfg"

    /// The URL the config is fetched from.
    public let url: URL
    let key: [UInt8]?
    let fetch: Fetch

    /// Reads the environment. nil when `SECRETS_SERVER_ENDPOINT` is unset or empty.
    public init?(environment: [String: String], fetch: @escaping Fetch) throws(CredentialsError) {
        guard let endpoint = Credential.nonEmpty(environment[Self.endpointVariable]) else { return nil }
        var key: [UInt8]?
        var configName = Self.unencryptedConfigName
        if let encoded = Credential.nonEmpty(environment[Self.keyVariable]) {
            guard let bytes = Data(base64Encoded: encoded), AESDecryptor(key: Array(bytes)) != nil else {
                throw .invalidEnvironment(variable: Self.keyVariable, reason: "expected base64 of a 16, 24 or 32 byte AES key")
            }
            let cipher = environment[Self.cipherVariable] ?? ""
            guard cipher == "AES.ECB" else {
                throw .invalidEnvironment(variable: Self.cipherVariable, reason: "unknown block \(String(reflecting: cipher)); only AES.ECB is supported")
            }
            guard let name = Credential.nonEmpty(environment[Self.configNameVariable]) else {
                throw .invalidEnvironment(variable: Self.configNameVariable, reason: "required when \(Self.keyVariable) is set")
            }
            key = Array(bytes)
            configName = name
        }
        guard var url = URL(string: endpoint), url.scheme != nil else {
            throw .invalidEnvironment(variable: Self.endpointVariable, reason: "not an absolute URL")
        }
        for component in configName.split(separator: "/") where !component.isEmpty {
            url.appendPathComponent(String(component))
        }
        self.url = url
        self.key = key
        self.fetch = fetch
    }

    /// Fetches, decrypts and parses the config.
    public func get() async throws(CredentialsError) -> ConcourseConfig {
        let origin = "secrets-server:\(url.absoluteString)"
        let response: (status: Int, body: Data)
        do { response = try await fetch(url) } catch {
            throw .unreadableFile(path: url.absoluteString, reason: "request failed: \(error)")
        }
        guard (200..<300).contains(response.status) else {
            throw .unreadableFile(path: url.absoluteString, reason: "HTTP status \(response.status)")
        }
        var body = response.body
        if let key, let decryptor = AESDecryptor(key: key) {
            guard let plain = decryptor.decryptECB(Array(body)) else {
                throw .invalidConfig(origin: origin, reason: "the encrypted body is not a whole number of AES blocks")
            }
            body = Data(Self.strippingPKCS7(plain))
        }
        return try ConcourseConfig(data: body, origin: origin)
    }

    /// Removes valid PKCS#7 padding; anything else is left as is.
    static func strippingPKCS7(_ bytes: [UInt8]) -> [UInt8] {
        guard let last = bytes.last, (1...16).contains(last), bytes.count >= Int(last),
              bytes.suffix(Int(last)).allSatisfy({ $0 == last }) else { return bytes }
        return Array(bytes.dropLast(Int(last)))
    }
}

/// The part of a concourse config that holds registry credentials:
/// `{"container_registry":{"<name>":{"username","password","privileges","host","image_reference_prefixes":[…]}}}`.
public struct ConcourseConfig: Sendable, Equatable {
    public struct RegistryCredentials: Sendable, Equatable {
        public var username: String?
        public var password: String?
        /// `readonly` or `readwrite` (nil if unset).
        public var privileges: String?
        public var host: String?
        public var imageReferencePrefixes: [String]

        public init(username: String? = nil, password: String? = nil, privileges: String? = nil, host: String? = nil,
                    imageReferencePrefixes: [String] = []) {
            self.username = username
            self.password = password
            self.privileges = privileges
            self.host = host
            self.imageReferencePrefixes = imageReferencePrefixes
        }
    }

    public var containerRegistry: [String: RegistryCredentials]

    public init(containerRegistry: [String: RegistryCredentials]) {
        self.containerRegistry = containerRegistry
    }

    /// Parses the JSON; other top-level fields are ignored.
    public init(data: Data, origin: String) throws(CredentialsError) {
        let object = try DockerConfig.topLevelObject(data, origin: origin)
        var registries: [String: RegistryCredentials] = [:]
        if let value = object["container_registry"], !(value is NSNull) {
            guard let entries = value as? [String: Any] else {
                throw .invalidConfig(origin: origin, reason: "\"container_registry\" is not an object")
            }
            for (name, entry) in entries {
                guard let fields = entry as? [String: Any] else {
                    throw .invalidConfig(origin: origin, reason: "container_registry[\(String(reflecting: name))] is not an object")
                }
                registries[name] = RegistryCredentials(
                    username: fields["username"] as? String, password: fields["password"] as? String,
                    privileges: fields["privileges"] as? String, host: fields["host"] as? String,
                    imageReferencePrefixes: (fields["image_reference_prefixes"] as? [Any])?.compactMap { $0 as? String } ?? [])
            }
        }
        self.init(containerRegistry: registries)
    }

    /// Minimum privileges an entry must have to be used.
    public enum Privileges: String, Sendable {
        case readonly
        case readwrite
    }

    /// Keyring entries: for each usable entry, its `host` (host part only: `https://h:5000/x` → `h:5000`; a host without
    /// a scheme is taken as the host, never as a catch-all) and each `image_reference_prefixes` entry. With `readwrite`,
    /// entries marked `readonly` or unmarked are skipped. Source: `cc-config:<name>`.
    public func entries(minimumPrivileges: Privileges = .readonly) -> [(address: String, credential: Credential)] {
        var result: [(address: String, credential: Credential)] = []
        for name in containerRegistry.keys.sorted() {
            guard let entry = containerRegistry[name] else { continue }
            if minimumPrivileges == .readwrite && entry.privileges != Privileges.readwrite.rawValue { continue }
            let credential = Credential(username: Credential.nonEmpty(entry.username), password: Credential.nonEmpty(entry.password),
                                        source: "cc-config:\(name)")
            if let host = Credential.nonEmpty(entry.host), let address = try? RegistryAddress(normalizing: host) {
                result.append((address.host, credential))
            }
            for prefix in entry.imageReferencePrefixes where !prefix.isEmpty {
                result.append((prefix, credential))
            }
        }
        return result
    }
}

/// Builds a keyring from the secrets server or a local concourse config file (Go: `secretserver.KeyringBuilder`).
public struct SecretServerKeyringBuilder: Sendable {
    var environment: [String: String]
    var fetch: SecretServer.Fetch
    var path: String?
    var minimumPrivileges: ConcourseConfig.Privileges = .readonly
    var logger: Logger

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, fetch: @escaping SecretServer.Fetch,
                logger: Logger = Logger(label: "ociclient.credentials")) {
        self.environment = environment
        self.fetch = fetch
        self.logger = logger
    }

    /// Reads a local (unencrypted) concourse config file instead of the server (the CLI's `--cc-config`).
    public func fromPath(_ path: String) -> SecretServerKeyringBuilder {
        var copy = self
        copy.path = path
        return copy
    }

    /// Skips entries below these privileges (default `readonly`: all entries).
    public func withMinPrivileges(_ privileges: ConcourseConfig.Privileges) -> SecretServerKeyringBuilder {
        var copy = self
        copy.minimumPrivileges = privileges
        return copy
    }

    /// Adds the credentials to a keyring as one source. Does nothing when neither a path nor an endpoint is configured.
    /// Errors (unreadable file, bad environment, HTTP failure, bad JSON) are thrown, not swallowed.
    public func apply(to keyring: Keyring) async throws(CredentialsError) {
        let config: ConcourseConfig
        if let path {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw .unreadableFile(path: path, reason: FileManager.default.fileExists(atPath: path) ? "it cannot be read" : "no such file")
            }
            config = try ConcourseConfig(data: data, origin: path)
        } else if let server = try SecretServer(environment: environment, fetch: fetch) {
            config = try await server.get()
        } else {
            logger.trace("no secrets server configured", metadata: ["variable": "\(SecretServer.endpointVariable)"])
            return
        }
        keyring.addBatch(config.entries(minimumPrivileges: minimumPrivileges).map { ($0.address, .fixed($0.credential)) })
    }

    /// A keyring with the credentials, or nil when there are none.
    public func build() async throws(CredentialsError) -> Keyring? {
        let keyring = Keyring(logger: logger)
        try await apply(to: keyring)
        return keyring.size == 0 ? nil : keyring
    }
}
