import Foundation
@testable import OCICache
import OCIContent
import OCISpec
import OCISync
import XCTest

/// `fetch(_:orDownload:)`: one-pass fill, atomicity, coalescing, two instances sharing a directory.
final class ReadThroughTests: XCTestCase {
    func testMissDownloadsOnceAndFillsTheCache() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir))
        defer { cache.close() }
        let (d, bytes) = blob(5000)
        let upstream = CountingUpstream([d.digest: bytes], chunkSize: 1000)
        await assertEqualAsync(try await cache.fetch(d, orDownload: upstream.download(d)).collect(upTo: 10_000), bytes)
        XCTAssertEqual(filesInCache(dir), ["sha256/\(d.digest.encoded)"])
        await assertEqualAsync(try await cache.fetch(d, orDownload: upstream.download(d)).collect(upTo: 10_000), bytes)
        XCTAssertEqual(upstream.calls(d), 1)
        XCTAssertEqual(cache.info(), CacheInfo(size: 0, currentSize: 5000, items: 1))
    }

    func testStreamCanBeReadAgain() async throws {
        let cache = try ContentCache(options: options(try makeTemporaryDirectory(self)))
        defer { cache.close() }
        let (d, bytes) = blob(300)
        let upstream = CountingUpstream([d.digest: bytes], chunkSize: 100)
        let stream = try await cache.fetch(d, orDownload: upstream.download(d))
        await assertEqualAsync(try await stream.collect(upTo: 1000), bytes)
        await assertEqualAsync(try await stream.collect(upTo: 1000), bytes, "the second read comes from the cache")
        XCTAssertEqual(upstream.calls(d), 1)
    }

    func testFailedVerificationCommitsNothing() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir))
        defer { cache.close() }
        let (d, bytes) = blob(400)
        let bad = CountingUpstream([d.digest: randomBytes(400)], chunkSize: 100)
        let stream = try await cache.fetch(d, orDownload: bad.download(d))
        await assertThrowsAsync({ try await stream.collect(upTo: 1000) }) { error in
            guard case ContentError.digestMismatch = error else { return XCTFail("\(error)") }
        }
        let tooLong = CountingUpstream([d.digest: randomBytes(500)], chunkSize: 100)
        await assertThrowsAsync({ try await cache.fetch(d, orDownload: tooLong.download(d)).collect(upTo: 1000) }) { error in
            guard case ContentError.sizeMismatch = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(filesInCache(dir), [], "no entry and no temporary file")
        XCTAssertEqual(cache.flights.count, 0)
        XCTAssertEqual(cache.info().items, 0)

        let good = CountingUpstream([d.digest: bytes])
        await assertEqualAsync(try await cache.fetch(d, orDownload: good.download(d)).collect(upTo: 1000), bytes)
    }

    func testEarlyStopCommitsNothing() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir))
        defer { cache.close() }
        let (d, bytes) = blob(256)
        let upstream = CountingUpstream([d.digest: bytes], chunkSize: 16)
        let stream = try await cache.fetch(d, orDownload: upstream.download(d))
        do {
            var iterator = stream.makeAsyncIterator()
            let first = try await iterator.next()
            XCTAssertEqual(first.map { Array($0) }, Array(bytes[0..<16]))
            XCTAssertEqual(filesInCache(dir).count, 1, "the temporary file exists while the download runs")
        }
        XCTAssertEqual(filesInCache(dir), [])
        XCTAssertEqual(cache.flights.count, 0)
        XCTAssertEqual(cache.info().items, 0)
    }

    func testDownloadErrorsPropagate() async throws {
        let cache = try ContentCache(options: options(try makeTemporaryDirectory(self)))
        defer { cache.close() }
        let (d, _) = blob(10)
        await assertThrowsAsync({ try await cache.fetch(d, orDownload: CountingUpstream().download(d)) }) {
            XCTAssertTrue(isNotFound($0))
        }
        XCTAssertEqual(cache.flights.count, 0)
    }

    func testConcurrentFetchesDownloadEachDigestOnce() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir) { $0.eagerVerificationLimit = 8 * 1024 })
        defer { cache.close() }
        let blobs = (0..<4).map { i in blob(i.isMultiple(of: 2) ? 64 * 1024 : 4 * 1024) }
        let upstream = CountingUpstream(Dictionary(uniqueKeysWithValues: blobs.map { ($0.0.digest, $0.1) }),
                                        chunkSize: 4096, delay: .milliseconds(2))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<16 {
                let (d, bytes) = blobs[i % blobs.count]
                group.addTask {
                    let fetched = try await cache.fetch(d, orDownload: upstream.download(d)).collect(upTo: 1 << 20)
                    XCTAssertEqual(fetched, bytes)
                }
            }
            try await group.waitForAll()
        }
        for (d, _) in blobs { XCTAssertEqual(upstream.calls(d), 1, "\(d.digest)") }
        XCTAssertEqual(cache.info().items, 4)
        XCTAssertEqual(cache.flights.count, 0)
        XCTAssertEqual(filesInCache(dir).count, 4, "no temporary files left")
    }

    /// A caller that holds an unread stream does not block a second fetch of the same digest forever.
    func testStalledDownloadDoesNotBlockOtherReaders() async throws {
        let cache = try ContentCache(options: options(try makeTemporaryDirectory(self)) {
            $0.coalescingStallTimeout = .milliseconds(100)
        })
        defer { cache.close() }
        let (d, bytes) = blob(1000)
        let upstream = CountingUpstream([d.digest: bytes], chunkSize: 100)
        let first = try await cache.fetch(d, orDownload: upstream.download(d))
        let second = try await cache.fetch(d, orDownload: upstream.download(d))
        await assertEqualAsync(try await second.collect(upTo: 2000), bytes)
        await assertEqualAsync(try await first.collect(upTo: 2000), bytes)
        XCTAssertEqual(upstream.calls(d), 2)
    }

    /// When the downloading caller drops its stream unread, a waiting caller downloads instead.
    func testAbandonedDownloadHandsOverToAWaiter() async throws {
        let cache = try ContentCache(options: options(try makeTemporaryDirectory(self)))
        defer { cache.close() }
        let (d, bytes) = blob(1000)
        let upstream = CountingUpstream([d.digest: bytes], chunkSize: 100)
        var first: ByteStream? = try await cache.fetch(d, orDownload: upstream.download(d))
        let second = try await cache.fetch(d, orDownload: upstream.download(d))
        XCTAssertNotNil(first)
        first = nil
        await assertEqualAsync(try await second.collect(upTo: 2000), bytes)
        XCTAssertEqual(upstream.calls(d), 2)
        XCTAssertEqual(cache.info().items, 1)
    }

    func testCachingFetcher() async throws {
        let store = MemoryStore()
        let bytes = randomBytes(2000)
        let d = await store.push(bytes: bytes, mediaType: "application/octet-stream")
        let upstream = CountingFetcher(store: store)
        let cache = try ContentCache(options: options(try makeTemporaryDirectory(self)))
        defer { cache.close() }
        let fetcher = CachingFetcher(upstream: upstream, cache: cache)
        for _ in 0..<3 { await assertEqualAsync(try await fetcher.fetch(d).collect(upTo: 4000), bytes) }
        XCTAssertEqual(upstream.fetches.current, 1)
        let exists = try await fetcher.exists(d)
        XCTAssertTrue(exists)
        let (missing, _) = blob(5)
        let missingExists = try await fetcher.exists(missing)
        XCTAssertFalse(missingExists)
    }

    // MARK: Two instances on one directory (two processes)

    func testTwoInstancesFillOneDirectoryConcurrently() async throws {
        let dir = try makeTemporaryDirectory(self)
        let a = try ContentCache(options: options(dir) { $0.sizeLimit = 4 << 20 })
        let b = try ContentCache(options: options(dir) {
            $0.sizeLimit = 4 << 20
            $0.eagerVerificationLimit = 0
        })
        defer { a.close(); b.close() }
        let blobs = (0..<6).map { _ in blob(48 * 1024) }
        let upstream = CountingUpstream(Dictionary(uniqueKeysWithValues: blobs.map { ($0.0.digest, $0.1) }),
                                        chunkSize: 4096, delay: .milliseconds(1))
        let unexpected = Locked([String]())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, cache) in [a, b].enumerated() {
                for i in 0..<8 {
                    let (d, bytes) = blobs[(i + index) % blobs.count]
                    group.addTask {
                        let fetched = try await cache.fetch(d, orDownload: upstream.download(d)).collect(upTo: 1 << 20)
                        XCTAssertEqual(fetched, bytes)
                    }
                }
                // Readers that only look at the cache: they see a complete entry or none, never a partial one.
                group.addTask {
                    for round in 0..<40 {
                        let (d, bytes) = blobs[round % blobs.count]
                        do {
                            let fetched = try await cache.fetch(d).collect(upTo: 1 << 20)
                            if fetched != bytes { unexpected.withLock { $0.append("wrong bytes for \(d.digest)") } }
                        } catch where isNotFound(error) {
                            // not there yet
                        } catch {
                            unexpected.withLock { $0.append("\(error)") }
                        }
                        try await Task.sleep(for: .milliseconds(1))
                    }
                }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(unexpected.current, [])
        XCTAssertLessThanOrEqual(upstream.totalCalls, 12, "each instance downloads each digest at most once")
        XCTAssertEqual(filesInCache(dir).count, 6, "six entries, no temporary files")
        for (d, bytes) in blobs {
            await assertEqualAsync(try await a.fetch(d).collect(upTo: 1 << 20), bytes)
            await assertEqualAsync(try await b.fetch(d).collect(upTo: 1 << 20), bytes)
        }
    }

    /// Another instance's prune and garbage collection leave a write in progress alone.
    func testAnotherInstanceDoesNotRemoveAWriteInProgress() async throws {
        let dir = try makeTemporaryDirectory(self)
        let writer = try ContentCache(options: options(dir))
        let other = try ContentCache(options: options(dir) { $0.sizeLimit = 100 })
        defer { writer.close(); other.close() }
        let (old, oldBytes) = blob(90)
        try await other.push(old, content: ByteStream(bytes: oldBytes))
        let (d, bytes) = blob(256)
        let upstream = CountingUpstream([d.digest: bytes], chunkSize: 16)
        let stream = try await writer.fetch(d, orDownload: upstream.download(d))
        var iterator = stream.makeAsyncIterator()
        var received: [UInt8] = []
        if let chunk = try await iterator.next() { received += chunk }
        XCTAssertEqual(filesInCache(dir).filter { $0.hasSuffix(".tmp") }.count, 1)

        XCTAssertEqual(other.prune(), 1, "the committed entry goes, the temporary file stays")
        other.runGarbageCollection()
        XCTAssertEqual(filesInCache(dir).filter { $0.hasSuffix(".tmp") }.count, 1)

        while let chunk = try await iterator.next() { received += chunk }
        XCTAssertEqual(received, bytes)
        await assertEqualAsync(try await writer.fetch(d).collect(upTo: 1000), bytes)
        XCTAssertEqual(filesInCache(dir), ["sha256/\(d.digest.encoded)"])
    }

    /// An instance that removes a corrupt entry does not remove a good file another instance has put in its place.
    func testCorruptRemovalSparesAReplacedFile() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir) { $0.eagerVerificationLimit = 0 })
        defer { cache.close() }
        let (d, bytes) = blob(2000)
        try await cache.push(d, content: ByteStream(bytes: bytes))
        let path = entryPath(cache, d)
        var tampered = bytes
        tampered[0] ^= 1
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(tampered)))
        let stream = try await cache.fetch(d) // opens the corrupt file
        // Another process commits a good copy (a new inode) before the reader notices the corruption.
        let replacement = dir + "/blobs/sha256/.replacement.tmp"
        XCTAssertTrue(FileManager.default.createFile(atPath: replacement, contents: Data(bytes)))
        XCTAssertEqual(rename(replacement, path), 0)
        await assertThrowsAsync({ try await stream.collect(upTo: 4000) })
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
        await assertEqualAsync(try await cache.fetch(d).collect(upTo: 4000), bytes)
    }
}
