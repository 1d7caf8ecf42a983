import Foundation
import OCICache
import OCIContent
import OCISpec
import OCITesting
import XCTest

/// The blob cache with the real registry: a second pull is served with zero blob GETs, and two ocictl
/// processes pulling overlapping images into one cache directory both succeed with complete entries.
final class CacheIntegrationTests: XCTestCase {
    private func blobGETs(_ registry: TestRegistry) -> Int {
        let log = (try? String(contentsOfFile: registry.logFile, encoding: .utf8)) ?? ""
        return log.split(separator: "\n").filter { $0.contains("\"GET /v2/") && $0.contains("/blobs/sha256:") }.count
    }

    func testSecondPullIsServedFromTheCache() async throws {
        try Requirements.registry(.plain)
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        try await TestRegistry.withRegistry(.plain) { registry in
            let files = try TempDir(prefix: "cache-files")
            defer { files.remove() }
            let a = try files.write("a.bin", Bytes.random(300_000))
            let b = try files.write("b.bin", Bytes.random(5_000))
            let ref = "\(registry.host)/cache/app:v1"
            try await ocictl.ok(["push", ref, a, b])
            let cacheDir = files.file("cache")
            try await ocictl.ok(["pull", ref, "-o", files.file("out1"), "--cache-dir", cacheDir])
            let afterFirst = blobGETs(registry)
            XCTAssertGreaterThanOrEqual(afterFirst, 3)
            try await ocictl.ok(["pull", ref, "-o", files.file("out2"), "--cache-dir", cacheDir])
            XCTAssertEqual(blobGETs(registry), afterFirst, "the second pull fetched blobs from the registry")
            XCTAssertEqual(files.read("out2/a.bin"), files.read("a.bin"))
            XCTAssertEqual(files.read("out2/b.bin"), files.read("b.bin"))
            let info = try await ocictl.ok(["cache", "info", "--cache-dir", cacheDir, "--json"])
            XCTAssertTrue(info.stdoutText.contains("\"items\" : 3"), info.stdoutText)
            let pruned = try await ocictl.ok(["cache", "prune", "--cache-dir", cacheDir])
            XCTAssertTrue(pruned.stdoutText.contains("pruned 3 items"), pruned.stdoutText)
        }
    }

    func testTwoProcessesShareOneCacheDirectory() async throws {
        try Requirements.registry(.plain)
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        try await TestRegistry.withRegistry(.plain) { registry in
            let files = try TempDir(prefix: "cache-mp")
            defer { files.remove() }
            let shared = try files.write("shared.bin", Bytes.random(2_000_000))
            let one = try files.write("one.bin", Bytes.random(500_000))
            let two = try files.write("two.bin", Bytes.random(500_000))
            try await ocictl.ok(["push", "\(registry.host)/mp/a:v1", shared, one])
            try await ocictl.ok(["push", "\(registry.host)/mp/b:v1", shared, two])
            let cacheDir = files.file("cache")
            for round in 0..<3 {
                async let first = ocictl.run(["pull", "\(registry.host)/mp/a:v1", "-o", files.file("a\(round)"), "--cache-dir", cacheDir])
                async let second = ocictl.run(["pull", "\(registry.host)/mp/b:v1", "-o", files.file("b\(round)"), "--cache-dir", cacheDir])
                let (r1, r2) = try await (first, second)
                XCTAssertEqual(r1.status, 0, r1.summary)
                XCTAssertEqual(r2.status, 0, r2.summary)
                XCTAssertEqual(files.read("a\(round)/shared.bin"), files.read("shared.bin"))
                XCTAssertEqual(files.read("b\(round)/two.bin"), files.read("two.bin"))
            }
            // Every committed entry is complete and verified; no temporary file is left.
            let blobs = cacheDir + "/blobs/sha256"
            for name in try FileManager.default.contentsOfDirectory(atPath: blobs) {
                XCTAssertFalse(name.hasSuffix(".tmp"), "temporary file left: \(name)")
                let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: blobs + "/" + name)))
                XCTAssertEqual(OCIDigest.of(bytes).encoded, name)
            }
        }
    }
}
