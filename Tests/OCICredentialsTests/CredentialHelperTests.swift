import Foundation
import XCTest
@testable import OCICredentials

/// F40: credential helpers through a fake `docker-credential-fake` script found via an injected search path.
final class CredentialHelperTests: XCTestCase {
    var fake: FakeHelper!
    var dir: TemporaryDirectory!

    override func setUpWithError() throws {
        fake = try FakeHelper()
        dir = try TemporaryDirectory()
    }

    override func tearDown() {
        fake = nil
        dir = nil
    }

    func builder(cache: CredentialHelperCache? = CredentialHelperCache()) -> KeyringBuilder {
        KeyringBuilder(environment: testEnvironment).disableDefaultConfig()
            .withHelperSearchPath(fake.searchPath).withHelperCache(cache)
    }

    func testGet() throws {
        let found = try XCTUnwrap(try fake.helper().get(serverURL: "reg.example.com"))
        XCTAssertEqual(found, Credential(username: "helperuser", password: "helpersecret"))
        XCTAssertEqual(found.source, "helper:fake")
        XCTAssertEqual(fake.calls, ["get reg.example.com"], "the server URL goes to stdin as is")
    }

    func testNotFoundIsNilNotAnError() throws {
        XCTAssertNil(try fake.helper().get(serverURL: "unknown.example.com"))
    }

    func testTokenUsernameMeansIdentityToken() throws {
        let found = try XCTUnwrap(try fake.helper().get(serverURL: "token.example.com"))
        XCTAssertNil(found.username)
        XCTAssertNil(found.password)
        XCTAssertEqual(found.identityToken, "idtoken")
        XCTAssertFalse(found.isAnonymous, "helper token credentials are usable (Go skipped them)")
    }

    func testFailureIsATypedError() {
        XCTAssertThrowsError(try fake.helper().get(serverURL: "fail.example.com")) { error in
            XCTAssertEqual(error as? CredentialsError,
                           .helperFailed(helper: "fake", action: "get", status: 3, message: "the keychain is on fire"))
        }
    }

    func testTimeout() {
        let start = Date()
        XCTAssertThrowsError(try fake.helper(timeout: .milliseconds(500)).get(serverURL: "slow.example.com")) { error in
            guard case CredentialsError.helperTimedOut(let helper, let action, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(helper, "fake")
            XCTAssertEqual(action, "get")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 8)
    }

    func testMissingHelper() {
        let helper = CredentialHelper(name: "nonexistent", searchPath: [dir.path], environment: testEnvironment)
        XCTAssertThrowsError(try helper.get(serverURL: "reg.example.com")) { error in
            XCTAssertEqual(error as? CredentialsError, .helperNotFound(helper: "nonexistent", searched: [dir.path]))
        }
        XCTAssertThrowsError(try CredentialHelper(name: "../evil", searchPath: [dir.path]).get(serverURL: "x")) { error in
            XCTAssertEqual(error as? CredentialsError, .invalidHelperName("../evil"))
        }
    }

    func testSearchPathDefaultsToTheEnvironmentPATH() throws {
        let helper = CredentialHelper(name: "fake", environment: ["PATH": "/nonexistent:\(fake.directory.path):/usr/bin:/bin"], cache: nil)
        XCTAssertEqual(try helper.executablePath(), fake.directory.file("docker-credential-fake"))
        XCTAssertEqual(try helper.get(serverURL: "reg.example.com")?.username, "helperuser")
    }

    func testStoreEraseList() throws {
        let helper = fake.helper()
        try helper.store(serverURL: "new.example.com", credential: Credential(username: "newuser", password: "newpass"))
        let stored = try XCTUnwrap(fake.stored("new.example.com"))
        XCTAssertEqual(try JSONSerialization.jsonObject(with: Data(stored.utf8)) as? [String: String],
                       ["ServerURL": "new.example.com", "Username": "newuser", "Secret": "newpass"])
        XCTAssertNil(helper.cachedAnswer(serverURL: "new.example.com"), "not asked yet")
        XCTAssertEqual(try helper.get(serverURL: "new.example.com"), Credential(username: "newuser", password: "newpass"))
        XCTAssertEqual(helper.cachedAnswer(serverURL: "new.example.com"), .some(Credential(username: "newuser", password: "newpass")))

        try helper.store(serverURL: "https://index.docker.io/v1/", credential: Credential(username: "ignored", identityToken: "refresh"))
        let token = try XCTUnwrap(fake.stored("https://index.docker.io/v1/"))
        XCTAssertTrue(token.contains(#""Username":"<token>""#), token)
        XCTAssertTrue(token.contains(#""ServerURL":"https://index.docker.io/v1/""#), "no escaped slashes: \(token)")
        XCTAssertEqual(try helper.get(serverURL: "https://index.docker.io/v1/")?.identityToken, "refresh")

        XCTAssertThrowsError(try helper.store(serverURL: "r.example.com", credential: Credential(registryToken: "bearer")))

        XCTAssertTrue(try helper.erase(serverURL: "new.example.com"))
        XCTAssertNil(fake.stored("new.example.com"))
        XCTAssertNil(try helper.get(serverURL: "new.example.com"), "erase invalidates the cached answer")
        XCTAssertFalse(try helper.erase(serverURL: "new.example.com"), "erasing what is not there is not an error")

        XCTAssertEqual(try helper.list(), ["reg.example.com": "helperuser"])
    }

    /// A helper's answer is remembered per helper and address: two lookups run it once.
    func testCachingRunsTheHelperOncePerAddress() async throws {
        let config = try dir.write("config.json", #"{"credHelpers": {"reg.example.com": "fake", "unknown.example.com": "fake"}}"#)
        let cache = CredentialHelperCache()
        let keyring = try builder(cache: cache).fromConfigFiles(config).build()
        let first = try await keyring.credential(forHost: "reg.example.com", repository: "a/b")
        let second = try await keyring.credential(forHost: "reg.example.com", repository: "c")
        XCTAssertEqual(first?.username, "helperuser")
        XCTAssertEqual(second, first)
        XCTAssertEqual(keyring.get(resource: "reg.example.com/d")?.username, "helperuser")
        XCTAssertEqual(fake.calls(starting: "get reg.example.com").count, 1)

        // "not found" is remembered too.
        XCTAssertNil(keyring.get(resource: "unknown.example.com/x"))
        XCTAssertNil(keyring.get(resource: "unknown.example.com/y"))
        XCTAssertEqual(fake.calls(starting: "get unknown.example.com").count, 1)

        // Another keyring sharing the cache does not ask again; one with its own cache does.
        let sharing = try builder(cache: cache).fromConfigFiles(config).build()
        XCTAssertEqual(sharing.get(resource: "reg.example.com/a")?.username, "helperuser")
        XCTAssertEqual(fake.calls(starting: "get reg.example.com").count, 1)
        let separate = try builder(cache: CredentialHelperCache()).fromConfigFiles(config).build()
        XCTAssertEqual(separate.get(resource: "reg.example.com/a")?.username, "helperuser")
        XCTAssertEqual(fake.calls(starting: "get reg.example.com").count, 2)
        let uncached = try builder(cache: nil).fromConfigFiles(config).build()
        _ = uncached.get(resource: "reg.example.com/a")
        _ = uncached.get(resource: "reg.example.com/a")
        XCTAssertEqual(fake.calls(starting: "get reg.example.com").count, 4)
    }

    func testConcurrentLookupsRunTheHelperOnce() async throws {
        let config = try dir.write("config.json", #"{"credHelpers": {"reg.example.com": "fake"}}"#)
        let keyring = try builder().fromConfigFiles(config).build()
        try await withThrowingTaskGroup(of: String?.self) { group in
            for i in 0..<8 {
                group.addTask { try await keyring.credential(forHost: "reg.example.com", repository: "r\(i)")?.username }
            }
            for try await user in group { XCTAssertEqual(user, "helperuser") }
        }
        XCTAssertEqual(fake.calls(starting: "get").count, 1)
    }

    /// Fix: `credsStore` in the file is honoured for entries without credentials in the file.
    func testFixCredsStoreIsHonoured() throws {
        let config = try dir.write("config.json", """
        {"auths": {"reg.example.com": {}, "token.example.com": {}, "file.example.com": {"auth": "\(DockerConfig.encodeAuth(username: "fileuser", password: "p"))"}},
         "credsStore": "fake"}
        """)
        let keyring = try builder().fromConfigFiles(config).build()
        XCTAssertEqual(keyring.get(resource: "reg.example.com/x")?.username, "helperuser")
        XCTAssertEqual(keyring.get(resource: "token.example.com/x")?.identityToken, "idtoken")
        XCTAssertEqual(keyring.get(resource: "file.example.com/x")?.username, "fileuser")
        XCTAssertNil(keyring.get(resource: "other.example.com/x"), "the store has nothing for this host")
        XCTAssertEqual(fake.calls(starting: "get").sorted(), ["get other.example.com", "get reg.example.com", "get token.example.com"],
                       "as in docker, the store is asked for hosts not listed in auths too")
    }

    /// credHelpers take precedence over auths for the same address (docker semantics) and get the original address.
    func testCredHelpersComeFirst() throws {
        let config = try dir.write("config.json", """
        {"auths": {"https://reg.example.com": {"auth": "\(DockerConfig.encodeAuth(username: "fileuser", password: "p"))"},
                   "missing.example.com": {"auth": "\(DockerConfig.encodeAuth(username: "fallback", password: "p"))"}},
         "credHelpers": {"https://reg.example.com": "fake", "missing.example.com": "nonexistent"}}
        """)
        let keyring = try builder().fromConfigFiles(config).build()
        XCTAssertEqual(keyring.get(resource: "reg.example.com/x")?.username, "helperuser")
        XCTAssertEqual(fake.calls, ["get https://reg.example.com"])
        // A helper that is not installed is skipped by the Go-style lookup, and the file's entry is used.
        XCTAssertEqual(keyring.get(resource: "missing.example.com/x")?.username, "fallback")
    }

    func testAsyncLookupReportsABrokenHelper() async throws {
        let config = try dir.write("config.json", #"{"credHelpers": {"fail.example.com": "fake"}}"#)
        let keyring = try builder().fromConfigFiles(config).build()
        do {
            _ = try await keyring.credential(forHost: "fail.example.com", repository: "x")
            XCTFail("expected an error")
        } catch let error as CredentialsError {
            guard case .helperFailed(let helper, _, _, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(helper, "fake")
        }
    }
}
