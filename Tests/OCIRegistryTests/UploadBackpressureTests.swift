import NIOCore
import OCIContent
@testable import OCIRegistry
import OCISync
import XCTest

/// The upload body's bound on bytes handed to AsyncHTTPClient but not yet written: a part still held elsewhere
/// (as NIO holds one until the socket takes it) keeps the next parts back once the bound is reached.
final class UploadBackpressureTests: XCTestCase {
    func testPartsWaitUntilEarlierOnesAreReleased() async throws {
        let chunk = 256 << 10
        let stream = ByteStream(bytes: [UInt8](repeating: 7, count: chunk * 4), chunkSize: chunk)
        // What "NIO" still holds: the first two parts fill the 512 KiB bound.
        let held = Locked<[ByteBuffer]>([])
        let handedOver = Locked(false)
        let third = Task {
            var iterator = ByteBufferSequence(stream: stream).makeAsyncIterator()
            for _ in 0..<2 {
                if let part = try await iterator.next() { held.withLock { $0.append(part) } }
            }
            let part = try await iterator.next()
            handedOver.withLock { $0 = true }
            return part?.readableBytes
        }
        for _ in 0..<1000 where held.withLock({ $0.count }) < 2 { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertEqual(held.withLock { $0.count }, 2)
        try await Task.sleep(for: .milliseconds(200))
        XCTAssertFalse(handedOver.withLock { $0 }, "a third part is held back while two are unwritten")
        held.withLock { $0.removeAll() }  // "written": NIO lets go of them
        let size = try await third.value
        XCTAssertEqual(size, chunk)
    }

    func testAWholeStreamPassesWhenPartsAreReleased() async throws {
        let bytes = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var received: [UInt8] = []
        for try await part in ByteBufferSequence(stream: ByteStream(bytes: bytes, chunkSize: 100_000)) {
            received.append(contentsOf: part.readableBytesView)
        }
        XCTAssertEqual(received, bytes)
    }
}
