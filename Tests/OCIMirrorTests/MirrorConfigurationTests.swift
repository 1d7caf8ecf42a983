import OCIKit
@testable import OCIMirror
import XCTest

final class MirrorConfigurationTests: XCTestCase {
    func testTheIssueExampleParses() throws {
        let configuration = try MirrorConfiguration.parse("""
            hosts: {"docker.io": {concurrency: 3, rps: 5}}
            sync:
              - source: registry.example.com/team/app          # a repository, or a prefix ending in / (catalog)
                destination: mirror.example.com/team/app       # a repository, a prefix, ocidir:// or oci-archive://
                tags: {include: ['^v'], exclude: ['-rc$'], semver: '>=1.0.0', newest: 5}
                platforms: [linux/amd64, linux/arm64]          # or all (the default)
                referrers: true
            """)
        XCTAssertEqual(configuration.hosts["docker.io"], MirrorConfiguration.HostSettings(concurrency: 3, rps: 5))
        XCTAssertEqual(configuration.sync.count, 1)
        let job = configuration.sync[0]
        XCTAssertEqual(job.source, "registry.example.com/team/app")
        XCTAssertEqual(job.tags.include, ["^v"])
        XCTAssertEqual(job.tags.exclude, ["-rc$"])
        XCTAssertEqual(job.tags.newest, 5)
        XCTAssertEqual(job.platforms, .some([Platform(architecture: "amd64", os: "linux"), Platform(architecture: "arm64", os: "linux")]))
        XCTAssertTrue(job.referrers)
        XCTAssertEqual(try job.tags.apply(["v0.9", "v1.0.0", "v1.2.0-rc", "v1.1", "latest", "v2.0.0-rc"]), ["v1.0.0", "v1.1"])
        let limits = configuration.hostLimits["docker.io"]
        XCTAssertEqual(limits?.maxConcurrentRequests, 3)
        XCTAssertEqual(limits?.requestsPerSecond, 5)
    }

    func testDefaultsAndTagLists() throws {
        let configuration = try MirrorConfiguration.parse("""
            sync:
              - {source: a.example/x, destination: "ocidir:///tmp/x", tags: [v1, v2], platforms: all}
            """)
        XCTAssertEqual(configuration.concurrency, 4)
        XCTAssertEqual(configuration.sync[0].tags.names, ["v1", "v2"])
        XCTAssertEqual(configuration.sync[0].platforms, .all)
        XCTAssertFalse(configuration.sync[0].referrers)
        XCTAssertEqual(try configuration.sync[0].tags.apply(["v3"]), ["v1", "v2"])
    }

    func testErrorsNameTheKeyAndWhy() {
        func message(_ text: String) -> String {
            do {
                _ = try MirrorConfiguration.parse(text, name: "sync.yaml")
                return "parsed"
            } catch {
                XCTAssertEqual(error.ociErrorKind, .invalidArgument)
                return String(describing: error)
            }
        }
        XCTAssertTrue(message("sync: []").contains("no jobs"))
        XCTAssertTrue(message("hosts: {}").contains("sync: the key is required"), message("hosts: {}"))
        XCTAssertTrue(message("sync: [{source: a.example/x}]").contains("sync[0].destination: the key is required"))
        XCTAssertTrue(message("sync: [{source: a/x, destination: b/x, tags: {inclde: [x]}}]").contains("sync[0].tags.inclde: unknown key"))
        XCTAssertTrue(message("sync: [{source: a/x, destination: b/x, tags: {include: ['(']}}]").contains("invalid regular expression"))
        XCTAssertTrue(message("sync: [{source: a/x, destination: b/x, tags: {semver: '>=x'}}]").contains("is not a version"))
        XCTAssertTrue(message("sync: [{source: a/x, destination: b/x, platforms: [linux]}]").contains("sync[0].platforms"))
        XCTAssertTrue(message("hosts: {h: {rps: 0}}\nsync: [{source: a/x, destination: b/x}]").contains("hosts.h.rps"))
        XCTAssertTrue(message("hosts: {h: {rateLimit: later}}\nsync: [{source: a/x, destination: b/x}]").contains("stop, wait or ignore"))
        XCTAssertTrue(message("sync: [{source: a/x, destination: b/x, referrers: maybe}]").contains("sync[0].referrers"),
                      message("sync: [{source: a/x, destination: b/x, referrers: maybe}]"))
        XCTAssertTrue(message("sync: [").contains("sync.yaml"))
    }

    func testShardsAreStableAndPartitionTheWork() throws {
        // FNV-1a 64 of a known string, so the split never changes between releases.
        XCTAssertEqual(MirrorShard.stableHash(""), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(MirrorShard.stableHash("a"), 0xaf63_dc4c_8601_ec8c)
        let shards = try (1...3).map { try MirrorShard(index: $0, count: 3) }
        var counts = [0, 0, 0]
        for i in 0..<300 {
            let owners = shards.filter { $0.owns(repository: "r.example/app", tag: "v\(i)") }
            XCTAssertEqual(owners.count, 1)
            counts[owners[0].index - 1] += 1
        }
        XCTAssertTrue(counts.allSatisfy { $0 > 60 }, "\(counts)")
        XCTAssertEqual(try MirrorShard(parsing: "2/3"), shards[1])
        XCTAssertThrowsError(try MirrorShard(parsing: "0/3"))
        XCTAssertThrowsError(try MirrorShard(parsing: "4/3"))
        XCTAssertThrowsError(try MirrorShard(parsing: "x"))
        XCTAssertEqual(try MirrorShard.fromEnvironment(["JOB_COMPLETION_INDEX": "2"], count: 3), shards[2])
        XCTAssertNil(try MirrorShard.fromEnvironment([:], count: 3))
        XCTAssertThrowsError(try MirrorShard.fromEnvironment(["JOB_COMPLETION_INDEX": "0"], count: nil)) { error in
            XCTAssertTrue(String(describing: error).contains("--shard-count"))
        }
    }

    func testEndpointsAndDestinationsOfPrefixes() throws {
        XCTAssertEqual(try MirrorEndpoint(parsing: "r.example/team/"), .prefix(host: "r.example", path: "team"))
        XCTAssertEqual(try MirrorEndpoint(parsing: "r.example/"), .prefix(host: "r.example", path: ""))
        XCTAssertEqual(try MirrorEndpoint(parsing: "ocidir:///tmp/l:v1"), .layout(path: "/tmp/l", tag: "v1"))
        XCTAssertEqual(try MirrorEndpoint(parsing: "oci-archive:///tmp/a.tar:v1"), .archive(path: "/tmp/a.tar", tag: "v1"))
        XCTAssertThrowsError(try MirrorEndpoint(parsing: "r.example/app@sha256:" + String(repeating: "a", count: 64)))
        let prefix = try MirrorEndpoint(parsing: "m.example/mirror/")
        XCTAssertEqual(try prefix.destination(relative: "app/x", many: true, job: "j").description, "m.example/mirror/app/x")
        let layout = try MirrorEndpoint(parsing: "ocidir:///tmp/out")
        XCTAssertEqual(try layout.destination(relative: "app", many: true, job: "j"), .layout("/tmp/out/app"))
        XCTAssertEqual(try layout.destination(relative: "app", many: false, job: "j"), .layout("/tmp/out"))
        let repository = try MirrorEndpoint(parsing: "m.example/one")
        XCTAssertThrowsError(try repository.destination(relative: "app", many: true, job: "j"))
        XCTAssertEqual(try Mirror.store(of: "127.0.0.1:5000/a/b:v1"), .registry(try Reference(parsing: "127.0.0.1:5000/a/b", defaultTag: nil)))
        XCTAssertEqual(try Mirror.store(of: "ocidir:///tmp/x:v1"), .layout("/tmp/x"))
    }
}
