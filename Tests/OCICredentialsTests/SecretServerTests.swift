import Foundation
@testable import OCICredentials
import OCISync
import XCTest

/// F42: the Gardener secrets server, with an injected fetch instead of a network server.
final class SecretServerTests: XCTestCase {
    func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16) ?? 0)
            index = next
        }
        return bytes
    }

    /// FIPS-197 appendix C vectors for all three key sizes.
    func testAESKnownAnswers() throws {
        let plain = hex("00112233445566778899aabbccddeeff")
        let vectors = [
            ("000102030405060708090a0b0c0d0e0f", "69c4e0d86a7b0430d8cdb78070b4c55a"),
            ("000102030405060708090a0b0c0d0e0f1011121314151617", "dda97ca4864cdfe06eaf70a0ec0d7191"),
            ("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "8ea2b7ca516745bfeafc49904b496089"),
        ]
        for (key, cipher) in vectors {
            let aes = try XCTUnwrap(AESDecryptor(key: hex(key)))
            XCTAssertEqual(aes.decryptBlock(hex(cipher)), plain, key)
        }
        XCTAssertNil(AESDecryptor(key: [1, 2, 3]))
        XCTAssertNil(AESDecryptor(key: hex("000102030405060708090a0b0c0d0e0f"))?.decryptECB([1, 2, 3]))
    }

    /// Go test 1: unencrypted server.
    func testUnencryptedServer() async throws {
        let requested = Locked<[URL]>([])
        let body = Data(#"{"container_registry":{"a":{"username":"abc"}}}"#.utf8)
        let server = try XCTUnwrap(try SecretServer(environment: ["SECRETS_SERVER_ENDPOINT": "http://secrets.test:8080/base"]) { url in
            requested.withLock { $0.append(url) }
            return (200, body)
        })
        let config = try await server.get()
        XCTAssertNotNil(config.containerRegistry["a"])
        XCTAssertEqual(requested.withLock { $0.map(\.absoluteString) }, ["http://secrets.test:8080/base/concourse-secrets/concourse_cfg"])
    }

    /// Go test 2: the given AES-ECB ciphertext and key produce key `a` (PKCS#7 padding stripped).
    func testEncryptedServer() async throws {
        let ciphertext = try XCTUnwrap(Data(base64Encoded: "gqxpvIjAFda7NS3XAVqn/SIVujnGsG0dPjG5s0S5+TyszCVEQ8QF9di+7ZpVpHnCnRXUuZ6HSKV2B1tRi+Lf6MQxr7U5QGix6FB3/8YdYr8="))
        let environment = [
            "SECRETS_SERVER_ENDPOINT": "http://secrets.test",
            "SECRETS_SERVER_CONCOURSE_CFG_NAME": "encrypted-concourse-secrets/encrypted_concourse_cfg",
            "SECRET_CIPHER_ALGORITHM": "AES.ECB",
            "SECRET_KEY": "YWJocmdmb2tkdHdlY2Znbg==",
        ]
        let server = try XCTUnwrap(try SecretServer(environment: environment) { _ in (200, ciphertext) })
        XCTAssertEqual(server.url.absoluteString, "http://secrets.test/encrypted-concourse-secrets/encrypted_concourse_cfg")
        let config = try await server.get()
        XCTAssertEqual(config.containerRegistry["a"]?.username, "abc")
        XCTAssertEqual(SecretServer.strippingPKCS7([1, 2, 3, 2, 2]), [1, 2, 3])
        XCTAssertEqual(SecretServer.strippingPKCS7([1, 2, 3, 4]), [1, 2, 3, 4], "no valid padding: kept")
    }

    func testEnvironmentErrors() throws {
        XCTAssertNil(try SecretServer(environment: [:]) { _ in (200, Data()) }, "no endpoint: no server, not an error")
        let bad: [[String: String]] = [
            ["SECRETS_SERVER_ENDPOINT": "http://s", "SECRET_KEY": "not base64!", "SECRET_CIPHER_ALGORITHM": "AES.ECB", "SECRETS_SERVER_CONCOURSE_CFG_NAME": "x"],
            ["SECRETS_SERVER_ENDPOINT": "http://s", "SECRET_KEY": "YWJj", "SECRET_CIPHER_ALGORITHM": "AES.ECB", "SECRETS_SERVER_CONCOURSE_CFG_NAME": "x"],
            ["SECRETS_SERVER_ENDPOINT": "http://s", "SECRET_KEY": "YWJocmdmb2tkdHdlY2Znbg==", "SECRET_CIPHER_ALGORITHM": "AES.CBC", "SECRETS_SERVER_CONCOURSE_CFG_NAME": "x"],
            ["SECRETS_SERVER_ENDPOINT": "http://s", "SECRET_KEY": "YWJocmdmb2tkdHdlY2Znbg==", "SECRET_CIPHER_ALGORITHM": "AES.ECB"],
            ["SECRETS_SERVER_ENDPOINT": "not a url"],
        ]
        for environment in bad {
            XCTAssertThrowsError(try SecretServer(environment: environment) { _ in (200, Data()) }, "\(environment)") { error in
                XCTAssertFalse("\(error)".contains("YWJocmdmb2tkdHdlY2Znbg=="), "the key never appears in errors")
            }
        }
    }

    func testHTTPFailureIsReported() async throws {
        let builder = SecretServerKeyringBuilder(environment: ["SECRETS_SERVER_ENDPOINT": "http://secrets.test"]) { _ in (503, Data("down".utf8)) }
        do {
            _ = try await builder.build()
            XCTFail("expected an error")
        } catch {
            XCTAssertTrue("\(error)".contains("503"), "\(error)")
        }
    }

    func testKeyringMapping() async throws {
        let body = """
        {"container_registry": {
          "ro": {"username": "ro-user", "password": "p1", "privileges": "readonly", "host": "https://eu.gcr.io/ignored/path",
                 "image_reference_prefixes": ["eu.gcr.io/proj-ro"]},
          "rw": {"username": "rw-user", "password": "p2", "privileges": "readwrite", "image_reference_prefixes": ["eu.gcr.io/proj-rw", "ghcr.io/org"]},
          "noscheme": {"username": "plain-user", "password": "p3", "host": "registry.example.com:5000"},
          "unset": {"username": "unset-user", "password": "p4", "host": "https://quay.io"}
        }, "other_stuff": {"x": 1}}
        """
        let environment = ["SECRETS_SERVER_ENDPOINT": "http://secrets.test"]
        let fetch: SecretServer.Fetch = { _ in (200, Data(body.utf8)) }
        let keyring = try await XCTUnwrapAsync(try await SecretServerKeyringBuilder(environment: environment, fetch: fetch).build())
        XCTAssertEqual(keyring.get(resource: "eu.gcr.io/other/img")?.username, "ro-user")
        XCTAssertEqual(keyring.get(resource: "eu.gcr.io/proj-rw/img")?.username, "rw-user")
        XCTAssertEqual(keyring.get(resource: "ghcr.io/org/img")?.username, "rw-user")
        XCTAssertEqual(keyring.get(resource: "eu.gcr.io/other/img")?.source, "cc-config:ro")
        // Fix: a host without a scheme is that host, not a catch-all.
        XCTAssertEqual(keyring.get(resource: "registry.example.com:5000/a")?.username, "plain-user")
        XCTAssertNil(keyring.get(resource: "docker.io/library/ubuntu"))
        XCTAssertNil(keyring.get(resource: "ghcr.io/another/img"))

        let readwrite = try await XCTUnwrapAsync(try await SecretServerKeyringBuilder(environment: environment, fetch: fetch)
            .withMinPrivileges(.readwrite).build())
        XCTAssertNil(readwrite.get(resource: "eu.gcr.io/other/img"), "readonly entries skipped")
        XCTAssertNil(readwrite.get(resource: "quay.io/a"), "unmarked entries skipped")
        XCTAssertEqual(readwrite.get(resource: "eu.gcr.io/proj-rw/img")?.username, "rw-user")
    }

    func testBuildIsNilWhenEmptyAndFromPath() async throws {
        let empty = try await SecretServerKeyringBuilder(environment: [:]) { _ in (200, Data()) }.build()
        XCTAssertNil(empty, "no server configured: nil")
        let dir = try TemporaryDirectory()
        let path = try dir.write("cc.json", #"{"container_registry":{"local":{"username":"u","password":"p","host":"https://r.example.com"}}}"#)
        let fetchNeverCalled: SecretServer.Fetch = { _ in XCTFail("no fetch with a path"); return (500, Data()) }
        let keyring = try await XCTUnwrapAsync(try await SecretServerKeyringBuilder(environment: [:], fetch: fetchNeverCalled).fromPath(path).build())
        XCTAssertEqual(keyring.get(resource: "r.example.com/x")?.username, "u")
        do {
            _ = try await SecretServerKeyringBuilder(environment: [:], fetch: fetchNeverCalled).fromPath(dir.file("missing")).build()
            XCTFail("expected an error")
        } catch {
            guard case .unreadableFile = error else { return XCTFail("\(error)") }
        }
        // The secret-server keyring plugs into the main builder.
        let combined = try KeyringBuilder(environment: [:]).disableDefaultConfig().withKeyring(keyring).build()
        XCTAssertEqual(combined.get(resource: "r.example.com/x")?.username, "u")
    }
}

func XCTUnwrapAsync<T>(_ value: T?, file: StaticString = #filePath, line: UInt = #line) async throws -> T {
    try XCTUnwrap(value, file: file, line: line)
}
