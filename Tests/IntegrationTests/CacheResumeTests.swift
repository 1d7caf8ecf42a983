import Foundation
import OCIGoCompat
import OCIKit
import OCITesting
import XCTest

/// `ocictl pull --cache-dir` killed with SIGKILL mid-blob, then run again: the partial cache entry the dead
/// process left is continued with a `Range` request (the registry answers 206), the pull ends byte-exact and the
/// cache holds the verified entry and nothing partial. A registry that ignores `Range` (200 and the whole blob)
/// still completes the resumed pull.
final class CacheResumeTests: XCTestCase {
    /// `CACHE/blobs/sha256/.HEX.partial`, the partial entry of `digest`.
    static func partialEntry(_ cache: String, _ digest: OCIDigest) -> String {
        "\(cache)/blobs/\(digest.algorithm.rawValue)/.\(digest.encoded).partial"
    }

    /// Hidden files (partial entries, temporaries) in the cache, and entries whose content is not their digest.
    static func cacheProblems(_ cache: String) -> [String] {
        var problems: [String] = []
        let blobs = cache + "/blobs"
        for algorithm in (try? FileManager.default.contentsOfDirectory(atPath: blobs)) ?? [] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: blobs + "/" + algorithm)) ?? [] {
                if name.hasPrefix(".") {
                    problems.append("left over: \(algorithm)/\(name)")
                    continue
                }
                let bytes = FileManager.default.contents(atPath: "\(blobs)/\(algorithm)/\(name)").map { [UInt8]($0) } ?? []
                if OCIDigest.of(bytes).encoded != name { problems.append("corrupt: \(algorithm)/\(name)") }
            }
        }
        return problems
    }

    func testAPullKilledMidBlobContinuesItsCacheEntryWithARange() async throws {
        try Requirements.registry(.plain)
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let scratch = try TempDir(prefix: "it-cache-resume")
        defer { scratch.remove() }
        try await RegistryUnderTest.withRegistry(kind: .distribution) { registry in
            let content = ResumableWriteTests.randomBytes(96 << 20)
            let file = try scratch.write("in/data.bin", content)
            let ref = "\(registry.host)/cache/resume:v1"
            try await ocictl.ok(["push", ref, file])
            let layer = OCIDigest.of(content)
            let cache = scratch.file("cache")
            let output = scratch.file("out")
            let arguments = ["pull", "--quiet", ref, "-o", output, "--cache-dir", cache]
            let partial = Self.partialEntry(cache, layer)

            let killedAt = try await ResumableWriteTests.killWhenGrown(ocictl, arguments, file: partial, bytes: 4 << 20)
            XCTAssertGreaterThan(killedAt, 0, "killed while the layer was being cached")
            let kept = ResumableWriteTests.fileSize(partial)
            XCTAssertGreaterThan(kept, 0, "the partial cache entry survives the kill")
            XCTAssertLessThan(kept, Int64(content.count))

            // The registry logs the killed download when its connection closes: wait for that line, then count.
            for _ in 0..<100 where !registry.requests().contains(where: { $0.method == "GET" && $0.path.hasSuffix(layer.description) }) {
                try await Task.sleep(for: .milliseconds(50))
            }
            registry.resetRequests()
            try await ocictl.ok(arguments)
            let gets = registry.requests().filter { $0.method == "GET" && $0.path.hasSuffix(layer.description) }
            XCTAssertEqual(gets.map(\.status), [206], "the cache entry was continued with one Range request: \(gets)")
            let pulled = FileManager.default.contents(atPath: output + "/data.bin").map { [UInt8]($0) }
            XCTAssertTrue(pulled == content, "byte-exact")
            XCTAssertEqual(Self.cacheProblems(cache), [], "no partial file, every entry verified")
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(cache)/blobs/sha256/\(layer.encoded)"), "the entry is in the cache")

            // And a third pull is served from the cache: no blob GET at all.
            registry.resetRequests()
            try await ocictl.ok(["pull", "--quiet", ref, "-o", scratch.file("again"), "--cache-dir", cache])
            XCTAssertEqual(registry.requests().filter { $0.method == "GET" && $0.path.contains("/blobs/") }, [])
        }
    }

    func testARegistryThatIgnoresRangeStillCompletesTheResumedPull() async throws {
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let scratch = try TempDir(prefix: "it-cache-norange")
        defer { scratch.remove() }
        try await withInProcessRegistry { registry in
            let content = ResumableWriteTests.randomBytes(8 << 20)
            let file = try scratch.write("in/data.bin", content)
            let ref = "\(registry.host)/cache/norange:v1"
            try await ocictl.ok(["push", ref, file])
            let layer = OCIDigest.of(content)
            let blobPath = "/v2/cache/norange/blobs/\(layer)"
            let cache = scratch.file("cache")
            let arguments = ["pull", "--quiet", ref, "-o", scratch.file("out"), "--cache-dir", cache]
            let partial = Self.partialEntry(cache, layer)

            // A slow body, so that the kill comes mid-blob.
            registry.setFaults([InProcessRegistry.Fault("GET", blobPath, .slowBody(chunkSize: 256 << 10, interval: .milliseconds(50)))])
            let killedAt = try await ResumableWriteTests.killWhenGrown(ocictl, arguments, file: partial, bytes: 1 << 20)
            XCTAssertGreaterThan(killedAt, 0, "killed while the layer was being cached")
            let kept = ResumableWriteTests.fileSize(partial)
            XCTAssertGreaterThan(kept, 0, "the partial cache entry survives the kill")
            XCTAssertLessThan(kept, Int64(content.count))

            // Now the registry ignores Range: 200 and the whole blob.
            registry.setFaults([InProcessRegistry.Fault("GET", blobPath, .respond(
                status: 200, headers: ["Content-Type": "application/octet-stream", "Content-Length": "\(content.count)",
                                       "Docker-Content-Digest": layer.description], body: content))])
            registry.resetRequests()
            let output = scratch.file("out2")
            try await ocictl.ok(["pull", "--quiet", ref, "-o", output, "--cache-dir", cache])
            let gets = registry.requests().filter { $0.method == "GET" && $0.path == blobPath }
            XCTAssertEqual(gets.map(\.status), [200], "\(gets)")
            XCTAssertEqual(gets.first?.header("Range"), "bytes=\(kept)-", "the resume asked for the rest only")
            let pulled = FileManager.default.contents(atPath: output + "/data.bin").map { [UInt8]($0) }
            XCTAssertTrue(pulled == content, "byte-exact")
            XCTAssertEqual(Self.cacheProblems(cache), [], "no partial file, every entry verified")
        }
    }
}
