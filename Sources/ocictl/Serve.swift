import ArgumentParser
import Foundation
import OCIKit
import OCITesting

struct RegistryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "registry", abstract: "Run a local registry.",
                                                    subcommands: [Serve.self])

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Serve an OCI distribution registry (the in-process one of OCITesting) until interrupted.",
            discussion: """
            For development and tests: on loopback by default (any other address only when given with --address). \
            Prints the registry's host (and with --tls the CA file to trust) on stdout, then serves until SIGINT or \
            SIGTERM. Storage is in memory unless --storage names a directory, which keeps content across runs.
            """)
        @Option(name: .customLong("address"), help: "HOST:PORT to listen on (default 127.0.0.1:5000; port 0 picks a free one).")
        var address = "127.0.0.1:5000"
        @Option(name: .customLong("storage"), help: "Keep content in this directory instead of memory.") var storage: String?
        @Flag(name: .customLong("tls"), help: "Serve HTTPS with a CA and certificate generated at start.") var tls = false
        @Option(name: .customLong("htpasswd"), help: "Require Basic auth from the users of this htpasswd file (bcrypt or SHA-1).")
        var htpasswd: String?
        @Flag(name: .customLong("json"), help: "Print the address as JSON.") var json = false

        struct Started: Encodable { var host: String; var url: String; var caFile: String? }

        func run() async throws {
            var configuration = InProcessRegistry.Configuration(address: address)
            if let storage { configuration.storage = .directory(storage) }
            if tls { configuration.tls = .generated }
            if let htpasswd { configuration.auth = .basic(try InProcessRegistry.User.loadHtpasswd(atPath: htpasswd)) }
            let registry = try await InProcessRegistry.start(configuration)
            let started = Started(host: registry.host, url: registry.baseURL, caFile: registry.caCertificatePath)
            if json { try Output.json(started) } else {
                Output.line("serving on \(registry.baseURL)" + (started.caFile.map { " (CA: \($0))" } ?? ""))
            }
            fflush(nil)
            await Self.waitForTermination()
            try await registry.shutdown()
        }

        /// Returns on the first SIGINT or SIGTERM.
        static func waitForTermination() async {
            signal(SIGINT, SIG_IGN)
            signal(SIGTERM, SIG_IGN)
            let (stream, continuation) = AsyncStream<Void>.makeStream()
            let sources = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { continuation.yield() }
                source.resume()
                return source
            }
            for await _ in stream { break }
            sources.forEach { $0.cancel() }
        }
    }
}
