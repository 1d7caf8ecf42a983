import XCTest
import OCIGoCompat
import OCIKit
import OCIReference
import OCISpec

/// F3–F6: the Go package-level helpers.
final class OCIHelpersTests: XCTestCase {
    // MARK: F3 parseImageRef

    func testParseImageRef() throws {
        let rows: [(String, String, String)] = [
            ("a/b:1", "a/b", "1"),
            ("h:5000/a:1", "h:5000/a", "1"),
            ("a@sha256:x", "a", "sha256:x"),
            ("repo:tag@\(digest64)", "repo:tag", digest64),
            ("h:5000/a/b@\(digest64)", "h:5000/a/b", digest64),
            ("a:b:c", "a:b", "c"),
            ("example.com/test:0.0.1", "example.com/test", "0.0.1"),
            // Go quirks, kept on purpose (decision recorded here): a host:port without a tag is split at the port
            // colon, and a bare repository has an empty repository part.
            ("h:5000/a", "h", "5000/a"),
            ("a", "", "a"),
            ("", "", ""),
            ("a:", "a", ""),
            ("a@", "a", ""),
            ("@b", "", "b"),
        ]
        for (input, repository, version) in rows {
            let (r, v) = try OCIHelpers.parseImageRef(input)
            XCTAssertEqual(r, repository, "repository of \(input.debugDescription)")
            XCTAssertEqual(v, version, "version of \(input.debugDescription)")
        }
    }

    func testParseImageRefErrors() {
        let rows: [(String, String)] = [
            ("a@b@c", "invalid image reference \"a@b@c\", expected only 1 char of '@'"),
            ("a@@b", "invalid image reference \"a@@b\", expected only 1 char of '@'"),
            ("a:b:c:d", "invalid image reference \"a:b:c:d\", expected maximum 3 chars of ':'"),
            ("h:5000/a:b:c", "invalid image reference \"h:5000/a:b:c\", expected maximum 3 chars of ':'"),
        ]
        for (input, message) in rows {
            do {
                let result = try OCIHelpers.parseImageRef(input)
                XCTFail("\(input) parsed as \(result)")
            } catch {
                guard case .invalidArgument(let why) = error else { return XCTFail("\(input): \(error)") }
                XCTAssertEqual(why, message)
                XCTAssertEqual(error.description, message)
            }
        }
    }

    // MARK: F4 tagIsDigest

    func testTagIsDigest() {
        let sha256 = "sha256:" + String(repeating: "0123456789abcdef", count: 4)
        let sha384 = "sha384:" + String(repeating: "0123456789abcdef", count: 6)
        let sha512 = "sha512:" + String(repeating: "0123456789abcdef", count: 8)
        for tag in [sha256, sha384, sha512, digest64] {
            XCTAssertTrue(OCIHelpers.tagIsDigest(tag), tag)
        }
        let falseRows = [
            "v1.0", "latest", "", "sha256", "sha256:",
            sha256.uppercased(), "sha256:" + hex64.uppercased(),
            String(sha256.dropLast()), sha256 + "0", "sha384:" + hex64, "sha512:" + hex64, "sha256:" + String(repeating: "0", count: 96),
            "md5:d41d8cd98f00b204e9800998ecf8427e", "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
            hex64, ":" + hex64, " " + sha256, sha256 + " ",
        ]
        for tag in falseRows {
            XCTAssertFalse(OCIHelpers.tagIsDigest(tag), tag.debugDescription)
        }
    }

    // MARK: F5 predicates

    func testArchPredicates() {
        let rows: [(String, Bool, Bool)] = [
            ("application/vnd.oci.image.manifest.v1+json", true, false),
            ("application/vnd.docker.distribution.manifest.v2+json", true, false),
            ("application/vnd.oci.image.index.v1+json", false, true),
            ("application/vnd.docker.distribution.manifest.list.v2+json", false, true),
            // schema1 is neither
            ("application/vnd.docker.distribution.manifest.v1+json", false, false),
            ("application/vnd.docker.distribution.manifest.v1+prettyjws", false, false),
            ("application/vnd.oci.image.config.v1+json", false, false),
            ("application/vnd.oci.image.layer.v1.tar+zstd", false, false),
            ("application/tar+gzip", false, false),
            ("application/tar", false, false),
            ("", false, false),
            ("application/vnd.oci.image.index.v1+json; charset=utf-8", false, false),
            ("Application/vnd.oci.image.manifest.v1+json", false, false),
        ]
        for (mt, single, multi) in rows {
            XCTAssertEqual(OCIHelpers.isSingleArchImage(mt), single, "isSingleArchImage(\(mt.debugDescription))")
            XCTAssertEqual(OCIHelpers.isMultiArchImage(mt), multi, "isMultiArchImage(\(mt.debugDescription))")
        }
        XCTAssertEqual(MediaType.tarGzip, "application/tar+gzip")
        XCTAssertEqual(MediaType.tar, "application/tar")
        XCTAssertEqual(MediaType.dockerV2Schema1Manifest, "application/vnd.docker.distribution.manifest.v1+json")
        XCTAssertEqual(MediaType.dockerV2Schema1SignedManifest, "application/vnd.docker.distribution.manifest.v1+prettyjws")
        XCTAssertEqual(MediaType.imageLayerZstd, "application/vnd.oci.image.layer.v1.tar+zstd")
    }

    // MARK: F6 layer lookups

    func layer(_ content: String, _ mediaType: String, title: String? = nil, extra: [String: String] = [:]) -> Descriptor {
        var annotations = extra
        if let title { annotations[Annotation.title] = title }
        return Descriptor.of(Array(content.utf8), mediaType: mediaType, annotations: annotations.isEmpty ? nil : annotations)
    }

    lazy var layers: [Descriptor] = [
        layer("one", MediaType.tarGzip, title: "a.tgz"),
        layer("two", MediaType.tar, title: "b.tar"),
        layer("three", MediaType.tarGzip, title: "a.tgz", extra: ["k": "second a"]),
        layer("one", MediaType.ociLayerGzip),                            // same digest as the first, no title
        layer("four", MediaType.tar, extra: ["name": "c.tar"]),           // a non-title annotation does not count
        layer("five", MediaType.tarGzip, title: ""),
    ]

    func testLayerNamed() {
        XCTAssertEqual(OCIHelpers.layer(named: "a.tgz", in: layers), layers[0], "first match")
        XCTAssertEqual(OCIHelpers.layer(named: "b.tar", in: layers), layers[1])
        XCTAssertEqual(OCIHelpers.layer(named: "", in: layers), layers[5], "an empty title is still a title")
        XCTAssertNil(OCIHelpers.layer(named: "c.tar", in: layers), "only org.opencontainers.image.title matches")
        XCTAssertNil(OCIHelpers.layer(named: "A.TGZ", in: layers), "exact match")
        XCTAssertNil(OCIHelpers.layer(named: "missing", in: layers))
        XCTAssertNil(OCIHelpers.layer(named: "a.tgz", in: []))
    }

    func testLayersWithMediaType() {
        XCTAssertEqual(OCIHelpers.layers(withMediaType: MediaType.tarGzip, in: layers), [layers[0], layers[2], layers[5]])
        XCTAssertEqual(OCIHelpers.layers(withMediaType: MediaType.tar, in: layers), [layers[1], layers[4]])
        XCTAssertEqual(OCIHelpers.layers(withMediaType: MediaType.ociLayerGzip, in: layers), [layers[3]])
        XCTAssertEqual(OCIHelpers.layers(withMediaType: "application/x-none", in: layers), [])
        XCTAssertEqual(OCIHelpers.layers(withMediaType: "application/TAR", in: layers), [], "exact match")
        XCTAssertEqual(OCIHelpers.layers(withMediaType: MediaType.tar, in: []), [])
    }

    func testLayersWithDigest() {
        let one = OCIDigest.of(Array("one".utf8)).description
        XCTAssertEqual(OCIHelpers.layers(withDigest: one, in: layers), [layers[0], layers[3]], "every match, in order")
        XCTAssertEqual(OCIHelpers.layers(withDigest: layers[1].digest.description, in: layers), [layers[1]])
        XCTAssertEqual(OCIHelpers.layers(withDigest: Vectors.sha512, in: layers), [])
        XCTAssertEqual(OCIHelpers.layers(withDigest: one.uppercased(), in: layers), [], "string compare")
        XCTAssertEqual(OCIHelpers.layers(withDigest: "not a digest", in: layers), [])
        XCTAssertEqual(OCIHelpers.layers(withDigest: one, in: []), [])
    }

    // MARK: CreateDescriptorFromManifest

    func testDescriptorForManifest() throws {
        let config = Descriptor.of(Array("{}".utf8), mediaType: MediaType.ociConfig)
        let m = Manifest(schemaVersion: 0, config: config, layers: [layer("one", MediaType.ociLayerGzip, title: "x")])
        let (desc, bytes) = try OCIHelpers.descriptor(for: m)
        XCTAssertEqual(m.schemaVersion, 0, "the argument is not changed")
        XCTAssertEqual(desc.mediaType, MediaType.ociManifest)
        XCTAssertEqual(desc.digest, OCIDigest.of(bytes))
        XCTAssertEqual(desc.digest.algorithm, .sha256)
        XCTAssertEqual(desc.size, Int64(bytes.count))
        XCTAssertNil(desc.annotations)
        let text = String(decoding: bytes, as: UTF8.self)
        XCTAssertTrue(text.contains("\"schemaVersion\":2"), text)
        var decoded = try JSONCoding.decode(Manifest.self, from: bytes)
        XCTAssertEqual(decoded.schemaVersion, 2)
        decoded.schemaVersion = 0
        XCTAssertEqual(decoded, m)
        // Deterministic, and the bytes are exactly JSONCoding's encoding.
        XCTAssertEqual(try OCIHelpers.descriptor(for: m).bytes, bytes)
        var two = m
        two.schemaVersion = 2
        XCTAssertEqual(try OCIHelpers.descriptor(for: two).bytes, bytes)
        XCTAssertEqual(try JSONCoding.encode(two), bytes)
        // Other schema versions are kept.
        var three = m
        three.schemaVersion = 3
        XCTAssertTrue(String(decoding: try OCIHelpers.descriptor(for: three).bytes, as: UTF8.self).contains("\"schemaVersion\":3"))
    }
}
