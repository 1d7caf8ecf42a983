import Foundation
import OCILayout
import OCISpec
import OCITestFixtures
import XCTest

/// A writer killed mid-blob leaves a temporary file; the next writer that opens the layout removes it, and never
/// a temporary that a live process is still writing.
final class StaleTemporaryTests: XCTestCase {
    func testOpeningForWritingRemovesTemporariesOfDeadProcesses() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try OCILayoutStore(path: dir.sub("layout"))
        let blobs = dir.sub("layout/blobs/sha256")
        try FileManager.default.createDirectory(atPath: blobs, withIntermediateDirectories: true)

        // A process that has exited: its pid no longer exists (pids are not reused this quickly in practice;
        // if this one was, the file is kept, which is the safe outcome and fails the assertion loudly).
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        let hex = String(repeating: "ab", count: 32)
        let stale = "\(blobs)/.\(hex).\(finished.processIdentifier).0123456789abcdef.tmp"
        let live = "\(blobs)/.\(hex).\(getpid()).fedcba9876543210.tmp"
        let unrelated = "\(blobs)/.notes"
        for path in [stale, live, unrelated] { XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3]))) }

        _ = try OCILayoutStore(path: dir.sub("layout"), create: false)
        XCTAssertTrue(FileManager.default.fileExists(atPath: stale), "read-only opens change nothing")

        _ = try OCILayoutStore(path: dir.sub("layout"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale), "a dead writer's partial blob is removed")
        XCTAssertTrue(FileManager.default.fileExists(atPath: live), "a live writer's temporary is kept")
        XCTAssertTrue(FileManager.default.fileExists(atPath: unrelated), "other files are not touched")
    }
}
