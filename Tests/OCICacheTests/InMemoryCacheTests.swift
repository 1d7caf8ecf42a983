import Foundation
import OCIContent
import OCISpec
import XCTest

/// F32: the Go `NewInMemoryCache` is served by `OCIContent.MemoryStore`: keyed by digest, thread-safe (an actor),
/// a duplicate add keeps one entry, and pushes are verified.
final class InMemoryCacheTests: XCTestCase {
    func testMemoryStoreServesAsTheInMemoryCache() async throws {
        let store = MemoryStore()
        let blobs = (0..<8).map { _ in blob(100) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<32 {
                let (d, bytes) = blobs[i % blobs.count]
                group.addTask { try await store.push(d, content: ByteStream(bytes: bytes)) }
            }
            try await group.waitForAll()
        }
        let count = await store.count
        XCTAssertEqual(count, 8)
        for (d, bytes) in blobs { await assertEqualAsync(try await store.fetch(d).collect(upTo: 1000), bytes) }
        let (d, _) = blob(10)
        await assertThrowsAsync({ try await store.push(d, content: ByteStream(bytes: randomBytes(10))) })
        await assertThrowsAsync({ try await store.fetch(d) }) { XCTAssertTrue(isNotFound($0)) }
    }
}
