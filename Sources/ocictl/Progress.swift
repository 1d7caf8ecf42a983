import ArgumentParser
import Foundation
import OCIContent
import OCISpec
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

/// Draws a one-line progress display on stderr when it is a terminal; silent otherwise.
final class ProgressDisplay: Sendable {
    private struct State {
        var started = 0, done = 0, skipped = 0, mounted = 0
        var bytes: [OCIDigest: Int64] = [:]
        var lastDraw = ContinuousClock.now - .seconds(1)
    }
    private let state = Locked(State())
    let enabled: Bool

    init(mode: ProgressMode) {
        switch mode {
        case .auto, .tty: enabled = isatty(2) == 1 || mode == .tty
        case .plain, .none: enabled = false
        }
    }

    func handle(_ event: CopyEvent) {
        guard enabled else { return }
        let line: String? = state.withLock { s in
            switch event {
            case .started: s.started += 1
            case .progress(let d, let n): s.bytes[d.digest] = n
            case .copied(let d):
                s.done += 1
                if !MediaType.isManifest(d.mediaType) { s.bytes[d.digest] = max(0, d.size) }
            case .skipped: s.skipped += 1
            case .mounted: s.mounted += 1
            }
            let now = ContinuousClock.now
            guard now - s.lastDraw >= .milliseconds(100) else { return nil }
            s.lastDraw = now
            let total = s.bytes.values.reduce(0, +)
            return String(format: "\r%d copied, %d skipped, %d mounted, %.1f MiB", s.done, s.skipped, s.mounted,
                          Double(total) / 1_048_576)
        }
        if let line { FileHandle.standardError.write(Data(line.utf8)) }
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
