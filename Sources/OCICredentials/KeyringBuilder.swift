import Foundation
import Logging

/// Builds a ``Keyring`` from in-code credentials, the environment, pull secrets and config files (Go: `KeyringBuilder`).
///
/// Sources are added in this order, each after the previous one; within a key the earlier source wins, and a more specific
/// key (e.g. `eu.gcr.io/proj`) wins over a less specific one (`eu.gcr.io`) whatever its source:
/// 1. explicit in-code entries: ``withCredential(_:for:)`` and ``withKeyring(_:)``, in call order;
/// 2. the environment (see ``EnvironmentCredentials``), unless ``disableEnvironmentCredentials()``;
/// 3. Kubernetes pull secrets (``fromPullSecrets(_:)-([PullSecret])``), in order;
/// 4. explicit config files (``fromConfigFiles(_:)-([String])``), in order; every call appends;
/// 5. the default docker config, `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`, if it exists;
/// 6. podman's `auth.json` files (see ``ConfigLocations/podmanAuthFiles(environment:homeDirectory:)``) that exist.
///
/// 7. for a registry none of the above has a key for: the `credsStore` helper of each config that names one, in the
///    order above (docker asks it for every registry not in `credHelpers`);
/// 8. then `.netrc`: ``fromNetrc(_:)``, else `$NETRC`, else `~/.netrc` when it exists, matched by host name as curl does
///    (``disableNetrc()`` turns it off);
/// 9. then, only with ``withGitHubToken()``, `$GITHUB_TOKEN` for `ghcr.io` (user `$GITHUB_ACTOR`, else `github`).
///
/// ``disableDefaultConfig()`` turns off 5, 6 and the default `.netrc`. A missing or invalid explicit file, an invalid pull secret or invalid
/// credentials environment variables make ``build()`` throw; a missing default file is skipped, an invalid one throws.
///
/// In each config: `credHelpers` entries come first (docker gives them precedence), then `auths` entries; an `auths`
/// entry without credentials in the file is looked up with the `credsStore` helper when the file names one (otherwise it
/// is ignored), and that helper is also asked for every registry nothing else has a key for (7 above). Helpers are run lazily, at the first lookup that reaches them, and their answers are cached.
/// The builder never auto-detects a platform helper (`pass`, `secretservice`) that the file does not name.
public struct KeyringBuilder: Sendable {
    enum Explicit: Sendable {
        case credential(address: String, credential: Credential)
        case keyring(Keyring)
    }

    var explicit: [Explicit] = []
    var configFiles: [String] = []
    var pullSecrets: [PullSecret] = []
    var useDefaultConfig = true
    var useEnvironment = true
    var netrcFile: String?
    var useNetrc = true
    var useGitHubToken = false
    var environment: [String: String]
    var homeDirectory: String?
    var helperSearchPath: [String]?
    var helperTimeout: Duration = .seconds(30)
    var helperCache: CredentialHelperCache? = .shared
    var logger: Logger

    /// - Parameters:
    ///   - environment: where `DOCKER_CONFIG`, `HOME`, `PATH`, podman's and the CI variables are read; tests inject their own.
    ///   - logger: for debug messages (never secrets).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment,
                logger: Logger = Logger(label: "ociclient.credentials")) {
        self.environment = environment
        self.logger = logger
    }

    /// Adds a fixed credential for an address (source 1).
    public func withCredential(_ credential: Credential, for address: String) -> KeyringBuilder {
        var copy = self
        copy.explicit.append(.credential(address: address, credential: credential))
        return copy
    }

    /// Merges an existing keyring (source 1), e.g. one filled in code.
    public func withKeyring(_ keyring: Keyring) -> KeyringBuilder {
        var copy = self
        copy.explicit.append(.keyring(keyring))
        return copy
    }

    /// Appends config files (docker `config.json` or containers `auth.json`). Empty paths are skipped.
    public func fromConfigFiles(_ paths: [String]) -> KeyringBuilder {
        var copy = self
        copy.configFiles.append(contentsOf: paths)
        return copy
    }

    /// Appends config files.
    public func fromConfigFiles(_ paths: String...) -> KeyringBuilder { fromConfigFiles(paths) }

    /// Appends Kubernetes pull secrets; secrets of other types are skipped.
    public func fromPullSecrets(_ secrets: [PullSecret]) -> KeyringBuilder {
        var copy = self
        copy.pullSecrets.append(contentsOf: secrets)
        return copy
    }

    /// Appends Kubernetes pull secrets.
    public func fromPullSecrets(_ secrets: PullSecret...) -> KeyringBuilder { fromPullSecrets(secrets) }

    /// Skips the default docker config and podman's auth files.
    public func disableDefaultConfig() -> KeyringBuilder {
        var copy = self
        copy.useDefaultConfig = false
        return copy
    }

    /// Skips the `OCI_REGISTRY_*`, `OCI_AUTH_CONFIG` and `DOCKER_AUTH_CONFIG` variables.
    public func disableEnvironmentCredentials() -> KeyringBuilder {
        var copy = self
        copy.useEnvironment = false
        return copy
    }

    /// Reads credentials from this `.netrc` file (instead of `$NETRC` or `~/.netrc`); a missing file throws.
    public func fromNetrc(_ path: String) -> KeyringBuilder {
        var copy = self
        copy.netrcFile = path
        copy.useNetrc = true
        return copy
    }

    /// Skips `.netrc`.
    public func disableNetrc() -> KeyringBuilder {
        var copy = self
        copy.useNetrc = false
        return copy
    }

    /// Uses `$GITHUB_TOKEN` for `ghcr.io` when nothing else has credentials for it (as ko does; off by default,
    /// since the token of a CI job may not be meant for its registry pushes).
    public func withGitHubToken(_ enabled: Bool = true) -> KeyringBuilder {
        var copy = self
        copy.useGitHubToken = enabled
        return copy
    }

    /// Replaces the environment (default: the process environment).
    public func withEnvironment(_ environment: [String: String]) -> KeyringBuilder {
        var copy = self
        copy.environment = environment
        return copy
    }

    /// The home directory for `~/.docker` and `~/.config` (default: `$HOME` of the environment).
    public func withHomeDirectory(_ path: String) -> KeyringBuilder {
        var copy = self
        copy.homeDirectory = path
        return copy
    }

    /// Directories searched for `docker-credential-*` helpers instead of the environment's `PATH`.
    public func withHelperSearchPath(_ directories: [String]) -> KeyringBuilder {
        var copy = self
        copy.helperSearchPath = directories
        return copy
    }

    /// How long one helper run may take (default 30 s).
    public func withHelperTimeout(_ timeout: Duration) -> KeyringBuilder {
        var copy = self
        copy.helperTimeout = timeout
        return copy
    }

    /// Where helper answers are cached (default: the process-wide ``CredentialHelperCache/shared``; nil: no caching).
    public func withHelperCache(_ cache: CredentialHelperCache?) -> KeyringBuilder {
        var copy = self
        copy.helperCache = cache
        return copy
    }

    /// The logger of the builder and the keyring.
    public func withLogger(_ logger: Logger) -> KeyringBuilder {
        var copy = self
        copy.logger = logger
        return copy
    }

    /// A helper configured like this builder's.
    public func helper(named name: String) -> CredentialHelper {
        CredentialHelper(name: name, searchPath: helperSearchPath, environment: environment,
                         timeout: helperTimeout, cache: helperCache)
    }

    /// The default files this builder would read if they exist (docker config, then podman's).
    public var defaultConfigFiles: [String] {
        guard useDefaultConfig else { return [] }
        return [ConfigLocations.dockerConfigFile(environment: environment, homeDirectory: homeDirectory)]
            + ConfigLocations.podmanAuthFiles(environment: environment, homeDirectory: homeDirectory)
    }

    /// Builds the keyring. A builder with no sources gives an empty keyring (every lookup nil).
    public func build() throws(CredentialsError) -> Keyring {
        let keyring = Keyring(logger: logger)
        for item in explicit {
            switch item {
            case .credential(let address, let credential):
                keyring.add(address: address, credential: credential.source == nil ? credential.withSource("keyring") : credential)
            case .keyring(let other):
                keyring.merge(other)
            }
        }
        if useEnvironment {
            for item in try EnvironmentCredentials.items(from: environment) {
                switch item {
                case .credential(let addresses, let credential):
                    keyring.addBatch(addresses.map { ($0, .fixed(credential)) })
                case .config(let config, _):
                    add(config, to: keyring)
                }
            }
        }
        for secret in pullSecrets {
            guard let config = try secret.dockerConfig() else {
                logger.debug("skipping pull secret of another type", metadata: ["secret": "\(secret.name)", "type": "\(secret.type)"])
                continue
            }
            add(config, to: keyring)
        }
        var seen = Set<String>()
        for path in configFiles where !path.isEmpty {
            let config = try Self.load(path: path)
            seen.insert(Self.canonicalPath(path))
            add(config, to: keyring)
        }
        for path in defaultConfigFiles where seen.insert(Self.canonicalPath(path)).inserted {
            guard FileManager.default.fileExists(atPath: path) else { continue }
            add(try Self.load(path: path), to: keyring)
            logger.debug("read default credentials file", metadata: ["path": "\(path)"])
        }
        if useNetrc {
            if let netrcFile {
                keyring.addFallback(netrc: try Netrc(contentsOf: netrcFile))
            } else if useDefaultConfig || environment["NETRC"].map({ !$0.isEmpty }) == true {
                let path = Netrc.defaultPath(environment: environment, homeDirectory: homeDirectory)
                if FileManager.default.fileExists(atPath: path) {
                    keyring.addFallback(netrc: try Netrc(contentsOf: path))
                    logger.debug("read netrc file", metadata: ["path": "\(path)"])
                }
            }
        }
        if useGitHubToken, let token = Credential.nonEmpty(environment["GITHUB_TOKEN"]) {
            let user = Credential.nonEmpty(environment["GITHUB_ACTOR"]) ?? "github"
            keyring.addFallback { host in
                host == "ghcr.io" ? Credential(username: user, password: token, source: "env:GITHUB_TOKEN") : nil
            }
        }
        return keyring
    }

    /// Adds one config's entries as one source, and its `credsStore` as a fallback for every other registry.
    func add(_ config: DockerConfig, to keyring: Keyring) {
        keyring.addBatch(Self.providers(for: config, helper: helper(named:)))
        if let store = config.credsStore { keyring.addFallback(helper: helper(named: store)) }
    }

    static func providers(for config: DockerConfig, helper: (String) -> CredentialHelper)
        -> [(address: String, provider: Keyring.Entry.Provider)] {
        var items: [(address: String, provider: Keyring.Entry.Provider)] = []
        for address in config.credHelpers.keys.sorted() {
            guard let name = config.credHelpers[address] else { continue }
            let credentialHelper = helper(name)
            items.append((address, .helper(credentialHelper)))
        }
        let storeHelper = config.credsStore.map(helper)
        for address in config.auths.keys.sorted() {
            guard let credential = config.auths[address] else { continue }
            if !credential.isAnonymous {
                items.append((address, .fixed(credential)))
            } else if let storeHelper {
                items.append((address, .helper(storeHelper)))
            }
        }
        return items
    }

    /// Reads and parses a config file.
    static func load(path: String) throws(CredentialsError) -> DockerConfig {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "it cannot be read" : "no such file"
            throw .unreadableFile(path: path, reason: reason)
        }
        return try DockerConfig(data: data, origin: path)
    }

    static func canonicalPath(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }
}

extension Keyring {
    /// Adds a parsed docker config as one source (see ``KeyringBuilder`` for how entries and helpers are used).
    public func add(_ config: DockerConfig, helper: (String) -> CredentialHelper = { CredentialHelper(name: $0) }) {
        addBatch(KeyringBuilder.providers(for: config, helper: helper))
        if let store = config.credsStore { addFallback(helper: helper(store)) }
    }
}
