import Foundation
@testable import OCICache
import OCIContent
import OCISpec
import OCISync
import XCTest

/// Two real processes sharing one cache directory: the test binary starts itself again to run the child half.
final class CrossProcessTests: XCTestCase {
    static let directoryVariable = "OCICACHE_TEST_CHILD_DIRECTORY"

    /// The same content in both processes: blob `i` is derived from `i`.
    static func sharedBlobs() -> [(Descriptor, [UInt8])] {
        (0..<8).map { i in
            let bytes = (0..<(48 * 1024 + i * 1000)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i &* 7 &+ ($0 >> 9)) }
            return (Descriptor.of(bytes, mediaType: "application/octet-stream"), bytes)
        }
    }

    /// Fills the cache through read-through from 8 tasks, while readers check that entries are whole or absent,
    /// and (in the child) garbage collection with a small limit and a prune run against the other's writes.
    static func exercise(directory: String, isChild: Bool) async throws -> [String] {
        let cache = try ContentCache(options: options(directory) {
            $0.sizeLimit = isChild ? 200 * 1024 : nil
            $0.eagerVerificationLimit = isChild ? 0 : 4 << 20
        })
        defer { cache.close() }
        let blobs = sharedBlobs()
        let upstream = CountingUpstream(Dictionary(uniqueKeysWithValues: blobs.map { ($0.0.digest, $0.1) }),
                                        chunkSize: 4096, delay: .milliseconds(1))
        let problems = Locked([String]())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for round in 0..<3 {
                for (i, (d, bytes)) in blobs.enumerated() where (i + round).isMultiple(of: 2) || round == 1 {
                    group.addTask {
                        let fetched = try await cache.fetch(d, orDownload: upstream.download(d)).collect(upTo: 1 << 20)
                        if fetched != bytes { problems.withLock { $0.append("read-through returned wrong bytes") } }
                    }
                }
            }
            group.addTask {
                for round in 0..<60 {
                    let (d, bytes) = blobs[round % blobs.count]
                    do {
                        let fetched = try await cache.fetch(d).collect(upTo: 1 << 20)
                        if fetched != bytes { problems.withLock { $0.append("a reader saw wrong bytes") } }
                    } catch where isNotFound(error) {
                    } catch {
                        problems.withLock { $0.append("a reader failed: \(error)") }
                    }
                    if isChild, round == 30 { cache.prune() }
                    try await Task.sleep(for: .milliseconds(1))
                }
            }
            try await group.waitForAll()
        }
        return problems.current
    }

    /// The child half; skipped unless started by `testTwoProcessesShareOneDirectory`.
    func testChildProcess() async throws {
        guard let directory = ProcessInfo.processInfo.environment[Self.directoryVariable] else {
            throw XCTSkip("runs only as the child process of testTwoProcessesShareOneDirectory")
        }
        let problems = try await Self.exercise(directory: directory, isChild: true)
        XCTAssertEqual(problems, [])
    }

    func testTwoProcessesShareOneDirectory() async throws {
        #if os(Linux)
        let directory = try makeTemporaryDirectory(self)
        let log = directory + ".child.log"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: log) }
        XCTAssertTrue(FileManager.default.createFile(atPath: log, contents: nil))
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        child.arguments = ["OCICacheTests.CrossProcessTests/testChildProcess"]
        var environment = ProcessInfo.processInfo.environment
        environment[Self.directoryVariable] = directory
        child.environment = environment
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        child.standardOutput = output
        child.standardError = output
        try child.run()

        let problems = try await Self.exercise(directory: directory, isChild: false)
        while child.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        try output.close()
        let childLog = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        XCTAssertEqual(child.terminationStatus, 0, childLog)
        XCTAssertTrue(childLog.contains("testChildProcess' passed"), childLog)
        XCTAssertEqual(problems, [])

        // What is left is whole: every entry verifies and no temporary file remains.
        XCTAssertEqual(filesInCache(directory).filter { $0.hasSuffix(".tmp") }, [])
        let cache = try ContentCache(options: options(directory))
        defer { cache.close() }
        for (d, bytes) in Self.sharedBlobs() where FileManager.default.fileExists(atPath: entryPath(cache, d)) {
            await assertEqualAsync(try await cache.fetch(d).collect(upTo: 1 << 20), bytes)
        }
        #else
        throw XCTSkip("starts the test binary as a child process, which needs Linux's /proc/self/exe")
        #endif
    }
}
