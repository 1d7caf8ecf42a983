import Foundation
import OCIContent
import OCISpec
import XCTest
@testable import OCICache

/// The Go cache tests (§5.4 "Cache") and the store contract: lookup, tamper handling, atomic writes,
/// info/prune, index rebuild, lifecycle.
final class ContentCacheTests: XCTestCase {
    // MARK: Go: "should read data from the in memory cache"

    func testReadsTwiceWithTheOverlay() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir) { $0.inMemoryOverlay = true })
        defer { cache.close() }
        let (d, bytes) = blob(10)
        try await cache.push(d, content: ByteStream(bytes: bytes))
        let first = try await cache.fetch(d).collect(upTo: 100)
        let second = try await cache.fetch(d).collect(upTo: 100)
        XCTAssertEqual(first, bytes)
        XCTAssertEqual(second, bytes)
        XCTAssertEqual(cache.info().overlayItems, 1)
    }

    // MARK: Go: "should detect tampered data and remove the tempered blob"

    func testTamperedEntryIsRemovedAndDownloadedAgain() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir))
        defer { cache.close() }
        let (d, bytes) = blob(10)
        try await cache.push(d, content: ByteStream(bytes: bytes))
        let path = entryPath(cache, d)
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(randomBytes(10))))

        await assertThrowsAsync({ try await cache.fetch(d) }) { XCTAssertTrue(isNotFound($0), "\($0)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "the tampered file is deleted")
        XCTAssertEqual(cache.info().items, 0)

        let upstream = CountingUpstream([d.digest: bytes])
        let fetched = try await cache.fetch(d, orDownload: upstream.download(d)).collect(upTo: 100)
        XCTAssertEqual(fetched, bytes)
        XCTAssertEqual(upstream.calls(d), 1)
        await assertEqualAsync(try await cache.fetch(d).collect(upTo: 100), bytes, "the re-download refilled the cache")
    }

    // MARK: Go: "should detect tampered data (size shortcut) and remove the tempered blob"

    func testTruncatedOrGrownEntryIsRemoved() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir))
        defer { cache.close() }
        let (d, bytes) = blob(5)
        try await cache.push(d, content: ByteStream(bytes: bytes))
        let path = entryPath(cache, d)
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(randomBytes(10))))

        await assertThrowsAsync({ try await cache.fetch(d) }) { XCTAssertTrue(isNotFound($0), "\($0)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        let fetched = try await cache.fetch(d, orDownload: CountingUpstream([d.digest: bytes]).download(d))
            .collect(upTo: 100)
        XCTAssertEqual(fetched, bytes)
    }

    /// Entries above the eager limit are verified while streamed: the read fails at its end, the entry is
    /// deleted, and the next read-through downloads again.
    func testTamperedLargeEntryFailsTheStreamAndIsRemoved() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir) { $0.eagerVerificationLimit = 0 })
        defer { cache.close() }
        let (d, bytes) = blob(3000)
        try await cache.push(d, content: ByteStream(bytes: bytes))
        let path = entryPath(cache, d)
        var tampered = bytes
        tampered[1500] ^= 0xff
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(tampered)))

        let stream = try await cache.fetch(d)
        await assertThrowsAsync({ try await stream.collect(upTo: 10_000) }) { error in
            guard case ContentError.digestMismatch = error else { return XCTFail("\(error)") }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        await assertThrowsAsync({ try await cache.fetch(d) }) { XCTAssertTrue(isNotFound($0)) }
        let upstream = CountingUpstream([d.digest: bytes])
        await assertEqualAsync(try await cache.fetch(d, orDownload: upstream.download(d)).collect(upTo: 10_000), bytes)
        XCTAssertEqual(upstream.calls(d), 1)
        await assertEqualAsync(try await cache.fetch(d).collect(upTo: 10_000), bytes)
    }

    func testMissIsNotFound() async throws {
        let cache = try ContentCache(options: options(try makeTemporaryDirectory(self)))
        defer { cache.close() }
        let (d, _) = blob(3)
        await assertThrowsAsync({ try await cache.fetch(d) }) { XCTAssertTrue(isNotFound($0)) }
        let exists = try await cache.exists(d)
        XCTAssertFalse(exists)
    }

    func testLayoutKeepsTheAlgorithm() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir))
        defer { cache.close() }
        let (d, bytes) = blob(4)
        try await cache.push(d, content: ByteStream(bytes: bytes))
        XCTAssertEqual(filesInCache(dir), ["sha256/\(d.digest.encoded)"])
        let exists = try await cache.exists(d)
        XCTAssertTrue(exists)
        var wrongSize = d
        wrongSize.size = 5
        let existsWithWrongSize = try await cache.exists(wrongSize)
        XCTAssertFalse(existsWithWrongSize)
    }

    // MARK: Atomic writes

    func testPushOfMismatchingContentLeavesNothing() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir))
        defer { cache.close() }
        let (d, _) = blob(100)
        await assertThrowsAsync({ try await cache.push(d, content: ByteStream(bytes: randomBytes(100))) }) { error in
            guard case ContentError.digestMismatch = error else { return XCTFail("\(error)") }
        }
        await assertThrowsAsync({ try await cache.push(d, content: ByteStream(bytes: randomBytes(101))) }) { error in
            guard case ContentError.sizeMismatch = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(filesInCache(dir), [], "no entry and no temporary file")
        XCTAssertEqual(cache.info().items, 0)
        XCTAssertEqual(cache.info().currentSize, 0)
    }

    func testPushOfAnExistingEntryIsANoOpAndCountedOnce() async throws {
        let cache = try ContentCache(options: options(try makeTemporaryDirectory(self)))
        defer { cache.close() }
        let (d, bytes) = blob(100)
        try await cache.push(d, content: ByteStream(bytes: bytes))
        // The stream is not read: a stream that would fail proves it.
        try await cache.push(d, content: ByteStream { { throw CancellationError() } })
        XCTAssertEqual(cache.info(), CacheInfo(size: 0, currentSize: 100, items: 1))
    }

    func testConcurrentPushesOfOneDigestLeaveOneEntry() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir))
        defer { cache.close() }
        let (d, bytes) = blob(64 * 1024)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask { try await cache.push(d, content: ByteStream(bytes: bytes, chunkSize: 4096)) }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(filesInCache(dir), ["sha256/\(d.digest.encoded)"])
        XCTAssertEqual(cache.info(), CacheInfo(size: 0, currentSize: 64 * 1024, items: 1))
        await assertEqualAsync(try await cache.fetch(d).collect(upTo: 1 << 20), bytes)
    }

    func testNegativeSizesAreRejected() async throws {
        let cache = try ContentCache(options: options(try makeTemporaryDirectory(self)))
        defer { cache.close() }
        let (original, bytes) = blob(10)
        var d = original
        d.size = -1
        await assertThrowsAsync({ try await cache.push(d, content: ByteStream(bytes: bytes)) }) { error in
            guard case CacheError.invalidDescriptor = error else { return XCTFail("\(error)") }
        }
        // Read-through still works, uncached and verified by digest.
        let fetched = try await cache.fetch(d, orDownload: { ByteStream(bytes: bytes) }).collect(upTo: 100)
        XCTAssertEqual(fetched, bytes)
        XCTAssertEqual(cache.info().items, 0)
    }

    // MARK: Info and prune

    func testInfoAndPrune() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir) {
            $0.sizeLimit = 1 << 20
            $0.inMemoryOverlay = true
            $0.overlaySizeLimit = 1 << 16
        })
        defer { cache.close() }
        var descriptors: [Descriptor] = []
        for size in [10, 20, 30] {
            let (d, bytes) = blob(size)
            try await cache.push(d, content: ByteStream(bytes: bytes))
            descriptors.append(d)
        }
        _ = try await cache.fetch(descriptors[0]).collect(upTo: 100)
        XCTAssertEqual(cache.info(), CacheInfo(size: 1 << 20, currentSize: 60, items: 3,
                                               overlaySize: 1 << 16, overlayCurrentSize: 10, overlayItems: 1))

        XCTAssertEqual(cache.prune(), 3)
        XCTAssertEqual(cache.info(), CacheInfo(size: 1 << 20, currentSize: 0, items: 0, overlaySize: 1 << 16))
        XCTAssertEqual(filesInCache(dir), [])
        await assertThrowsAsync({ try await cache.fetch(descriptors[0]) }) { XCTAssertTrue(isNotFound($0)) }
    }

    func testPruneSkipsYoungTemporaryFilesAndRemovesStaleOnes() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir))
        defer { cache.close() }
        let young = dir + "/blobs/sha256/.abc.1.young.tmp"
        let stale = dir + "/blobs/sha256/.abc.1.stale.tmp"
        XCTAssertTrue(FileManager.default.createFile(atPath: young, contents: Data([1])))
        XCTAssertTrue(FileManager.default.createFile(atPath: stale, contents: Data([1])))
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -7200)], ofItemAtPath: stale)
        XCTAssertEqual(cache.prune(), 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: young))
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale))
    }

    // MARK: Open: the index is rebuilt from the files

    func testIndexIsRebuiltOnOpen() async throws {
        let dir = try makeTemporaryDirectory(self)
        var contents: [(Descriptor, [UInt8])] = []
        do {
            let cache = try ContentCache(options: options(dir))
            for size in [100, 200, 300] {
                let (d, bytes) = blob(size)
                try await cache.push(d, content: ByteStream(bytes: bytes))
                contents.append((d, bytes))
            }
            cache.close()
        }
        let stale = dir + "/blobs/sha256/.x.1.crashed.tmp"
        XCTAssertTrue(FileManager.default.createFile(atPath: stale, contents: Data([1, 2, 3])))
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -7200)], ofItemAtPath: stale)
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/blobs/sha256/not-a-digest", contents: Data([1])))

        let reopened = try ContentCache(options: options(dir))
        defer { reopened.close() }
        XCTAssertEqual(reopened.info(), CacheInfo(size: 0, currentSize: 600, items: 3))
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale), "a crashed writer's old temporary file is removed")
        for (d, bytes) in contents {
            await assertEqualAsync(try await reopened.fetch(d).collect(upTo: 1000), bytes)
        }
    }

    func testOpenRebuildEnforcesTheLimit() async throws {
        let dir = try makeTemporaryDirectory(self)
        do {
            let cache = try ContentCache(options: options(dir))
            for _ in 0..<10 {
                let (d, bytes) = blob(100)
                try await cache.push(d, content: ByteStream(bytes: bytes))
            }
            cache.close()
        }
        let limited = try ContentCache(options: options(dir) { $0.sizeLimit = 500 })
        defer { limited.close() }
        XCTAssertLessThanOrEqual(limited.info().currentSize, 400)
    }

    func testEntriesOfAnotherInstanceAreDiscoveredOnMiss() async throws {
        let dir = try makeTemporaryDirectory(self)
        let a = try ContentCache(options: options(dir))
        let b = try ContentCache(options: options(dir))
        defer { a.close(); b.close() }
        let (d, bytes) = blob(50)
        try await a.push(d, content: ByteStream(bytes: bytes))
        XCTAssertEqual(b.info().items, 0)
        await assertEqualAsync(try await b.fetch(d).collect(upTo: 100), bytes)
        XCTAssertEqual(b.info(), CacheInfo(size: 0, currentSize: 50, items: 1))
    }

    // MARK: Location and lifecycle

    func testPathThatIsAFileIsRejected() throws {
        let dir = try makeTemporaryDirectory(self)
        let file = dir + "/file"
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data([1])))
        XCTAssertThrowsError(try ContentCache(options: options(file))) { error in
            guard case CacheError.notADirectory(let path) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, file)
        }
    }

    func testMissingDirectoryIsCreated() async throws {
        let dir = try makeTemporaryDirectory(self) + "/nested/cache"
        let cache = try ContentCache(options: options(dir))
        defer { cache.close() }
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/blobs/sha256", isDirectory: &isDirectory))
        XCTAssertTrue(isDirectory.boolValue)
    }

    func testTemporaryDefaultDirectoryIsRemovedOnCloseAndCloseIsIdempotent() async throws {
        let cache = try ContentCache(options: options(nil))
        let dir = cache.directory
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir))
        let (d, bytes) = blob(10)
        try await cache.push(d, content: ByteStream(bytes: bytes))
        cache.close()
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir))
        cache.close()
        await assertThrowsAsync({ try await cache.fetch(d) }) { error in
            guard case CacheError.closed = error else { return XCTFail("\(error)") }
        }
    }

    func testGivenDirectoryIsKeptOnClose() async throws {
        let dir = try makeTemporaryDirectory(self)
        let cache = try ContentCache(options: options(dir))
        cache.close()
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir))
    }

    func testInvalidConfigurationIsRejected() throws {
        let dir = try makeTemporaryDirectory(self)
        XCTAssertThrowsError(try ContentCache(options: options(dir) { $0.gc.lowThreshold = 0.9 })) { error in
            guard case CacheError.invalidConfiguration = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try ContentCache(options: options(dir) { $0.gc.highThreshold = 1.5 }))
        XCTAssertThrowsError(try ContentCache(options: options(dir) { $0.overlayGC.preservedHitsProportion = -1 }))
        XCTAssertThrowsError(try ContentCache(options: options(dir) { $0.sizeLimit = -1 }))
    }

    // MARK: Unwritable directory

    /// Root ignores permission bits, so the directory is made unusable another way: `blobs` is a regular file,
    /// which makes creating `blobs/sha256` fail for every user.
    func testUnwritableDirectoryFailsWritesButPassesDownloadsThrough() async throws {
        let dir = try makeTemporaryDirectory(self)
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/blobs", contents: Data("not a dir".utf8)))
        let cache = try ContentCache(options: options(dir))
        defer { cache.close() }
        let (d, bytes) = blob(64)

        await assertThrowsAsync({ try await cache.push(d, content: ByteStream(bytes: bytes)) }) { error in
            guard case CacheError.writeFailed(let path, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(path.hasPrefix(dir + "/blobs"), path)
            XCTAssertTrue("\(error)".contains("writable"), "\(error)")
        }

        let upstream = CountingUpstream([d.digest: bytes], chunkSize: 16)
        for _ in 0..<2 {
            let fetched = try await cache.fetch(d, orDownload: upstream.download(d)).collect(upTo: 100)
            XCTAssertEqual(fetched, bytes)
        }
        XCTAssertEqual(upstream.calls(d), 2, "nothing could be cached")
        let exists = try await cache.exists(d)
        XCTAssertFalse(exists)
        XCTAssertEqual(cache.prune(), 0)
    }
}
