import Foundation
import OCIContent
import OCILayout
import OCISpec
import OCITestFixtures
import XCTest

/// Content that does not match its descriptor is never kept, and tampered blobs are caught on fetch.
final class LayoutVerificationTests: XCTestCase {
    private var tmp: TemporaryDirectory!
    private var store: OCILayoutStore!
    private let bytes = pseudoRandomBytes(count: 300_000, seed: 42)
    private var descriptor: Descriptor { Descriptor.of(bytes, mediaType: MediaType.ociLayerGzip) }

    override func setUpWithError() throws {
        tmp = try TemporaryDirectory()
        store = try OCILayoutStore(path: tmp.sub("layout"))
    }

    override func tearDown() { tmp?.remove() }

    private var sha256Dir: String { store.path + "/blobs/sha256" }

    /// Asserts that neither the blob nor any temporary file is left.
    private func assertNothingLeft(file: StaticString = #filePath, line: UInt = #line) async throws {
        let exists = try await store.exists(descriptor)
        XCTAssertFalse(exists, file: file, line: line)
        XCTAssertEqual(listing(sha256Dir), [], file: file, line: line)
        XCTAssertEqual(listing(store.path), ["blobs", "index.json", "oci-layout"], file: file, line: line)
    }

    func testWrongBytesAreNotKept() async throws {
        var wrong = bytes
        wrong[1234] ^= 0xff
        let error = await asyncError { try await store.push(descriptor, content: ByteStream(bytes: wrong, chunkSize: 4096)) }
        guard case ContentError.digestMismatch(let expected, _)? = error as? ContentError else {
            return XCTFail("\(String(describing: error))")
        }
        XCTAssertEqual(expected, descriptor.digest)
        try await assertNothingLeft()
    }

    func testTooManyBytesAreNotKept() async throws {
        let error = await asyncError {
            try await store.push(descriptor, content: ByteStream(bytes: bytes + [0], chunkSize: 65536))
        }
        guard case ContentError.sizeMismatch(_, let expected, let actual)? = error as? ContentError else {
            return XCTFail("\(String(describing: error))")
        }
        XCTAssertEqual(expected, Int64(bytes.count))
        XCTAssertGreaterThan(actual, expected)
        try await assertNothingLeft()
    }

    func testShortStreamIsNotKept() async throws {
        let error = await asyncError {
            try await store.push(descriptor, content: ByteStream(bytes: Array(bytes.prefix(1000))))
        }
        guard case ContentError.sizeMismatch(_, _, let actual)? = error as? ContentError else {
            return XCTFail("\(String(describing: error))")
        }
        XCTAssertEqual(actual, 1000)
        try await assertNothingLeft()
    }

    func testFailingStreamIsNotKept() async throws {
        let truncated = chunkedStream([Array(bytes.prefix(100_000)), Array(bytes[100_000..<200_000])],
                                      failingWith: InjectedFailure())
        let error = await asyncError { try await store.push(descriptor, content: truncated) }
        XCTAssertTrue(error is InjectedFailure, "\(String(describing: error))")
        try await assertNothingLeft()
    }

    func testCancelledPushIsNotKept() async throws {
        let store = self.store!
        let descriptor = self.descriptor
        let firstChunk = Array(bytes.prefix(1000))
        let gate = Gate()
        let endless = ByteStream {
            let sent = Flag()
            return {
                if await sent.setOnce() { await gate.open(); return firstChunk }
                try await Task.sleep(nanoseconds: 50_000_000)
                return [0]
            }
        }
        let task = Task { try await store.push(descriptor, content: endless) }
        await gate.wait()
        task.cancel()
        let result = await task.result
        guard case .failure = result else { return XCTFail("the push should fail") }
        try await assertNothingLeft()
    }

    func testTamperedBlobFailsOnFetch() async throws {
        try await store.push(descriptor, content: ByteStream(bytes: bytes))
        let path = store.blobPath(for: descriptor.digest)
        var tampered = bytes
        tampered[bytes.count - 1] ^= 0x01
        try Data(tampered).write(to: URL(fileURLWithPath: path))
        let error = await asyncError { try await store.fetch(descriptor).collect(upTo: 1 << 20) }
        guard case ContentError.digestMismatch(let expected, let actual)? = error as? ContentError else {
            return XCTFail("\(String(describing: error))")
        }
        XCTAssertEqual(expected, descriptor.digest)
        XCTAssertEqual(actual, OCIDigest.of(tampered))

        // A blob of the wrong size fails at once.
        try Data(bytes.prefix(10)).write(to: URL(fileURLWithPath: path))
        let sizeError = await asyncError { try await store.fetch(descriptor) }
        guard case ContentError.sizeMismatch? = sizeError as? ContentError else {
            return XCTFail("\(String(describing: sizeError))")
        }
        // Pushing the right content repairs it.
        try await store.push(descriptor, content: ByteStream(bytes: bytes))
        let repaired = try await store.fetch(descriptor).collect(upTo: 1 << 20)
        XCTAssertEqual(repaired, bytes)
    }

    func testOtherAlgorithms() async throws {
        for algorithm in [OCIDigest.Algorithm.sha384, .sha512] {
            let digest = OCIDigest.of(bytes, algorithm: algorithm)
            let d = Descriptor(mediaType: "application/octet-stream", digest: digest, size: Int64(bytes.count))
            try await store.push(d, content: ByteStream(bytes: bytes))
            XCTAssertEqual(store.blobPath(for: digest), store.path + "/blobs/\(algorithm.rawValue)/\(digest.encoded)")
            let back = try await store.fetch(d).collect(upTo: 1 << 20)
            XCTAssertEqual(back, bytes)
        }
    }
}

/// Signals once from a stream producer to the test.
actor Gate {
    private var opened = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func open() {
        opened = true
        waiters.forEach { $0.resume() }
        waiters = []
    }

    func wait() async {
        if opened { return }
        await withCheckedContinuation { waiters.append($0) }
    }
}

actor Flag {
    private var set = false
    /// True the first time only.
    func setOnce() -> Bool {
        defer { set = true }
        return !set
    }
}
