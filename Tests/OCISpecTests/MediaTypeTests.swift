import XCTest
import OCISpec

/// F5: media-type constants byte-identical to Go's and to the OCI / Docker specs; the predicates' truth tables.
final class MediaTypeTests: XCTestCase {
    func testGoOCIClientConstantsAreByteIdentical() {
        let rows: [(String, String, String)] = [
            ("MediaTypeTarGzip", MediaType.tarGzip, "application/tar+gzip"),
            ("MediaTypeTar", MediaType.tar, "application/tar"),
            ("MediaTypeDockerV2Schema1Manifest", MediaType.dockerV2Schema1Manifest,
             "application/vnd.docker.distribution.manifest.v1+json"),
            ("MediaTypeDockerV2Schema1SignedManifest", MediaType.dockerV2Schema1SignedManifest,
             "application/vnd.docker.distribution.manifest.v1+prettyjws"),
            ("MediaTypeImageLayerZstd", MediaType.imageLayerZstd, "application/vnd.oci.image.layer.v1.tar+zstd"),
        ]
        for (goName, actual, expected) in rows {
            XCTAssertEqual(Array(actual.utf8), Array(expected.utf8), goName)
        }
        XCTAssertEqual(MediaType.defaultKnownMediaTypes, ["application/tar+gzip", "application/tar"])
    }

    func testSpecConstantsAreByteIdentical() {
        let rows: [(String, String)] = [
            (MediaType.ociManifest, "application/vnd.oci.image.manifest.v1+json"),
            (MediaType.ociIndex, "application/vnd.oci.image.index.v1+json"),
            (MediaType.ociConfig, "application/vnd.oci.image.config.v1+json"),
            (MediaType.ociLayout, "application/vnd.oci.layout.header.v1+json"),
            (MediaType.ociLayer, "application/vnd.oci.image.layer.v1.tar"),
            (MediaType.ociLayerGzip, "application/vnd.oci.image.layer.v1.tar+gzip"),
            (MediaType.ociLayerZstd, "application/vnd.oci.image.layer.v1.tar+zstd"),
            (MediaType.ociLayerNondistributable, "application/vnd.oci.image.layer.nondistributable.v1.tar"),
            (MediaType.ociLayerNondistributableGzip, "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"),
            (MediaType.ociLayerNondistributableZstd, "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"),
            (MediaType.ociEmpty, "application/vnd.oci.empty.v1+json"),
            (MediaType.dockerManifest, "application/vnd.docker.distribution.manifest.v2+json"),
            (MediaType.dockerManifestList, "application/vnd.docker.distribution.manifest.list.v2+json"),
            (MediaType.dockerConfig, "application/vnd.docker.container.image.v1+json"),
            (MediaType.dockerLayerGzip, "application/vnd.docker.image.rootfs.diff.tar.gzip"),
            (MediaType.dockerForeignLayerGzip, "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"),
            (MediaType.dockerSchema1Manifest, "application/vnd.docker.distribution.manifest.v1+json"),
            (MediaType.dockerSchema1SignedManifest, "application/vnd.docker.distribution.manifest.v1+prettyjws"),
        ]
        for (actual, expected) in rows {
            XCTAssertEqual(Array(actual.utf8), Array(expected.utf8), expected)
        }
    }

    /// (media type, single-arch, multi-arch, schema1)
    static let truthTable: [(String, Bool, Bool, Bool)] = [
        ("application/vnd.oci.image.manifest.v1+json", true, false, false),
        ("application/vnd.docker.distribution.manifest.v2+json", true, false, false),
        ("application/vnd.oci.image.index.v1+json", false, true, false),
        ("application/vnd.docker.distribution.manifest.list.v2+json", false, true, false),
        ("application/vnd.docker.distribution.manifest.v1+json", false, false, true),
        ("application/vnd.docker.distribution.manifest.v1+prettyjws", false, false, true),
        ("application/vnd.oci.image.config.v1+json", false, false, false),
        ("application/vnd.oci.image.layer.v1.tar+gzip", false, false, false),
        ("application/vnd.oci.empty.v1+json", false, false, false),
        ("application/tar+gzip", false, false, false),
        ("application/json", false, false, false),
        ("text/plain", false, false, false),
        ("", false, false, false),
        // Exact string compare: no case folding, no parameters, no white space.
        ("application/vnd.oci.image.manifest.v1+json; charset=utf-8", false, false, false),
        ("APPLICATION/VND.OCI.IMAGE.MANIFEST.V1+JSON", false, false, false),
        (" application/vnd.oci.image.index.v1+json", false, false, false),
        ("application/vnd.oci.image.index.v1+json ", false, false, false),
    ]

    func testPredicates() {
        for (mt, single, multi, schema1) in Self.truthTable {
            XCTAssertEqual(MediaType.isSingleArch(mt), single, "isSingleArch(\(mt.debugDescription))")
            XCTAssertEqual(MediaType.isMultiArch(mt), multi, "isMultiArch(\(mt.debugDescription))")
            XCTAssertEqual(MediaType.isSchema1(mt), schema1, "isSchema1(\(mt.debugDescription))")
            XCTAssertEqual(MediaType.isManifest(mt), single || multi || schema1, "isManifest(\(mt.debugDescription))")
            XCTAssertFalse(MediaType.isSingleArch(mt) && MediaType.isMultiArch(mt))
        }
    }

    /// containerd's resolver list, as the Go ociclient sends it (inventory §1.4), in its order: the Docker v2 and
    /// OCI manifest and index types by name, then `*/*` (which covers schema1).
    func testManifestAcceptListIsContainerdsList() {
        XCTAssertEqual(MediaType.manifestAccept, [
            MediaType.dockerManifest, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.ociIndex, "*/*",
        ])
        XCTAssertEqual(MediaType.manifestAccept.filter(MediaType.isManifest).count, 4)
        XCTAssertFalse(MediaType.manifestAccept.contains(where: MediaType.isSchema1))
    }

    func testNormaliseContentType() {
        let rows: [(String, String)] = [
            ("application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.manifest.v1+json"),
            ("application/vnd.oci.image.manifest.v1+json; charset=utf-8", "application/vnd.oci.image.manifest.v1+json"),
            ("  Application/JSON ;charset=utf-8", "application/json"),
            ("\tapplication/octet-stream \n", "application/octet-stream"),
            // "\r\n" is a single Character in Swift; it is white space all the same.
            ("\tapplication/octet-stream\r\n", "application/octet-stream"),
            ("\r\napplication/json", "application/json"),
            ("", ""),
            // No media type before the parameters: the result is empty, not the parameter.
            (";x=y", ""),
            (" ; charset=utf-8", ""),
        ]
        for (input, expected) in rows {
            XCTAssertEqual(MediaType.normalise(contentType: input), expected, input.debugDescription)
        }
    }

    /// The package-wide white-space trimmer (also used by OCICredentials for helper output and addresses).
    func testTrimmingWhitespace() {
        let rows: [(String, String)] = [
            ("  a b  ", "a b"),
            ("\t\na\n\t", "a"),
            ("a\r", "a"),
            ("\ra", "a"),
            ("a\r\n", "a"),
            ("\r\na", "a"),
            ("secret\r\n\r\n", "secret"),
            (" \r\n ", ""),
            ("", ""),
            ("a\u{00A0}", "a\u{00A0}"),
        ]
        for (input, expected) in rows {
            XCTAssertEqual(input.trimmingWhitespace(), expected, input.debugDescription)
        }
    }

    func testLimits() {
        XCTAssertEqual(ContentLimits.maxManifestBytes, 4_194_304)
    }
}
