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

    /// The registry client's settings from the flags, with `credentials`.
    func registryConfiguration(credentials: (any CredentialSource)?) -> RegistryClient.Configuration {
        RegistryClient.Configuration(
            plainHTTP: plainHTTP ? .allowed : .privateHostsOnly,
            tls: .init(caFiles: caFiles, insecureSkipVerify: insecure),
            credentials: credentials,
            concurrency: concurrency,
            logger: makeLogger(),
            followsForeignURLs: allowForeignURLs
        )
    }

    /// Runs `body` with a client made from the flags (credentials from docker, podman, the environment and
    /// `--registry-config`), shut down afterwards.
    func withClient<T>(_ body: (OCIClient) async throws -> T) async throws -> T {
        try await withClient(adjusting: { _ in }, body)
    }

    /// `withClient` with the configuration adjusted first (a sync adds its host limits).
    func withClient<T>(adjusting adjust: (inout OCIClient.Configuration) -> Void,
                       _ body: (OCIClient) async throws -> T) async throws -> T {
        let keyring = try KeyringBuilder().fromConfigFiles(registryConfigs).withLogger(makeLogger()).build()
        var configuration = OCIClient.Configuration(registry: registryConfiguration(credentials: keyring),
                                                    cacheDirectory: cacheDirectory)
        adjust(&configuration)
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
