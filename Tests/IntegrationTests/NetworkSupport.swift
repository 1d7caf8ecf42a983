import Foundation
import Logging
import OCIKit
import OCIRegistry
import OCISync
import OCITesting
import XCTest

// Shared parts of the network suites (proxies, mutual TLS, netrc, mirrors): tools that must be installed (a missing
// one fails the test: scripts/install-deps.sh installs them), a sample artifact, and a log collector.

enum NetworkTools {
    /// Fails (never skips) when squid is missing.
    static func squid() throws {
        guard TestProxy.isAvailable else {
            throw OCITestingError("squid is not installed at \(TestProxy.defaultBinary): run scripts/install-deps.sh (Debian package squid)")
        }
    }

    /// Fails (never skips) when the registry or a tool of `mode` is missing.
    static func registry(_ mode: TestRegistry.Mode) throws {
        guard TestRegistry.isAvailable(mode) else {
            throw OCITestingError("the distribution registry or a tool of its \(mode) mode is missing: run scripts/install-deps.sh")
        }
    }
}

/// Collects log messages (for the "served by" lines of mirrored pulls).
final class LogCollector: Sendable {
    let lines = Locked<[String]>([])

    var logger: Logger {
        var logger = Logger(label: "network-tests") { _ in Handler(collector: self) }
        logger.logLevel = .debug
        return logger
    }

    var text: String { lines.current.joined(separator: "\n") }

    struct Handler: LogHandler {
        let collector: LogCollector
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
                 file: String, function: String, line: UInt) {
            collector.lines.withLock { $0.append("\(level) \(message)") }
        }
    }
}

enum Sample {
    /// Writes two small files and returns their paths (fresh random content each time).
    static func files(in dir: TempDir) throws -> [FileToPush] {
        let a = try dir.write("a.txt", Bytes.random(2048))
        let b = try dir.write("b.bin", Bytes.random(4096))
        return [FileToPush(a), FileToPush(b)]
    }

    /// A client configuration with fast retries and no host settings.
    static func configuration(logger: Logger? = nil) -> OCIClient.Configuration {
        var configuration = OCIClient.Configuration()
        configuration.registry.retry = .init(maxAttempts: 2, initialBackoff: .milliseconds(20), maxBackoff: .milliseconds(100))
        configuration.registry.connectTimeout = .seconds(5)
        if let logger { configuration.registry.logger = logger }
        return configuration
    }

    /// The registry log from byte `offset` on.
    static func log(_ registry: TestRegistry, from offset: Int) -> String {
        let data = FileManager.default.contents(atPath: registry.logFile) ?? Data()
        return String(decoding: data.dropFirst(offset), as: UTF8.self)
    }

    /// The registry log from byte `offset` on, once it holds `text` (the registry writes its access log a moment
    /// after answering), or as it is after a bounded wait.
    static func log(_ registry: TestRegistry, from offset: Int, waitingFor text: String) async -> String {
        let deadline = ContinuousClock.now + .seconds(15)
        while true {
            let log = log(registry, from: offset)
            if log.contains(text) || ContinuousClock.now >= deadline { return log }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    static func logSize(_ registry: TestRegistry) -> Int {
        (FileManager.default.contents(atPath: registry.logFile) ?? Data()).count
    }
}
