import XCTest
import OCIReference
import OCISpec

/// F2: `name`, `description` (Go `RefSpec.Name()` / `String()`), copies keep the digest value (Go `DeepCopy` bug).
final class ReferenceAccessorTests: XCTestCase {
    let digest = try! OCIDigest(parsing: digest64)

    func testNameAndDescription() throws {
        let rows: [(input: String, name: String, description: String, manifestReference: String?)] = [
            ("example.com/test:0.0.1", "example.com/test", "example.com/test:0.0.1", "0.0.1"),
            ("example.com/test@\(digest64)", "example.com/test", "example.com/test@\(digest64)", digest64),
            ("test", "index.docker.io/library/test", "index.docker.io/library/test:latest", "latest"),
            ("localhost:5000/a/b:c", "localhost:5000/a/b", "localhost:5000/a/b:c", "c"),
            ("host/a:t@\(digest64)", "index.docker.io/host/a", "index.docker.io/host/a@\(digest64)", digest64),
        ]
        for row in rows {
            let r = try parse(row.input)
            XCTAssertEqual(r.name, row.name, row.input)
            XCTAssertEqual(r.description, row.description, row.input)
            XCTAssertEqual("\(r)", row.description, row.input)
            XCTAssertEqual(r.manifestReference, row.manifestReference, row.input)
        }
    }

    /// Go's `String()` gives "" for a reference with neither tag nor digest; the Swift type deliberately gives the
    /// name (documented on `description`).
    func testBareNameDescription() throws {
        let bare = try parse("example.com/a", defaultTag: nil)
        XCTAssertEqual(bare.name, "example.com/a")
        XCTAssertEqual(bare.description, "example.com/a")
        XCTAssertNil(bare.manifestReference)
        let built = Reference(host: "h:1", repository: "r/s")
        XCTAssertEqual(built.description, "h:1/r/s")
        XCTAssertNil(built.tag)
        XCTAssertNil(built.digest)
    }

    func testTagWinsInDescriptionDigestInManifestReference() {
        let both = Reference(host: "example.com", repository: "a", tag: "t", digest: digest)
        XCTAssertEqual(both.description, "example.com/a:t", "Go String(): tag first")
        XCTAssertEqual(both.manifestReference, digest64, "requests address the digest when there is one")
    }

    func testWithDigestAndWithTagKeepValuesExactly() throws {
        let tagged = try parse("example.com/repo:1.0")
        let pinned = tagged.withDigest(digest)
        XCTAssertEqual(pinned.digest, digest)
        XCTAssertEqual(pinned.digest?.description, digest64, "not the hash of the digest string (Go DeepCopy bug)")
        XCTAssertNotEqual(pinned.digest, OCIDigest.of(Array(digest64.utf8)))
        XCTAssertNil(pinned.tag)
        XCTAssertEqual(pinned.host, "example.com")
        XCTAssertEqual(pinned.repository, "repo")
        XCTAssertEqual(pinned.description, "example.com/repo@\(digest64)")

        let retagged = pinned.withTag("2.0")
        XCTAssertEqual(retagged.tag, "2.0")
        XCTAssertNil(retagged.digest)
        XCTAssertEqual(retagged.description, "example.com/repo:2.0")

        let bare = pinned.repositoryOnly
        XCTAssertNil(bare.tag)
        XCTAssertNil(bare.digest)
        XCTAssertEqual(bare.name, pinned.name)

        // A copy (Go DeepCopy) is equal, digest included.
        let original = try parse("example.com/repo@\(digest64)")
        var copy = original
        XCTAssertEqual(copy, original)
        XCTAssertEqual(copy.digest, digest)
        copy.tag = "x"
        XCTAssertNil(original.tag, "value semantics")
        XCTAssertEqual(Set([original, original.withDigest(digest)]).count, 1)
    }

    func testEndpointHost() throws {
        let rows: [(String, String)] = [
            ("test", "registry-1.docker.io"),
            ("docker.io/foo", "registry-1.docker.io"),
            ("index.docker.io/foo/bar:1", "registry-1.docker.io"),
            ("example.com/a", "example.com"),
            ("localhost:5000/a", "localhost:5000"),
        ]
        for (input, endpoint) in rows {
            XCTAssertEqual(try parse(input).endpointHost, endpoint, input)
        }
        XCTAssertEqual(Reference(host: "registry-1.docker.io", repository: "library/x").endpointHost, "registry-1.docker.io")
        XCTAssertEqual(Reference(host: "Docker.IO", repository: "library/x").endpointHost, "registry-1.docker.io")
        XCTAssertEqual(DockerHub.canonicalHost, "index.docker.io")
        XCTAssertEqual(DockerHub.apiHost, "registry-1.docker.io")
        for h in ["docker.io", "index.docker.io", "registry-1.docker.io", "INDEX.DOCKER.IO"] {
            XCTAssertTrue(DockerHub.isDockerHub(h), h)
        }
        for h in ["docker.io:443", "hub.docker.com", "example.com", "mydocker.io", ""] {
            XCTAssertFalse(DockerHub.isDockerHub(h), h)
        }
    }

    func testErrorDescriptionsCarryTheGoPrefix() {
        let errors: [ReferenceError] = [
            .empty, .invalidDigest("r", "why"), .invalidTag("r"), .invalidHost("r"), .invalidRepository("r"),
            .uppercaseRepository("r"), .hexIdentifier("r"), .nameTooLong("r"),
        ]
        for e in errors {
            XCTAssertTrue(e.description.hasPrefix("unable to parse ref"), e.description)
        }
        XCTAssertTrue(ReferenceError.hexIdentifier("r").description.contains("64-byte hexadecimal"))
    }
}
