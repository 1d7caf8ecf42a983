import Foundation
@testable import OCICredentials
import OCISync
import XCTest

/// Address normalisation and keyring matching (F36, F37, F38, F41 and the fixes).
final class KeyringMatchingTests: XCTestCase {
    func cred(_ user: String) -> Credential { Credential(username: user, password: "pw-\(user)") }

    // MARK: normalisation

    func testAddressNormalisationTable() throws {
        let table: [(String, String)] = [
            ("https://docker.io", "index.docker.io"),
            ("docker.io", "index.docker.io"),
            ("registry-1.docker.io", "index.docker.io"),
            ("https://index.docker.io/v1/", "index.docker.io"),
            ("index.docker.io/v1", "index.docker.io"),
            ("https://registry-1.docker.io/v2/", "index.docker.io"),
            ("docker.io/library/ubuntu", "index.docker.io/library/ubuntu"),
            ("eu.gcr.io/my-proj", "eu.gcr.io/my-proj"),
            ("eu.gcr.io/my-proj/", "eu.gcr.io/my-proj"),
            ("https://EU.GCR.io/my-proj?x=1#frag", "eu.gcr.io/my-proj"),
            ("https://user:secret@registry.example.com/team", "registry.example.com/team"),
            ("https://h:443", "h"),
            ("h:443", "h"),
            ("http://h:80/", "h"),
            ("http://h:443", "h:443"),
            ("https://h:80", "h:80"),
            ("localhost:5000", "localhost:5000"),
            ("127.0.0.1:5000/a//b/./c/../d", "127.0.0.1:5000/a/b/d"),
            ("[::1]:5000", "[::1]:5000"),
            ("https://[::1]:443/x", "[::1]/x"),
            ("https://registry.example.com/v2/", "registry.example.com"),
            ("registry.example.com/v2", "registry.example.com/v2"),
            ("  ghcr.io  ", "ghcr.io"),
        ]
        for (input, expected) in table {
            XCTAssertEqual(try RegistryAddress(normalizing: input).key, expected, "normalising \(input)")
        }
    }

    func testAddressesWithoutHostAreRejected() {
        for input in ["", "   ", "https://", "https:///path", "user@"] {
            XCTAssertThrowsError(try RegistryAddress(normalizing: input), "\(String(reflecting: input))")
        }
    }

    func testLoginKeys() throws {
        XCTAssertEqual(try RegistryAddress(normalizing: "docker.io").loginKey, "https://index.docker.io/v1/")
        XCTAssertEqual(try RegistryAddress(normalizing: "https://ghcr.io/").loginKey, "ghcr.io")
        XCTAssertEqual(try RegistryAddress(normalizing: "registry.example.com:5000").loginKey, "registry.example.com:5000")
    }

    // MARK: matching table

    func testMatchingTable() async throws {
        let keyring = Keyring()
        keyring.add(address: "eu.gcr.io", credential: cred("gcr"))
        keyring.add(address: "eu.gcr.io/proj", credential: cred("proj"))
        keyring.add(address: "eu.gcr.io/proj/team/app", credential: cred("app"))
        keyring.add(address: "https://index.docker.io/v1/", credential: cred("hub"))
        keyring.add(address: "docker.io/myorg", credential: cred("myorg"))
        keyring.add(address: "https://Registry.Example.com:443", credential: cred("example"))
        keyring.add(address: "localhost:5000/ns", credential: cred("local"))
        keyring.add(address: "quay.io/ns/repo", credential: cred("quayrepo"))

        let table: [(host: String, repository: String, expected: String?)] = [
            ("eu.gcr.io", "other/img", "gcr"),
            ("eu.gcr.io", "proj", "proj"),
            ("eu.gcr.io", "proj/img", "proj"),
            ("eu.gcr.io", "proj/team/img", "proj"),      // backtracks from the empty `team` node
            ("eu.gcr.io", "proj/team/app", "app"),
            ("eu.gcr.io", "proj/team/app/sub", "app"),
            ("eu.gcr.io", "projx/img", "gcr"),           // whole segments only
            ("eu.gcr.io", "", "gcr"),
            ("EU.GCR.IO", "proj/img", "proj"),           // hosts are case-insensitive
            ("index.docker.io", "library/ubuntu", "hub"),
            ("docker.io", "library/ubuntu", "hub"),
            ("registry-1.docker.io", "library/ubuntu", "hub"),
            ("index.docker.io", "myorg/tool", "myorg"),
            ("registry.example.com", "a/b", "example"),
            ("registry.example.com:443", "a/b", "example"),
            ("registry.example.com:5000", "a/b", nil),    // another port is another registry
            ("localhost:5000", "ns/img", "local"),
            ("localhost:5000", "other/img", nil),
            ("localhost", "ns/img", nil),
            ("quay.io", "ns/repo", "quayrepo"),
            ("quay.io", "ns/other", nil),
            ("gcr.io", "proj/img", nil),                 // no suffix matching of hosts
            ("ghcr.io", "", nil),
        ]
        for row in table {
            let found = try await keyring.credential(forHost: row.host, repository: row.repository)
            XCTAssertEqual(found?.username, row.expected, "\(row.host) / \(row.repository)")
        }
    }

    func testGetResourceForms() {
        let keyring = Keyring()
        keyring.add(address: "eu.gcr.io", credential: cred("gcr"))
        keyring.add(address: "localhost:5000", credential: cred("local"))
        keyring.add(address: "docker.io", credential: cred("hub"))
        XCTAssertEqual(keyring.get(resource: "eu.gcr.io")?.username, "gcr", "a bare host is a registry-wide lookup")
        XCTAssertEqual(keyring.get(resource: "https://eu.gcr.io/a/b:1")?.username, "gcr")
        XCTAssertEqual(keyring.get(resource: "eu.gcr.io/a/b@sha256:77af4d6b9913e693e8d0b4b294fa62ade6054e6b2f1ffb617ac955dd63fb0182")?.username, "gcr")
        XCTAssertEqual(keyring.get(resource: "localhost:5000")?.username, "local")
        XCTAssertEqual(keyring.get(resource: "localhost:5000/x/y:2")?.username, "local")
        XCTAssertEqual(keyring.get(resource: "ubuntu")?.username, "hub")
        XCTAssertEqual(keyring.get(resource: "my.image:1.0")?.username, "hub", "a dotted name with a tag is a Docker Hub image")
        XCTAssertNil(keyring.get(resource: ""))
    }

    // MARK: fixes

    /// Go bug: the trie never backtracked. `eu.gcr.io/a/x` with keys `eu.gcr.io` and `eu.gcr.io/a/b` found nothing.
    func testFixBacktracksToTheNearestAncestorWithCredentials() {
        let keyring = Keyring()
        keyring.add(address: "eu.gcr.io", credential: cred("host"))
        keyring.add(address: "eu.gcr.io/a/b", credential: cred("deep"))
        XCTAssertEqual(keyring.get(resource: "eu.gcr.io/a/x")?.username, "host")
        XCTAssertEqual(keyring.get(resource: "eu.gcr.io/a/b/c")?.username, "deep")
    }

    /// A more specific key whose entries give nothing usable falls back to the ancestor.
    func testBacktracksPastUnusableEntries() {
        let keyring = Keyring()
        keyring.add(address: "eu.gcr.io", credential: cred("host"))
        keyring.add(address: "eu.gcr.io/a", credential: .anonymous)
        keyring.add(address: "eu.gcr.io/a") { _ in struct Boom: Error {}; throw Boom() }
        XCTAssertEqual(keyring.get(resource: "eu.gcr.io/a/img")?.username, "host")
    }

    /// Go bug: `https://index.docker.io/v1/` (docker login's key) never matched Docker Hub pulls.
    func testFixDockerLoginKeyMatchesDockerHub() throws {
        let keyring = Keyring()
        keyring.add(address: "https://index.docker.io/v1/", credential: cred("hub"))
        XCTAssertEqual(keyring.get(resource: "ubuntu:18.04")?.username, "hub")
        XCTAssertEqual(keyring.get(resource: "index.docker.io/library/ubuntu")?.username, "hub")
        XCTAssertEqual(keyring.get(resource: "docker.io/myorg/tool:1")?.username, "hub")
        XCTAssertEqual(keyring.credentials(forHostname: "docker.io").username, "hub")
        XCTAssertEqual(keyring.credentials(forHostname: "registry-1.docker.io").username, "hub")
    }

    /// All of Docker Hub's keys match; `docker.io` is preferred over `index.docker.io` within one source (Go order).
    func testDockerHubAliasesAndTheirOrder() throws {
        for key in ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io", "https://docker.io"] {
            let keyring = Keyring()
            keyring.add(address: key, credential: cred("hub"))
            XCTAssertEqual(keyring.get(resource: "library/alpine:3")?.username, "hub", key)
        }
        let config = try DockerConfig(data: Data("""
            {"auths":{"registry-1.docker.io":{"auth":"\(DockerConfig.encodeAuth(username: "r1", password: "p"))"},
                      "https://index.docker.io/v1/":{"auth":"\(DockerConfig.encodeAuth(username: "index", password: "p"))"},
                      "docker.io":{"auth":"\(DockerConfig.encodeAuth(username: "docker", password: "p"))"}}}
            """.utf8), origin: "test")
        let keyring = Keyring()
        keyring.add(config)
        XCTAssertEqual(keyring.get(resource: "alpine")?.username, "docker")
        XCTAssertEqual(keyring.size, 1, "all Docker Hub keys are one address")
    }

    /// Go bug: identity-token-only and registry-token-only entries counted as empty.
    func testFixTokenOnlyCredentialsAreUsable() throws {
        let config = try DockerConfig(data: Data("""
            {"auths":{"id.example.com":{"identitytoken":"refresh-123"},
                      "reg.example.com":{"registrytoken":"bearer-456"},
                      "empty.example.com":{}}}
            """.utf8), origin: "test")
        let keyring = Keyring()
        keyring.add(config)
        let id = try XCTUnwrap(keyring.get(resource: "id.example.com/a/b"))
        XCTAssertEqual(id.identityToken, "refresh-123")
        XCTAssertFalse(id.isAnonymous)
        let reg = try XCTUnwrap(keyring.get(resource: "reg.example.com/a/b"))
        XCTAssertEqual(reg.registryToken, "bearer-456")
        XCTAssertNil(keyring.get(resource: "empty.example.com/a/b"))
    }

    /// F37: for one address getters run in insertion order; errors and empty results are skipped.
    func testGetterOrdering() {
        let keyring = Keyring()
        let calls = Locked<[String]>([])
        keyring.add(address: "h.example.com") { _ in calls.withLock { $0.append("error") }; throw CredentialsError.invalidAddress("x") }
        keyring.add(address: "h.example.com") { _ in calls.withLock { $0.append("empty") }; return Credential() }
        keyring.add(address: "h.example.com") { address in
            calls.withLock { $0.append("first:\(address)") }
            return Credential(username: "first")
        }
        keyring.add(address: "https://h.example.com/") { _ in calls.withLock { $0.append("second") }; return Credential(username: "second") }
        XCTAssertEqual(keyring.get(resource: "h.example.com/r")?.username, "first")
        XCTAssertEqual(calls.withLock { $0 }, ["error", "empty", "first:h.example.com"], "getters get the address as added")
        XCTAssertEqual(keyring.size, 1)
    }

    /// F38 / async lookup: a miss is nil; a failing getter with nothing else matching is reported.
    func testAsyncLookupReportsGetterFailureOnlyWithoutAMatch() async throws {
        let keyring = Keyring()
        keyring.add(address: "broken.example.com") { _ in throw CredentialsError.helperNotFound(helper: "x", searched: []) }
        do {
            _ = try await keyring.credential(forHost: "broken.example.com", repository: "a")
            XCTFail("expected an error")
        } catch let error as CredentialsError {
            XCTAssertEqual(error, .helperNotFound(helper: "x", searched: []))
        }
        XCTAssertNil(keyring.get(resource: "broken.example.com/a"), "the Go-style get skips errors")
        keyring.add(address: "broken.example.com", credential: cred("fallback"))
        let found = try await keyring.credential(forHost: "broken.example.com", repository: "a")
        XCTAssertEqual(found?.username, "fallback")
        let miss = try await keyring.credential(forHost: "other.example.com", repository: "")
        XCTAssertNil(miss)
    }

    /// Go bug: hosts without a scheme could land at the trie root and match every registry.
    func testFixNoCatchAllEntry() {
        let keyring = Keyring()
        XCTAssertFalse(keyring.add(address: "", credential: cred("root")))
        XCTAssertFalse(keyring.add(address: "https://", credential: cred("root")))
        XCTAssertTrue(keyring.add(address: "secrets.example.com", credential: cred("host")))
        XCTAssertEqual(keyring.size, 1)
        XCTAssertNil(keyring.get(resource: "ghcr.io/x/y"))
        XCTAssertNil(keyring.get(resource: "ubuntu"))
        XCTAssertEqual(keyring.get(resource: "secrets.example.com/x")?.username, "host")
    }

    /// F41: merge appends the other keyring's entries after this one's: this keyring wins on equal keys,
    /// a more specific key from the other still wins.
    func testMergePrecedence() {
        let first = Keyring()
        first.add(address: "eu.gcr.io", credential: cred("k1"))
        let second = Keyring()
        second.add(address: "https://eu.gcr.io", credential: cred("k2"))
        second.add(address: "eu.gcr.io/special", credential: cred("k2special"))
        second.add(address: "ghcr.io", credential: cred("k2ghcr"))
        first.merge(second)
        XCTAssertEqual(first.get(resource: "eu.gcr.io/a/b")?.username, "k1")
        XCTAssertEqual(first.get(resource: "eu.gcr.io/special/b")?.username, "k2special")
        XCTAssertEqual(first.get(resource: "ghcr.io/a")?.username, "k2ghcr")
        XCTAssertEqual(first.size, 3)
        // The merge copied the entries; `second` is unchanged and later changes to it are not seen.
        second.add(address: "quay.io", credential: cred("late"))
        XCTAssertNil(first.get(resource: "quay.io/a"))
        XCTAssertEqual(second.get(resource: "eu.gcr.io/a")?.username, "k2")
        // Merging into itself duplicates entries harmlessly.
        first.merge(first)
        XCTAssertEqual(first.get(resource: "eu.gcr.io/a/b")?.username, "k1")
    }

    func testConcurrentAddsAndLookups() async {
        let keyring = Keyring()
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask {
                    keyring.add(address: "r\(i % 20).example.com/ns\(i)", credential: Credential(username: "u\(i)"))
                    _ = keyring.get(resource: "r\(i % 20).example.com/ns\(i)/img")
                }
            }
        }
        XCTAssertEqual(keyring.size, 200)
        XCTAssertEqual(keyring.get(resource: "r7.example.com/ns27/img")?.username, "u27")
    }

    func testSourceIsRecorded() throws {
        let keyring = Keyring()
        keyring.add(address: "a.example.com", credential: Credential(username: "u"))
        XCTAssertEqual(keyring.get(resource: "a.example.com")?.source, "keyring")
        let files = try TemporaryDirectory()
        let path = try files.write("config.json", Fixtures.dockerConfig)
        let built = try KeyringBuilder(environment: [:]).disableDefaultConfig().fromConfigFiles(path).build()
        XCTAssertEqual(built.get(resource: "eu.gcr.io/x")?.source, "config:\(path)")
    }
}
