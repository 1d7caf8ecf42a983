import Foundation
@testable import OCICache
import OCIContent
import OCISpec
import OCISync
import XCTest

/// A partial entry (left by a killed process, or by a broken download with `keepsBrokenDownloads`) is resumed by
/// the next miss of the blob from where it stopped (asking the upstream for the rest only), and the caller still
/// reads the whole blob; by default a failure the process sees leaves nothing partial.
final class ResumeTests: XCTestCase {
    struct Broken: Error {}

    /// A source that serves `bytes` from an offset, records the offsets asked for, and (when `failAfter` is set)
    /// breaks off after that many bytes.
    final class Source: @unchecked Sendable {
        let bytes: [UInt8]
        let offsets = Locked<[Int64]>([])
        init(_ bytes: [UInt8]) { self.bytes = bytes }

        func open(_ offset: Int64, failAfter: Int?) -> ByteStream {
            offsets.withLock { $0.append(offset) }
            let rest = Array(bytes[Int(offset)...])
            let sent = Locked(0)
            return ByteStream {
                let inner = ByteStream(bytes: rest, chunkSize: 64 * 1024).makeAsyncIterator()
                let box = Locked(inner)
                return {
                    if let failAfter, sent.current >= failAfter { throw Broken() }
                    var iterator = box.current
                    let chunk = try await iterator.next()
                    box.withLock { $0 = iterator }
                    sent.withLock { $0 += chunk?.count ?? 0 }
                    return chunk
                }
            }
        }
    }

    func testABrokenDownloadIsResumedFromItsPartialEntry() async throws {
        let dir = try makeTemporaryDirectory(self)
        // Kept on a failure this process sees only when asked for; a killed process always leaves it.
        let cache = try ContentCache(options: options(dir) { $0.keepsBrokenDownloads = true })
        defer { cache.close() }
        let (descriptor, bytes) = blob(1 << 20)
        let source = Source(bytes)

        let first = try await cache.fetch(descriptor, orDownloadFrom: { source.open($0, failAfter: 300 * 1024) })
        await assertThrowsAsync({ try await first.collect(upTo: 2 << 20) }) { XCTAssertTrue($0 is Broken, "\($0)") }
        let partial = PartialFile.path(for: entryPath(cache, descriptor))
        let kept = (try FileManager.default.attributesOfItem(atPath: partial)[.size] as? NSNumber)?.intValue ?? 0
        XCTAssertGreaterThan(kept, 0, "the partial entry stays")

        let second = try await cache.fetch(descriptor, orDownloadFrom: { source.open($0, failAfter: nil) })
        let read = try await second.collect(upTo: 2 << 20)
        XCTAssertEqual(read.count, bytes.count)
        XCTAssertTrue(read == bytes, "the caller reads the whole blob")
        XCTAssertEqual(source.offsets.current, [0, Int64(kept)], "the second download asked for the rest only")
        XCTAssertEqual(filesInCache(dir), ["sha256/\(descriptor.digest.encoded)"], "the entry, and no partial file")
        let hit = try await cache.fetch(descriptor).collect(upTo: 2 << 20)
        XCTAssertTrue(hit == bytes)
    }

    func testAWrongPrefixIsNotKept() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir))
        defer { cache.close() }
        let (descriptor, bytes) = blob(256 * 1024)
        try FileManager.default.createDirectory(atPath: dir + "/blobs/sha256", withIntermediateDirectories: true)
        // A partial entry whose bytes are wrong (a torn write, a bad disk).
        FileManager.default.createFile(atPath: PartialFile.path(for: entryPath(cache, descriptor)), contents: Data(repeating: 7, count: 1000))
        let source = Source(bytes)
        let stream = try await cache.fetch(descriptor, orDownloadFrom: { source.open($0, failAfter: nil) })
        await assertThrowsAsync({ try await stream.collect(upTo: 1 << 20) }) { error in
            XCTAssertEqual(error.ociErrorKind, .integrity, "\(error)")
        }
        XCTAssertEqual(filesInCache(dir), [], "the wrong partial entry is gone")
        let again = try await cache.fetch(descriptor, orDownloadFrom: { source.open($0, failAfter: nil) }).collect(upTo: 1 << 20)
        XCTAssertTrue(again == bytes)
    }

    func testByDefaultABrokenDownloadLeavesNothingPartial() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir))
        defer { cache.close() }
        let (descriptor, bytes) = blob(1 << 20)
        let source = Source(bytes)
        let first = try await cache.fetch(descriptor, orDownloadFrom: { source.open($0, failAfter: 300 * 1024) })
        await assertThrowsAsync({ try await first.collect(upTo: 2 << 20) }) { XCTAssertTrue($0 is Broken, "\($0)") }
        XCTAssertEqual(filesInCache(dir), [], "nothing partial")
        let second = try await cache.fetch(descriptor, orDownloadFrom: { source.open($0, failAfter: nil) })
        let read = try await second.collect(upTo: 2 << 20)
        XCTAssertTrue(read == bytes)
        XCTAssertEqual(source.offsets.current, [0, 0], "started over")
    }

    /// What a killed process leaves (a prefix in the partial entry), resumed by the next miss; an upstream that
    /// cannot start at the offset is read from the start and the prefix skipped.
    func testADeadWritersPrefixIsResumedAndAnUpstreamWithoutRangesStillWorks() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir))
        defer { cache.close() }
        let (descriptor, bytes) = blob(1 << 20)
        try FileManager.default.createDirectory(atPath: dir + "/blobs/sha256", withIntermediateDirectories: true)
        let partialPath = PartialFile.path(for: entryPath(cache, descriptor))
        XCTAssertTrue(FileManager.default.createFile(atPath: partialPath, contents: Data(bytes[0..<400_000])))
        let source = Source(bytes)
        struct NoRanges: Error {}
        let stream = try await cache.fetch(descriptor, orDownloadFrom: { offset in
            if offset > 0 {
                source.offsets.withLock { $0.append(-offset) }
                throw NoRanges()
            }
            return source.open(0, failAfter: nil)
        })
        let read = try await stream.collect(upTo: 2 << 20)
        XCTAssertTrue(read == bytes)
        XCTAssertEqual(source.offsets.current, [-400_000, 0], "asked for the rest, then (refused) for the whole")
        XCTAssertEqual(filesInCache(dir), ["sha256/\(descriptor.digest.encoded)"])
    }

    /// Concurrent misses of one blob download it once, as the plain read-through does.
    func testConcurrentMissesDownloadOnce() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir))
        defer { cache.close() }
        let (descriptor, bytes) = blob(2 << 20)
        let source = Source(bytes)
        let reads = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await cache.fetch(descriptor, orDownloadFrom: { source.open($0, failAfter: nil) }).collect(upTo: 4 << 20)
                }
            }
            var all: [[UInt8]] = []
            for try await read in group { all.append(read) }
            return all
        }
        XCTAssertEqual(reads.count, 4)
        XCTAssertTrue(reads.allSatisfy { $0 == bytes })
        XCTAssertEqual(source.offsets.current, [0], "one download")
    }
}
