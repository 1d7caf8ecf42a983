import OCIKit
@testable import OCIMirror
import XCTest

/// How long `rateLimit: wait` waits: as the registry's window says, within the floor and the ceiling.
final class RateLimitWaitTests: XCTestCase {
    func testTheWaitFollowsTheWindow() {
        // Docker Hub: 100 pulls per 6 hours, one back every 216 s.
        XCTAssertEqual(RateBudgets.waitSeconds(RateLimit(limit: 100, remaining: 0, windowSeconds: 21600), deficit: 1), 216)
        XCTAssertEqual(RateBudgets.waitSeconds(RateLimit(limit: 100, remaining: 0, windowSeconds: 21600), deficit: 3), 648)
        // A short window: a short wait, never below the floor.
        XCTAssertEqual(RateBudgets.waitSeconds(RateLimit(limit: 2, remaining: 0, windowSeconds: 2), deficit: 1), 1)
        XCTAssertEqual(RateBudgets.waitSeconds(RateLimit(limit: 100, remaining: 0, windowSeconds: 2), deficit: 1), RateBudgets.minimumWait)
        XCTAssertEqual(RateBudgets.waitSeconds(RateLimit(limit: 10, remaining: 0, windowSeconds: 60), deficit: 2), 12)
        // A long one is capped (the budget is read again after the wait).
        XCTAssertEqual(RateBudgets.waitSeconds(RateLimit(limit: 1, remaining: 0, windowSeconds: 86400), deficit: 1), RateBudgets.maximumWait)
        // Without a limit the whole window; without a window a minute.
        XCTAssertEqual(RateBudgets.waitSeconds(RateLimit(remaining: 0, windowSeconds: 30), deficit: 1), 30)
        XCTAssertEqual(RateBudgets.waitSeconds(RateLimit(limit: 100, remaining: 0), deficit: 1), 60)
        XCTAssertEqual(RateBudgets.waitSeconds(nil, deficit: 1), 60)
    }

    func testReserveParses() throws {
        let configuration = try MirrorConfiguration.parse("""
            hosts: {"docker.io": {rateLimit: wait, reserve: 10}}
            sync: [{source: docker.io/library/alpine, destination: "ocidir:///tmp/a"}]
            """)
        XCTAssertEqual(configuration.hosts["docker.io"], MirrorConfiguration.HostSettings(rateLimit: .wait, reserve: 10))
        XCTAssertThrowsError(try MirrorConfiguration.parse("""
            hosts: {h: {reserve: -1}}
            sync: [{source: a/x, destination: b/x}]
            """)) { XCTAssertTrue("\($0)".contains("hosts.h.reserve: must not be negative"), "\($0)") }
    }
}
