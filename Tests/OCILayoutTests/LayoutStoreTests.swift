import Foundation
import OCIContent
import OCILayout
import OCISpec
import OCITestFixtures
import XCTest

/// Opening layouts, and the push / fetch / resolve / tag / delete round trip.
final class LayoutStoreTests: XCTestCase {
    private var tmp: TemporaryDirectory!

    override func setUpWithError() throws { tmp = try TemporaryDirectory() }
    override func tearDown() { tmp?.remove() }

    func testCreatesLayoutFiles() async throws {
        let dir = tmp.sub("new/nested")
        let store = try OCILayoutStore(path: dir)
        XCTAssertEqual(store.path, dir)
        XCTAssertEqual(fileBytes(dir + "/oci-layout"), Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        let index = await store.index()
        XCTAssertEqual(index.schemaVersion, 2)
        XCTAssertEqual(index.mediaType, MediaType.ociIndex)
        XCTAssertEqual(index.manifests, [])
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/blobs"))
        let tags = try await store.tags()
        XCTAssertEqual(tags, [])
        // Reopening reads the same layout; a trailing slash is the same directory.
        let again = try OCILayoutStore(path: dir + "/", create: false)
        XCTAssertEqual(again.path, dir)
    }

    func testRefusesMissingLayoutWithoutCreate() throws {
        XCTAssertThrowsError(try OCILayoutStore(path: tmp.sub("missing"), create: false)) { error in
            guard case OCILayoutError.notALayout(let path, _)? = error as? OCILayoutError else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertTrue(path.hasSuffix("/missing"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.sub("missing")))
        XCTAssertThrowsError(try OCILayoutStore(path: "", create: true))
    }

    func testRefusesOtherLayoutVersion() throws {
        let dir = tmp.sub("v2")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(#"{"imageLayoutVersion":"2.0.0"}"#.utf8).write(to: URL(fileURLWithPath: dir + "/oci-layout"))
        XCTAssertThrowsError(try OCILayoutStore(path: dir)) { error in
            XCTAssertEqual(error as? OCILayoutError, .unsupportedVersion(path: dir, found: "2.0.0"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/index.json"))
    }

    func testRefusesForeignNonEmptyDirectoryAndFiles() throws {
        let dir = tmp.sub("home")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/notes.txt"))
        XCTAssertThrowsError(try OCILayoutStore(path: dir)) { error in
            guard case OCILayoutError.notALayout? = error as? OCILayoutError else { return XCTFail("\(error)") }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/oci-layout"))
        XCTAssertThrowsError(try OCILayoutStore(path: dir + "/notes.txt"))
    }

    func testRefusesCorruptIndex() throws {
        let dir = tmp.sub("corrupt")
        _ = try OCILayoutStore(path: dir)
        try Data("{\"manifests\": 3".utf8).write(to: URL(fileURLWithPath: dir + "/index.json"))
        XCTAssertThrowsError(try OCILayoutStore(path: dir)) { error in
            guard case OCILayoutError.invalidIndex(let path, _)? = error as? OCILayoutError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(path, dir + "/index.json")
        }
    }

    func testRoundTrip() async throws {
        let store = try OCILayoutStore(path: tmp.sub("layout"))
        let image = try TestImage.make()
        let manifest = image.manifests[0]
        let document = try ManifestDocument.decode(image.bytes(manifest), mediaType: manifest.mediaType)
        let children = document.children
        XCTAssertEqual(children.count, 3)

        let missing = try await store.exists(manifest)
        XCTAssertFalse(missing)
        for d in children + [manifest] {
            try await store.push(d, content: ByteStream(bytes: image.bytes(d), chunkSize: 1000))
        }
        for d in children + [manifest] {
            let present = try await store.exists(d)
            XCTAssertTrue(present)
            let fetched = try await store.fetch(d).collect(upTo: 1 << 20)
            XCTAssertEqual(fetched, image.bytes(d))
            XCTAssertEqual(fileBytes(store.blobPath(for: d.digest)), image.bytes(d))
        }
        // A descriptor of another size does not exist.
        var wrongSize = manifest
        wrongSize.size += 1
        let wrongExists = try await store.exists(wrongSize)
        XCTAssertFalse(wrongExists)

        try await store.tag(manifest, as: "v1")
        try await store.tag(manifest, as: "latest")
        let tags = try await store.tags()
        XCTAssertEqual(tags, ["latest", "v1"])
        let resolved = try await store.resolve("v1")
        XCTAssertEqual(resolved, manifest, "platform kept, ref.name stripped")
        let index = await store.index()
        XCTAssertEqual(index.manifests.compactMap { $0.annotations?[Annotation.refName] }, ["v1", "latest"])

        // By digest: from index.json, or from the blob itself when not listed.
        let byDigest = try await store.resolve(manifest.digest.description)
        XCTAssertEqual(byDigest, manifest)
        try await store.push(image.index, content: ByteStream(bytes: image.indexBytes))
        let sniffed = try await store.resolve(image.index.digest.description)
        XCTAssertEqual(sniffed, image.index)
        let configError = await asyncError { try await store.resolve(children[0].digest.description) }
        guard case OCILayoutError.notAManifest? = configError as? OCILayoutError else {
            return XCTFail("\(String(describing: configError))")
        }

        // Retagging replaces the entry; untag removes it.
        try await store.tag(image.index, as: "v1")
        let retagged = try await store.resolve("v1")
        XCTAssertEqual(retagged.digest, image.index.digest)
        let index1 = await store.index()
        XCTAssertEqual(index1.manifests.count, 2)
        try await store.untag("v1")
        let afterUntag = try await store.tags()
        XCTAssertEqual(afterUntag, ["latest"])
        let untagAgain = await asyncError { try await store.untag("v1") }
        XCTAssertNotNil(untagAgain as? ContentError)

        // Delete removes the entries and the blob; children stay.
        try await store.delete(manifest)
        let gone = try await store.exists(manifest)
        XCTAssertFalse(gone)
        let tagsAfterDelete = try await store.tags()
        XCTAssertEqual(tagsAfterDelete, [])
        let childStays = try await store.exists(children[1])
        XCTAssertTrue(childStays)
        let fetchGone = await asyncError { try await store.fetch(manifest) }
        guard case ContentError.notFound? = fetchGone as? ContentError else { return XCTFail("\(String(describing: fetchGone))") }
        let deleteAgain = await asyncError { try await store.delete(manifest) }
        guard case ContentError.notFound? = deleteAgain as? ContentError else { return XCTFail("\(String(describing: deleteAgain))") }
        let resolveGone = await asyncError { try await store.resolve("latest") }
        guard case ContentError.notFound? = resolveGone as? ContentError else { return XCTFail("\(String(describing: resolveGone))") }
    }

    func testPushExistingBlobDoesNotReadStream() async throws {
        let store = try OCILayoutStore(path: tmp.sub("layout"))
        let bytes = pseudoRandomBytes(count: 100, seed: 3)
        let d = Descriptor.of(bytes, mediaType: "application/octet-stream")
        try await store.push(d, content: ByteStream(bytes: bytes))
        // A stream that would fail if read: the push is a no-op.
        try await store.push(d, content: chunkedStream([], failingWith: InjectedFailure()))
        XCTAssertEqual(fileBytes(store.blobPath(for: d.digest)), bytes)
    }

    func testTagValidationAndMissingBlob() async throws {
        let store = try OCILayoutStore(path: tmp.sub("layout"))
        let bytes = Array(#"{"schemaVersion":2,"manifests":[]}"#.utf8)
        let d = Descriptor.of(bytes, mediaType: MediaType.ociIndex)
        let missing = await asyncError { try await store.tag(d, as: "v1") }
        guard case ContentError.notFound? = missing as? ContentError else { return XCTFail("\(String(describing: missing))") }
        try await store.push(d, content: ByteStream(bytes: bytes))
        for bad in ["", "a/b", "../x", "a..b", "-x", ".x", "a b", "a\nb", "a:b", "x\u{0}", String(repeating: "a", count: 129)] {
            let error = await asyncError { try await store.tag(d, as: bad) }
            XCTAssertEqual(error as? OCILayoutError, .invalidTag(bad), bad)
        }
        for good in ["v1", "1.0.0", "latest", "_x", "A-b_c.d", String(repeating: "a", count: 128)] {
            try await store.tag(d, as: good)
        }
        let count = try await store.tags().count
        XCTAssertEqual(count, 6)
    }

    func testResolveErrors() async throws {
        let store = try OCILayoutStore(path: tmp.sub("layout"))
        let notFound = await asyncError { try await store.resolve("nope") }
        guard case ContentError.notFound? = notFound as? ContentError else { return XCTFail("\(String(describing: notFound))") }
        let badDigest = await asyncError { try await store.resolve("sha256:XYZ") }
        guard case OCILayoutError.invalidDigest? = badDigest as? OCILayoutError else {
            return XCTFail("\(String(describing: badDigest))")
        }
        let absent = await asyncError { try await store.resolve(OCIDigest.of([1, 2, 3]).description) }
        guard case ContentError.notFound? = absent as? ContentError else { return XCTFail("\(String(describing: absent))") }
    }

    func testAddManifestUntagged() async throws {
        let store = try OCILayoutStore(path: tmp.sub("layout"))
        let image = try TestImage.make()
        let m = image.manifests[1]
        let missing = await asyncError { try await store.addManifest(m) }
        XCTAssertNotNil(missing as? ContentError)
        try await store.push(m, content: ByteStream(bytes: image.bytes(m)))
        var withName = m
        withName.annotations = [Annotation.refName: "ignored", "other": "kept"]
        try await store.addManifest(withName)
        try await store.addManifest(m)
        let index = await store.index()
        XCTAssertEqual(index.manifests.count, 1)
        XCTAssertEqual(index.manifests[0].annotations, ["other": "kept"])
        XCTAssertEqual(index.manifests[0].platform, m.platform)
        let tags = try await store.tags()
        XCTAssertEqual(tags, [])
        let resolved = try await store.resolve(m.digest.description)
        XCTAssertEqual(resolved.digest, m.digest)
        // Tagging adds a named entry next to the untagged one.
        try await store.tag(m, as: "t")
        let index2 = await store.index()
        XCTAssertEqual(index2.manifests.count, 2)
    }

    func testSharedDigestWithSeveralNames() async throws {
        let dir = tmp.sub("layout")
        let store = try OCILayoutStore(path: dir)
        let image = try TestImage.make()
        let m = image.manifests[0]
        try await store.push(m, content: ByteStream(bytes: image.bytes(m)))
        try await store.tag(m, as: "a")
        try await store.tag(m, as: "b")
        // Another tool's index.json may name one digest twice under one name: the last entry wins.
        var indexJSON = try XCTUnwrap(String(data: try Data(contentsOf: URL(fileURLWithPath: dir + "/index.json")), encoding: .utf8))
        indexJSON = indexJSON.replacingOccurrences(of: "\"b\"", with: "\"a\"")
        try Data(indexJSON.utf8).write(to: URL(fileURLWithPath: dir + "/index.json"))
        let tags = try await store.tags()
        XCTAssertEqual(tags, ["a"])
        try await store.untag("a")
        let index3 = await store.index()
        XCTAssertEqual(index3.manifests.count, 0)
    }
}
