import Foundation
import XCTest
@testable import OCICredentials

/// `.netrc` parsing and matching (curl's rules), the `credsStore`-only config, `GITHUB_TOKEN`, and their place in
/// the keyring's precedence.
final class NetrcAndFallbackTests: XCTestCase {
    func testParsesMachinesDefaultQuotesCommentsAndMacros() throws {
        let netrc = try Netrc(parsing: """
            # a comment
            machine registry.example.com login alice password "se cret\\"1"
            machine Other.Example.com
              login bob
              password hunter2 account acct
            macdef init
            cd /pub
            machine notreal.example.com login x password y

            default login anon password anonpw
            """, origin: "test-netrc")
        XCTAssertEqual(netrc.credential(forHost: "registry.example.com")?.password, "se cret\"1")
        XCTAssertEqual(netrc.credential(forHost: "registry.example.com:5000")?.username, "alice",
                       "a machine entry serves every port of its host, as in curl")
        XCTAssertEqual(netrc.credential(forHost: "other.example.com")?.username, "bob", "host names match case-insensitively")
        XCTAssertEqual(netrc.credential(forHost: "notreal.example.com")?.username, "anon", "macro bodies are skipped")
        XCTAssertEqual(netrc.credential(forHost: "elsewhere.example.com")?.username, "anon", "default serves other hosts")
        XCTAssertEqual(netrc.credential(forHost: "registry.example.com")?.source, "netrc:test-netrc")
        XCTAssertEqual(netrc.credential(forHost: "[::1]:5000")?.username, "anon")
    }

    func testSubdomainsDoNotMatchAMachine() throws {
        let netrc = try Netrc(parsing: "machine example.com login a password b\n")
        XCTAssertNil(netrc.credential(forHost: "registry.example.com"))
        XCTAssertEqual(netrc.credential(forHost: "EXAMPLE.com:443")?.username, "a")
    }

    func testMalformedFilesNameTheLineNeverThePassword() {
        let cases: [(String, Int)] = [
            ("machine a.example.com login u password\n", 1),
            ("machine a.example.com\nlogin u\npasword topsecret\n", 3),
            ("login u password topsecret\n", 1),
            ("machine a.example.com login u password \"topsecret\n", 1),
        ]
        for (text, line) in cases {
            XCTAssertThrowsError(try Netrc(parsing: text, origin: "/home/u/.netrc")) { error in
                guard case CredentialsError.invalidNetrc(let path, let reported, _) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(path, "/home/u/.netrc")
                XCTAssertEqual(reported, line, text)
                XCTAssertTrue("\(error)".contains("line \(line)"), "\(error)")
                XCTAssertFalse("\(error)".contains("topsecret"), "the message must not contain the password: \(error)")
            }
        }
    }

    func testBuilderReadsNetrcAfterDockerConfigs() throws {
        let dir = try TemporaryDirectory()
        let netrc = try dir.write("netrc", "machine reg.example.com login netrcuser password np\nmachine only.example.com login n2 password p2\n")
        let config = try dir.write("config.json", """
            {"auths": {"reg.example.com": {"auth": "\(DockerConfig.encodeAuth(username: "dockeruser", password: "dp"))"}}}
            """)
        let keyring = try KeyringBuilder(environment: ["NETRC": netrc, "PATH": "/usr/bin:/bin"]).disableDefaultConfig()
            .fromConfigFiles(config).build()
        XCTAssertEqual(keyring.get(resource: "reg.example.com/app")?.username, "dockeruser", "docker configs come before .netrc")
        XCTAssertEqual(keyring.get(resource: "only.example.com:8443/app")?.username, "n2")
        XCTAssertEqual(keyring.get(resource: "only.example.com/app")?.source, "netrc:\(netrc)")
        let off = try KeyringBuilder(environment: ["NETRC": netrc]).disableDefaultConfig().disableNetrc().build()
        XCTAssertNil(off.get(resource: "only.example.com/app"))
        let explicit = try KeyringBuilder(environment: [:]).disableDefaultConfig().fromNetrc(netrc).build()
        XCTAssertEqual(explicit.get(resource: "only.example.com/app")?.username, "n2")
        XCTAssertThrowsError(try KeyringBuilder(environment: [:]).disableDefaultConfig().fromNetrc(dir.file("missing")).build())
    }

    func testDefaultNetrcIsReadFromHome() throws {
        let home = try TemporaryDirectory()
        _ = try home.write(".netrc", "machine home.example.com login h password p\n")
        let keyring = try KeyringBuilder(environment: ["HOME": home.path]).withHomeDirectory(home.path).build()
        XCTAssertEqual(keyring.get(resource: "home.example.com/x")?.username, "h")
        _ = try home.write(".netrc", "machine home.example.com login h password\n")
        XCTAssertThrowsError(try KeyringBuilder(environment: ["HOME": home.path]).withHomeDirectory(home.path).build())
    }

    func testCredsStoreOnlyConfigAsksTheHelperForEveryRegistry() async throws {
        let fake = try FakeHelper()
        let dir = try TemporaryDirectory()
        let config = try dir.write("config.json", #"{"credsStore": "fake"}"#)
        let keyring = try KeyringBuilder(environment: testEnvironment).disableDefaultConfig().disableNetrc()
            .withHelperSearchPath(fake.searchPath).withHelperCache(CredentialHelperCache()).fromConfigFiles(config).build()
        let found = try await keyring.credential(forHost: "reg.example.com", repository: "team/app")
        XCTAssertEqual(found?.username, "helperuser")
        XCTAssertEqual(found?.source, "helper:fake")
        let none = try await keyring.credential(forHost: "nothing.example.com", repository: "app")
        XCTAssertNil(none)
        XCTAssertEqual(fake.calls(starting: "get"), ["get reg.example.com", "get nothing.example.com"])
        _ = try await keyring.credential(forHost: "index.docker.io", repository: "library/alpine")
        XCTAssertEqual(fake.calls(starting: "get").last, "get https://index.docker.io/v1/", "Docker Hub is asked by docker's key")
    }

    func testGitHubTokenIsOptInAndOnlyForGHCR() async throws {
        let environment = ["GITHUB_TOKEN": "ghs_token", "GITHUB_ACTOR": "octocat"]
        let off = try KeyringBuilder(environment: environment).disableDefaultConfig().build()
        let offFound = try await off.credential(forHost: "ghcr.io", repository: "o/r")
        XCTAssertNil(offFound)
        let on = try KeyringBuilder(environment: environment).disableDefaultConfig().withGitHubToken().build()
        let found = try await on.credential(forHost: "ghcr.io", repository: "o/r")
        XCTAssertEqual(found?.username, "octocat")
        XCTAssertEqual(found?.password, "ghs_token")
        XCTAssertEqual(found?.source, "env:GITHUB_TOKEN")
        let other = try await on.credential(forHost: "registry.example.com", repository: "o/r")
        XCTAssertNil(other)
        let explicit = try KeyringBuilder(environment: environment).disableDefaultConfig().withGitHubToken()
            .withCredential(Credential(username: "me", password: "pat"), for: "ghcr.io").build()
        let first = try await explicit.credential(forHost: "ghcr.io", repository: "o/r")
        XCTAssertEqual(first?.username, "me", "GITHUB_TOKEN serves only when nothing else matches")
    }
}
