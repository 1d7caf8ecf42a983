import Foundation
import OCIContent
import OCILayout
import OCISpec
import OCITestFixtures
import XCTest

/// `copyGraph` into a layout and back out, byte for byte.
final class LayoutCopyGraphTests: XCTestCase {
    private var tmp: TemporaryDirectory!

    override func setUpWithError() throws { tmp = try TemporaryDirectory() }
    override func tearDown() { tmp?.remove() }

    func testCopyGraphThroughLayout() async throws {
        let image = try TestImage.make()
        let source = await image.memoryStore()
        let layout = try OCILayoutStore(path: tmp.sub("layout"))

        try await OCI.copyGraph(from: source, to: layout, root: image.index)
        try await layout.tag(image.index, as: "multi")
        XCTAssertEqual(listing(layout.path + "/blobs/sha256").count, image.blobs.count)
        for (digest, bytes) in image.blobs {
            XCTAssertEqual(fileBytes(layout.blobPath(for: digest)), bytes)
        }

        // Copying again skips everything.
        let events = EventLog()
        try await OCI.copyGraph(from: source, to: layout, root: image.index,
                            options: GraphCopyOptions(onEvent: { events.append($0) }))
        XCTAssertEqual(events.count, 1, "the existing root is skipped with its whole subgraph")

        // Reopen (as another process would) and copy out into a second memory store.
        let reopened = try OCILayoutStore(path: layout.path, create: false)
        let root = try await reopened.resolve("multi")
        XCTAssertEqual(root, image.index)
        let destination = MemoryStore()
        try await OCI.copyGraph(from: reopened, to: destination, root: root)
        let count = await destination.count
        XCTAssertEqual(count, image.blobs.count)
        for (digest, bytes) in image.blobs {
            let copied = await destination.bytes(for: digest)
            XCTAssertEqual(copied, bytes, "\(digest)")
        }
    }
}

/// Collects copy events from concurrent callbacks.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [CopyEvent] = []

    func append(_ event: CopyEvent) {
        lock.lock()
        events.append(event)
        lock.unlock()
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return events.count
    }
}
