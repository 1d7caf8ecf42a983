import Foundation
import XCTest
@testable import OCICredentials

/// The Go `credentials` suite (§5.5), ported: every `#Get` and `#GetCredentials` case, hermetic (no default config,
/// no environment).
final class GoParityTests: XCTestCase {
    var files: TemporaryDirectory!
    var full: String!
    var legacy: String!
    var empty: String!

    override func setUpWithError() throws {
        files = try TemporaryDirectory()
        full = try files.write("dockerconfig.json", Fixtures.dockerConfig)
        legacy = try files.write("dockerconfig-legacy.json", Fixtures.dockerConfigLegacy)
        empty = try files.write("dockerconfig-empty.json", Fixtures.dockerConfigEmpty)
    }

    override func tearDown() { files = nil }

    func builder() -> KeyringBuilder {
        KeyringBuilder(environment: [:]).disableDefaultConfig()
    }

    func keyring(_ paths: String...) throws -> Keyring {
        try builder().fromConfigFiles(paths).build()
    }

    // #Get 1
    func testParsesConfigAndMatchesTheHostname() throws {
        let found = try XCTUnwrap(try keyring(full).get(resource: "eu.gcr.io/my-project/myimage"))
        XCTAssertEqual(found.username, "test")
        XCTAssertEqual(found.password, "abc\n", "whitespace in the decoded password is kept, as docker does")
    }

    // #Get 2
    func testReturnsNilIfNoAuthMatchesTheURL() throws {
        let keyring = try builder().build()
        XCTAssertNil(keyring.get(resource: "eu.gcr.io/my-project/myimage/"))
    }

    // #Get 3
    func testMatchesTheHostnameWithProtocol() throws {
        XCTAssertEqual(try keyring(full).get(resource: "docker.io")?.username, "docker")
    }

    // #Get 4
    func testFallsBackToTheLegacyDockerDomain() throws {
        XCTAssertEqual(try keyring(legacy).get(resource: "docker.io")?.username, "legacy")
    }

    // #Get 5
    func testMatchesAWholeResourceURL() throws {
        XCTAssertEqual(try keyring(full).get(resource: "eu.gcr.io/my-other-config/my-test:v1.2.3")?.username, "test")
    }

    // #Get 6
    func testMatchesTheHostnameWithAPrefix() throws {
        XCTAssertEqual(try keyring(full).get(resource: "eu.gcr.io/my-proj/my-test:v1.2.3")?.username, "myproj")
    }

    // #Get 7
    func testMatchesAReferenceFromDockerHub() throws {
        XCTAssertEqual(try keyring(full).get(resource: "ubuntu:18.4")?.username, "docker")
    }

    // #Get 8, now actually loading both files (repeated fromConfigFiles calls append).
    func testSkipsEmptyCredentialsIfMultipleAreDefined() throws {
        let emptyFirst = try builder().fromConfigFiles(empty).fromConfigFiles(full).build()
        XCTAssertEqual(emptyFirst.get(resource: "eu.gcr.io/my-project/myimage")?.username, "test")
        let fullFirst = try builder().fromConfigFiles(full).fromConfigFiles(empty).build()
        XCTAssertEqual(fullFirst.get(resource: "eu.gcr.io/my-project/myimage")?.username, "test")
        let onlyEmpty = try builder().fromConfigFiles(empty).build()
        XCTAssertNil(onlyEmpty.get(resource: "eu.gcr.io/my-project/myimage"), "an empty entry is never a match")
    }

    // #GetCredentials 1
    func testGetCredentialsForAHostname() throws {
        let (username, password) = try keyring(full).credentials(forHostname: "eu.gcr.io")
        XCTAssertEqual(username, "test")
        XCTAssertEqual(password, "abc\n")
    }

    // #GetCredentials 2
    func testGetCredentialsFallsBackToTheLegacyDomain() throws {
        XCTAssertEqual(try keyring(legacy).credentials(forHostname: "docker.io").username, "legacy")
    }

    // F38: no match is anonymous, never an error.
    func testGetCredentialsWithoutMatchIsAnonymous() throws {
        let (username, password) = try keyring(full).credentials(forHostname: "ghcr.io")
        XCTAssertEqual(username, "")
        XCTAssertEqual(password, "")
    }

    func testKeyringWithNoSourcesAnswersNil() async throws {
        let keyring = try builder().build()
        XCTAssertEqual(keyring.size, 0)
        let found = try await keyring.credential(forHost: "ghcr.io", repository: "org/image")
        XCTAssertNil(found)
        XCTAssertNil(keyring.get(resource: "ghcr.io/org/image:1"))
    }

    // F39: a read or parse error fails the build.
    func testMissingOrInvalidExplicitFileFailsTheBuild() throws {
        XCTAssertThrowsError(try builder().fromConfigFiles(files.file("missing.json")).build()) { error in
            guard case CredentialsError.unreadableFile(let path, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(path.hasSuffix("missing.json"))
        }
        let broken = try files.write("broken.json", "{\"auths\": ")
        XCTAssertThrowsError(try builder().fromConfigFiles(broken).build()) { error in
            guard case CredentialsError.invalidConfig(let origin, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(origin, broken)
        }
        // An empty path is skipped, not an error.
        XCTAssertNoThrow(try builder().fromConfigFiles("").build())
    }

    // The Go test fixtures decode as documented (F35).
    func testFixturesDecode() throws {
        let config = try DockerConfig(data: Data(Fixtures.dockerConfig.utf8), origin: "dockerconfig.json")
        XCTAssertEqual(config.auths["eu.gcr.io"], Credential(username: "test", password: "abc\n"))
        XCTAssertEqual(config.auths["https://docker.io"], Credential(username: "docker", password: "abc\n"))
        XCTAssertEqual(config.auths["eu.gcr.io/my-proj"], Credential(username: "myproj", password: "abc\n"))
        XCTAssertEqual(config.auths["index.docker.io"], Credential(username: "legacy", password: "abc\n"))
        let emptyConfig = try DockerConfig(data: Data(Fixtures.dockerConfigEmpty.utf8), origin: "empty")
        XCTAssertEqual(emptyConfig.auths["eu.gcr.io"].map(\.isAnonymous), true)
    }
}
