import Foundation
import OCIContent
import XCTest
@testable import OCICache

/// The Go metrics test (§2.5), against an injected metrics factory (no global bootstrap).
final class CacheMetricsTests: XCTestCase {
    func testMetricsOfAddAndTwoReads() async throws {
        let factory = TestMetricsFactory()
        let cache = try ContentCache(options: options(try makeTemporaryDirectory(self)) {
            $0.inMemoryOverlay = true
            $0.id = "unit-test"
            $0.metricsFactory = factory
        })
        defer { cache.close() }
        func value(_ label: String) -> Double? { factory.value(label, id: "unit-test") }

        let (d, bytes) = blob(10)
        try await cache.push(d, content: ByteStream(bytes: bytes))
        XCTAssertEqual(value("ociclient_cache_items_total"), 1)
        XCTAssertEqual(value("ociclient_cache_disk_hits_total"), 0)
        XCTAssertEqual(value("ociclient_cache_memory_hits_total"), 0)
        XCTAssertEqual(value("ociclient_cache_memory_usage_bytes"), 0)

        _ = try await cache.fetch(d).collect(upTo: 100) // from disk, copied into memory
        _ = try await cache.fetch(d).collect(upTo: 100) // from memory
        XCTAssertEqual(value("ociclient_cache_items_total"), 1)
        XCTAssertEqual(value("ociclient_cache_disk_usage_bytes"), 10)
        XCTAssertEqual(value("ociclient_cache_disk_hits_total"), 1)
        XCTAssertEqual(value("ociclient_cache_memory_hits_total"), 1)
        XCTAssertEqual(value("ociclient_cache_memory_usage_bytes"), 10)
    }

    func testGaugesFollowEvictionPruneAndReopen() async throws {
        let dir = try makeTemporaryDirectory(self)
        let factory = TestMetricsFactory()
        let cache = try ContentCache(options: options(dir) {
            $0.id = "gauges"
            $0.metricsFactory = factory
            $0.sizeLimit = 1000
        })
        for _ in 0..<3 {
            let (d, bytes) = blob(400)
            try await cache.push(d, content: ByteStream(bytes: bytes))
        }
        XCTAssertEqual(factory.value("ociclient_cache_disk_usage_bytes", id: "gauges"), Double(cache.info().currentSize))
        XCTAssertEqual(factory.value("ociclient_cache_items_total", id: "gauges"), Double(cache.info().items))
        cache.close()

        let reopened = try ContentCache(options: options(dir) {
            $0.id = "reopened"
            $0.metricsFactory = factory
        })
        defer { reopened.close() }
        XCTAssertEqual(factory.value("ociclient_cache_items_total", id: "reopened"), Double(reopened.info().items))
        reopened.prune()
        XCTAssertEqual(factory.value("ociclient_cache_items_total", id: "reopened"), 0)
        XCTAssertEqual(factory.value("ociclient_cache_disk_usage_bytes", id: "reopened"), 0)
    }
}
