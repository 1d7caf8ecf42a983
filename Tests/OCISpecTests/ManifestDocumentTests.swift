import Foundation
import XCTest
import OCISpec

/// `ManifestDocument.decode`: dispatch on media type, sniffing, size limit.
final class ManifestDocumentTests: XCTestCase {
    let manifestJSON = #"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(Vectors.sha256EmptyJSON)","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"\#(Vectors.sha256ABC)","size":3}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(Vectors.sha256Empty)","size":0}}"#
    let indexJSON = #"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(Vectors.sha256ABC)","size":3,"platform":{"architecture":"amd64","os":"linux"}}]}"#
    let schema1JSON = #"{"schemaVersion":1,"name":"library/x","tag":"1","architecture":"amd64","fsLayers":[{"blobSum":"\#(Vectors.sha256ABC)"}],"history":[{"v1Compatibility":"{}"}]}"#

    func kind(_ doc: ManifestDocument) -> String {
        switch doc {
        case .manifest: return "manifest"
        case .index: return "index"
        case .schema1: return "schema1"
        }
    }

    func decode(_ json: String, _ mediaType: String) -> ManifestDocument? {
        do { return try ManifestDocument.decode(bytes(json), mediaType: mediaType) } catch {
            XCTFail("decode as \(mediaType.debugDescription) failed: \(error)")
            return nil
        }
    }

    func testDispatchOnDeclaredMediaType() {
        let rows: [(String, String, String)] = [
            (manifestJSON, MediaType.ociManifest, "manifest"),
            (manifestJSON, MediaType.dockerManifest, "manifest"),
            (indexJSON, MediaType.ociIndex, "index"),
            (indexJSON, MediaType.dockerManifestList, "index"),
            (schema1JSON, MediaType.dockerSchema1Manifest, "schema1"),
            (schema1JSON, MediaType.dockerSchema1SignedManifest, "schema1"),
        ]
        for (json, mt, expected) in rows {
            guard let doc = decode(json, mt) else { continue }
            XCTAssertEqual(kind(doc), expected, mt)
        }
    }

    func testSniffsMissingOrGenericMediaType() {
        let withType = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#
        let dockerWithType = #"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"x","digest":"\#(Vectors.sha256EmptyJSON)","size":2},"layers":[]}"#
        let signed = #"{"schemaVersion":1,"fsLayers":[],"history":[],"signatures":[{"protected":"e30"}]}"#
        let rows: [(String, String?, String)] = [
            (manifestJSON, MediaType.ociManifest, "manifest"),
            (indexJSON, MediaType.ociIndex, "index"),
            (schema1JSON, MediaType.dockerSchema1Manifest, "schema1"),
            (signed, MediaType.dockerSchema1SignedManifest, "schema1"),
            (withType, MediaType.ociIndex, "index"),
            (dockerWithType, MediaType.dockerManifest, "manifest"),
        ]
        for (json, sniffed, expected) in rows {
            XCTAssertEqual(ManifestDocument.sniffMediaType(bytes(json)), sniffed, json)
            for declared in ["", "application/octet-stream", "application/json", "text/plain", "application/vnd.oci.image.manifest.v1+json; charset=utf-8"] {
                guard let doc = decode(json, declared) else { continue }
                XCTAssertEqual(kind(doc), expected, "\(declared.debugDescription): \(json)")
            }
        }
        XCTAssertNil(ManifestDocument.sniffMediaType(bytes("{}")))
        XCTAssertNil(ManifestDocument.sniffMediaType(bytes("not json")))
        XCTAssertNil(ManifestDocument.sniffMediaType(bytes(#"{"schemaVersion":2}"#)))
    }

    func testDeclaredMediaTypeWins() {
        // Declared as an index, the body is a manifest: decoded as an index (with no children).
        guard let doc = decode(manifestJSON, MediaType.ociIndex) else { return }
        XCTAssertEqual(kind(doc), "index")
        XCTAssertEqual(doc.children, [])
        // Declared as a manifest, the body is an index: config is missing.
        let err = specError { () throws(SpecError) in try ManifestDocument.decode(bytes(indexJSON), mediaType: MediaType.ociManifest) }
        guard case .invalidJSON(let why)? = err else { return XCTFail("\(String(describing: err))") }
        XCTAssertTrue(why.contains("config"), why)
    }

    func testUnsupported() {
        for (json, mt) in [("{}", "application/octet-stream"), ("{}", ""), ("[1]", "text/plain"),
                           (#"{"mediaType":"application/vnd.oci.image.config.v1+json"}"#, "")] {
            let err = specError { () throws(SpecError) in try ManifestDocument.decode(bytes(json), mediaType: mt) }
            guard case .unsupportedMediaType(let reported)? = err else { return XCTFail("\(json) \(mt): \(String(describing: err))") }
            XCTAssertEqual(reported, mt)
        }
        let err = specError { () throws(SpecError) in try ManifestDocument.decode(bytes("not json"), mediaType: MediaType.ociManifest) }
        guard case .invalidJSON? = err else { return XCTFail("\(String(describing: err))") }
    }

    func testChildrenAndSubject() {
        guard let m = decode(manifestJSON, MediaType.ociManifest), let i = decode(indexJSON, ""),
              let s = decode(schema1JSON, "") else { return }
        XCTAssertEqual(m.children.map(\.digest.description), [Vectors.sha256EmptyJSON, Vectors.sha256ABC])
        XCTAssertEqual(m.subject?.digest.description, Vectors.sha256Empty)
        XCTAssertEqual(i.children.map(\.digest.description), [Vectors.sha256ABC])
        XCTAssertEqual(i.children.first?.platform, Platform(architecture: "amd64", os: "linux"))
        XCTAssertNil(i.subject)
        // schema1: its layers (sizes unknown), each once.
        XCTAssertEqual(s.children.map(\.digest.description), [Vectors.sha256ABC])
        XCTAssertEqual(s.children.map(\.size), [-1])
        XCTAssertNil(s.subject)
        guard case .schema1(let v1) = s else { return XCTFail("not schema1") }
        XCTAssertEqual(v1.schemaVersion, 1)
        XCTAssertEqual(v1.name, "library/x")
        XCTAssertEqual(v1.tag, "1")
        XCTAssertEqual(v1.architecture, "amd64")
        XCTAssertEqual(v1.fsLayers, [V1Manifest.FSLayer(blobSum: Vectors.digest(Vectors.sha256ABC))])
        XCTAssertEqual(v1.history, [V1Manifest.History(v1Compatibility: "{}")])
    }

    /// A valid manifest padded with trailing white space to exactly `size` bytes.
    func padded(_ json: String, to size: Int) -> [UInt8] {
        let b = bytes(json)
        return b + [UInt8](repeating: UInt8(ascii: " "), count: size - b.count)
    }

    func testSizeLimit() {
        let limit = 4 * 1024 * 1024
        XCTAssertEqual(ContentLimits.maxManifestBytes, limit)
        let atLimit = padded(manifestJSON, to: limit)
        XCTAssertEqual(atLimit.count, limit)
        XCTAssertNoThrow(try ManifestDocument.decode(atLimit, mediaType: MediaType.ociManifest), "exactly 4 MiB is accepted")

        let over = padded(manifestJSON, to: limit + 1)
        for mt in [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerSchema1Manifest, "", "application/octet-stream"] {
            let err = specError { () throws(SpecError) in try ManifestDocument.decode(over, mediaType: mt) }
            guard case .tooLarge(let l, let actual)? = err else { return XCTFail("\(mt): \(String(describing: err))") }
            XCTAssertEqual(l, limit)
            XCTAssertEqual(actual, limit + 1)
        }
        let huge = [UInt8](repeating: UInt8(ascii: "["), count: 5 * 1024 * 1024)
        let err = specError { () throws(SpecError) in try ManifestDocument.decode(huge, mediaType: MediaType.ociIndex) }
        guard case .tooLarge(_, let actual)? = err else { return XCTFail("\(String(describing: err))") }
        XCTAssertEqual(actual, 5 * 1024 * 1024)
    }
}
