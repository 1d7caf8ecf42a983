import Foundation
import OCICache
import OCIGoCompat
import OCIKit
import OCISync
import OCITesting
import XCTest

/// `GoClient.fetch` through a cache against the real registry (F14, F44): the second fetch is served from the
/// cache with no blob GET, wrong content is a digest mismatch with or without the cache, and a push without a
/// store reads from the cache.
final class GoClientCacheTests: XCTestCase {
    private func blobGETs(_ registry: TestRegistry) -> Int {
        let log = (try? String(contentsOfFile: registry.logFile, encoding: .utf8)) ?? ""
        return log.split(separator: "\n").filter { $0.contains("\"GET /v2/") && $0.contains("/blobs/sha256:") }.count
    }

    func testFetchThroughTheCacheAndPushFromIt() async throws {
        try Requirements.registry(.plain)
        let scratch = try TempDir(prefix: "it-gocache")
        defer { scratch.remove() }
        try await TestRegistry.withRegistry(.plain) { registry in
            let image = try RealImage.make(layerSizes: [50_000])
            let cache = try ContentCache(options: CacheOptions(directory: scratch.file("cache")))
            defer { cache.close() }
            var options = GoClientOptions()
            options.registry.credentials = Keyring()
            options.cache = cache
            let client = try GoClient(options: options)
            let ref = "\(registry.host)/gocache/app:v1"
            try await client.pushRawManifest(ref, descriptor: image.manifestDescriptor, bytes: image.manifestBytes, store: image.store)
            let layer = image.layerDescriptors[0]
            for round in 1...2 {
                let received = Locked<[UInt8]>([])
                try await client.fetch(ref, descriptor: layer) { chunk in received.withLock { $0 += chunk } }
                XCTAssertEqual(received.current, image.layers[0], "round \(round)")
            }
            XCTAssertEqual(blobGETs(registry), 1, "the second fetch came from the cache")

            // A descriptor that does not match the content: a digest mismatch, not "not cached", with the cache…
            var lying = layer
            lying.digest = OCIDigest.of(Array("other".utf8))
            let uncachedError = await asyncThrow { try await client.fetch(ref, descriptor: lying) { _ in } }
            XCTAssertNotNil(uncachedError)
            // … and the config fetched under a wrong size is refused too.
            var wrongSize = image.configDescriptor
            wrongSize.size += 1
            let sizeError = await asyncThrow { try await client.fetch(ref, descriptor: wrongSize) { _ in } }
            XCTAssertEqual(sizeError?.ociErrorKind, .integrity, "\(String(describing: sizeError))")

            // A push with no store reads the blobs from the cache.
            let secondRepo = "\(registry.host)/gocache/third:v1"
            try await client.pushBlob(secondRepo, descriptor: layer, store: nil)
            let received = Locked<[UInt8]>([])
            try await client.fetch(secondRepo, descriptor: layer) { chunk in received.withLock { $0 += chunk } }
            XCTAssertEqual(received.current, image.layers[0])
            try await client.shutdown()
        }
    }

    private func asyncThrow(_ body: () async throws -> Void) async -> (any Error)? {
        do { try await body(); return nil } catch { return error }
    }
}
