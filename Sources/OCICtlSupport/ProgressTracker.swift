import OCIContent
import OCISpec

/// What the progress display shows at one instant: the blobs in flight and the totals so far.
package struct ProgressSnapshot: Sendable, Equatable {
    /// A blob being transferred.
    package struct Blob: Sendable, Equatable {
        /// Its title or short digest.
        package var name: String
        /// Bytes moved so far.
        package var done: Int64
        /// Its size; nil when unknown.
        package var total: Int64?
        /// Time since its transfer began.
        package var elapsed: Duration

        package init(name: String, done: Int64, total: Int64?, elapsed: Duration) {
            self.name = name
            self.done = done
            self.total = total
            self.elapsed = elapsed
        }

        /// Bytes per second since the transfer began; nil before a quarter of a second has passed.
        package var rate: Double? {
            let s = ProgressFormat.seconds(elapsed)
            return s >= 0.25 ? Double(done) / s : nil
        }

        /// Seconds left at the current rate; nil when the size or the rate is unknown (or nothing moved yet).
        package var secondsLeft: Double? {
            guard let total, let rate, rate > 0 else { return nil }
            return Double(max(0, total - done)) / rate
        }

        /// The part done, 0...1; nil when the size is unknown.
        package var fraction: Double? {
            guard let total else { return nil }
            guard total > 0 else { return 1 }
            return min(1, max(0, Double(done) / Double(total)))
        }
    }

    /// The blobs in flight, in the order they started.
    package var active: [Blob]
    /// Blobs finished (copied, skipped or mounted).
    package var blobsDone: Int
    /// Blobs seen so far (finished and in flight).
    package var blobsSeen: Int
    /// Bytes moved: of the copied blobs and of those in flight.
    package var bytesDone: Int64
    /// The sizes of the copied blobs and of those in flight.
    package var bytesTotal: Int64
    /// Time since the first blob transfer began (zero before).
    package var transferElapsed: Duration
    /// Nodes the destination already had.
    package var skipped: Int
    /// Blobs mounted from another repository.
    package var mounted: Int

    package init(active: [Blob] = [], blobsDone: Int = 0, blobsSeen: Int = 0, bytesDone: Int64 = 0, bytesTotal: Int64 = 0,
                 transferElapsed: Duration = .zero, skipped: Int = 0, mounted: Int = 0) {
        self.active = active
        self.blobsDone = blobsDone
        self.blobsSeen = blobsSeen
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.transferElapsed = transferElapsed
        self.skipped = skipped
        self.mounted = mounted
    }

    /// Overall bytes per second since the first blob began; nil before a quarter of a second has passed.
    package var rate: Double? {
        let s = ProgressFormat.seconds(transferElapsed)
        return s >= 0.25 ? Double(bytesDone) / s : nil
    }
}

/// The totals a finished transfer reports.
package struct ProgressTotals: Sendable, Equatable {
    package var copiedBlobs = 0
    package var copiedManifests = 0
    /// Bytes of the copied blobs.
    package var copiedBytes: Int64 = 0
    /// Nodes (blobs or manifests) the destination already had.
    package var skipped = 0
    package var mounted = 0
    /// Time since the display was made.
    package var elapsed: Duration = .zero

    package init(copiedBlobs: Int = 0, copiedManifests: Int = 0, copiedBytes: Int64 = 0, skipped: Int = 0, mounted: Int = 0,
                 elapsed: Duration = .zero) {
        self.copiedBlobs = copiedBlobs
        self.copiedManifests = copiedManifests
        self.copiedBytes = copiedBytes
        self.skipped = skipped
        self.mounted = mounted
        self.elapsed = elapsed
    }
}

/// The state of a transfer, fed with its `CopyEvent`s (the caller serialises them, e.g. under a lock) and the
/// instant each arrived. A value type with no clock of its own, so that tests drive it with made-up instants.
package struct ProgressTracker: Sendable {
    private struct InFlight: Sendable {
        var name: String
        var size: Int64
        var done: Int64 = 0
        var started: ContinuousClock.Instant
        var order: Int
    }

    /// When the display was made.
    package let start: ContinuousClock.Instant
    private var inFlight: [OCIDigest: InFlight] = [:]
    private var nextOrder = 0
    private var firstTransfer: ContinuousClock.Instant?
    private var blobsFinished = 0
    private var totals = ProgressTotals()
    /// Changes on every event that changes what is shown.
    package private(set) var version = 0

    package init(start: ContinuousClock.Instant) {
        self.start = start
    }

    /// Records `event`; returns the plain-mode line for a node that finished (copied, skipped, mounted), if any.
    @discardableResult
    package mutating func apply(_ event: CopyEvent, at now: ContinuousClock.Instant) -> String? {
        version &+= 1
        switch event {
        case .started(let d):
            guard !MediaType.isManifest(d.mediaType) else { return nil }
            begin(d, at: now)
            return nil
        case .progress(let d, let bytes):
            guard !MediaType.isManifest(d.mediaType) else { return nil }
            begin(d, at: now)
            inFlight[d.digest]?.done = max(0, bytes)
            return nil
        case .copied(let d):
            let name = ProgressFormat.name(d)
            if MediaType.isManifest(d.mediaType) {
                totals.copiedManifests += 1
                return ProgressRendering.plainLine("copied", name, size: d.size, note: "(manifest)")
            }
            let moved = inFlight.removeValue(forKey: d.digest)?.done ?? 0
            let size = d.size >= 0 ? d.size : moved
            totals.copiedBlobs += 1
            totals.copiedBytes += size
            blobsFinished += 1
            return ProgressRendering.plainLine("copied", name, size: size)
        case .skipped(let d):
            totals.skipped += 1
            let manifest = MediaType.isManifest(d.mediaType)
            if !manifest {
                inFlight.removeValue(forKey: d.digest)
                blobsFinished += 1
            }
            return ProgressRendering.plainLine("skipped", ProgressFormat.name(d), size: d.size,
                                               note: manifest ? "(manifest exists)" : "(exists)")
        case .mounted(let d, let repository):
            inFlight.removeValue(forKey: d.digest)
            totals.mounted += 1
            blobsFinished += 1
            return ProgressRendering.plainLine("mounted", ProgressFormat.name(d), size: d.size,
                                               note: "from " + ProgressFormat.sanitized(repository))
        }
    }

    private mutating func begin(_ d: Descriptor, at now: ContinuousClock.Instant) {
        guard inFlight[d.digest] == nil else { return }
        if firstTransfer == nil { firstTransfer = now }
        inFlight[d.digest] = InFlight(name: ProgressFormat.name(d), size: d.size, started: now, order: nextOrder)
        nextOrder += 1
    }

    /// Whether any blob was seen (started, finished or skipped).
    package var hasBlobs: Bool { blobsFinished > 0 || !inFlight.isEmpty }

    /// What to show at `now`.
    package func snapshot(at now: ContinuousClock.Instant) -> ProgressSnapshot {
        let blobs = inFlight.values.sorted { $0.order < $1.order }
        var snapshot = ProgressSnapshot(
            active: blobs.map { b in
                ProgressSnapshot.Blob(name: b.name, done: b.done, total: b.size >= 0 ? b.size : nil, elapsed: now - b.started)
            },
            blobsDone: blobsFinished, blobsSeen: blobsFinished + blobs.count,
            bytesDone: totals.copiedBytes, bytesTotal: totals.copiedBytes,
            transferElapsed: firstTransfer.map { now - $0 } ?? .zero,
            skipped: totals.skipped, mounted: totals.mounted)
        for b in blobs {
            snapshot.bytesDone += b.done
            snapshot.bytesTotal += max(b.size, b.done)
        }
        return snapshot
    }

    /// The totals at `now`.
    package func totals(at now: ContinuousClock.Instant) -> ProgressTotals {
        var t = totals
        t.elapsed = now - start
        return t
    }
}
