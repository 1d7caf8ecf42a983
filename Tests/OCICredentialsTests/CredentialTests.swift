import Foundation
import Logging
@testable import OCICredentials
import OCISync
import XCTest

/// `Credential` semantics and redaction.
final class CredentialTests: XCTestCase {
    let secrets = ["s3cr3t-password", "refresh-token-xyz", "bearer-token-abc"]

    func full() -> Credential {
        Credential(username: "alice", password: "s3cr3t-password", identityToken: "refresh-token-xyz",
                   registryToken: "bearer-token-abc", source: "config:/x/config.json")
    }

    func assertNoSecret(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        for secret in secrets {
            XCTAssertFalse(text.contains(secret), "secret leaked in: \(text)", file: file, line: line)
        }
    }

    func testDescriptionRedactsSecrets() {
        XCTAssertEqual(Credential(username: "u", password: "p").description, #"Credential(username: "u", password: <redacted>)"#)
        let credential = full()
        assertNoSecret(credential.description)
        assertNoSecret(credential.debugDescription)
        assertNoSecret("\(credential)")
        assertNoSecret(String(reflecting: credential))
        assertNoSecret("\([credential])")
        assertNoSecret("\(Optional(credential) as Any)")
        var dumped = ""
        dump(credential, to: &dumped)
        assertNoSecret(dumped)
        XCTAssertTrue(credential.description.contains("alice"))
        XCTAssertTrue(credential.description.contains("identityToken: <redacted>"))
        XCTAssertTrue(credential.description.contains("registryToken: <redacted>"))
        XCTAssertEqual(Credential.anonymous.description, "Credential(anonymous)")
    }

    func testLogMetadataHasNoSecrets() {
        let metadata = full().logMetadata
        assertNoSecret("\(metadata)")
        XCTAssertEqual(metadata["ociUser"], "alice")
        XCTAssertEqual(metadata["credentialSource"], "config:/x/config.json")
        XCTAssertEqual(Credential.anonymous.logMetadata["ociUser"], "anonymous")
    }

    func testIsAnonymous() {
        XCTAssertTrue(Credential.anonymous.isAnonymous)
        XCTAssertTrue(Credential(username: "", password: "").isAnonymous)
        XCTAssertFalse(Credential(username: "u").isAnonymous)
        XCTAssertFalse(Credential(password: "p").isAnonymous)
        XCTAssertFalse(Credential(identityToken: "t").isAnonymous)
        XCTAssertFalse(Credential(registryToken: "t").isAnonymous)
    }

    func testEqualityIgnoresSource() {
        XCTAssertEqual(Credential(username: "u", password: "p", source: "a"), Credential(username: "u", password: "p", source: "b"))
        XCTAssertNotEqual(Credential(username: "u", password: "p"), Credential(username: "u", password: "q"))
        XCTAssertEqual(Set([Credential(username: "u", source: "a"), Credential(username: "u", source: "b")]).count, 1)
    }

    func testErrorsNeverContainSecrets() throws {
        // An invalid auth field: the error names the entry but not the value.
        let badAuth = "not base64 s3cr3t-password"
        XCTAssertThrowsError(try DockerConfig(data: Data(#"{"auths":{"h.example.com":{"auth":"\#(badAuth)"}}}"#.utf8), origin: "f.json")) { error in
            assertNoSecret("\(error)")
            XCTAssertTrue("\(error)".contains("h.example.com"))
            XCTAssertTrue("\(error)".contains("f.json"))
        }
        // A helper message that echoes what we stored is redacted.
        let message = CredentialHelper.message(stdout: Data("failed to store s3cr3t-password".utf8), stderr: Data(), secrets: ["s3cr3t-password"])
        XCTAssertEqual(message, "failed to store <redacted>")
        // An environment error names the variable, not the value.
        XCTAssertThrowsError(try EnvironmentCredentials.items(from: ["OCI_REGISTRY_PASSWORD": "s3cr3t-password"])) { error in
            assertNoSecret("\(error)")
            XCTAssertTrue("\(error)".contains("OCI_REGISTRY_HOST"))
        }
    }

    func testLookupLogsNoSecrets() throws {
        let sink = LogSink()
        var logger = Logger(label: "test") { _ in sink }
        logger.logLevel = .trace
        let keyring = Keyring(logger: logger)
        keyring.add(address: "h.example.com", credential: full())
        _ = keyring.get(resource: "h.example.com/a")
        _ = keyring.get(resource: "other.example.com/a")
        let lines = sink.lines.withLock { $0 }
        XCTAssertFalse(lines.isEmpty)
        for line in lines { assertNoSecret(line) }
        XCTAssertTrue(lines.contains { $0.contains("alice") })
    }
}

/// Captures log lines with their metadata.
final class LogSink: LogHandler, @unchecked Sendable {
    let lines = Locked<[String]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        lines.withLock { $0.append("\(event.level) \(event.message) \(merged)") }
    }
}
