import OCICtlSupport
import OCIContent
import OCISpec
import XCTest

/// The lines of the progress display from snapshots: what a terminal shows at a width, the plain lines, the
/// summary, and the escape sequences that redraw and erase.
final class ProgressRenderingTests: XCTestCase {
    private let half = ProgressSnapshot.Blob(name: "data.bin", done: 2 << 20, total: 4 << 20, elapsed: .seconds(2))

    func testBlobLineHasNameBarBytesRateAndETA() {
        let line = ProgressRendering.blobLine(half, width: 119, nameWidth: 8)
        XCTAssertTrue(line.hasPrefix("data.bin ["), line)
        XCTAssertTrue(line.contains("2.0 MiB /    4.0 MiB"), line)
        XCTAssertTrue(line.contains("1.0 MiB/s"), line)
        XCTAssertTrue(line.hasSuffix("ETA 2s"), line)
        // Half the bar is filled.
        let bar = try? XCTUnwrap(line.split(separator: "[").dropFirst().first?.split(separator: "]").first)
        let inner = String(bar ?? "")
        XCTAssertEqual(inner.count, ProgressRendering.maxBarWidth - 2)
        XCTAssertEqual(inner.filter { $0 == "=" || $0 == ">" }.count, inner.count / 2, line)
        XCTAssertLessThanOrEqual(line.count, 119)
    }

    func testBarShapes() {
        XCTAssertEqual(ProgressRendering.bar(0, width: 7), "[     ]")
        XCTAssertEqual(ProgressRendering.bar(0.5, width: 12), "[====>     ]")
        XCTAssertEqual(ProgressRendering.bar(1, width: 7), "[=====]")
        XCTAssertEqual(ProgressRendering.bar(nil, width: 7), "[     ]", "unknown size: an empty bar")
        XCTAssertEqual(ProgressRendering.bar(0.99, width: 12), "[========> ]")
    }

    func testUnknownSizeAndEarlyRate() {
        let unknown = ProgressSnapshot.Blob(name: "sha256:0123abcd", done: 1000, total: nil, elapsed: .seconds(1))
        let line = ProgressRendering.blobLine(unknown, width: 100, nameWidth: 15)
        XCTAssertTrue(line.contains("1000 B /          ?"), line)
        XCTAssertTrue(line.hasSuffix("ETA --"), line)
        let fresh = ProgressSnapshot.Blob(name: "x", done: 0, total: 10, elapsed: .milliseconds(10))
        let early = ProgressRendering.blobLine(fresh, width: 100, nameWidth: 8)
        XCTAssertTrue(early.contains("--/s"), early)
        XCTAssertTrue(early.hasSuffix("ETA --"), early)
    }

    func testEveryLineFitsTheWidth() {
        let long = ProgressSnapshot.Blob(name: String(repeating: "very-long-layer-name-", count: 5), done: 123_456_789,
                                         total: 987_654_321, elapsed: .seconds(3))
        let snapshot = ProgressSnapshot(active: [half, long], blobsDone: 10, blobsSeen: 12, bytesDone: 999_999_999,
                                        bytesTotal: 9_999_999_999, transferElapsed: .seconds(75), skipped: 3, mounted: 4)
        for width in [1, 2, 10, 20, 39, 40, 60, 79, 80, 119, 200] {
            let lines = ProgressRendering.terminalLines(snapshot, width: width, maxLines: 10)
            XCTAssertEqual(lines.count, 3)
            for line in lines {
                XCTAssertLessThanOrEqual(line.count, width, "width \(width): \(line)")
            }
        }
        // A long name is cut with an ellipsis to the name column; columns line up.
        let lines = ProgressRendering.terminalLines(snapshot, width: 119, maxLines: 10)
        XCTAssertTrue(lines[1].hasPrefix("very-long-layer-name-very-l… ["), lines[1])
        XCTAssertTrue(lines[0].hasPrefix("data.bin" + String(repeating: " ", count: 20) + " ["), lines[0])
        XCTAssertEqual(lines[0].firstIndex(of: "[").map { lines[0].distance(from: lines[0].startIndex, to: $0) },
                       lines[1].firstIndex(of: "[").map { lines[1].distance(from: lines[1].startIndex, to: $0) })
        // Narrow: the bar goes first, the name and numbers stay.
        let narrow = ProgressRendering.blobLine(half, width: 60, nameWidth: 8)
        XCTAssertFalse(narrow.contains("["), narrow)
        XCTAssertTrue(narrow.hasPrefix("data.bin "), narrow)
        XCTAssertTrue(narrow.contains("ETA 2s"), narrow)
    }

    func testOverallLine() {
        let snapshot = ProgressSnapshot(active: [half], blobsDone: 2, blobsSeen: 3, bytesDone: 3 << 20, bytesTotal: 5 << 20,
                                        transferElapsed: .seconds(2), skipped: 1, mounted: 2)
        let lines = ProgressRendering.terminalLines(snapshot, width: 119, maxLines: 10)
        XCTAssertEqual(lines.last, "2/3 blobs  3.0 MiB / 5.0 MiB  1.5 MiB/s  1 skipped  2 mounted  2.0 s")
        let quiet = ProgressSnapshot(blobsDone: 1, blobsSeen: 1, bytesDone: 2, bytesTotal: 2, transferElapsed: .milliseconds(100))
        XCTAssertEqual(ProgressRendering.overallLine(quiet, width: 80), "1/1 blobs  2 B / 2 B  --/s  0.1 s")
    }

    func testMoreBlobsThanLinesSaysHowManyMore() {
        let blobs = (0..<6).map { ProgressSnapshot.Blob(name: "layer\($0)", done: 1, total: 2, elapsed: .seconds(1)) }
        let snapshot = ProgressSnapshot(active: blobs, blobsSeen: 6)
        let lines = ProgressRendering.terminalLines(snapshot, width: 100, maxLines: 4)
        XCTAssertEqual(lines.count, 4)
        XCTAssertTrue(lines[0].hasPrefix("layer0 "), lines[0])
        XCTAssertTrue(lines[1].hasPrefix("layer1 "), lines[1])
        XCTAssertEqual(lines[2], "… and 4 more")
        XCTAssertTrue(lines[3].hasPrefix("0/6 blobs"), lines[3])
        XCTAssertEqual(ProgressRendering.terminalLines(snapshot, width: 100, maxLines: 7).count, 7, "all fit: no 'more' line")
        XCTAssertEqual(ProgressRendering.terminalLines(snapshot, width: 100, maxLines: 1).count, 1, "only the overall line")
        XCTAssertEqual(ProgressRendering.terminalLines(snapshot, width: 100, maxLines: 2), ["… and 6 more", lines[3]])
    }

    func testPlainLinesAndSummary() {
        XCTAssertEqual(ProgressRendering.plainLine("copied", "data.bin", size: 13_002_342), "copied data.bin 12.4 MiB")
        XCTAssertEqual(ProgressRendering.plainLine("skipped", "sha256:abcd1234", size: 2, note: "(exists)"),
                       "skipped sha256:abcd1234 2 B (exists)")
        XCTAssertEqual(ProgressRendering.plainLine("copied", "x", size: -1), "copied x")
        XCTAssertEqual(ProgressRendering.summary(ProgressTotals(copiedBlobs: 3, copiedBytes: 13_002_342, skipped: 1, mounted: 2,
                                                                elapsed: .milliseconds(1200))),
                       "copied 3 blobs (12.4 MiB) in 1.2 s, 1 skipped, 2 mounted")
        XCTAssertEqual(ProgressRendering.summary(ProgressTotals(copiedBlobs: 1, copiedManifests: 1, copiedBytes: 2,
                                                                elapsed: .milliseconds(60))),
                       "copied 1 blob (2 B) and 1 manifest in 0.1 s")
        XCTAssertEqual(ProgressRendering.summary(ProgressTotals(skipped: 1)), "copied 0 blobs (0 B) in 0.0 s, 1 skipped")
        let status = ProgressSnapshot(active: [half], blobsDone: 1, blobsSeen: 2, bytesDone: 3 << 20, bytesTotal: 4 << 20,
                                      transferElapsed: .seconds(3))
        XCTAssertEqual(ProgressRendering.plainStatus(status), "progress: 1/2 blobs, 3.0 MiB / 4.0 MiB, 1.0 MiB/s, 3.0 s")
    }

    func testFramesRedrawInPlaceAndClear() {
        XCTAssertEqual(ProgressRendering.frame(["a", "b"], replacing: 0), "\r\u{1B}[2Ka\n\u{1B}[2Kb\n\u{1B}[J")
        XCTAssertEqual(ProgressRendering.frame(["a"], replacing: 3), "\r\u{1B}[3A\u{1B}[2Ka\n\u{1B}[J")
        XCTAssertEqual(ProgressRendering.clear(previous: 2), "\r\u{1B}[2A\u{1B}[J")
        XCTAssertEqual(ProgressRendering.clear(previous: 0), "")
        for line in ProgressRendering.terminalLines(ProgressSnapshot(active: [half], blobsSeen: 1), width: 80, maxLines: 5) {
            XCTAssertFalse(line.utf8.contains(0x1B), "lines carry no escapes of their own: \(line)")
        }
    }
}
