import ArgumentParser
import Foundation
import Logging
import OCICache
import OCIClient
import OCICredentials
import OCIRegistry

/// Options every subcommand takes after its name.
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

    func makeLogger() -> Logger {
        var logger = Logger(label: "ocictl") { label in
            StreamLogHandler.standardError(label: label)
        }
        logger.logLevel = verbose ? .debug : .error
        return logger
    }

    /// The blob cache the fetching commands use: `--cache-dir`, else `$OCI_CACHE_DIR`, else none.
    func cache() throws -> ContentCache? {
        let dir = cacheDir ?? ProcessInfo.processInfo.environment[ContentCache.directoryEnvironmentVariable]
        guard let dir, !dir.isEmpty else { return nil }
        return try ContentCache(options: CacheOptions(directory: dir, logger: makeLogger()))
    }

    func keyring() throws -> Keyring {
        try KeyringBuilder().fromConfigFiles(registryConfigs).withLogger(makeLogger()).build()
    }

    func registryConfiguration(credentials: (any CredentialSource)?) -> RegistryClient.Configuration {
        RegistryClient.Configuration(
            plainHTTP: plainHTTP ? .allowed : .privateHostsOnly,
            tls: RegistryClient.Configuration.TLS(caFiles: caFiles, insecureSkipVerify: insecure),
            credentials: credentials,
            concurrency: concurrency,
            logger: makeLogger(),
            followsForeignURLs: allowForeignURLs
        )
    }

    /// Runs `body` with a registry client that is shut down afterwards.
    func withClient<T>(_ body: (OCIClient) async throws -> T) async throws -> T {
        var options = OCIClientOptions()
        options.keyring = try keyring()
        options.registry = registryConfiguration(credentials: options.keyring)
        let client = try OCIClient(options: options)
        do {
            let result = try await body(client)
            try? await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
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
