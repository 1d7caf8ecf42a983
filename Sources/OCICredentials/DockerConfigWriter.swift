import Foundation
import Logging
import OCISync

/// Stores and erases credentials in a docker config file, for `login` / `logout`.
///
/// - The file is read as a generic JSON object and only `auths[<key>]` changes; every other field and entry keeps its
///   meaning (the output is re-encoded, pretty-printed with sorted keys).
/// - Writes are atomic (a temp file in the same directory, then rename) with mode 0600; the directory is created (0700)
///   when missing; a symlinked config file is written through to its target.
/// - When the file names a helper for the address (`credHelpers`) or a `credsStore`, the secret goes to the helper
///   (`store`) and the file gets no secret: only an empty `auths[<key>]` entry with `credsStore` (as docker does, so
///   lookups know to ask the store), nothing with `credHelpers`.
/// - The key is the address's normalised form (``RegistryAddress/loginKey``), `https://index.docker.io/v1/` for Docker
///   Hub; an existing key that normalises to the same address is reused.
public struct DockerConfigWriter: Sendable {
    /// Where the credential went.
    public enum Destination: Sendable, Equatable {
        case file(path: String)
        case helper(name: String)
    }

    public let path: String
    public var helperSearchPath: [String]?
    public var environment: [String: String]
    public var helperTimeout: Duration
    public var helperCache: CredentialHelperCache?
    public var logger: Logger

    /// - Parameter path: the config file; nil means the default docker config (`$DOCKER_CONFIG/config.json` or
    ///   `~/.docker/config.json` of `environment`).
    public init(path: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
                homeDirectory: String? = nil, helperSearchPath: [String]? = nil, helperTimeout: Duration = .seconds(30),
                helperCache: CredentialHelperCache? = .shared, logger: Logger = Logger(label: "ociclient.credentials")) {
        self.path = path ?? ConfigLocations.dockerConfigFile(environment: environment, homeDirectory: homeDirectory)
        self.environment = environment
        self.helperSearchPath = helperSearchPath
        self.helperTimeout = helperTimeout
        self.helperCache = helperCache
        self.logger = logger
    }

    /// Stores a credential for an address (`ghcr.io`, `registry.example.com:5000`, `docker.io`…).
    @discardableResult
    public func store(_ credential: Credential, for address: String) throws(CredentialsError) -> Destination {
        let target = try RegistryAddress(normalizing: address)
        var object = try readObject()
        var auths = try Self.objectField(object, "auths", path: path) ?? [:]
        // Reuse an existing equivalent key, the one lookups would try first (Docker Hub alias rank, then sorted order).
        let existingKey = auths.keys
            .compactMap { key in (try? RegistryAddress(normalizing: key)).flatMap { $0 == target ? (key, $0.dockerHubAliasRank ?? 0) : nil } }
            .sorted { ($0.1, $0.0) < ($1.1, $1.0) }
            .first?.0
        let key = existingKey ?? target.loginKey

        if let helperName = try helperName(for: target, in: object) {
            try helper(helperName.name).store(serverURL: key, credential: credential)
            logger.debug("stored credentials with helper", metadata: ["address": "\(key)", "helper": "\(helperName.name)"])
            if helperName.isStore {
                auths[key] = [String: Any]()
                object["auths"] = auths
                try writeAtomically(object)
            }
            return .helper(name: helperName.name)
        }

        var entry = (auths[key] as? [String: Any]) ?? [:]
        for field in ["auth", "username", "password", "identitytoken", "registrytoken"] { entry.removeValue(forKey: field) }
        if credential.username != nil || credential.password != nil {
            entry["auth"] = DockerConfig.encodeAuth(username: credential.username ?? "", password: credential.password ?? "")
        }
        if let token = Credential.nonEmpty(credential.identityToken) { entry["identitytoken"] = token }
        if let token = Credential.nonEmpty(credential.registryToken) { entry["registrytoken"] = token }
        auths[key] = entry
        object["auths"] = auths
        try writeAtomically(object)
        logger.debug("stored credentials in file", metadata: ["address": "\(key)", "path": "\(path)"])
        return .file(path: path)
    }

    /// Removes the credentials for an address: every `auths` key that normalises to it, and the helper's entry when a
    /// helper is configured. Returns false when there was nothing to remove. A missing file is not an error.
    @discardableResult
    public func erase(address: String) throws(CredentialsError) -> Bool {
        let target = try RegistryAddress(normalizing: address)
        guard FileManager.default.fileExists(atPath: path) else { return false }
        var object = try readObject()
        var auths = try Self.objectField(object, "auths", path: path) ?? [:]
        let keys = auths.keys.sorted().filter { (try? RegistryAddress(normalizing: $0)) == target }
        var removed = false
        if let helperName = try helperName(for: target, in: object) {
            let credentialHelper = helper(helperName.name)
            for key in Set(keys + [target.loginKey]).sorted() {
                if try credentialHelper.erase(serverURL: key) { removed = true }
            }
        }
        if !keys.isEmpty {
            for key in keys { auths.removeValue(forKey: key) }
            object["auths"] = auths
            try writeAtomically(object)
            removed = true
        }
        return removed
    }

    // MARK: helpers

    private func helper(_ name: String) -> CredentialHelper {
        CredentialHelper(name: name, searchPath: helperSearchPath, environment: environment, timeout: helperTimeout, cache: helperCache)
    }

    /// The helper for the address: a `credHelpers` entry for it, else `credsStore`.
    private func helperName(for target: RegistryAddress, in object: [String: Any]) throws(CredentialsError) -> (name: String, isStore: Bool)? {
        if let helpers = try Self.objectField(object, "credHelpers", path: path) {
            for key in helpers.keys.sorted() where (try? RegistryAddress(normalizing: key)) == target {
                if let name = helpers[key] as? String, !name.isEmpty { return (name, false) }
            }
        }
        if let store = object["credsStore"] as? String, !store.isEmpty { return (store, true) }
        return nil
    }

    private static func objectField(_ object: [String: Any], _ name: String, path: String) throws(CredentialsError) -> [String: Any]? {
        guard let value = object[name], !(value is NSNull) else { return nil }
        guard let field = value as? [String: Any] else { throw .invalidConfig(origin: path, reason: "\"\(name)\" is not an object") }
        return field
    }

    /// The file as a JSON object; `{}` when it does not exist or is empty.
    private func readObject() throws(CredentialsError) -> [String: Any] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .unreadableFile(path: path, reason: "it cannot be read")
        }
        return try DockerConfig.topLevelObject(data, origin: path)
    }

    /// Writes atomically with mode 0600 through a symlink to its target.
    private func writeAtomically(_ object: [String: Any]) throws(CredentialsError) {
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let directory = (target as NSString).deletingLastPathComponent
        var data: Data
        do {
            data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        } catch {
            throw .writeFailed(path: path, reason: "the configuration cannot be encoded as JSON")
        }
        data.append(0x0A)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw .writeFailed(path: path, reason: "cannot create directory \(directory)")
        }
        do {
            try AtomicFile.write(data, to: target, permissions: .exactly(0o600), synchronize: true)
        } catch {
            throw .writeFailed(path: path, reason: "\(error)")
        }
    }
}
