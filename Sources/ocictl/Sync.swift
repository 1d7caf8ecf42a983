import ArgumentParser
import Foundation
import OCIKit
import OCIMirror

/// `ocictl sync CONFIG.yaml`: parses, runs `Mirror`, prints a line per item and a summary (or JSON).
struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Mirror repositories, registry prefixes, layouts and archives as a YAML file says (docs/mirroring.md).")
    @Argument(help: "The sync configuration (YAML).") var config: String
    @Flag(name: .customLong("dry-run"), help: "Print the plan (copy, skip, delete) without moving anything.") var dryRun = false
    @Flag(name: .customLong("keep-going"), help: "Go on after a failing image; the exit status says some failed.") var keepGoing = false
    @Option(name: .customLong("shard"), help: "Do only shard K of N (K/N, from 1), split by repository and tag.") var shard: String?
    @Option(name: .customLong("shard-count"),
            help: "With JOB_COMPLETION_INDEX (a Kubernetes Indexed Job): the number of shards (the Job's completions).")
    var shardCount: Int?
    @OptionGroup var global: GlobalOptions

    struct JSONOutput: Encodable {
        var dryRun: Bool
        var shard: String?
        var items: [MirrorItem]
        var summary: MirrorReport.Summary
    }

    func run() async throws {
        let configuration = try MirrorConfiguration.load(path: config)
        let chosen: MirrorShard?
        if let shard {
            chosen = try MirrorShard(parsing: shard)
        } else {
            chosen = try MirrorShard.fromEnvironment(ProcessInfo.processInfo.environment,
                                                     count: shardCount ?? configuration.shards)
        }
        let json = global.json
        let options = Mirror.Options(dryRun: dryRun, keepGoing: keepGoing, shard: chosen) { event in
            if case .waiting(let host, let seconds, let reason) = event {
                // On stderr in both modes: stdout stays one JSON document with --json.
                FileHandle.standardError.write(Data("ocictl: \(host): waiting \(seconds) s for the rate-limit window (\(reason))\n".utf8))
                return
            }
            guard !json else { return }
            switch event {
            case .planned(let item) where dryRun && item.status == .planned:
                Self.printLine(Self.line(item))
            case .finished(let item):
                Self.printLine(Self.line(item))
            case .planned, .waiting:
                break
            }
        }
        let report = try await global.withClient(adjusting: { configuration.apply(to: &$0) }) { client in
            await Mirror(configuration: configuration, client: client).run(options)
        }
        if json {
            try Output.json(JSONOutput(dryRun: report.dryRun, shard: report.shard, items: report.items, summary: report.summary))
        } else {
            // Items not run were not printed as they finished.
            for item in report.items where item.status == .notRun {
                Self.printLine(Self.line(item))
            }
            Self.printLine(Self.summary(report))
        }
        if report.hasFailures { throw ExitCode(ExitStatus.failure) }
    }

    /// A line on stdout at once (unbuffered), so that a log or a pipe sees each item as it finishes.
    static func printLine(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func line(_ item: MirrorItem) -> String {
        let what: String
        switch item.status {
        case .planned: what = item.action.rawValue
        case .done:
            switch item.action {
            case .copy: what = "copied"
            case .skip: what = "skipped"
            case .delete: what = "deleted"
            case .list: what = "listed"
            }
        case .failed: what = "FAILED"
        case .notRun: what = "not run"
        }
        var text = item.action == .list ? "\(what) \(item.source)" : "\(what) \(item.source) -> \(item.destination)"
        if let digest = item.sourceDigest, item.action != .delete { text += " \(digest)" }
        if item.status == .done, item.action == .copy { text += " (\(item.copied) copied, \(item.skipped) skipped, \(item.mounted) mounted, \(item.bytes) bytes)" }
        if item.status == .done, item.action == .delete, item.removedBlobs > 0 {
            text += " (\(item.removedBlobs) unreferenced blobs removed, \(item.removedBytes) bytes)"
        }
        if item.status == .planned, let reason = item.reason { text += " (\(reason))" }
        if let error = item.error { text += ": \(error)" }
        return text
    }

    static func summary(_ report: MirrorReport) -> String {
        let s = report.summary
        let verb = report.dryRun ? "would copy" : "copied"
        var text = "sync\(report.shard.map { " shard \($0)" } ?? ""): \(verb) \(s.copied), skipped \(s.skipped), "
        text += "\(report.dryRun ? "would delete" : "deleted") \(s.deleted)"
        if s.removedBlobs > 0 { text += " (\(s.removedBlobs) blobs, \(s.removedBytes) bytes removed)" }
        text += ", failed \(s.failed)"
        if s.notRun > 0 { text += ", not run \(s.notRun)" }
        text += ", \(s.bytes) bytes, \(String(format: "%.2f", s.seconds)) s"
        return text
    }
}
