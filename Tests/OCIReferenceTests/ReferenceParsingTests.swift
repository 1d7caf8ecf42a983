import XCTest
import OCIReference
import OCISpec

/// F1: reference normalisation (Go: `oci.ParseRef`, containerd `ParseDockerRef`).
final class ReferenceParsingTests: XCTestCase {
    struct Row {
        let input: String
        let host: String
        let repository: String
        let tag: String?
        let digest: String?
        init(_ input: String, _ host: String, _ repository: String, tag: String? = nil, digest: String? = nil) {
            self.input = input
            self.host = host
            self.repository = repository
            self.tag = tag
            self.digest = digest
        }
    }

    func check(_ rows: [Row], file: StaticString = #filePath, line: UInt = #line) {
        for row in rows {
            do {
                let r = try Reference(parsing: row.input)
                XCTAssertEqual(r.host, row.host, "host of \(row.input)", file: file, line: line)
                XCTAssertEqual(r.repository, row.repository, "repository of \(row.input)", file: file, line: line)
                XCTAssertEqual(r.tag, row.tag, "tag of \(row.input)", file: file, line: line)
                XCTAssertEqual(r.digest?.description, row.digest, "digest of \(row.input)", file: file, line: line)
            } catch {
                XCTFail("\(row.input.debugDescription) was rejected: \(error)", file: file, line: line)
            }
        }
    }

    /// The six rows of the Go `ParseRef` test table (inventory §1.7).
    func testGoParseRefTable() {
        check([
            Row("example.com/test:0.0.1", "example.com", "test", tag: "0.0.1"),
            Row("example.com/test@\(digest64)", "example.com", "test", digest: digest64),
            Row("test:0.0.1", "index.docker.io", "library/test", tag: "0.0.1"),
            Row("example.com/test", "example.com", "test", tag: "latest"),
            Row("test", "index.docker.io", "library/test", tag: "latest"),
            Row("https://example.com/test:0.0.1", "example.com", "test", tag: "0.0.1"),
        ])
    }

    /// The extra F1 cases.
    func testF1ExtraCases() {
        check([
            // An uppercase domain is accepted and kept as written.
            Row("Example.COM/foo:1", "Example.COM", "foo", tag: "1"),
            Row("REGISTRY.example.com:5000/foo/bar", "REGISTRY.example.com:5000", "foo/bar", tag: "latest"),
            // Docker Hub spellings.
            Row("docker.io/foo", "index.docker.io", "library/foo", tag: "latest"),
            Row("index.docker.io/foo/bar:1", "index.docker.io", "foo/bar", tag: "1"),
            Row("index.docker.io/ubuntu", "index.docker.io", "library/ubuntu", tag: "latest"),
            Row("docker.io/library/ubuntu:22.04", "index.docker.io", "library/ubuntu", tag: "22.04"),
            Row("foo/bar", "index.docker.io", "foo/bar", tag: "latest"),
            // localhost is a registry host even without a dot or port.
            Row("localhost/foo", "localhost", "foo", tag: "latest"),
            Row("localhost:5000/foo:1", "localhost:5000", "foo", tag: "1"),
            // OCIDigest references: the tag is nil; with both, only the digest is kept.
            Row("host:5000/a/b@\(digest64)", "host:5000", "a/b", digest: digest64),
            Row("host/a:t@\(digest64)", "index.docker.io", "host/a", digest: digest64),
            Row("host.example.com/a:t@\(digest64)", "host.example.com", "a", digest: digest64),
            Row("registry.example.com:443/a/b:v1@\(digest64)", "registry.example.com:443", "a/b", digest: digest64),
            // A scheme is stripped.
            Row("oci://host/a:1", "index.docker.io", "host/a", tag: "1"),
            Row("oci://example.com/a:1", "example.com", "a", tag: "1"),
            Row("http://localhost:5000/a:1", "localhost:5000", "a", tag: "1"),
            Row("https://index.docker.io/foo", "index.docker.io", "library/foo", tag: "latest"),
        ])
    }

    func testMoreValidReferences() {
        check([
            Row("127.0.0.1:5000/a:1", "127.0.0.1:5000", "a", tag: "1"),
            Row("example.com/a/b/c/d:V1_x.y-Z", "example.com", "a/b/c/d", tag: "V1_x.y-Z"),
            Row("example.com/a__b/c-d/e.f/g_h/i---j:_t", "example.com", "a__b/c-d/e.f/g_h/i---j", tag: "_t"),
            Row("example.com/test@\(Vectors.sha512)", "example.com", "test", digest: Vectors.sha512),
            Row("example.com/test@\(Vectors.sha384)", "example.com", "test", digest: Vectors.sha384),
            // A single uppercase first component is a domain (containerd's splitDockerDomain).
            Row("Foo/bar", "Foo", "bar", tag: "latest"),
            // A name that looks like host:port but has no path is repository:tag on Docker Hub.
            Row("localhost:5000", "index.docker.io", "library/localhost", tag: "5000"),
            Row("localhost", "index.docker.io", "library/localhost", tag: "latest"),
            Row("my-registry.example.com:5000/team/app:1.2.3-rc.1", "my-registry.example.com:5000", "team/app", tag: "1.2.3-rc.1"),
            // Tag of exactly 128 characters.
            Row("example.com/a:" + String(repeating: "x", count: 128), "example.com", "a", tag: String(repeating: "x", count: 128)),
            // Bracketed IPv6 hosts are accepted (deliberate: the Swift grammar supports them).
            Row("[::1]:5000/a:1", "[::1]:5000", "a", tag: "1"),
            Row("[fe80::1]/a", "[fe80::1]", "a", tag: "latest"),
        ])
    }

    /// Go (containerd 1.6 `ParseNormalizedNamed`) rejects only an input that is *entirely* 64 hex characters;
    /// the same hex string as a Docker Hub repository with a tag, a digest or an explicit `docker.io/` is accepted.
    func testHexIdentifierOnlyRejectedAlone() {
        XCTAssertEqual(referenceError(hex64), .hexIdentifier(hex64))
        XCTAssertEqual(referenceError("oci://" + hex64), .hexIdentifier("oci://" + hex64))
        check([
            Row(hex64 + ":1", "index.docker.io", "library/" + hex64, tag: "1"),
            Row(hex64 + "@" + digest64, "index.docker.io", "library/" + hex64, digest: digest64),
            Row("docker.io/" + hex64, "index.docker.io", "library/" + hex64, tag: "latest"),
            Row("example.com/" + hex64, "example.com", hex64, tag: "latest"),
            Row("foo/" + hex64, "index.docker.io", "foo/" + hex64, tag: "latest"),
            Row(String(hex64.dropLast()), "index.docker.io", "library/" + String(hex64.dropLast()), tag: "latest"),
        ])
    }

    func testUppercaseRepositoryIsRejected() {
        for input in ["example.com/Foo:1", "example.com/foo/Bar", "FOO", "foo/Bar", "localhost:5000/Foo", "docker.io/Foo",
                      "Example.com/Foo:1", "example.com/Foo@\(digest64)"] {
            let e = referenceError(input)
            XCTAssertEqual(e, .uppercaseRepository(input), input)
            XCTAssertTrue(e?.description.contains("repository name must be lowercase") ?? false, "\(String(describing: e))")
            XCTAssertTrue(e?.description.hasPrefix("unable to parse ref") ?? false, "\(String(describing: e))")
        }
    }

    func testInvalidReferences() {
        let rows: [(String, String)] = [
            ("", "empty"),
            ("oci://", "empty"),
            ("https://", "empty"),
            // Tags
            ("a:t!", "invalidTag"),
            ("a:", "invalidTag"),
            ("a:-x", "invalidTag"),
            ("a:.x", "invalidTag"),
            ("a:t+1", "invalidTag"),
            ("example.com/a:" + String(repeating: "x", count: 129), "invalidTag"),
            ("example.com/a:t@\(digest64)x", "invalidDigest"),
            ("a:bad tag", "invalidTag"),
            // Repository paths
            ("a//b", "invalidRepository"),
            ("a/", "invalidRepository"),
            ("/a", "invalidRepository"),
            ("example.com/", "invalidRepository"),
            ("example.com//a", "invalidRepository"),
            ("a___b", "invalidRepository"),
            ("a.-b", "invalidRepository"),
            ("-a", "invalidRepository"),
            ("a-", "invalidRepository"),
            ("a..b", "invalidRepository"),
            ("a b", "invalidRepository"),
            ("example.com/a$b:1", "invalidRepository"),
            ("@\(digest64)", "invalidRepository"),
            // A 64-hex identifier alone
            (hex64, "hexIdentifier"),
            // Hosts
            ("host:abc/a:1", "invalidHost"),
            ("host:/a", "invalidHost"),
            ("host:5000x/a", "invalidHost"),
            ("-host.com/a", "invalidHost"),
            ("host-.com/a", "invalidHost"),
            ("host..com/a", "invalidHost"),
            (".host.com/a", "invalidHost"),
            ("[::1/a", "invalidHost"),
            ("[]:5000/a", "invalidHost"),
            ("[::1]x/a", "invalidHost"),
            ("[::1]:/a", "invalidHost"),
            ("[::1]:50a/a", "invalidHost"),
            ("[::g]/a", "invalidHost"),
            // Digests
            ("a@sha256:abc", "invalidDigest"),
            ("a@b@c", "invalidDigest"),
            ("a@md5:d41d8cd98f00b204e9800998ecf8427e", "invalidDigest"),
            ("a@sha256:" + hex64.uppercased(), "invalidDigest"),
            ("a@", "invalidDigest"),
        ]
        for (input, expected) in rows {
            XCTAssertEqual(caseName(referenceError(input)), expected, input.debugDescription)
        }
        XCTAssertEqual(referenceError(""), .empty)
        XCTAssertEqual(referenceError("a:t!"), .invalidTag("a:t!"))
        XCTAssertEqual(referenceError("a//b"), .invalidRepository("a//b"))
        XCTAssertEqual(referenceError("host:abc/a:1"), .invalidHost("host:abc/a:1"))
        if case .invalidDigest(let ref, let why)? = referenceError("a@sha256:abc") {
            XCTAssertEqual(ref, "a@sha256:abc")
            XCTAssertTrue(why.contains("sha256:abc"), why)
        } else {
            XCTFail("expected invalidDigest")
        }
    }

    /// Host names and IPv6 literals are ASCII: fullwidth hex digits (which `Character.isHexDigit` accepts) are not.
    func testNonASCIIHostIsRejected() {
        for input in ["[ｆｅ８０::1]/a:1", "[::１]:5000/a", "[::1]:５０００/a", "exämple.com/a", "host:５０００/a"] {
            XCTAssertEqual(caseName(referenceError(input)), "invalidHost", input)
        }
    }

    func testNameLengthLimit() throws {
        // host + "/" + path ≤ 255
        let ok = "example.com/" + String(repeating: "a", count: 243)
        XCTAssertEqual(ok.count, 255)
        XCTAssertEqual(try parse(ok).name.count, 255)
        let long = "example.com/" + String(repeating: "a", count: 244)
        XCTAssertEqual(referenceError(long), .nameTooLong(long))
        XCTAssertTrue(ReferenceError.nameTooLong(long).description.contains("255"))
        // Docker Hub counts as "docker.io/library/…" (18 characters), like containerd.
        let hubOK = String(repeating: "b", count: 237)
        XCTAssertEqual(try parse(hubOK).repository, "library/" + hubOK)
        let hubLong = String(repeating: "b", count: 238)
        XCTAssertEqual(referenceError(hubLong), .nameTooLong(hubLong))
        // The tag does not count.
        XCTAssertNoThrow(try parse(ok + ":" + String(repeating: "t", count: 128)))
    }

    func testDefaultTag() throws {
        let bare = try parse("example.com/a", defaultTag: nil)
        XCTAssertNil(bare.tag)
        XCTAssertNil(bare.digest)
        XCTAssertEqual(try parse("example.com/a", defaultTag: "stable").tag, "stable")
        XCTAssertEqual(try parse("example.com/a:1", defaultTag: "stable").tag, "1")
        XCTAssertEqual(try parse("example.com/a:1", defaultTag: nil).tag, "1")
        let byDigest = try parse("example.com/a@\(digest64)", defaultTag: "stable")
        XCTAssertNil(byDigest.tag)
        XCTAssertEqual(byDigest.digest?.description, digest64)
        XCTAssertEqual(try parse("example.com/a").tag, "latest", "the default is latest")
    }

    func testIsValidTag() {
        for tag in ["latest", "v1.0", "1", "_", "A", "a-b_c.d", "V1__2--3..4", String(repeating: "z", count: 128)] {
            XCTAssertTrue(Reference.isValidTag(tag), tag)
        }
        for tag in ["", "-a", ".a", "a/b", "a+b", "a:b", "a@b", "a b", "é", String(repeating: "z", count: 129)] {
            XCTAssertFalse(Reference.isValidTag(tag), tag.debugDescription)
        }
    }

    func testParsingIsIdempotent() throws {
        for input in ["test", "example.com/test:0.0.1", "example.com/test@\(digest64)", "localhost:5000/a/b:c",
                      "docker.io/foo", "index.docker.io/foo/bar:1", "host/a:t@\(digest64)", "[::1]:5000/a:1"] {
            let once = try parse(input)
            let twice = try parse(once.description)
            XCTAssertEqual(twice, once, input)
        }
    }
}

enum Vectors {
    static let sha384 = "sha384:" + String(repeating: "0123456789abcdef", count: 6)
    static let sha512 = "sha512:" + String(repeating: "0123456789abcdef", count: 8)
}
