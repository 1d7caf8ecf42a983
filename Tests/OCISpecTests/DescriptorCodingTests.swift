import Foundation
import XCTest
import OCISpec

/// Descriptor, Platform, Manifest and Index JSON: spec field names, unknown fields, OCI 1.1 fields.
final class DescriptorCodingTests: XCTestCase {
    let layerDigest = Vectors.sha256ABC
    let configDigest = Vectors.sha256EmptyJSON

    func testDescriptorDecodesEveryFieldAndToleratesUnknownOnes() throws {
        let json = """
        {
          "mediaType": "application/vnd.oci.image.manifest.v1+json",
          "digest": "\(layerDigest)",
          "size": 7023,
          "urls": ["https://cdn.example.com/blobs/x"],
          "annotations": {"org.opencontainers.image.title": "layer.tar", "k": "v"},
          "platform": {
            "architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1",
            "os.features": ["win32k"], "variant": "v1", "features": ["sse4"], "extra": true
          },
          "artifactType": "application/vnd.example+type",
          "data": "e30=",
          "unknownField": {"nested": [1, 2, {"x": null}]},
          "anotherOne": 3.5
        }
        """
        let d = try JSONCoding.decode(Descriptor.self, from: bytes(json))
        XCTAssertEqual(d.mediaType, MediaType.ociManifest)
        XCTAssertEqual(d.digest.description, layerDigest)
        XCTAssertEqual(d.size, 7023)
        XCTAssertEqual(d.urls, ["https://cdn.example.com/blobs/x"])
        XCTAssertEqual(d.annotations, ["org.opencontainers.image.title": "layer.tar", "k": "v"])
        XCTAssertEqual(d.title, "layer.tar")
        XCTAssertEqual(d.platform, Platform(architecture: "amd64", os: "windows", osVersion: "10.0.17763.1",
                                            osFeatures: ["win32k"], variant: "v1", features: ["sse4"]))
        XCTAssertEqual(d.artifactType, "application/vnd.example+type")
        XCTAssertEqual(d.data, Data("{}".utf8))

        // Deterministic re-encoding: sorted keys, spec key names, base64 data, unescaped slashes, no unknowns.
        let expected = #"{"annotations":{"k":"v","org.opencontainers.image.title":"layer.tar"},"artifactType":"application/vnd.example+type","data":"e30=","digest":"\#(layerDigest)","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{"architecture":"amd64","features":["sse4"],"os":"windows","os.features":["win32k"],"os.version":"10.0.17763.1","variant":"v1"},"size":7023,"urls":["https://cdn.example.com/blobs/x"]}"#
        XCTAssertEqual(string(try JSONCoding.encode(d)), expected)
        XCTAssertEqual(try JSONCoding.decode(Descriptor.self, from: try JSONCoding.encode(d)), d)
    }

    func testMinimalDescriptorOmitsNilFields() throws {
        let d = Descriptor(mediaType: MediaType.ociLayerGzip, digest: Vectors.digest(layerDigest), size: 3)
        XCTAssertEqual(string(try JSONCoding.encode(d)),
                       #"{"digest":"\#(layerDigest)","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":3}"#)
        XCTAssertNil(d.title)
        XCTAssertNil(d.urls)
        XCTAssertNil(d.annotations)
        XCTAssertNil(d.platform)
        XCTAssertNil(d.artifactType)
        XCTAssertNil(d.data)
    }

    func testDataIsBase64() throws {
        let payload: [UInt8] = [0, 1, 2, 0xFE, 0xFF] + bytes("hello/world+=")
        var d = Descriptor.of(payload, mediaType: "application/octet-stream")
        d.data = Data(payload)
        let encoded = string(try JSONCoding.encode(d))
        XCTAssertTrue(encoded.contains("\"data\":\"\(Data(payload).base64EncodedString())\""), encoded)
        let back = try JSONCoding.decode(Descriptor.self, from: bytes(encoded))
        XCTAssertEqual(back.data.map { [UInt8]($0) }, payload)
        XCTAssertEqual(back, d)

        let bad = #"{"mediaType":"x","digest":"\#(layerDigest)","size":1,"data":"not base64!"}"#
        XCTAssertNotNil(specError { () throws(SpecError) in try JSONCoding.decode(Descriptor.self, from: bytes(bad)) })
    }

    func testDescriptorRequiredFields() {
        let rows = [
            #"{"digest":"\#(layerDigest)","size":1}"#,
            #"{"mediaType":"x","size":1}"#,
            #"{"mediaType":"x","digest":"\#(layerDigest)"}"#,
            #"{"mediaType":"x","digest":"sha256:abc","size":1}"#,
            #"{"mediaType":"x","digest":"\#(layerDigest)","size":"1"}"#,
            #"[]"#,
            #"not json"#,
        ]
        for json in rows {
            let err = specError { () throws(SpecError) in try JSONCoding.decode(Descriptor.self, from: bytes(json)) }
            guard case .invalidJSON? = err else { return XCTFail("expected invalidJSON for \(json), got \(String(describing: err))") }
        }
        let missing = specError { () throws(SpecError) in
            try JSONCoding.decode(Descriptor.self, from: bytes(#"{"mediaType":"x","digest":"\#(layerDigest)"}"#))
        }
        if case .invalidJSON(let why)? = missing {
            XCTAssertTrue(why.contains("size"), why)
        } else {
            XCTFail("expected invalidJSON, got \(String(describing: missing))")
        }
    }

    func testDescriptorHelpers() {
        let d = Descriptor.of(bytes("abc"), mediaType: MediaType.ociLayer, annotations: [Annotation.title: "a.txt"])
        XCTAssertEqual(d.digest.description, Vectors.sha256ABC)
        XCTAssertEqual(d.size, 3)
        XCTAssertEqual(d.mediaType, MediaType.ociLayer)
        XCTAssertEqual(d.title, "a.txt")
        var full = d
        full.urls = ["https://x"]
        full.platform = Platform(architecture: "arm64", os: "linux")
        full.artifactType = "t"
        full.data = Data("abc".utf8)
        XCTAssertEqual(full.basic, Descriptor(mediaType: MediaType.ociLayer, digest: d.digest, size: 3))
        XCTAssertNotEqual(full, full.basic)
        XCTAssertEqual(Annotation.title, "org.opencontainers.image.title")
        XCTAssertEqual(Annotation.refName, "org.opencontainers.image.ref.name")
        XCTAssertEqual(Annotation.created, "org.opencontainers.image.created")
    }

    func testEmptyJSON() throws {
        XCTAssertEqual(EmptyJSON.bytes, [0x7B, 0x7D])
        XCTAssertEqual(EmptyJSON.digest.description, Vectors.sha256EmptyJSON)
        XCTAssertEqual(EmptyJSON.descriptor.mediaType, "application/vnd.oci.empty.v1+json")
        XCTAssertEqual(EmptyJSON.descriptor.digest.description, Vectors.sha256EmptyJSON)
        XCTAssertEqual(EmptyJSON.descriptor.size, 2)
        XCTAssertEqual(string(try JSONCoding.encode(EmptyJSON.descriptor)),
                       #"{"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","mediaType":"application/vnd.oci.empty.v1+json","size":2}"#)
    }

    // MARK: Manifest

    func testManifestDecodesOCI11Fields() throws {
        let json = """
        {
          "schemaVersion": 2,
          "mediaType": "application/vnd.oci.image.manifest.v1+json",
          "artifactType": "application/vnd.example.sbom.v1",
          "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": "\(configDigest)", "size": 2, "data": "e30="},
          "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "\(layerDigest)", "size": 3,
             "annotations": {"org.opencontainers.image.title": "a.tgz"}},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": "\(Vectors.sha512ABC)", "size": 4}
          ],
          "subject": {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "\(Vectors.sha256Empty)", "size": 99},
          "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
          "somethingNew": {"a": [1, 2, 3]},
          "x": null
        }
        """
        let m = try JSONCoding.decode(Manifest.self, from: bytes(json))
        XCTAssertEqual(m.schemaVersion, 2)
        XCTAssertEqual(m.mediaType, MediaType.ociManifest)
        XCTAssertEqual(m.artifactType, "application/vnd.example.sbom.v1")
        XCTAssertEqual(m.config.digest.description, configDigest)
        XCTAssertEqual(m.config.data, Data("{}".utf8))
        XCTAssertEqual(m.layers.map(\.digest.description), [layerDigest, Vectors.sha512ABC])
        XCTAssertEqual(m.layers[0].title, "a.tgz")
        XCTAssertEqual(m.subject?.digest.description, Vectors.sha256Empty)
        XCTAssertEqual(m.subject?.size, 99)
        XCTAssertEqual(m.annotations, [Annotation.created: "2024-01-01T00:00:00Z"])
        XCTAssertEqual(m.blobs.map(\.digest.description), [configDigest, layerDigest, Vectors.sha512ABC])

        let again = try JSONCoding.decode(Manifest.self, from: try JSONCoding.encode(m))
        XCTAssertEqual(again, m)
    }

    func testManifestDefaultsForMissingOptionalFields() throws {
        let json = #"{"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"\#(configDigest)","size":2}}"#
        let m = try JSONCoding.decode(Manifest.self, from: bytes(json))
        XCTAssertEqual(m.schemaVersion, 0)
        XCTAssertNil(m.mediaType)
        XCTAssertNil(m.artifactType)
        XCTAssertEqual(m.layers, [])
        XCTAssertNil(m.subject)
        XCTAssertNil(m.annotations)

        let noConfig = specError { () throws(SpecError) in
            try JSONCoding.decode(Manifest.self, from: bytes(#"{"schemaVersion":2,"layers":[]}"#))
        }
        guard case .invalidJSON(let why)? = noConfig else { return XCTFail("\(String(describing: noConfig))") }
        XCTAssertTrue(why.contains("config"), why)

        let badLayer = specError { () throws(SpecError) in
            try JSONCoding.decode(Manifest.self, from: bytes(
                #"{"config":{"mediaType":"x","digest":"\#(configDigest)","size":2},"layers":[{"mediaType":"x","digest":"sha256:nope","size":1}]}"#))
        }
        guard case .invalidJSON(let why2)? = badLayer else { return XCTFail("\(String(describing: badLayer))") }
        XCTAssertTrue(why2.contains("layers"), why2)
    }

    func testManifestEncodingIsExact() throws {
        let m = Manifest(config: EmptyJSON.descriptor, layers: [])
        XCTAssertEqual(m.schemaVersion, 2)
        XCTAssertEqual(m.mediaType, MediaType.ociManifest)
        XCTAssertEqual(string(try JSONCoding.encode(m)),
                       #"{"config":{"digest":"\#(configDigest)","mediaType":"application/vnd.oci.empty.v1+json","size":2},"layers":[],"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2}"#)
        let docker = Manifest(mediaType: MediaType.dockerManifest,
                              config: Descriptor(mediaType: MediaType.dockerConfig, digest: Vectors.digest(configDigest), size: 2),
                              layers: [Descriptor(mediaType: MediaType.dockerLayerGzip, digest: Vectors.digest(layerDigest), size: 3)])
        let text = string(try JSONCoding.encode(docker))
        XCTAssertTrue(text.hasSuffix(#""mediaType":"application/vnd.docker.distribution.manifest.v2+json","schemaVersion":2}"#), text)
        XCTAssertFalse(text.contains("subject"))
        XCTAssertFalse(text.contains("artifactType"))
        XCTAssertFalse(text.contains("annotations"))
    }

    // MARK: ImageIndex

    func testIndexDecodesPlatformsAndUnknownFields() throws {
        let json = """
        {
          "schemaVersion": 2,
          "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
          "manifests": [
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": "\(layerDigest)", "size": 525,
             "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": "\(Vectors.sha256Empty)", "size": 525,
             "platform": {"architecture": "amd64", "os": "windows", "os.version": "10.0.20348.2227", "os.features": ["a", "b"]}}
          ],
          "annotations": {"k": "v"},
          "artifactType": "application/x",
          "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "\(configDigest)", "size": 2},
          "future": [{}]
        }
        """
        let i = try JSONCoding.decode(ImageIndex.self, from: bytes(json))
        XCTAssertEqual(i.schemaVersion, 2)
        XCTAssertEqual(i.mediaType, MediaType.dockerManifestList)
        XCTAssertEqual(i.manifests.count, 2)
        XCTAssertEqual(i.manifests[0].platform, Platform(architecture: "arm", os: "linux", variant: "v7"))
        XCTAssertEqual(i.manifests[1].platform?.osVersion, "10.0.20348.2227")
        XCTAssertEqual(i.manifests[1].platform?.osFeatures, ["a", "b"])
        XCTAssertEqual(i.annotations, ["k": "v"])
        XCTAssertEqual(i.artifactType, "application/x")
        XCTAssertEqual(i.subject?.digest.description, configDigest)
        XCTAssertEqual(try JSONCoding.decode(ImageIndex.self, from: try JSONCoding.encode(i)), i)
    }

    func testIndexDefaultsAndEncoding() throws {
        let empty = try JSONCoding.decode(ImageIndex.self, from: bytes("{}"))
        XCTAssertEqual(empty.schemaVersion, 0)
        XCTAssertEqual(empty.manifests, [])
        XCTAssertNil(empty.mediaType)
        XCTAssertNil(empty.subject)

        let i = ImageIndex(manifests: [EmptyJSON.descriptor])
        XCTAssertEqual(string(try JSONCoding.encode(i)),
                       #"{"manifests":[{"digest":"\#(configDigest)","mediaType":"application/vnd.oci.empty.v1+json","size":2}],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}"#)
    }

    // MARK: Platform

    func testPlatformJSONKeys() throws {
        let p = Platform(architecture: "amd64", os: "windows", osVersion: "10.0", osFeatures: ["win32k"],
                         variant: nil, features: nil)
        XCTAssertEqual(string(try JSONCoding.encode(p)),
                       #"{"architecture":"amd64","os":"windows","os.features":["win32k"],"os.version":"10.0"}"#)
        let decoded = try JSONCoding.decode(Platform.self, from: bytes(#"{"os":"linux","architecture":"arm64","variant":"v8","osVersion":"ignored"}"#))
        XCTAssertEqual(decoded, Platform(architecture: "arm64", os: "linux", variant: "v8"))
        XCTAssertNil(decoded.osVersion, "only the spec key os.version is read")
        XCTAssertNotNil(specError { () throws(SpecError) in try JSONCoding.decode(Platform.self, from: bytes(#"{"os":"linux"}"#)) })
    }
}
