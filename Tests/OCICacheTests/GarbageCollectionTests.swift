import Foundation
@testable import OCICache
import OCIContent
import OCISpec
import OCISync
import XCTest

/// The Go GC tests (§5.4 "GC") plus the fixes: thresholds, interval and proportion honoured; entries being read
/// or written are never evicted; oversized content still reaches the caller.
final class GarbageCollectionTests: XCTestCase {
    // MARK: Go: "should garbage collect when the cache reaches its max size"

    func testCollectsWhenTheLimitIsReached() async throws {
        let cache = try ContentCache(options: options(try makeTemporaryDirectory(self)) {
            $0.sizeLimit = try? ByteQuantity.parse("1Ki")
        })
        defer { cache.close() }
        let (d1, b1) = blob(500)
        try await cache.push(d1, content: ByteStream(bytes: b1))
        XCTAssertEqual(cache.info().items, 1)
        let (d2, b2) = blob(500)
        try await cache.push(d2, content: ByteStream(bytes: b2))
        XCTAssertEqual(cache.info().items, 1)
        XCTAssertEqual(cache.info().currentSize, 500)
        let newestKept = try await cache.exists(d2)
        XCTAssertTrue(newestKept, "the older entry is evicted first")
    }

    // MARK: Go: "should garbage collect the in memory cache but not the base cache if the size exceeds"

    func testCollectsTheOverlayButNotTheDisk() async throws {
        let cache = try ContentCache(options: options(try makeTemporaryDirectory(self)) {
            $0.inMemoryOverlay = true
            $0.overlaySizeLimit = 1024
        })
        defer { cache.close() }
        for _ in 0..<2 {
            let (d, bytes) = blob(500)
            try await cache.push(d, content: ByteStream(bytes: bytes))
            await assertEqualAsync(try await cache.fetch(d).collect(upTo: 1000), bytes)
        }
        let info = cache.info()
        XCTAssertEqual(info.items, 2)
        XCTAssertEqual(info.overlayItems, 1)
        XCTAssertEqual(info.overlayCurrentSize, 500)
    }

    // MARK: Go: "should delete files until the low threshold has been reached"

    func testCollectsDownToTheLowThreshold() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir) { $0.sizeLimit = 1024 })
        defer { cache.close() }
        let (d, bytes) = blob(500)
        try await cache.push(d, content: ByteStream(bytes: bytes))
        _ = try await cache.fetch(d).collect(upTo: 1000)
        for size in 100..<200 {
            let (d, bytes) = blob(size)
            try await cache.push(d, content: ByteStream(bytes: bytes))
            XCTAssertLessThan(cache.info().currentSize, 1024)
        }
        XCTAssertLessThan(cache.info().currentSize, 1024)
        // The accounting matches the files on disk.
        let onDisk = filesInCache(dir).reduce(Int64(0)) { sum, name in
            let attributes = try? FileManager.default.attributesOfItem(atPath: dir + "/blobs/" + name)
            return sum + ((attributes?[.size] as? NSNumber)?.int64Value ?? 0)
        }
        XCTAssertEqual(onDisk, cache.info().currentSize)
    }

    // MARK: Configuration honoured (Go ignored it)

    func testConfiguredThresholdsAreHonoured() async throws {
        func run(_ gc: GarbageCollectionConfiguration) async throws -> CacheInfo {
            let cache = try ContentCache(options: options(try makeTemporaryDirectory(self)) {
                $0.sizeLimit = 1000
                $0.gc = gc
            })
            defer { cache.close() }
            for _ in 0..<2 {
                let (d, bytes) = blob(300)
                try await cache.push(d, content: ByteStream(bytes: bytes))
            }
            return cache.info()
        }
        let defaults = try await run(GarbageCollectionConfiguration())
        XCTAssertEqual(defaults.items, 2, "600 bytes is below 85 %")
        let eager = try await run(GarbageCollectionConfiguration(highThreshold: 0.5, lowThreshold: 0.2))
        XCTAssertEqual(eager.items, 1, "600 bytes is above 50 %; collected towards 20 %, the new entry is kept")
        XCTAssertEqual(eager.currentSize, 300)
    }

    func testConfiguredResetIntervalAndProportionAreHonoured() async throws {
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        let now = Locked(start)
        func hits(proportion: Double) async throws -> Int64? {
            now.withLock { $0 = start }
            let cache = try ContentCache(options: options(try makeTemporaryDirectory(self)) {
                $0.clock = { now.current }
                $0.gc = GarbageCollectionConfiguration(resetInterval: .seconds(10), preservedHitsProportion: proportion)
            })
            defer { cache.close() }
            let (d, bytes) = blob(10)
            try await cache.push(d, content: ByteStream(bytes: bytes))
            for _ in 0..<4 { _ = try await cache.fetch(d).collect(upTo: 10) }
            for step in [10.0, 5, 5] {
                now.withLock { $0 = $0.addingTimeInterval(step) }
                _ = try await cache.fetch(d).collect(upTo: 10)
            }
            return cache.state.withLock { $0.disk.get("sha256/\(d.digest.encoded)")?.hits }
        }
        // 4 hits; decay at +10 s keeps the 4 recent ones; +1 hit; +1 hit at +15 s (no decay: interval is 10 s);
        // decay at +20 s: floor(4 * p) + 2 recent; +1 hit.
        let quarter = try await hits(proportion: 0.25)
        XCTAssertEqual(quarter, 4)
        let half = try await hits(proportion: 0.5)
        XCTAssertEqual(half, 5)
    }

    // MARK: Nothing being read or written is evicted

    func testEntryBeingReadIsNotEvicted() async throws {
        let cache = try ContentCache(options: options(try makeTemporaryDirectory(self)) {
            $0.sizeLimit = 1000
            $0.eagerVerificationLimit = 0
        })
        defer { cache.close() }
        let (a, aBytes) = blob(400)
        try await cache.push(a, content: ByteStream(bytes: aBytes))
        let reading = try await cache.fetch(a)
        let (b, bBytes) = blob(500)
        try await cache.push(b, content: ByteStream(bytes: bBytes))
        XCTAssertEqual(cache.info().items, 2, "a is being read and b was just written: neither is evicted")
        await assertEqualAsync(try await reading.collect(upTo: 1000), aBytes)
        XCTAssertEqual(cache.runGarbageCollection(), 1, "once the read ended, one entry can go")
        XCTAssertEqual(cache.info().items, 1)
    }

    func testBlobAboveTheHighWatermarkIsReturnedAndKept() async throws {
        let cache = try ContentCache(options: options(try makeTemporaryDirectory(self)) { $0.sizeLimit = 1000 })
        defer { cache.close() }
        let (small, smallBytes) = blob(300)
        try await cache.push(small, content: ByteStream(bytes: smallBytes))
        let (big, bigBytes) = blob(900)
        let upstream = CountingUpstream([big.digest: bigBytes], chunkSize: 100)
        await assertEqualAsync(try await cache.fetch(big, orDownload: upstream.download(big)).collect(upTo: 1000), bigBytes)
        XCTAssertEqual(cache.info().items, 1, "the older entry made room")
        await assertEqualAsync(try await cache.fetch(big).collect(upTo: 1000), bigBytes, "the new entry survived its own GC")
        XCTAssertEqual(upstream.calls(big), 1)
    }

    func testBlobAboveTheLimitIsPassedThroughUncached() async throws {
        let cache = try ContentCache(options: options(try makeTemporaryDirectory(self)) { $0.sizeLimit = 1000 })
        defer { cache.close() }
        let (huge, hugeBytes) = blob(2000)
        let upstream = CountingUpstream([huge.digest: hugeBytes], chunkSize: 300)
        await assertEqualAsync(try await cache.fetch(huge, orDownload: upstream.download(huge)).collect(upTo: 3000), hugeBytes)
        XCTAssertEqual(cache.info().items, 0)
        await assertThrowsAsync({ try await cache.push(huge, content: ByteStream(bytes: hugeBytes)) }) { error in
            guard case CacheError.entryTooLarge(_, 2000, 1000) = error else { return XCTFail("\(error)") }
        }
        // Pass-through content is still verified.
        let wrong = CountingUpstream([huge.digest: randomBytes(2000)])
        await assertThrowsAsync({ try await cache.fetch(huge, orDownload: wrong.download(huge)).collect(upTo: 3000) })
    }
}
