import Foundation
import OCISpec
import OCITesting
import XCTest

/// ocictl's progress display as a person sees it: in a terminal (tmux, the pane captured during and after a
/// throttled pull), in plain mode (stderr to a file) and with --quiet. The registry is the in-process one with
/// blob GETs sent in 64 KiB pieces 50 ms apart, so that an 8 MiB layer takes at least 6.4 s to arrive and the
/// display has something to show; the tests assert what is shown, never how long anything took.
final class OcictlProgressTests: XCTestCase {
    /// 8 MiB: at least 128 pieces 50 ms apart.
    private static let largeSize = 8 << 20
    private static let smallSize = 2 << 20
    private static let throttle = InProcessRegistry.Fault("GET", "/v2/**/blobs/*",
                                                          .slowBody(chunkSize: 64 * 1024, interval: .milliseconds(50)))

    private struct Setup {
        let cli: OCICtl
        let registry: InProcessRegistry
        let scratch: TempDir
        let ref: String
        let large: [UInt8]
        let small: [UInt8]
    }

    /// A registry holding an artifact of two titled files (data.bin, 8 MiB, and notes.bin, 2 MiB, pushed with
    /// ocictl), with blob GETs throttled from then on when `throttled`.
    private func withArtifact(throttled: Bool = true, _ body: (Setup) async throws -> Void) async throws {
        let cli = try OCICtl()
        defer { cli.cleanup() }
        let scratch = try TempDir(prefix: "it-progress")
        defer { scratch.remove() }
        try await withInProcessRegistry { registry in
            let large = Bytes.random(Self.largeSize), small = Bytes.random(Self.smallSize)
            let largePath = try scratch.write("in/data.bin", large)
            let smallPath = try scratch.write("in/notes.bin", small)
            let ref = "\(registry.host)/progress/files:v1"
            try await cli.ok(["push", ref, largePath, smallPath, "--quiet"])
            if throttled { registry.addFault(Self.throttle) }
            try await body(Setup(cli: cli, registry: registry, scratch: scratch, ref: ref, large: large, small: small))
        }
    }

    private func assertPulled(_ setup: Setup, into dir: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(FileManager.default.contents(atPath: dir + "/data.bin").map { [UInt8]($0) }, setup.large,
                       "data.bin pulled byte-exact", file: file, line: line)
        XCTAssertEqual(FileManager.default.contents(atPath: dir + "/notes.bin").map { [UInt8]($0) }, setup.small,
                       "notes.bin pulled byte-exact", file: file, line: line)
    }

    // MARK: a terminal (tmux)

    /// A blob's bar line: name, bar, bytes done / total, a rate, an ETA.
    private static let barPattern =
        #"(data|notes)\.bin +\[[=> ]*\] +[0-9.]+ (B|KiB|MiB) / +[0-9.]+ MiB +([0-9.]+ (B|KiB|MiB)|--)/s +ETA"#
    /// The overall line: `1/3 blobs  2.1 MiB / 10.0 MiB  1.6 MiB/s`.
    private static let overallPattern = #"(?m)^[0-9]+/[0-9]+ blobs  [0-9.]+ (B|KiB|MiB) / [0-9.]+ (B|KiB|MiB)  ([0-9.]+ (B|KiB|MiB)|--)/s"#

    /// The parts of `text` that match `pattern`.
    private static func matches(_ pattern: String, _ text: String) throws -> [String] {
        let regex = try NSRegularExpression(pattern: pattern)
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { m in
            Range(m.range, in: text).map { String(text[$0]) }
        }
    }

    /// `pane` without its empty lines at the bottom.
    private static func trimmed(_ pane: String) -> String {
        var lines = pane.split(separator: "\n", omittingEmptySubsequences: false)
        while lines.last?.allSatisfy({ $0 == " " }) == true { lines.removeLast() }
        return lines.joined(separator: "\n")
    }

    /// What a tmux pane showed while ocictl ran in it, and once it had exited.
    private struct PaneRun {
        var captures: [String]
        var final: String
    }

    /// Runs ocictl with `arguments` in a detached 120×30 tmux pane of a private tmux server, captures the pane
    /// until ocictl has exited (calling `during` with each capture), and stops the server. Skips without tmux.
    private func runInPane(_ setup: Setup, _ arguments: [String],
                           during: (String) async throws -> Void = { _ in }) async throws -> PaneRun {
        guard let tmuxPath = Tmux.path else { throw XCTSkip("tmux is not installed (apt-get install tmux)") }
        let quoted = arguments.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let script = try setup.scratch.write("run-\(UUID().uuidString).sh", Bytes.utf8("""
            export HOME='\(setup.cli.home.path)'
            unset DOCKER_CONFIG REGISTRY_AUTH_FILE DOCKER_AUTH_CONFIG OCI_AUTH_CONFIG OCI_REGISTRY_HOST
            '\(setup.cli.binary)' \(quoted)
            echo "[ocictl exited $?]"
            exec sleep 600

            """))
        let tmux = Tmux(binary: tmuxPath, directory: setup.scratch.path)
        try await tmux.newSession(width: 120, height: 30, command: "sh '\(script)'")
        do {
            var captures: [String] = []
            // Bounded polling: a generous cap, no timing assertion.
            for _ in 0..<1200 {
                let pane = try await tmux.capture()
                if pane.contains("[ocictl exited ") {
                    await tmux.killServer()
                    return PaneRun(captures: captures, final: pane)
                }
                captures.append(pane)
                try await during(pane)
                try await Task.sleep(for: .milliseconds(100))
            }
            throw OCITestingError("ocictl did not finish in the pane; last capture:\n\(captures.last ?? "")")
        } catch {
            await tmux.killServer()
            throw error
        }
    }

    /// The pane's non-empty lines, trimmed.
    private static func lines(_ pane: String) -> [String] {
        pane.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func testTerminalShowsBarsDuringThePullAndOnlyTheSummaryAfter() async throws {
        try await withArtifact { setup in
            let out = setup.scratch.file("pulled")
            let run = try await runInPane(setup, ["pull", setup.ref, "-o", out])
            let (captures, final) = (run.captures, run.final)

            // During the transfer: per-blob bars with bytes and rates, and the overall line.
            let bars = try captures.flatMap { try Self.matches(Self.barPattern, $0) }
            XCTAssertTrue(bars.contains { $0.hasPrefix("data.bin") }, "no bar for data.bin in \(captures.count) captures:\n\(captures.suffix(3).joined(separator: "\n---\n"))")
            XCTAssertTrue(bars.contains { $0.hasPrefix("notes.bin") }, "no bar for notes.bin in \(captures.count) captures")
            XCTAssertTrue(bars.contains { $0.contains(" MiB/s") || $0.contains(" KiB/s") }, "no rate in any bar:\n\(bars.suffix(5))")
            XCTAssertTrue(try captures.contains { try Self.matches(Self.overallPattern, $0).isEmpty == false }, "no overall line")
            let sample = try captures.reversed().max { try Self.matches(Self.barPattern, $0).count < Self.matches(Self.barPattern, $1).count } ?? ""
            print("a pane during the pull:\n\(Self.trimmed(sample))")
            print("the pane after the pull:\n\(Self.trimmed(final))")
            for capture in captures {
                for line in capture.split(separator: "\n") {
                    XCTAssertLessThanOrEqual(line.count, 120, "a line wider than the pane: \(line)")
                }
                XCTAssertFalse(capture.contains("\u{1B}"), "escape sequences are interpreted, not shown")
            }

            // After: the summary line, the pulled files, and none of the bars or the overall line.
            XCTAssertTrue(final.contains("[ocictl exited 0]"), final)
            XCTAssertTrue(final.contains("copied 3 blobs (10.0 MiB)"), "no final summary:\n\(final)")
            XCTAssertEqual(try Self.matches(Self.barPattern, final), [], "bars left on the screen:\n\(final)")
            XCTAssertEqual(try Self.matches(Self.overallPattern, final), [], "the overall line left on the screen:\n\(final)")
            let lines = Self.lines(final)
            XCTAssertTrue(lines.first?.hasPrefix("copied 3 blobs") == true, "the summary is the first line on a clean screen:\n\(final)")
            XCTAssertTrue(lines.contains("data.bin") && lines.contains("notes.bin") && lines.contains("manifest.json"), final)
            assertPulled(setup, into: out)
        }
    }

    /// A pull that fails after the bars were up (data.bin cannot be written: a directory of that name is in the
    /// way): the bars are erased, and ocictl's one error line is all the pane shows (no summary).
    func testTerminalErasesTheBarsWhenThePullFails() async throws {
        try await withArtifact { setup in
            let out = setup.scratch.file("failed")
            try setup.scratch.write("failed/data.bin/in-the-way", [1])
            let run = try await runInPane(setup, ["pull", setup.ref, "-o", out])
            let final = run.final
            print("the pane after the failed pull:\n\(Self.trimmed(final))")
            XCTAssertTrue(try run.captures.contains { try Self.matches(Self.barPattern, $0).contains { $0.hasPrefix("data.bin") } },
                          "the bars never showed")
            XCTAssertFalse(final.contains("[ocictl exited 0]"), final)
            XCTAssertEqual(try Self.matches(Self.barPattern, final), [], "bars left on the screen:\n\(final)")
            XCTAssertEqual(try Self.matches(Self.overallPattern, final), [], "the overall line left on the screen:\n\(final)")
            XCTAssertFalse(final.contains("copied "), "a summary after a failure:\n\(final)")
            let lines = Self.lines(final).filter { !$0.hasPrefix("[ocictl exited ") }
            XCTAssertEqual(lines.count, 1, "one error line on a clean screen:\n\(final)")
            XCTAssertTrue(lines.first?.contains("data.bin") == true, final)
        }
    }

    // MARK: plain

    func testPlainModeHasLinesPerBlobAPeriodicLineAndTheSummaryWithoutEscapes() async throws {
        try await withArtifact { setup in
            // stderr is a file: auto means plain.
            for (name, extra) in [("auto", [String]()), ("plain", ["--progress", "plain"])] {
                let out = setup.scratch.file("pulled-\(name)")
                let result = try await setup.cli.ok(["pull", setup.ref, "-o", out] + extra)
                XCTAssertFalse(result.stderr.contains(0x1B), "\(name): an escape byte in plain output\n\(result.stderrText)")
                XCTAssertFalse(result.stderr.contains(UInt8(ascii: "\r")), "\(name): a carriage return in plain output")
                let lines = result.stderrText.split(separator: "\n").map(String.init)
                let config = ProgressFormatName.short(EmptyJSON.digest)
                for expected in ["copied data.bin 8.0 MiB", "copied notes.bin 2.0 MiB", "copied \(config) 2 B"] {
                    XCTAssertTrue(lines.contains(expected), "\(name): no line \"\(expected)\"\n\(result.stderrText)")
                }
                XCTAssertTrue(lines.contains { $0.hasPrefix("copied sha256:") && $0.hasSuffix("(manifest)") },
                              "\(name): no line for the manifest\n\(result.stderrText)")
                // The large layer needs at least 6.4 s to arrive: a periodic line came while it did.
                XCTAssertTrue(lines.contains { $0.hasPrefix("progress: ") && $0.contains(" blobs, ") && $0.contains("/s") },
                              "\(name): no periodic progress line\n\(result.stderrText)")
                let summary = try XCTUnwrap(lines.last, result.summary)
                XCTAssertTrue(summary.hasPrefix("copied 3 blobs (10.0 MiB) and 1 manifest in "), "\(name): \(summary)")
                XCTAssertEqual(lines.filter { $0.hasPrefix("copied 3 blobs") }.count, 1, result.stderrText)
                XCTAssertTrue(result.stdoutText.split(separator: "\n").contains("data.bin"), "stdout is the file list as before")
                assertPulled(setup, into: out)
                print("ocictl pull (\(name)) stderr:\n\(result.stderrText)")
            }
        }
    }

    /// A pull that fails early prints its error alone: the lines plain mode held back are dropped, no summary.
    func testPlainModeFailureIsOneLine() async throws {
        try await withArtifact(throttled: false) { setup in
            let large = OCIDigest.of(setup.large)
            setup.registry.addFault(.init("GET", "/v2/**/blobs/\(large)", .status(404)))
            let result = try await setup.cli.run(["pull", setup.ref, "-o", setup.scratch.file("failed")])
            XCTAssertNotEqual(result.status, 0, result.summary)
            let lines = result.stderrText.split(separator: "\n", omittingEmptySubsequences: true)
            XCTAssertEqual(lines.count, 1, "one line on stderr\n\(result.stderrText)")
            XCTAssertFalse(result.stderrText.contains("copied "), result.stderrText)
        }
    }

    // MARK: quiet

    func testQuietAndNonePrintNothingOnStderr() async throws {
        try await withArtifact(throttled: false) { setup in
            for flags in [["--quiet"], ["-q"], ["--progress", "none"]] {
                let out = setup.scratch.file("pulled-\(flags.joined())")
                let result = try await setup.cli.ok(["pull", setup.ref, "-o", out] + flags)
                XCTAssertEqual(result.stderr, [], "\(flags): \(result.stderrText)")
                XCTAssertTrue(result.stdoutText.split(separator: "\n").contains("data.bin"), result.summary)
                assertPulled(setup, into: out)
            }
            // Flags before the subcommand too, and for push and copy.
            let push = try await setup.cli.ok(["-q", "push", "\(setup.registry.host)/progress/other:v1",
                                               setup.scratch.file("in/notes.bin")])
            XCTAssertEqual(push.stderr, [], push.stderrText)
            let copy = try await setup.cli.ok(["copy", setup.ref, "\(setup.registry.host)/progress/copy:v1", "--quiet"])
            XCTAssertEqual(copy.stderr, [], copy.stderrText)
        }
    }
}

/// `sha256:` and 8 hex characters, as the display names an untitled blob.
private enum ProgressFormatName {
    static func short(_ digest: OCIDigest) -> String { "\(digest.algorithm.rawValue):\(digest.encoded.prefix(8))" }
}

/// A private tmux server (its own socket, no configuration file) for one test.
///
/// tmux is started with posix_spawn rather than `Process`: a process the test runner starts from one of its
/// threads inherits that thread's blocked signals (SIGCHLD, SIGHUP and SIGTERM among them), and a tmux server
/// that never sees SIGCHLD, whose panes never see SIGHUP, neither notices its commands end nor stops; and
/// `Process` watches a child through a descriptor that the daemonised server would inherit and keep open.
private struct Tmux {
    let binary: String
    /// Where the socket and the outputs of tmux commands go.
    let directory: String
    static let session = "ocictl-progress"

    /// tmux on the PATH (or in /usr/bin), if installed.
    static var path: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let dirs = path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"]
        return dirs.map { $0 + "/tmux" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    func newSession(width: Int, height: Int, command: String) async throws {
        let result = try await run(["new-session", "-d", "-s", Self.session, "-x", String(width), "-y", String(height), command])
        guard result.status == 0 else { throw OCITestingError("tmux new-session failed (\(result.status)): \(result.output)") }
    }

    /// The visible pane, as text (lines the terminal wrapped joined again).
    func capture() async throws -> String {
        let result = try await run(["capture-pane", "-p", "-J", "-t", Self.session])
        guard result.status == 0 else { throw OCITestingError("tmux capture-pane failed (\(result.status)): \(result.output)") }
        return result.output
    }

    /// Stops this test's tmux server (and so the session's processes); no other server is touched.
    func killServer() async {
        _ = try? await run(["kill-server"])
    }

    /// Runs a tmux command against this server and waits for it (polling, with a generous cap); its output goes
    /// to a file.
    private func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let outputPath = directory + "/tmux-\(UUID().uuidString).out"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "TMUX")
        if (environment["TERM"] ?? "").isEmpty || environment["TERM"] == "dumb" { environment["TERM"] = "xterm-256color" }
        let pid = try Self.spawn(binary, ["-f", "/dev/null", "-S", directory + "/tmux.sock"] + arguments,
                                 environment: environment, output: outputPath)
        var status: Int32 = 0
        var exited = false
        for _ in 0..<3000 {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { exited = true; break }
            if r < 0 && errno != EINTR { throw OCITestingError("waitpid for tmux failed: errno \(errno)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        guard exited else {
            kill(pid, SIGKILL)
            _ = waitpid(pid, &status, 0)
            throw OCITestingError("tmux \(arguments.first ?? "") did not exit")
        }
        let output = FileManager.default.contents(atPath: outputPath).map { String(decoding: $0, as: UTF8.self) } ?? ""
        // Exited normally: the exit code; killed by a signal: 128 + the signal.
        let code = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return (code, output)
    }

    /// posix_spawn with no blocked signals, the usual signals at their defaults, stdin from /dev/null and
    /// stdout and stderr to `output`.
    private static func spawn(_ path: String, _ arguments: [String], environment: [String: String],
                              output: String) throws -> pid_t {
        #if os(Linux)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGTERM, SIGCHLD, SIGALRM, SIGUSR1, SIGUSR2, SIGWINCH] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([path] + arguments).map { strdup($0) }
        let envp = environment.map { strdup("\($0.key)=\($0.value)") }
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv + [nil], envp + [nil])
        guard rc == 0 else { throw OCITestingError("posix_spawn \(path) failed: \(rc)") }
        return pid
        #else
        throw XCTSkip("the tmux test spawns tmux with Linux's posix_spawn types")
        #endif
    }
}
