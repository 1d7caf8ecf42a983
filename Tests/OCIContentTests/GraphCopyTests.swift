import Foundation
import OCIContent
import OCIKit
import OCILayout
import OCIRegistry
import OCISpec
import OCISync
import OCITesting
import OCITestFixtures
import XCTest

/// A fetcher that counts fetches per digest and can be slowed down.
final class CountingFetcher: ContentFetcher, @unchecked Sendable {
    let base: any ContentFetcher
    let counts = Locked<[OCIDigest: Int]>([:])
    let delayPerChunk: Duration?

    init(_ base: any ContentFetcher, delayPerChunk: Duration? = nil) {
        self.base = base
        self.delayPerChunk = delayPerChunk
    }

    func fetch(_ descriptor: Descriptor) async throws -> ByteStream {
        counts.withLock { $0[descriptor.digest, default: 0] += 1 }
        let stream = try await base.fetch(descriptor)
        guard let delay = delayPerChunk else { return stream }
        return ByteStream {
            let box = SlowIterator(stream.makeAsyncIterator())
            return {
                try await Task.sleep(for: delay)
                return try await box.next()
            }
        }
    }

    func exists(_ descriptor: Descriptor) async throws -> Bool { try await base.exists(descriptor) }
}

final class SlowIterator: @unchecked Sendable {
    private var iterator: ByteStream.AsyncIterator
    init(_ iterator: ByteStream.AsyncIterator) { self.iterator = iterator }
    func next() async throws -> [UInt8]? { try await iterator.next() }
}

final class CopyTests: XCTestCase {
    /// An index of `platforms` manifests that all share one big layer, plus one own layer each.
    private func makeImage(in store: MemoryStore, platforms: Int, sharedSize: Int = 200_000) async throws -> Descriptor {
        let shared = await store.push(bytes: (0..<sharedSize).map { UInt8(truncatingIfNeeded: $0 &* 13) }, mediaType: MediaType.ociLayer)
        var children: [Descriptor] = []
        for i in 0..<platforms {
            let own = await store.push(bytes: Array("layer for platform \(i)".utf8), mediaType: MediaType.ociLayer)
            let config = await store.push(bytes: Array("{\"arch\":\"\(i)\"}".utf8), mediaType: MediaType.ociConfig)
            let manifest = try JSONCoding.encode(Manifest(config: config, layers: [shared, own]))
            var d = await store.push(bytes: manifest, mediaType: MediaType.ociManifest)
            d.platform = Platform(architecture: "arch\(i)", os: "linux")
            children.append(d)
        }
        let index = try JSONCoding.encode(ImageIndex(manifests: children))
        let root = await store.push(bytes: index, mediaType: MediaType.ociIndex)
        try await store.tag(root, as: "v1")
        return root
    }

    // A blob shared by several children moves once; a second copy moves nothing.
    func testSharedBlobMovesOnceAndSecondCopySkipsEverything() async throws {
        let source = MemoryStore()
        let root = try await makeImage(in: source, platforms: 5)
        let counting = CountingFetcher(source)
        let destination = MemoryStore()
        try await OCI.copyGraph(from: counting, to: destination, root: root, options: GraphCopyOptions(concurrency: 4))
        XCTAssertTrue(counting.counts.withLock { $0.values.allSatisfy { $0 == 1 } }, "\(counting.counts.withLock { $0 })")
        let count = await destination.count
        XCTAssertEqual(count, 1 + 5 * 3 + 1)

        let again = CountingFetcher(source)
        let skipped = Locked(0)
        try await OCI.copyGraph(from: again, to: destination, root: root, options: GraphCopyOptions(onEvent: { event in
            if case .skipped = event { skipped.withLock { $0 += 1 } }
        }))
        XCTAssertTrue(again.counts.withLock { $0.isEmpty })
        XCTAssertEqual(skipped.withLock { $0 }, 1)
    }

    // Cancelling a copy into a layout mid-transfer leaves no partial file, and the next copy completes.
    func testCancelledCopyLeavesNothingAndRetrySucceeds() async throws {
        let source = MemoryStore()
        let root = try await makeImage(in: source, platforms: 3, sharedSize: 4 << 20)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("copy-cancel-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let layout = try OCILayoutStore(path: dir)
        let slow = CountingFetcher(source, delayPerChunk: .milliseconds(20))
        let started = Locked(false)
        let task = Task {
            try await OCI.copyGraph(from: slow, to: layout, root: root, options: GraphCopyOptions(concurrency: 2, onEvent: { event in
                if case .started = event { started.withLock { $0 = true } }
            }))
        }
        while !started.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
        try await Task.sleep(for: .milliseconds(30))
        task.cancel()
        _ = await task.result
        // Nothing partial: every file under blobs/ is a complete, verified blob.
        let blobsDir = dir + "/blobs/sha256"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: blobsDir)) ?? [] {
            XCTAssertFalse(name.hasPrefix("."), "temporary file left behind: \(name)")
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: blobsDir + "/" + name)))
            XCTAssertEqual(OCIDigest.of(bytes).encoded, name)
        }
        _ = try await OCI.copy(from: source, reference: "v1", to: layout, tag: "v1")
        let resolved = try await layout.resolve("v1")
        XCTAssertEqual(resolved.digest, root.digest)
    }

    // Platform selection copies one manifest of an index.
    func testPlatformSelection() async throws {
        let source = MemoryStore()
        _ = try await makeImage(in: source, platforms: 3)
        let destination = MemoryStore()
        let result = try await OCI.copy(from: source, reference: "v1", to: destination, tag: "one",
                                    options: CopyOptions(platforms: .one(Platform(architecture: "arch1", os: "linux"))))
        XCTAssertEqual(result.root.mediaType, MediaType.ociManifest)
        let count = await destination.count
        XCTAssertEqual(count, 4)  // manifest, config, shared layer, own layer
        do {
            _ = try await OCI.copy(from: source, reference: "v1", to: destination, tag: nil, options: CopyOptions(platforms: .one(Platform(architecture: "s390x", os: "linux"))))
            XCTFail("expected not found")
        } catch let error as ContentError {
            XCTAssertTrue(error.description.contains("available"), error.description)
        }
    }

    /// A refused mount falls back to a plain upload, however the registry refuses: Harbor's 401 without a
    /// challenge when the source project is missing, 404, 400, a 500, or a 202 upload session (the standard).
    func testARefusedMountFallsBackToAnUpload() async throws {
        for refusal in [401, 404, 400, 500, 202] {
            let source = MemoryStore()
            let layer = await source.push(bytes: Array("layer bytes for \(refusal)".utf8), mediaType: MediaType.ociLayer)
            let config = await source.push(bytes: Array("{}".utf8), mediaType: MediaType.ociConfig)
            let manifest = await source.push(bytes: try JSONCoding.encode(Manifest(config: config, layers: [layer])),
                                             mediaType: MediaType.ociManifest)
            try await source.tag(manifest, as: "v1")
            // The registry's own answer to a mount from a repository it lacks is the standard 202 upload session.
            let body = refusal == 401 ? #"{"errors":[{"code":"UNAUTHORIZED"}]}"# : #"{"errors":[{"code":"UNKNOWN"}]}"#
            let faults: [InProcessRegistry.Fault] = refusal == 202 ? [] : [
                .init("POST", "/v2/dst/blobs/uploads/", .respond(status: refusal, body: Array(body.utf8)), query: "mount"),
            ]
            let mountAttempts = try await withInProcess(faults: faults) { registry, client in
                let destination = client.repository(host: registry.host, name: "dst", access: .push)
                let options = CopyOptions(mountFrom: { _ in ["src"] })
                let result = try await OCI.copy(from: source, reference: "v1", to: destination, tag: "v1", options: options)
                XCTAssertEqual(result.mounted, 0, "\(refusal)")
                XCTAssertEqual(result.copied, 3, "\(refusal)")
                for blob in [layer, config] {
                    let expected = await source.bytes(for: blob.digest)
                    let stored = try? await destination.fetchAll(blob)
                    XCTAssertEqual(stored, expected, "\(refusal): \(blob.digest) was not uploaded")
                }
                return registry.requests().filter { r in
                    r.method == "POST" && (r.query ?? "").split(separator: "&").contains { $0.hasPrefix("from=") }
                }.count
            }
            XCTAssertEqual(mountAttempts, 2, "\(refusal): one cross-repository mount attempt per blob")
        }
    }
}
