import Foundation
import OCIContent
import OCILayout
import OCISpec
import OCITestFixtures
import XCTest

/// Concurrent pushes and tag updates.
final class LayoutConcurrencyTests: XCTestCase {
    private var tmp: TemporaryDirectory!

    override func setUpWithError() throws { tmp = try TemporaryDirectory() }
    override func tearDown() { tmp?.remove() }

    func testConcurrentPushesOfTheSameDigest() async throws {
        let store = try OCILayoutStore(path: tmp.sub("layout"))
        let bytes = pseudoRandomBytes(count: 2_500_000, seed: 7)
        let d = Descriptor.of(bytes, mediaType: MediaType.ociLayerGzip)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<12 {
                group.addTask { try await store.push(d, content: ByteStream(bytes: bytes, chunkSize: 100_000)) }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(listing(store.path + "/blobs/sha256"), [d.digest.encoded])
        let back = try await store.fetch(d).collect(upTo: 4 << 20)
        XCTAssertEqual(back, bytes)
    }

    func testConcurrentPushesOfDifferentDigests() async throws {
        let store = try OCILayoutStore(path: tmp.sub("layout"))
        let blobs = (0..<24).map { pseudoRandomBytes(count: 50_000 + $0, seed: UInt64($0)) }
        let descriptors = blobs.map { Descriptor.of($0, mediaType: "application/octet-stream") }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (d, b) in zip(descriptors, blobs) {
                group.addTask { try await store.push(d, content: ByteStream(bytes: b, chunkSize: 8192)) }
                // The same content again, racing the first push.
                group.addTask { try await store.push(d, content: ByteStream(bytes: b, chunkSize: 5000)) }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(listing(store.path + "/blobs/sha256"), descriptors.map(\.digest.encoded).sorted())
        for (d, b) in zip(descriptors, blobs) {
            let back = try await store.fetch(d).collect(upTo: 1 << 20)
            XCTAssertEqual(back, b)
        }
    }

    func testConcurrentTagsAreNotLost() async throws {
        let dir = tmp.sub("layout")
        let first = try OCILayoutStore(path: dir)
        // A second store on the same directory stands in for another process.
        let second = try OCILayoutStore(path: dir, create: false)
        let bytes = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.utf8)
        let d = Descriptor.of(bytes, mediaType: MediaType.ociIndex)
        try await first.push(d, content: ByteStream(bytes: bytes))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<25 {
                group.addTask { try await first.tag(d, as: "a\(i)") }
                group.addTask { try await second.tag(d, as: "b\(i)") }
                group.addTask { try await first.addManifest(d) }
            }
            try await group.waitForAll()
        }
        let expected = ((0..<25).map { "a\($0)" } + (0..<25).map { "b\($0)" }).sorted()
        let tags = try await first.tags()
        XCTAssertEqual(tags, expected)
        let otherView = try await second.tags()
        XCTAssertEqual(otherView, expected)
        let index5 = await first.index()
        XCTAssertEqual(index5.manifests.count, 51)
        XCTAssertEqual(listing(dir), ["blobs", "index.json", "oci-layout"], "no temporary index files left")
    }
}
