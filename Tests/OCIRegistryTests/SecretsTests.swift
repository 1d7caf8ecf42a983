import Foundation
import Logging
import OCIContent
import OCICredentials
import OCIRegistry
import OCISpec
import OCISync
import OCITesting
import OCITestFixtures
import XCTest

/// Collects every log line (message and metadata) at trace level.
final class LineSink: Sendable {
    let lines = Locked<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

struct CapturingLogHandler: LogHandler {
    let sink: LineSink
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    init(sink: LineSink) { self.sink = sink }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        sink.append("\(event.level) \(event.message) \(all)")
    }
}

final class SecretsTests: XCTestCase {
    // Passwords, identity tokens and bearer tokens appear in no log line and no error message.
    func testSecretsStayOutOfLogsAndErrors() async throws {
        let password = "pw-SECRET-1234"
        let identity = "idtok-SECRET-5678"
        let bearer = "bearer-SECRET-9999"
        let sink = LineSink()
        var logger = Logger(label: "test") { _ in CapturingLogHandler(sink: sink) }
        logger.logLevel = .trace
        let realm = Locked("")
        let keyring = Keyring(logger: logger)
        var config = testConfiguration(credentials: keyring)
        config.logger = logger
        try await withFake(configuration: config, { req in
            if req.path == "/token" {
                return .json(200, #"{"token":"\#(bearer)","refresh_token":"\#(identity)-new"}"#)
            }
            if req.headers["Authorization"] == "Bearer \(bearer)" {
                return req.path.hasSuffix("/tags/list") ? .registryError(500, code: "UNKNOWN", message: "boom") : .json(200, "{}")
            }
            return FakeResponse(status: 401, headers: ["WWW-Authenticate": "Bearer realm=\"\(realm.withLock { $0 })\",service=\"s\""])
        }) { server, client in
            realm.withLock { $0 = server.baseURL + "/token" }
            _ = keyring.add(address: server.host, credential: Credential(username: "user", password: password))
            _ = keyring.add(address: server.host + "/other", credential: Credential(identityToken: identity))
            var messages: [String] = []
            for repo in ["app", "other"] {
                do {
                    _ = try await client.repository(host: server.host, name: repo).tags()
                } catch {
                    messages.append("\(error)")
                    messages.append(String(describing: error))
                    messages.append(String(reflecting: error))
                }
            }
            XCTAssertEqual(messages.count, 6)
            let everything = (sink.all + messages).joined(separator: "\n")
            XCTAssertFalse(sink.all.isEmpty)
            for secret in [password, identity, bearer] {
                XCTAssertFalse(everything.contains(secret), "\(secret) leaked:\n\(everything)")
            }
            XCTAssertFalse("\(Credential(username: "u", password: password))".contains(password))
        }
    }
}
