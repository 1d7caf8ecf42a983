import Foundation
import XCTest
@testable import OCICache

/// The Go `Index` and `CalculatePriority` tests (§5.4), ported one to one.
final class CacheIndexTests: XCTestCase {
    /// A time on a fixed day, like the Go tests' `time.Date(…, h, m, …)`.
    private func at(_ hour: Int, _ minute: Int) -> Date {
        Date(timeIntervalSince1970: 1_600_000_000 + Double(hour * 3600 + minute * 60))
    }

    func testAddsTwoEntries() {
        var index = CacheIndex()
        index.add("a", size: 1, createdAt: at(0, 1))
        index.add("b", size: 1, createdAt: at(0, 1))
        XCTAssertEqual(index.priorityList().count, 2)
    }

    func testPrioritisesByHits() {
        var index = CacheIndex()
        index.add("a", size: 1, createdAt: at(0, 1))
        index.add("b", size: 1, createdAt: at(0, 1))
        index.hit("a")
        XCTAssertEqual(index.priorityList().map(\.name), ["b", "a"])

        var other = CacheIndex()
        other.add("a", size: 1, createdAt: at(0, 1))
        other.add("b", size: 1, createdAt: at(0, 1))
        other.hit("b")
        XCTAssertEqual(other.priorityList().map(\.name), ["a", "b"])
    }

    func testPrioritisesByAddedDate() {
        var index = CacheIndex()
        index.add("a", size: 1, createdAt: at(0, 1))
        index.add("b", size: 1, createdAt: at(0, 3))
        XCTAssertEqual(index.priorityList().map(\.name), ["a", "b"])

        var other = CacheIndex()
        other.add("a", size: 1, createdAt: at(0, 3))
        other.add("b", size: 1, createdAt: at(0, 1))
        XCTAssertEqual(other.priorityList().map(\.name), ["b", "a"])
    }

    func testPrioritisesByHitsAndAddedDate() {
        var index = CacheIndex()
        index.add("a", size: 1, createdAt: at(0, 1))
        index.add("b", size: 1, createdAt: at(0, 2))
        index.hit("b")
        index.add("c", size: 1, createdAt: at(0, 3))
        index.hit("c")
        index.hit("c")
        index.add("d", size: 1, createdAt: at(0, 4))
        XCTAssertEqual(index.priorityList().map(\.name), ["a", "d", "b", "c"])
    }

    func testAddsHits() {
        var index = CacheIndex()
        index.add("a", size: 1, createdAt: at(0, 1))
        index.hit("a")
        XCTAssertEqual(index.get("a")?.hits, 1)
        index.hit("a")
        XCTAssertEqual(index.get("a")?.hits, 2)
        index.hit("unknown")
        XCTAssertNil(index.get("unknown"))
    }

    func testResetKeepsAllNewHits() {
        var index = CacheIndex()
        index.add("a", size: 1, createdAt: at(0, 1))
        for _ in 0..<4 { index.hit("a") }
        index.reset()
        XCTAssertEqual(index.get("a")?.hits, 4)
    }

    func testResetPreservesHalfOfOldHits() {
        var index = CacheIndex()
        index.add("a", size: 1, createdAt: at(0, 1))
        index.hit("a")
        index.hit("a")
        index.reset()
        index.hit("a")
        index.hit("a")
        index.reset()
        XCTAssertEqual(index.get("a")?.hits, 3)
    }

    func testResetHonoursTheProportion() {
        var index = CacheIndex()
        index.add("a", size: 1, createdAt: at(0, 1))
        for _ in 0..<8 { index.hit("a") }
        index.reset(preservedHitsProportion: 0.25)
        XCTAssertEqual(index.get("a")?.hits, 8)
        index.hit("a")
        index.reset(preservedHitsProportion: 0.25)
        XCTAssertEqual(index.get("a")?.hits, 3) // floor(8 * 0.25) + 1
    }

    func testTiesAndTheMinimumHitsAreDeterministic() {
        // Go took minHits from map order (`minHits == 0 || hits < minHits`); here it is the true minimum.
        var index = CacheIndex()
        for name in ["e", "c", "a", "d", "b"] { index.add(name, size: 1, createdAt: at(0, 1)) }
        XCTAssertEqual(index.priorityList().map(\.name), ["a", "b", "c", "d", "e"])
        index.hit("a")
        XCTAssertEqual(index.priorityList().map(\.name), ["b", "c", "d", "e", "a"])
    }

    // MARK: CalculatePriority (min hits 2, max 6, oldest 0:01, newest 11:59)

    private func priority(hits: Int64, _ h: Int, _ m: Int) -> Double {
        CacheIndex.priority(of: .init(name: "x", size: 1, hits: hits, createdAt: at(h, m)),
                            minHits: 2, maxHits: 6, oldest: at(0, 1), newest: at(11, 59))
    }

    func testPriorityPrefersMoreHitsAtTheSameTime() {
        XCTAssertLessThan(priority(hits: 3, 0, 3), priority(hits: 4, 0, 3))
    }

    func testPriorityPrefersNewerWithTheSameHits() {
        XCTAssertGreaterThan(priority(hits: 3, 0, 4), priority(hits: 3, 0, 3))
    }

    func testPriorityWeighsHitsOverCreationDate() {
        XCTAssertLessThan(priority(hits: 3, 0, 4), priority(hits: 4, 0, 3))
    }

    func testPriorityTreatsZeroRangesAsZero() {
        let entry = CacheIndex.Entry(name: "x", size: 1, hits: 2, createdAt: at(0, 1))
        XCTAssertEqual(CacheIndex.priority(of: entry, minHits: 2, maxHits: 2, oldest: at(0, 1), newest: at(0, 1)), 0)
    }
}
