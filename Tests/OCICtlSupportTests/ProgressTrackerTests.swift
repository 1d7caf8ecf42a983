import OCICtlSupport
import OCIContent
import OCISpec
import XCTest

/// The display's state fed with copy events at made-up instants: what is in flight, the totals, the plain lines.
final class ProgressTrackerTests: XCTestCase {
    private let t0 = ContinuousClock.now

    private func blob(_ text: String, size: Int64? = nil, title: String? = nil) -> Descriptor {
        let bytes = Array(text.utf8)
        return Descriptor(mediaType: MediaType.ociLayerGzip, digest: .of(bytes), size: size ?? Int64(bytes.count),
                          annotations: title.map { [Annotation.title: $0] })
    }

    func testBlobsInFlightThenFinished() {
        var tracker = ProgressTracker(start: t0)
        let a = blob("a", size: 4 << 20, title: "data.bin")
        let b = blob("b", size: 1 << 20)
        let manifest = Descriptor(mediaType: MediaType.ociManifest, digest: .of([9]), size: 500)
        XCTAssertFalse(tracker.hasBlobs)
        XCTAssertNil(tracker.apply(.started(a), at: t0 + .seconds(1)))
        XCTAssertNil(tracker.apply(.started(b), at: t0 + .seconds(2)))
        XCTAssertNil(tracker.apply(.progress(a, bytes: 1 << 20), at: t0 + .seconds(2)))
        XCTAssertNil(tracker.apply(.progress(a, bytes: 2 << 20), at: t0 + .seconds(3)))
        XCTAssertTrue(tracker.hasBlobs)

        var snapshot = tracker.snapshot(at: t0 + .seconds(3))
        XCTAssertEqual(snapshot.active.map(\.name), ["data.bin", ProgressFormat.shortDigest(b.digest)], "in the order they started")
        XCTAssertEqual(snapshot.active.first, ProgressSnapshot.Blob(name: "data.bin", done: 2 << 20, total: 4 << 20, elapsed: .seconds(2)))
        XCTAssertEqual(snapshot.active.first?.rate, Double(1 << 20))
        XCTAssertEqual(snapshot.active.first?.secondsLeft, 2)
        XCTAssertEqual(snapshot.blobsDone, 0)
        XCTAssertEqual(snapshot.blobsSeen, 2)
        XCTAssertEqual(snapshot.bytesDone, 2 << 20)
        XCTAssertEqual(snapshot.bytesTotal, 5 << 20)
        XCTAssertEqual(snapshot.transferElapsed, .seconds(2))

        XCTAssertEqual(tracker.apply(.copied(a), at: t0 + .seconds(4)), "copied data.bin 4.0 MiB")
        snapshot = tracker.snapshot(at: t0 + .seconds(4))
        XCTAssertEqual(snapshot.active.map(\.name), [ProgressFormat.shortDigest(b.digest)], "a finished blob leaves the list")
        XCTAssertEqual(snapshot.blobsDone, 1)
        XCTAssertEqual(snapshot.blobsSeen, 2)
        XCTAssertEqual(snapshot.bytesDone, 4 << 20)

        XCTAssertEqual(tracker.apply(.copied(b), at: t0 + .seconds(5)), "copied \(ProgressFormat.shortDigest(b.digest)) 1.0 MiB")
        XCTAssertNil(tracker.apply(.started(manifest), at: t0 + .seconds(5)), "manifests get no bar")
        XCTAssertEqual(tracker.snapshot(at: t0 + .seconds(5)).active, [])
        XCTAssertEqual(tracker.apply(.copied(manifest), at: t0 + .seconds(5)),
                       "copied \(ProgressFormat.shortDigest(manifest.digest)) 500 B (manifest)")

        let totals = tracker.totals(at: t0 + .seconds(6))
        XCTAssertEqual(totals, ProgressTotals(copiedBlobs: 2, copiedManifests: 1, copiedBytes: 5 << 20, elapsed: .seconds(6)))
        XCTAssertEqual(ProgressRendering.summary(totals), "copied 2 blobs (5.0 MiB) and 1 manifest in 6.0 s")
    }

    func testSkippedAndMountedAreCountedAndSaid() {
        var tracker = ProgressTracker(start: t0)
        let config = blob("{}")
        let base = blob("base", size: 3 << 20, title: "base.tar.gz")
        let index = Descriptor(mediaType: MediaType.ociIndex, digest: .of([7]), size: 300)
        XCTAssertEqual(tracker.apply(.skipped(config), at: t0), "skipped \(ProgressFormat.shortDigest(config.digest)) 2 B (exists)")
        XCTAssertEqual(tracker.apply(.mounted(base, from: "team/base"), at: t0), "mounted base.tar.gz 3.0 MiB from team/base")
        XCTAssertEqual(tracker.apply(.skipped(index), at: t0),
                       "skipped \(ProgressFormat.shortDigest(index.digest)) 300 B (manifest exists)")
        let snapshot = tracker.snapshot(at: t0 + .seconds(1))
        XCTAssertEqual(snapshot.skipped, 2)
        XCTAssertEqual(snapshot.mounted, 1)
        XCTAssertEqual(snapshot.blobsDone, 2, "the index is no blob")
        XCTAssertEqual(snapshot.bytesDone, 0, "nothing moved")
        XCTAssertEqual(ProgressRendering.summary(tracker.totals(at: t0 + .milliseconds(300))),
                       "copied 0 blobs (0 B) in 0.3 s, 2 skipped, 1 mounted")
    }

    func testUnknownSizeProgressWithoutStartAndRestarts() {
        var tracker = ProgressTracker(start: t0)
        let unsized = blob("schema1 layer", size: -1)
        // A progress event before any start still shows the blob.
        tracker.apply(.progress(unsized, bytes: 700), at: t0 + .seconds(1))
        var snapshot = tracker.snapshot(at: t0 + .seconds(2))
        XCTAssertEqual(snapshot.active.first?.total, nil)
        XCTAssertEqual(snapshot.active.first?.done, 700)
        XCTAssertEqual(snapshot.bytesTotal, 700, "an unknown size counts what moved")
        XCTAssertNil(snapshot.active.first?.secondsLeft)
        // A retry from the start counts again from zero.
        tracker.apply(.progress(unsized, bytes: 100), at: t0 + .seconds(2))
        XCTAssertEqual(tracker.snapshot(at: t0 + .seconds(2)).active.first?.done, 100)
        tracker.apply(.progress(unsized, bytes: 1000), at: t0 + .seconds(3))
        XCTAssertEqual(tracker.apply(.copied(unsized), at: t0 + .seconds(3)),
                       "copied \(ProgressFormat.shortDigest(unsized.digest)) 1000 B", "the size is what moved")
        snapshot = tracker.snapshot(at: t0 + .seconds(3))
        XCTAssertEqual(snapshot.bytesDone, 1000)
        XCTAssertEqual(tracker.totals(at: t0 + .seconds(3)).copiedBytes, 1000)
    }

    func testVersionChangesWithEveryEvent() {
        var tracker = ProgressTracker(start: t0)
        let a = blob("a")
        let v0 = tracker.version
        tracker.apply(.started(a), at: t0)
        let v1 = tracker.version
        tracker.apply(.progress(a, bytes: 1), at: t0)
        XCTAssertNotEqual(v0, v1)
        XCTAssertNotEqual(v1, tracker.version)
    }

    func testTerminalLinesFromATrackerFitAndShowEveryBlob() {
        var tracker = ProgressTracker(start: t0)
        let names = ["one.bin", "two.bin", "three.bin"]
        for (i, name) in names.enumerated() {
            let d = blob(name, size: 10 << 20, title: name)
            tracker.apply(.started(d), at: t0)
            tracker.apply(.progress(d, bytes: Int64(i + 1) << 20), at: t0 + .seconds(1))
        }
        let lines = ProgressRendering.terminalLines(tracker.snapshot(at: t0 + .seconds(1)), width: 119, maxLines: 10)
        XCTAssertEqual(lines.count, 4)
        for (line, name) in zip(lines, names) {
            XCTAssertTrue(line.hasPrefix(name), line)
            XCTAssertTrue(line.contains("MiB/s"), line)
            XCTAssertTrue(line.contains("ETA "), line)
        }
        XCTAssertTrue(lines[3].hasPrefix("0/3 blobs  6.0 MiB / 30.0 MiB  6.0 MiB/s"), lines[3])
    }
}
