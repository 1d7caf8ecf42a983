import Foundation
import XCTest
@testable import OCICredentials

/// Writing credentials for `login` / `logout`.
final class DockerConfigWriterTests: XCTestCase {
    var dir: TemporaryDirectory!

    override func setUpWithError() throws { dir = try TemporaryDirectory() }
    override func tearDown() { dir = nil }

    func json(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func mode(_ path: String) throws -> Int {
        try XCTUnwrap((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue)
    }

    func writer(_ path: String, helpers: [String] = [], cache: CredentialHelperCache? = CredentialHelperCache()) -> DockerConfigWriter {
        DockerConfigWriter(path: path, environment: testEnvironment, helperSearchPath: helpers, helperCache: cache)
    }

    func testStoreCreatesDirectoryAndFileWithMode0600() throws {
        let path = dir.file("new/.docker/config.json")
        let destination = try writer(path).store(Credential(username: "user", password: "pass"), for: "https://Registry.Example.com:443/")
        XCTAssertEqual(destination, .file(path: path))
        let object = try json(path)
        XCTAssertEqual(object["auths"] as? [String: [String: String]], ["registry.example.com": ["auth": "dXNlcjpwYXNz"]])
        XCTAssertEqual(try mode(path), 0o600)
        XCTAssertEqual(try mode(dir.file("new/.docker")), 0o700)
        // Nothing left behind but the file.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.file("new/.docker")), ["config.json"])

        let keyring = try KeyringBuilder(environment: [:]).disableDefaultConfig().fromConfigFiles(path).build()
        XCTAssertEqual(keyring.get(resource: "registry.example.com/a/b"), Credential(username: "user", password: "pass"))
    }

    func testStorePreservesEverythingElse() throws {
        let original = """
        {
          "auths": {
            "other.example.com": {"auth": "b3RoZXI6cHc=", "email": "o@example.com"},
            "registry.example.com": {"auth": "b2xkOm9sZA==", "email": "keep@example.com"}
          },
          "psFormat": "table {{.ID}}",
          "detachKeys": "ctrl-e,e",
          "experimental": true,
          "currentContext": "default",
          "plugins": {"x": {"enabled": false, "count": 3, "ratio": 0.5, "list": [1, "two", null]}},
          "unicode": "grüße ✓"
        }
        """
        let path = try dir.write("config.json", original, mode: 0o644)
        try writer(path).store(Credential(username: "new", password: "secret"), for: "registry.example.com")
        // Only auths["registry.example.com"].auth changed: compare canonical encodings.
        var expected = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(original.utf8)) as? [String: Any])
        var auths = try XCTUnwrap(expected["auths"] as? [String: Any])
        auths["registry.example.com"] = ["auth": DockerConfig.encodeAuth(username: "new", password: "secret"), "email": "keep@example.com"]
        expected["auths"] = auths
        func canonical(_ object: [String: Any]) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        }
        XCTAssertEqual(try canonical(try json(path)), try canonical(expected))
        let text = try dir.read("config.json")
        XCTAssertNotNil(text.range(of: #""experimental"\s*:\s*true"#, options: .regularExpression), "booleans stay booleans: \(text)")
        XCTAssertNotNil(text.range(of: #""enabled"\s*:\s*false"#, options: .regularExpression))
        XCTAssertEqual(try mode(path), 0o600)
    }

    func testStoreReusesAnEquivalentKeyAndDockerHubKey() throws {
        let path = try dir.write("config.json", #"{"auths":{"https://ghcr.io/":{"auth":"b2xkOm9sZA=="}}}"#)
        try writer(path).store(Credential(username: "u", password: "p"), for: "ghcr.io")
        XCTAssertEqual((try json(path)["auths"] as? [String: Any])?.keys.sorted(), ["https://ghcr.io/"])

        try writer(path).store(Credential(username: "hub", password: "p"), for: "docker.io")
        let auths = try XCTUnwrap(try json(path)["auths"] as? [String: [String: String]])
        XCTAssertEqual(auths["https://index.docker.io/v1/"], ["auth": DockerConfig.encodeAuth(username: "hub", password: "p")])
        let keyring = try KeyringBuilder(environment: [:]).disableDefaultConfig().fromConfigFiles(path).build()
        XCTAssertEqual(keyring.get(resource: "library/ubuntu")?.username, "hub")
        XCTAssertEqual(keyring.get(resource: "ghcr.io/x")?.username, "u")
    }

    func testStoreTokens() throws {
        let path = dir.file("config.json")
        try writer(path).store(Credential(username: "u", identityToken: "refresh"), for: "id.example.com")
        try writer(path).store(Credential(registryToken: "bearer"), for: "reg.example.com")
        let keyring = try KeyringBuilder(environment: [:]).disableDefaultConfig().fromConfigFiles(path).build()
        XCTAssertEqual(keyring.get(resource: "id.example.com/x")?.identityToken, "refresh")
        XCTAssertEqual(keyring.get(resource: "id.example.com/x")?.username, "u")
        XCTAssertEqual(keyring.get(resource: "reg.example.com/x")?.registryToken, "bearer")
    }

    func testStoreThroughSymlinkKeepsTheLink() throws {
        let real = try dir.write("real/config.json", "{}")
        let link = dir.file("link.json")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real)
        try writer(link).store(Credential(username: "u", password: "p"), for: "a.example.com")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link), real)
        XCTAssertNotNil((try json(real)["auths"] as? [String: Any])?["a.example.com"])
    }

    func testRefusesToOverwriteAnInvalidFile() throws {
        let path = try dir.write("config.json", "{broken")
        XCTAssertThrowsError(try writer(path).store(Credential(username: "u", password: "p"), for: "a.example.com"))
        XCTAssertEqual(try dir.read("config.json"), "{broken")
    }

    func testErase() throws {
        let path = try dir.write("config.json", """
        {"auths":{"ghcr.io":{"auth":"dTpw"},"https://ghcr.io/":{"auth":"dTpw"},"quay.io":{"auth":"dTpw"}},"psFormat":"x"}
        """)
        XCTAssertTrue(try writer(path).erase(address: "https://GHCR.io"))
        let object = try json(path)
        XCTAssertEqual((object["auths"] as? [String: Any])?.keys.sorted(), ["quay.io"])
        XCTAssertEqual(object["psFormat"] as? String, "x")
        XCTAssertFalse(try writer(path).erase(address: "ghcr.io"))
        XCTAssertFalse(try writer(dir.file("missing.json")).erase(address: "ghcr.io"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("missing.json")))
    }

    func testCredsStoreStoresThroughTheHelper() throws {
        let fake = try FakeHelper()
        let path = try dir.write("config.json", #"{"credsStore":"fake","auths":{"keep.example.com":{}},"psFormat":"x"}"#)
        let destination = try writer(path, helpers: fake.searchPath).store(Credential(username: "u", password: "topsecret"), for: "docker.io")
        XCTAssertEqual(destination, .helper(name: "fake"))
        let text = try dir.read("config.json")
        XCTAssertFalse(text.contains("topsecret"))
        XCTAssertFalse(text.contains(DockerConfig.encodeAuth(username: "u", password: "topsecret")))
        let object = try json(path)
        XCTAssertEqual(object["credsStore"] as? String, "fake")
        XCTAssertEqual(object["psFormat"] as? String, "x")
        XCTAssertEqual((object["auths"] as? [String: [String: String]]), ["keep.example.com": [:], "https://index.docker.io/v1/": [:]])
        XCTAssertNotNil(fake.stored("https://index.docker.io/v1/"))

        // The stored credential is found through the store.
        let keyring = try KeyringBuilder(environment: testEnvironment).disableDefaultConfig()
            .withHelperSearchPath(fake.searchPath).withHelperCache(CredentialHelperCache()).fromConfigFiles(path).build()
        XCTAssertEqual(keyring.get(resource: "alpine:3")?.password, "topsecret")

        // Logout erases in the helper and the file.
        XCTAssertTrue(try writer(path, helpers: fake.searchPath).erase(address: "index.docker.io"))
        XCTAssertNil(fake.stored("https://index.docker.io/v1/"))
        XCTAssertEqual((try json(path)["auths"] as? [String: [String: String]]), ["keep.example.com": [:]])
        XCTAssertTrue(fake.calls.contains("erase https://index.docker.io/v1/"))
    }

    func testCredHelperForTheHostWritesNothing() throws {
        let fake = try FakeHelper()
        let original = #"{"credHelpers":{"helped.example.com":"fake"}}"#
        let path = try dir.write("config.json", original)
        let destination = try writer(path, helpers: fake.searchPath).store(Credential(username: "u", password: "pw"), for: "helped.example.com")
        XCTAssertEqual(destination, .helper(name: "fake"))
        XCTAssertEqual(try dir.read("config.json"), original, "the file is not touched")
        XCTAssertNotNil(fake.stored("helped.example.com"))
        // Other hosts still go to the file.
        XCTAssertEqual(try writer(path, helpers: fake.searchPath).store(Credential(username: "u", password: "pw"), for: "plain.example.com"),
                       .file(path: path))
        XCTAssertTrue(try writer(path, helpers: fake.searchPath).erase(address: "helped.example.com"))
        XCTAssertNil(fake.stored("helped.example.com"))
    }

    func testDefaultPathFollowsDockerConfig() {
        XCTAssertEqual(DockerConfigWriter(environment: ["DOCKER_CONFIG": "/x/y"]).path, "/x/y/config.json")
        XCTAssertEqual(DockerConfigWriter(environment: ["HOME": "/home/u"]).path, "/home/u/.docker/config.json")
    }
}

