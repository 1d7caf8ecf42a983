import Foundation
import OCIGoCompat
import OCIKit
import OCITesting
import XCTest

/// `ocictl sync` between two real distribution registries: filters and prefixes, the no-op resync's cost in
/// the access logs, shards, failures with --keep-going, and a run killed with SIGKILL then run again.
final class SyncTests: XCTestCase {
    /// Pushes a small image (random config and layer, so every tag has its own digest) under each tag.
    @discardableResult
    static func pushImages(_ registry: RegistryUnderTest, repository: String, tags: [String],
                           layerSize: Int = 1_000) async throws -> [String: OCIDigest] {
        try await pushImages(host: registry.host, repository: repository, tags: tags, layerSize: layerSize)
    }

    @discardableResult
    static func pushImages(host: String, repository: String, tags: [String],
                           layerSize: Int = 1_000) async throws -> [String: OCIDigest] {
        let client = try Clients.make()
        return try await Clients.with(client) { client in
            var digests: [String: OCIDigest] = [:]
            for tag in tags {
                let image = try TestImage.make(config: Bytes.utf8("{\"tag\":\"\(tag)\",\"n\":\"\(UUID().uuidString)\"}"),
                                               layers: [Bytes.random(layerSize)])
                try await Upload.image(client, "\(host)/\(repository):\(tag)", image)
                digests[tag] = image.descriptor.digest
            }
            return digests
        }
    }

    /// The digest a registry's tag resolves to, nil when missing.
    static func digest(_ location: String) async throws -> OCIDigest? {
        var configuration = OCIClient.Configuration()
        configuration.registry.credentials = Keyring()
        configuration.registry.retry = .none
        return try await OCIClient.withClient(configuration: configuration) { client in
            do { return try await client.resolve(location).digest } catch where error.ociErrorKind == .notFound { return nil }
        }
    }

    static func items(_ result: ProcessResult, file: StaticString = #filePath, line: UInt = #line) -> [[String: Any]] {
        ((parseJSON(result.stdout, file: file, line: line) as? [String: Any])?["items"] as? [[String: Any]]) ?? []
    }

    static func summary(_ result: ProcessResult) -> [String: Any] {
        ((parseJSON(result.stdout) as? [String: Any])?["summary"] as? [String: Any]) ?? [:]
    }

    /// `source -> destination` of every item with `action`.
    static func pairs(_ items: [[String: Any]], action: String) -> Set<String> {
        Set(items.filter { $0["action"] as? String == action }.map { "\($0["source"] ?? "") -> \($0["destination"] ?? "")" })
    }

    private func withTwoRegistries(_ body: (RegistryUnderTest, RegistryUnderTest, TempDir, OCICtl) async throws -> Void) async throws {
        try Requirements.registry(.plain)
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let scratch = try TempDir(prefix: "it-sync")
        defer { scratch.remove() }
        try await RegistryUnderTest.withRegistry(kind: .distribution) { source in
            try await RegistryUnderTest.withRegistry(kind: .distribution) { destination in
                try await body(source, destination, scratch, ocictl)
            }
        }
    }

    func testFiltersAndPrefixesThenANoOpResyncCostsOneHeadPerTagAndSide() async throws {
        try await withTwoRegistries { source, destination, scratch, ocictl in
            let app = try await Self.pushImages(source, repository: "team/app",
                                                tags: ["latest", "v0.9.0", "v1.0.0", "v1.1.0", "v2.0.0-rc1", "v2.0.0"])
            let tool = try await Self.pushImages(source, repository: "team/tool", tags: ["1.0", "1.1", "2.0"])
            try await Self.pushImages(source, repository: "other/x", tags: ["a"])
            let config = try scratch.write("sync.yaml", Bytes.utf8("""
                concurrency: 3
                sync:
                  - source: \(source.host)/team/app
                    destination: \(destination.host)/mirror/app
                    tags: {include: ['^v'], exclude: ['-rc'], semver: '>=1.0.0'}
                  - source: \(source.host)/team/
                    destination: \(destination.host)/copy/
                    tags: {newest: 2}
                """))
            let first = try await ocictl.ok(["sync", config, "--json"])
            let items = Self.items(first)
            let expected: Set<String> = [
                "\(source.host)/team/app:v1.0.0 -> \(destination.host)/mirror/app:v1.0.0",
                "\(source.host)/team/app:v1.1.0 -> \(destination.host)/mirror/app:v1.1.0",
                "\(source.host)/team/app:v2.0.0 -> \(destination.host)/mirror/app:v2.0.0",
                // newest 2 by version
                "\(source.host)/team/app:v2.0.0 -> \(destination.host)/copy/app:v2.0.0",
                "\(source.host)/team/app:v2.0.0-rc1 -> \(destination.host)/copy/app:v2.0.0-rc1",
                "\(source.host)/team/tool:1.1 -> \(destination.host)/copy/tool:1.1",
                "\(source.host)/team/tool:2.0 -> \(destination.host)/copy/tool:2.0",
            ]
            XCTAssertEqual(Self.pairs(items, action: "copy"), expected, first.stdoutText)
            XCTAssertEqual(Self.summary(first)["copied"] as? Int, expected.count)
            XCTAssertEqual(Self.summary(first)["failed"] as? Int, 0)
            for tag in ["v1.0.0", "v1.1.0", "v2.0.0"] {
                let copied = try await Self.digest("\(destination.host)/mirror/app:\(tag)")
                XCTAssertEqual(copied, app[tag], tag)
            }
            let toolCopy = try await Self.digest("\(destination.host)/copy/tool:2.0")
            XCTAssertEqual(toolCopy, tool["2.0"])
            let notCopied = try await Self.digest("\(destination.host)/mirror/app:v0.9.0")
            XCTAssertNil(notCopied, "filtered out")

            // The same sync again: every tag unchanged, one HEAD per tag on each side, nothing else per tag.
            source.resetRequests()
            destination.resetRequests()
            let second = try await ocictl.ok(["sync", config, "--json"])
            XCTAssertEqual(Self.pairs(Self.items(second), action: "skip"), expected)
            XCTAssertEqual(Self.summary(second)["copied"] as? Int, 0)
            XCTAssertEqual(Self.summary(second)["bytes"] as? Int, 0)
            for (name, registry) in [("source", source), ("destination", destination)] {
                let requests = registry.requests()
                let heads = requests.filter { $0.method == "HEAD" && $0.path.contains("/manifests/") }
                XCTAssertEqual(heads.count, expected.count, "\(name): one HEAD per tag: \(requests)")
                XCTAssertEqual(registry.requestCount(nil, "/v2/**/blobs/**"), 0, "\(name): no blob request: \(requests)")
                XCTAssertEqual(requests.filter { ["PUT", "POST", "PATCH", "DELETE"].contains($0.method) }, [], name)
                XCTAssertEqual(requests.filter { $0.method == "GET" && $0.path.contains("/manifests/") }, [],
                               "\(name): no manifest GET")
            }
            // The source lists tags (one per repository) and the catalog (one page); the destination nothing else.
            XCTAssertEqual(destination.requests().filter { $0.method == "GET" && $0.path != "/v2/" }, [])
        }
    }

    func testShardsCoverTheWholeSetExactlyOnce() async throws {
        try await withTwoRegistries { source, destination, scratch, ocictl in
            let tags = (1...12).map { "t\($0)" }
            try await Self.pushImages(source, repository: "s/one", tags: tags)
            try await Self.pushImages(source, repository: "s/two", tags: Array(tags.prefix(5)))
            // One request at a time to each registry (the host limits), and still every image goes through.
            let config = try scratch.write("sync.yaml", Bytes.utf8("""
                hosts: {"\(source.host)": {concurrency: 1}, "\(destination.host)": {concurrency: 1, rps: 500}}
                sync:
                  - {source: "\(source.host)/s/", destination: "\(destination.host)/d/"}
                """))
            let all = Self.pairs(Self.items(try await ocictl.ok(["sync", config, "--dry-run", "--json"])), action: "copy")
            XCTAssertEqual(all.count, 17)
            let one = Self.pairs(Self.items(try await ocictl.ok(["sync", config, "--dry-run", "--json", "--shard", "1/2"])), action: "copy")
            let two = Self.pairs(Self.items(try await ocictl.ok(["sync", config, "--dry-run", "--json", "--shard", "2/2"])), action: "copy")
            XCTAssertTrue(one.isDisjoint(with: two), "\(one.intersection(two))")
            XCTAssertEqual(one.union(two), all)
            XCTAssertFalse(one.isEmpty || two.isEmpty, "both shards have work: \(one.count) + \(two.count)")
            // The same split again (stable), and JOB_COMPLETION_INDEX (0-based) picks the same shard.
            let oneAgain = Self.pairs(Self.items(try await ocictl.ok(["sync", config, "--dry-run", "--json", "--shard", "1/2"])), action: "copy")
            XCTAssertEqual(oneAgain, one)
            var env = Subprocess.isolatedEnvironment(home: ocictl.home.path)
            env["JOB_COMPLETION_INDEX"] = "1"
            let indexed = try await Subprocess.run(ocictl.binary, ["sync", config, "--dry-run", "--json", "--shard-count", "2"],
                                                   environment: env)
            XCTAssertEqual(indexed.status, 0, indexed.summary)
            XCTAssertEqual(Self.pairs(Self.items(indexed), action: "copy"), two)

            // Both shards run for real, then nothing is left to copy.
            try await ocictl.ok(["sync", config, "--shard", "1/2"])
            try await ocictl.ok(["sync", config, "--shard", "2/2"])
            let after = try await ocictl.ok(["sync", config, "--dry-run", "--json"])
            XCTAssertEqual(Self.pairs(Self.items(after), action: "copy"), [])
            XCTAssertEqual(Self.pairs(Self.items(after), action: "skip").count, 17)
        }
    }

    func testKeepGoingReportsAMissingRepositoryAndAnUnreachableHost() async throws {
        try await withTwoRegistries { source, destination, scratch, ocictl in
            try await Self.pushImages(source, repository: "good/app", tags: ["1", "2"])
            let closed = 1  // nothing listens on port 1 of loopback: connections are refused
            let config = try scratch.write("sync.yaml", Bytes.utf8("""
                sync:
                  - {source: "\(source.host)/missing/repo", destination: "\(destination.host)/m/repo"}
                  - {source: "\(source.host)/good/app", destination: "127.0.0.1:\(closed)/unreachable/app"}
                  - {source: "\(source.host)/good/app", destination: "\(destination.host)/good/app"}
                """))
            let stopped = try await ocictl.run(["sync", config])
            XCTAssertEqual(stopped.status, 1, stopped.summary)
            let notCopied = try await Self.digest("\(destination.host)/good/app:1")
            XCTAssertNil(notCopied, "without --keep-going the first failure stops the sync")

            let result = try await ocictl.run(["sync", config, "--keep-going"])
            XCTAssertEqual(result.status, 1, "some failed: \(result.summary)")
            XCTAssertTrue(result.stdoutText.contains("FAILED \(source.host)/missing/repo"), result.summary)
            XCTAssertTrue(result.stdoutText.contains("not found"), result.summary)
            XCTAssertTrue(result.stdoutText.contains("127.0.0.1:\(closed)"), result.summary)
            XCTAssertTrue(result.stdoutText.contains("copied 2, skipped 0, deleted 0, failed 3"), result.summary)
            let copied = try await Self.digest("\(destination.host)/good/app:2")
            XCTAssertNotNil(copied, "the good job ran")

            let json = try await ocictl.run(["sync", config, "--keep-going", "--json"])
            XCTAssertEqual(json.status, 1)
            XCTAssertEqual(Self.summary(json)["failed"] as? Int, 3)
            XCTAssertEqual(Self.summary(json)["skipped"] as? Int, 2)
        }
    }

    func testARunKilledMidwayCompletesWhenRunAgain() async throws {
        try await withTwoRegistries { source, destination, scratch, ocictl in
            let tags = (1...16).map { "k\($0)" }
            let digests = try await Self.pushImages(source, repository: "kill/app", tags: tags, layerSize: 3 << 20)
            let config = try scratch.write("sync.yaml", Bytes.utf8("""
                concurrency: 2
                hosts: {"\(destination.host)": {rps: 10}}
                sync:
                  - {source: "\(source.host)/kill/app", destination: "\(destination.host)/kill/app"}
                """))
            // Killed once a few images are through.
            let out = scratch.file("out.txt")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: ocictl.binary)
            process.arguments = ["sync", config]
            process.environment = Subprocess.isolatedEnvironment(home: ocictl.home.path)
            FileManager.default.createFile(atPath: out, contents: nil)
            process.standardOutput = FileHandle(forWritingAtPath: out)
            process.standardError = FileHandle.nullDevice
            try process.run()
            var lines = 0
            for _ in 0..<3000 where process.isRunning {
                lines = Bytes.text(FileManager.default.contents(atPath: out).map { [UInt8]($0) } ?? []).components(separatedBy: "copied ").count - 1
                if lines >= 3 { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationReason, .uncaughtSignal, "killed midway (after \(lines) images)")
            var present = 0
            for tag in tags where try await Self.digest("\(destination.host)/kill/app:\(tag)") != nil { present += 1 }
            XCTAssertLessThan(present, tags.count, "the kill came before the end")

            let again = try await ocictl.ok(["sync", config, "--json"])
            XCTAssertEqual(Self.summary(again)["failed"] as? Int, 0)
            for tag in tags {
                let copied = try await Self.digest("\(destination.host)/kill/app:\(tag)")
                XCTAssertEqual(copied, digests[tag], tag)
            }
            let after = try await ocictl.ok(["sync", config, "--dry-run", "--json"])
            XCTAssertEqual(Self.pairs(Self.items(after), action: "skip").count, tags.count)
        }
    }

    func testDryRunPrintsThePlanAndPruneDeletesFromALayout() async throws {
        try await withTwoRegistries { source, _, scratch, ocictl in
            try await Self.pushImages(source, repository: "p/app", tags: ["1", "2", "3"])
            let layout = scratch.file("layout")
            let config = try scratch.write("sync.yaml", Bytes.utf8("""
                sync:
                  - {source: "\(source.host)/p/app", destination: "ocidir://\(layout)", prune: true, tags: {exclude: ['^3$']}}
                """))
            let plan = try await ocictl.ok(["sync", config, "--dry-run"])
            XCTAssertTrue(plan.stdoutText.contains("copy \(source.host)/p/app:1 -> ocidir://\(layout):1"), plan.stdoutText)
            XCTAssertTrue(plan.stdoutText.contains("would copy 2"), plan.stdoutText)
            XCTAssertFalse(FileManager.default.fileExists(atPath: layout), "a dry run writes nothing")
            try await ocictl.ok(["sync", config])
            // A tag the source does not have (or the filter drops) is pruned.
            try await ocictl.ok(["copy", "ocidir://\(layout):1", "ocidir://\(layout):old"])
            let pruned = try await ocictl.ok(["sync", config, "--json"])
            XCTAssertEqual(Self.pairs(Self.items(pruned), action: "delete"),
                           ["\(source.host)/p/app:old -> ocidir://\(layout):old"])
            let tags = try await ocictl.ok(["tags", "ocidir://\(layout)"]).stdoutText
            XCTAssertEqual(tags.split(separator: "\n").sorted(), ["1", "2"])
        }
    }

    /// A source that reports Docker Hub's rate-limit headers (the in-process registry answers the HEADs after
    /// the plan's with scripted ones: first 1 pull left, then none): the first image is copied, the rest fail
    /// with a message that says what is left, and nothing else is pulled.
    func testARateLimitThatWouldRunOutStopsClearly() async throws {
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let scratch = try TempDir(prefix: "it-sync-ratelimit")
        defer { scratch.remove() }
        let tags = ["t1", "t2", "t3"]
        func limited(_ remaining: Int) -> InProcessRegistry.Fault.Behavior {
            .respond(status: 200, headers: ["RateLimit-Limit": "100;w=21600", "RateLimit-Remaining": "\(remaining);w=21600",
                                            "Docker-RateLimit-Source": "198.51.100.7"])
        }
        // The plan's three HEADs pass; the engine's first check sees 1 left, later ones none (a fault counts the
        // requests that reach it).
        let faults = [
            InProcessRegistry.Fault("HEAD", "/v2/hub/app/manifests/t*", limited(1), times: 1, skip: tags.count),
            InProcessRegistry.Fault("HEAD", "/v2/hub/app/manifests/t*", limited(0), skip: tags.count),
        ]
        try await withInProcessRegistry { registry in
            try await Self.pushImages(host: registry.host, repository: "hub/app", tags: tags)
            registry.setFaults(faults)
            registry.resetRequests()
            let layout = scratch.file("layout")
            let config = try scratch.write("sync.yaml", Bytes.utf8("""
                concurrency: 1
                hosts: {"\(registry.host)": {rateLimit: stop}}
                sync:
                  - {source: "\(registry.host)/hub/app", destination: "ocidir://\(layout)"}
                """))
            let result = try await ocictl.run(["sync", config, "--keep-going"])
            XCTAssertEqual(result.status, 1, result.summary)
            XCTAssertTrue(result.stdoutText.contains("copied 1, skipped 0, deleted 0, failed 2"), result.summary)
            XCTAssertTrue(result.stdoutText.contains("the pull rate limit would run out (0 of 100 pulls left per 21600 s, counted for 198.51.100.7"),
                          result.summary)
            XCTAssertTrue(result.stdoutText.contains("rateLimit: wait"), result.summary)
            let manifestGETs = registry.requests().filter { $0.method == "GET" && $0.path.contains("/manifests/") }
            XCTAssertEqual(manifestGETs.count, 1, "one image pulled: \(manifestGETs)")
        }
    }

    /// `rateLimit: wait` against a registry whose window is short (`RateLimit-Limit: 2;w=2`): the first check
    /// finds the budget exhausted, the engine waits as the window says (a second, not a fixed quarter hour),
    /// checks again, finds it refilled and copies every image; the wait is reported on stderr and in the JSON
    /// summary.
    func testARateLimitWaitFollowsTheWindowThenCopiesEverything() async throws {
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let scratch = try TempDir(prefix: "it-sync-ratewait")
        defer { scratch.remove() }
        let tags = ["t1", "t2", "t3"]
        func limited(_ remaining: Int) -> InProcessRegistry.Fault.Behavior {
            .respond(status: 200, headers: ["RateLimit-Limit": "2;w=2", "RateLimit-Remaining": "\(remaining);w=2"])
        }
        // The plan's three HEADs pass; the engine's first check sees none left, every later one a refilled window.
        let faults = [
            InProcessRegistry.Fault("HEAD", "/v2/hub/app/manifests/t*", limited(0), times: 1, skip: tags.count),
            InProcessRegistry.Fault("HEAD", "/v2/hub/app/manifests/t*", limited(2), skip: tags.count),
        ]
        try await withInProcessRegistry { registry in
            let digests = try await Self.pushImages(host: registry.host, repository: "hub/app", tags: tags)
            registry.setFaults(faults)
            let layout = scratch.file("layout")
            let config = try scratch.write("sync.yaml", Bytes.utf8("""
                concurrency: 1
                hosts: {"\(registry.host)": {rateLimit: wait}}
                sync:
                  - {source: "\(registry.host)/hub/app", destination: "ocidir://\(layout)"}
                """))
            let result = try await ocictl.run(["sync", config, "--json"])
            XCTAssertEqual(result.status, 0, result.summary)
            let summary = Self.summary(result)
            XCTAssertEqual(summary["copied"] as? Int, 3, result.summary)
            XCTAssertEqual(summary["failed"] as? Int, 0, result.summary)
            XCTAssertEqual(summary["rateLimitWaits"] as? Int, 1, result.summary)
            XCTAssertEqual(summary["rateLimitWaitSeconds"] as? Int, 1, "one pull comes back every 2/2 s: \(result.summary)")
            XCTAssertTrue(result.stderrText.contains("\(registry.host): waiting 1 s for the rate-limit window (0 of 2 pulls left per 2 s"),
                          result.stderrText)
            for tag in tags {
                let copied = try await OCIClient.withClient(configuration: OCIClient.Configuration()) { client in
                    try await client.resolve("ocidir://\(layout):\(tag)").digest
                }
                XCTAssertEqual(copied, digests[tag], tag)
            }
        }
    }

    /// `reserve` keeps pulls back: with 3 left and 2 reserved one image is copied and the others stop with a
    /// message that names the reserve. A reserve at or above the whole limit can never be met, so even
    /// `rateLimit: wait` stops at once instead of waiting forever.
    func testAReserveKeepsPullsBackAndAnImpossibleBudgetStopsEvenWithWait() async throws {
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let scratch = try TempDir(prefix: "it-sync-reserve")
        defer { scratch.remove() }
        let tags = ["t1", "t2", "t3"]
        func limited(_ limit: String, _ remaining: Int) -> InProcessRegistry.Fault.Behavior {
            .respond(status: 200, headers: ["RateLimit-Limit": limit, "RateLimit-Remaining": "\(remaining)"])
        }
        try await withInProcessRegistry { registry in
            try await Self.pushImages(host: registry.host, repository: "hub/app", tags: tags)
            registry.setFaults([
                InProcessRegistry.Fault("HEAD", "/v2/hub/app/manifests/t*", limited("100;w=21600", 3), times: 1, skip: tags.count),
                InProcessRegistry.Fault("HEAD", "/v2/hub/app/manifests/t*", limited("100;w=21600", 2), skip: tags.count),
            ])
            let config = try scratch.write("reserve.yaml", Bytes.utf8("""
                concurrency: 1
                hosts: {"\(registry.host)": {rateLimit: stop, reserve: 2}}
                sync:
                  - {source: "\(registry.host)/hub/app", destination: "ocidir://\(scratch.file("reserved"))"}
                """))
            let reserved = try await ocictl.run(["sync", config, "--keep-going"])
            XCTAssertEqual(reserved.status, 1, reserved.summary)
            XCTAssertTrue(reserved.stdoutText.contains("copied 1, skipped 0, deleted 0, failed 2"), reserved.summary)
            XCTAssertTrue(reserved.stdoutText.contains("(2 of 100 pulls left per 21600 s, 2 kept in reserve; the next image needs 1)"),
                          reserved.summary)

            registry.setFaults([InProcessRegistry.Fault("HEAD", "/v2/hub/app/manifests/t*", limited("4;w=2", 4), skip: tags.count)])
            let impossible = try scratch.write("impossible.yaml", Bytes.utf8("""
                concurrency: 1
                hosts: {"\(registry.host)": {rateLimit: wait, reserve: 4}}
                sync:
                  - {source: "\(registry.host)/hub/app", destination: "ocidir://\(scratch.file("never"))"}
                """))
            let never = try await ocictl.run(["sync", impossible, "--keep-going"])
            XCTAssertEqual(never.status, 1, never.summary)
            XCTAssertTrue(never.stdoutText.contains("copied 0, skipped 0, deleted 0, failed 3"), never.summary)
            XCTAssertTrue(never.stdoutText.contains("waiting cannot help"), never.summary)
            XCTAssertFalse(never.stderrText.contains("waiting"), "no wait: \(never.stderrText)")
        }
    }

    func testConfigurationErrorsNameTheKey() async throws {
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let scratch = try TempDir(prefix: "it-sync-config")
        defer { scratch.remove() }
        let config = try scratch.write("bad.yaml", Bytes.utf8("""
            sync:
              - source: a.example/x
                destination: b.example/x
                tagz: {include: ['^v']}
            """))
        let result = try await ocictl.run(["sync", config])
        XCTAssertEqual(result.status, 1, result.summary)
        XCTAssertTrue(result.stderrText.contains("sync[0].tagz: unknown key"), result.stderrText)
    }
}
