import Foundation
import OCIContent
import OCILayout
import OCISpec
import OCITestFixtures
import XCTest

/// index.json written by other tools: unknown fields survive rewrites.
final class LayoutIndexFileTests: XCTestCase {
    private var tmp: TemporaryDirectory!

    override func setUpWithError() throws { tmp = try TemporaryDirectory() }
    override func tearDown() { tmp?.remove() }

    private func jsonObject(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func testUnknownFieldsAreKept() async throws {
        let dir = tmp.sub("layout")
        try FileManager.default.createDirectory(atPath: dir + "/blobs/sha256", withIntermediateDirectories: true)
        try Data(#"{"imageLayoutVersion": "1.0.0", "x-extra": 1}"#.utf8).write(to: URL(fileURLWithPath: dir + "/oci-layout"))
        let manifestBytes = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.utf8)
        let existing = OCIDigest.of(manifestBytes)
        try Data(manifestBytes).write(to: URL(fileURLWithPath: dir + "/blobs/sha256/" + existing.encoded))
        let indexJSON = """
        {
          "schemaVersion": 2,
          "x-top": {"list": [1, 2.5, true, null, "s"], "big": 9007199254740993},
          "annotations": {"org.example.note": "kept"},
          "manifests": [
            {
              "mediaType": "application/vnd.oci.image.index.v1+json",
              "digest": "\(existing)",
              "size": \(manifestBytes.count),
              "x-entry": {"nested": [false]},
              "annotations": {"org.opencontainers.image.ref.name": "old", "org.example.a": "b"}
            }
          ]
        }
        """
        try Data(indexJSON.utf8).write(to: URL(fileURLWithPath: dir + "/index.json"))

        let store = try OCILayoutStore(path: dir, create: false)
        let index = await store.index()
        XCTAssertEqual(index.annotations, ["org.example.note": "kept"])
        XCTAssertNil(index.mediaType)
        let old = try await store.resolve("old")
        XCTAssertEqual(old.digest, existing)
        XCTAssertEqual(old.annotations, ["org.example.a": "b"])

        // Rewrite index.json by adding a tag.
        let d = Descriptor(mediaType: MediaType.ociIndex, digest: existing, size: Int64(manifestBytes.count))
        try await store.tag(d, as: "new")
        let raw = try String(contentsOfFile: dir + "/index.json", encoding: .utf8)
        XCTAssertTrue(raw.contains("9007199254740993"), "integers stay exact: \(raw)")
        XCTAssertTrue(raw.contains(#"[1,2.5,true,null,"s"]"#), "values keep their JSON types: \(raw)")
        let object = try jsonObject(dir + "/index.json")
        let top = try XCTUnwrap(object["x-top"] as? [String: Any])
        XCTAssertEqual((top["list"] as? [Any])?.count, 5)
        XCTAssertEqual((top["list"] as? [Any])?[1] as? Double, 2.5)
        XCTAssertEqual(object["schemaVersion"] as? Int, 2)
        XCTAssertNil(object["mediaType"], "no field is invented")
        let entries = try XCTUnwrap(object["manifests"] as? [[String: Any]])
        XCTAssertEqual(entries.count, 2)
        XCTAssertNotNil(entries[0]["x-entry"] as? [String: Any])
        XCTAssertEqual((entries[0]["annotations"] as? [String: String])?[Annotation.refName], "old")
        XCTAssertEqual((entries[1]["annotations"] as? [String: String])?[Annotation.refName], "new")
        XCTAssertEqual(entries[1]["size"] as? Int, manifestBytes.count)
        let tags = try await store.tags()
        XCTAssertEqual(tags, ["new", "old"])
        XCTAssertEqual(fileBytes(dir + "/oci-layout"), Array(#"{"imageLayoutVersion": "1.0.0", "x-extra": 1}"#.utf8))
    }

    func testIndexReflectsOtherWriters() async throws {
        let dir = tmp.sub("layout")
        let store = try OCILayoutStore(path: dir)
        let other = try OCILayoutStore(path: dir, create: false)
        let bytes = Array(#"{"schemaVersion":2,"manifests":[]}"#.utf8)
        let d = Descriptor.of(bytes, mediaType: MediaType.ociIndex)
        try await other.push(d, content: ByteStream(bytes: bytes))
        try await other.tag(d, as: "x")
        let seen = try await store.resolve("x")
        XCTAssertEqual(seen, d)
        let index4 = await store.index()
        XCTAssertEqual(index4.manifests.map(\.digest), [d.digest])
    }
}
