import Foundation
import OCIContent
import OCILayout
import OCISpec
import OCITestFixtures
import XCTest

/// `OCILayoutStore.collectGarbage`: what no index.json entry reaches goes; shared blobs, children of indexes and
/// referrers of kept manifests stay; a dry run removes nothing; recent blobs can be spared.
final class LayoutGarbageTests: XCTestCase {
    private var tmp: TemporaryDirectory!

    override func setUpWithError() throws { tmp = try TemporaryDirectory() }
    override func tearDown() { tmp?.remove() }

    private func put(_ store: OCILayoutStore, _ bytes: [UInt8], _ mediaType: String) async throws -> Descriptor {
        let descriptor = Descriptor.of(bytes, mediaType: mediaType)
        try await store.push(descriptor, content: ByteStream(bytes: bytes))
        return descriptor
    }

    private func image(_ store: OCILayoutStore, config: Descriptor, layer: [UInt8], subject: Descriptor? = nil) async throws -> (Descriptor, Descriptor) {
        let layerDescriptor = try await put(store, layer, MediaType.ociLayerGzip)
        let manifest = try JSONCoding.encode(Manifest(config: config, layers: [layerDescriptor], subject: subject))
        return (try await put(store, manifest, MediaType.ociManifest), layerDescriptor)
    }

    func testUnreachableBlobsGoAndSharedOnesAndReferrersStay() async throws {
        let store = try OCILayoutStore(path: tmp.sub("layout"))
        let config = try await put(store, Array("{}".utf8), MediaType.ociConfig)
        let (one, layerOne) = try await image(store, config: config, layer: pseudoRandomBytes(count: 5000, seed: 1))
        let (two, layerTwo) = try await image(store, config: config, layer: pseudoRandomBytes(count: 6000, seed: 2))
        // An index over a third image, and a referrer of the first (untagged, as copies write them).
        let (three, layerThree) = try await image(store, config: config, layer: pseudoRandomBytes(count: 7000, seed: 3))
        let index = try await put(store, try JSONCoding.encode(ImageIndex(manifests: [three])), MediaType.ociIndex)
        let (signature, signatureLayer) = try await image(store, config: config, layer: Array("sig".utf8), subject: one)
        let (orphanSignature, orphanLayer) = try await image(store, config: config, layer: Array("sig2".utf8), subject: two)
        try await store.tag(one, as: "one")
        try await store.tag(two, as: "two")
        try await store.tag(index, as: "multi")

        let nothing = try await store.collectGarbage()
        XCTAssertEqual(nothing, GarbageCollection(), "everything is reachable")

        try await store.untag("two")
        let planned = try await store.collectGarbage(dryRun: true)
        XCTAssertEqual(Set(planned.removed), [two.digest, layerTwo.digest, orphanSignature.digest, orphanLayer.digest])
        XCTAssertEqual(planned.bytes, two.size + layerTwo.size + orphanSignature.size + orphanLayer.size)
        XCTAssertTrue(FileManager.default.fileExists(atPath: store.blobPath(for: two.digest)), "a dry run removes nothing")

        let collected = try await store.collectGarbage()
        XCTAssertEqual(collected, planned)
        for gone in [two, layerTwo, orphanSignature, orphanLayer] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: store.blobPath(for: gone.digest)), "\(gone.digest)")
        }
        for kept in [config, one, layerOne, index, three, layerThree, signature, signatureLayer] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: store.blobPath(for: kept.digest)), "\(kept.digest)")
        }
        let fetched = try await store.fetch(layerThree).collect(upTo: 1 << 20)
        XCTAssertEqual(fetched.count, 7000)
    }

    func testRecentBlobsAreSparedAndAnUnreadableManifestStopsTheCollection() async throws {
        let store = try OCILayoutStore(path: tmp.sub("layout"))
        let config = try await put(store, Array("{}".utf8), MediaType.ociConfig)
        let (one, _) = try await image(store, config: config, layer: pseudoRandomBytes(count: 5000, seed: 1))
        let (two, layerTwo) = try await image(store, config: config, layer: pseudoRandomBytes(count: 6000, seed: 2))
        try await store.tag(one, as: "one")
        // Untagged blobs written after the cut-off (another writer's copy under way) stay.
        let spared = try await store.collectGarbage(sparingModifiedAfter: Date(timeIntervalSinceNow: -3600))
        XCTAssertEqual(spared, GarbageCollection())
        let collected = try await store.collectGarbage(sparingModifiedAfter: Date(timeIntervalSinceNow: 3600))
        XCTAssertEqual(Set(collected.removed), [two.digest, layerTwo.digest])

        // An index.json entry without a usable media type is still read as the manifest it is: its layer stays.
        let (four, layerFour) = try await image(store, config: config, layer: pseudoRandomBytes(count: 4000, seed: 4))
        try await store.tag(Descriptor(mediaType: "", digest: four.digest, size: four.size), as: "four")
        let sniffed = try await store.collectGarbage()
        XCTAssertEqual(sniffed, GarbageCollection())
        XCTAssertTrue(FileManager.default.fileExists(atPath: store.blobPath(for: layerFour.digest)))

        // A tagged manifest whose blob is not JSON: nothing can be known, so nothing is removed.
        let bogus = try await put(store, Array("not json".utf8), MediaType.ociManifest)
        try await store.tag(bogus, as: "bogus")
        let orphan = try await put(store, pseudoRandomBytes(count: 100, seed: 9), MediaType.ociLayerGzip)
        do {
            _ = try await store.collectGarbage()
            XCTFail("collected despite an unreadable manifest")
        } catch {
            XCTAssertTrue("\(error)".contains("nothing was collected"), "\(error)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: store.blobPath(for: orphan.digest)))
    }
}
