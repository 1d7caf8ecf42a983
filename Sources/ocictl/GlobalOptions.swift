import ArgumentParser
import Foundation
import Logging
import OCICache
import OCIKit
import OCICredentials
import OCIRegistry

/// Options every subcommand takes (before or after its name).
struct GlobalOptions: ParsableArguments {
    @Flag(name: .customLong("plain-http"), help: "Allow plain HTTP for any registry (loopback and private hosts may use it anyway).")
    var plainHTTP = false

    @Flag(name: .customLong("insecure"), help: "Skip TLS certificate verification.")
    var insecure = false

    @Flag(name: .customLong("allow-foreign-urls"),
          help: "Fetch foreign layers from the URLs their manifests list (HTTPS only, unless --plain-http); off by default.")
    var allowForeignURLs = false

    @Option(name: .customLong("ca-file"), help: "A PEM file of CA certificates to trust, besides the system's (repeatable).")
    var caFiles: [String] = []

    @Option(name: .customLong("registry-config"), help: "A docker config.json to read credentials from (repeatable).")
    var registryConfigs: [String] = []

    @Option(name: .customLong("proxy"), help: "Send requests through this proxy (http://[user:password@]host:port, or socks5://host:port) instead of $HTTPS_PROXY/$HTTP_PROXY/$ALL_PROXY; $NO_PROXY still applies.")
    var proxy: String?

    @Flag(name: .customLong("no-proxy"), help: "Go direct: ignore --proxy and the proxy variables.")
    var noProxy = false

    @Option(name: .customLong("certs-dir"), help: "A certs.d directory (HOST[:PORT]/{ca.crt,client.cert,client.key}), searched before the standard ones (repeatable).")
    var certsDirs: [String] = []

    @Option(name: .customLong("client-cert"), help: "A PEM client certificate presented to every registry that asks for one (with --client-key).")
    var clientCert: String?

    @Option(name: .customLong("client-key"), help: "The PEM private key of --client-cert.")
    var clientKey: String?

    @Option(name: .customLong("registries-conf"), help: "A containers registries.conf to read instead of $CONTAINERS_REGISTRIES_CONF or the standard files (mirrors, insecure, blocked).")
    var registriesConf: String?

    @Option(name: .customLong("netrc-file"), help: "A .netrc file to read credentials from instead of $NETRC or ~/.netrc.")
    var netrcFile: String?

    @Flag(name: .customLong("github-token"), help: "Use $GITHUB_TOKEN for ghcr.io when no other credentials match.")
    var githubToken = false

    @Option(name: .customLong("concurrency"), help: "How many blobs move at once.")
    var concurrency: Int = 4

    @Option(name: .customLong("cache-dir"), help: "Cache fetched blobs here (default: $OCI_CACHE_DIR when set; no cache otherwise).")
    var cacheDir: String?

    @Flag(name: .shortAndLong, help: "Log requests on stderr (credentials are never logged).")
    var verbose = false

    @Flag(name: .customLong("json"), help: "Print structured output as JSON.")
    var json = false

    @Option(name: .customLong("progress"), help: "Progress on stderr: auto (tty on a terminal, plain otherwise), tty, plain, or none.")
    var progressMode: ProgressMode = .auto

    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "No progress output.")
    var quiet = false

    /// The progress display of transfer commands, as `--progress` and `--quiet` ask (stdout is never touched).
    func progress() -> ProgressDisplay {
        ProgressDisplay(mode: quiet ? .none : progressMode)
    }

    func makeLogger() -> Logger {
        var logger = Logger(label: "ocictl") { label in
            StreamLogHandler.standardError(label: label)
        }
        logger.logLevel = verbose ? .debug : .error
        return logger
    }

    /// The cache directory the fetching commands use: `--cache-dir`, else `$OCI_CACHE_DIR`, else none.
    var cacheDirectory: String? {
        let dir = cacheDir ?? ProcessInfo.processInfo.environment[ContentCache.directoryEnvironmentVariable]
        return dir?.isEmpty == false ? dir : nil
    }

    /// The registry client's settings from the flags and the environment, with `credentials`: proxies (`--proxy`,
    /// `--no-proxy`, else the proxy variables), certs.d directories (`--certs-dir` first, then the user's and the
    /// system's), registries.conf (`--registries-conf`, else the standard files).
    func registryConfiguration(credentials: (any CredentialSource)?) throws -> RegistryClient.Configuration {
        let environment = ProcessInfo.processInfo.environment
        var configuration = RegistryClient.Configuration(
            plainHTTP: plainHTTP ? .allowed : .privateHostsOnly,
            tls: .init(caFiles: caFiles, insecureSkipVerify: insecure),
            credentials: credentials,
            concurrency: concurrency,
            logger: makeLogger(),
            followsForeignURLs: allowForeignURLs
        )
        let fromEnvironment = RegistryClient.Configuration.Proxy.environment(environment)
        if noProxy {
            configuration.proxy = .none
        } else if let proxy {
            configuration.proxy = .init(url: proxy, noProxy: fromEnvironment.noProxy)
        } else {
            configuration.proxy = fromEnvironment
        }
        switch (clientCert, clientKey) {
        case (let cert?, let key?): configuration.tls.clientCertificate = RegistryClient.Configuration.ClientCertificate(certificateFile: cert, keyFile: key)
        case (nil, nil): break
        default: throw ValidationError("give --client-cert and --client-key together")
        }
        configuration.tls.certificateDirectories = certsDirs
            + OCIClient.Configuration.userCertificateDirectories(environment: environment)
            + RegistryClient.Configuration.TLS.standardCertificateDirectories
        if let registriesConf {
            guard FileManager.default.fileExists(atPath: registriesConf) else {
                throw ValidationError("--registries-conf \(registriesConf): no such file")
            }
            configuration.registries = try RegistriesConfiguration.load(file: registriesConf)
        } else {
            configuration.registries = try RegistriesConfiguration.standard(environment: environment)
        }
        return configuration
    }

    /// Runs `body` with a client made from the flags (credentials from docker, podman, .netrc, the environment and
    /// `--registry-config`), shut down afterwards.
    func withClient<T>(_ body: (OCIClient) async throws -> T) async throws -> T {
        var builder = KeyringBuilder().fromConfigFiles(registryConfigs).withLogger(makeLogger()).withGitHubToken(githubToken)
        if let netrcFile { builder = builder.fromNetrc(netrcFile) }
        let keyring = try builder.build()
        let configuration = OCIClient.Configuration(registry: try registryConfiguration(credentials: keyring),
                                                    cacheDirectory: cacheDirectory)
        return try await OCIClient.withClient(configuration: configuration, body)
    }

    /// `--platform` parsed, when given.
    static func platform(_ text: String?) throws -> Platform? {
        try text.map { text in
            guard let p = Platform(parsing: text) else { throw ValidationError("invalid platform \"\(text)\"; use os/arch[/variant]") }
            return p
        }
    }

    /// The names of the options above, and whether each takes a value, so that `main` can accept them before
    /// the subcommand as well as after it.
    static let optionArity: [String: Bool] = [
        "--plain-http": false, "--insecure": false, "--allow-foreign-urls": false, "-v": false, "--verbose": false,
        "--json": false, "-q": false, "--quiet": false, "--progress": true, "--ca-file": true, "--registry-config": true, "--concurrency": true, "--cache-dir": true,
        "--proxy": true, "--no-proxy": false, "--certs-dir": true, "--client-cert": true, "--client-key": true,
        "--registries-conf": true, "--netrc-file": true, "--github-token": false,
    ]
}

/// Writes to stdout without buffering surprises.
enum Output {
    static func write(_ bytes: [UInt8]) throws {
        try FileHandle.standardOutput.write(contentsOf: bytes)
    }

    static func line(_ text: String) {
        print(text)
    }

    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        let data = try encoder.encode(value)
        print(String(decoding: data, as: UTF8.self))
    }
}
