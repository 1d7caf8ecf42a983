import ArgumentParser
import Foundation
import OCIContent
import OCICtlSupport
import OCISync

/// How progress is shown on stderr.
enum ProgressMode: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// `tty` when stderr is a terminal, `plain` otherwise.
    case auto
    /// Redrawn in place.
    case tty
    /// One line per finished blob and a periodic summary, no escape sequences.
    case plain
    /// Nothing.
    case none
}

/// The progress of a transfer on stderr, fed with its `CopyEvent`s (from several tasks at once).
///
/// - `tty`: a line per blob in flight (name, bar, bytes, rate, ETA) and an overall line, redrawn in place at most
///   ten times a second to the terminal's width; `finish()` erases them and prints the summary line.
/// - `plain`: a line per node when it finishes (`copied data.bin 4.0 MiB`, `skipped … (exists)`,
///   `mounted … from REPO`) and, during long transfers, a `progress:` line every few seconds; `finish()` prints
///   the summary line. No escape sequences. The lines of the first few seconds are held back and printed by
///   `finish()`, so a short command that fails prints only its error.
/// - `none`: nothing.
///
/// Commands call `finish()` only on success: on the error path the display erases what it drew (tty) or drops
/// what it held (plain) when it goes away, and prints no summary, so the error stays the only line.
final class ProgressDisplay: Sendable {
    enum Style: Sendable { case terminal, plain, silent }

    /// How often the terminal is redrawn at most.
    static let redrawInterval = Duration.milliseconds(100)
    /// The terminal is redrawn this often even when no event came (the elapsed time and the ETA move on).
    static let refreshInterval = Duration.seconds(1)
    /// Plain mode holds its lines back this long, then prints a `progress:` line at most this often.
    static let plainInterval = Duration.seconds(5)

    private struct Screen {
        /// Lines on the terminal now (the cursor is below them).
        var drawnLines = 0
        var drawnVersion = -1
        var lastDraw: ContinuousClock.Instant?
        /// Plain lines not printed yet.
        var held: [String] = []
        /// Plain mode prints lines as they come (after `plainInterval`).
        var live = false
        var lastStatus: ContinuousClock.Instant?
        var finished = false
    }

    let style: Style
    private let tracker: Locked<ProgressTracker>
    private let screen = Locked(Screen())
    private let ticker = Locked<Task<Void, Never>?>(nil)

    init(mode: ProgressMode) {
        switch mode {
        case .auto: style = Terminal.isTerminal(2) ? .terminal : .plain
        case .tty: style = .terminal
        case .plain: style = .plain
        case .none: style = .silent
        }
        tracker = Locked(ProgressTracker(start: .now))
        guard style != .silent else { return }
        let interval = style == .terminal ? Self.redrawInterval : Self.redrawInterval * 5
        let task = Task.detached { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self else { return }
                self.tick()
            }
        }
        ticker.withLock { $0 = task }
    }

    deinit {
        ticker.withLock { $0?.cancel() }
        // Not finished: the command failed. Leave the screen as it was before the display, with no summary.
        let erase = screen.withLock { s -> String? in
            guard !s.finished, style == .terminal else { return nil }
            s.finished = true
            return ProgressRendering.clear(previous: s.drawnLines)
        }
        if let erase, !erase.isEmpty { Terminal.write(erase) }
    }

    /// Records one event (any task may call this).
    func handle(_ event: CopyEvent) {
        guard style != .silent else { return }
        let now = ContinuousClock.now
        let line = tracker.withLock { $0.apply(event, at: now) }
        guard style == .plain, let line else { return }
        screen.withLock { s in
            guard !s.finished else { return }
            if s.live { Terminal.write(line + "\n") } else { s.held.append(line) }
        }
    }

    /// Ends the display after a successful transfer: erases the terminal lines (or prints the lines held back)
    /// and prints the summary.
    func finish() {
        guard style != .silent else { return }
        ticker.withLock { $0?.cancel() }
        let totals = tracker.withLock { $0.totals(at: .now) }
        let summary = ProgressRendering.summary(totals) + "\n"
        screen.withLock { s in
            guard !s.finished else { return }
            s.finished = true
            switch style {
            case .terminal: Terminal.write(ProgressRendering.clear(previous: s.drawnLines) + summary)
            case .plain: Terminal.write(s.held.map { $0 + "\n" }.joined() + summary)
            case .silent: break
            }
            s.drawnLines = 0
            s.held = []
        }
    }

    /// Called by the ticker: redraws the terminal, or prints plain mode's periodic line.
    private func tick() {
        let now = ContinuousClock.now
        screen.withLock { s in
            guard !s.finished else { return }
            switch style {
            case .terminal: redraw(&s, now: now)
            case .plain: report(&s, now: now)
            case .silent: break
            }
        }
    }

    private func redraw(_ s: inout Screen, now: ContinuousClock.Instant) {
        let (version, hasBlobs, snapshot) = tracker.withLock { ($0.version, $0.hasBlobs, $0.snapshot(at: now)) }
        guard hasBlobs else { return }
        if version == s.drawnVersion, let last = s.lastDraw, now - last < Self.refreshInterval { return }
        let size = Terminal.size(2)
        // One column short of the width, so that no terminal wraps a full line; leave a row for the cursor.
        let lines = ProgressRendering.terminalLines(snapshot, width: size.columns - 1, maxLines: min(12, size.rows - 1))
        Terminal.write(ProgressRendering.frame(lines, replacing: s.drawnLines))
        s.drawnLines = lines.count
        s.drawnVersion = version
        s.lastDraw = now
    }

    private func report(_ s: inout Screen, now: ContinuousClock.Instant) {
        let (start, snapshot) = tracker.withLock { ($0.start, $0.snapshot(at: now)) }
        guard now - start >= Self.plainInterval else { return }
        var out = ""
        if !s.live {
            s.live = true
            out = s.held.map { $0 + "\n" }.joined()
            s.held = []
        }
        if !snapshot.active.isEmpty, s.lastStatus.map({ now - $0 >= Self.plainInterval }) ?? true {
            out += ProgressRendering.plainStatus(snapshot) + "\n"
            s.lastStatus = now
        }
        if !out.isEmpty { Terminal.write(out) }
    }
}
