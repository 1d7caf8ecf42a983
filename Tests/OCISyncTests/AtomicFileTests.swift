import Foundation
import OCISync
import XCTest

/// The shared atomic writer and file lock every module uses (`AtomicFile`, `FileLock`).
final class AtomicFileTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "ocisync-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func names() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    private func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return try XCTUnwrap(attributes[.posixPermissions] as? NSNumber).intValue & 0o777
    }

    func testWritesReplacesAndLeavesNoTemporaryFile() throws {
        let path = directory + "/config.json"
        try AtomicFile.write(Array("old".utf8), to: path)
        try AtomicFile.write(Data("new".utf8), to: path, permissions: .exactly(0o600), synchronize: true)
        XCTAssertEqual(FileManager.default.contents(atPath: path), Data("new".utf8))
        XCTAssertEqual(try mode(path), 0o600)
        XCTAssertEqual(try names(), ["config.json"])
    }

    func testTemporaryFileIsBesideTheDestinationUntilCommit() throws {
        let path = directory + "/blob"
        let file = try AtomicFile(destination: path)
        XCTAssertTrue(file.temporaryPath.hasPrefix(directory + "/.blob."), file.temporaryPath)
        XCTAssertTrue(file.temporaryPath.hasSuffix(AtomicFile.temporarySuffix), file.temporaryPath)
        try file.write([1, 2, 3])
        try file.write([UInt8]())
        try file.write([4])
        XCTAssertEqual(file.bytesWritten, 4)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        try file.commit()
        XCTAssertEqual(FileManager.default.contents(atPath: path), Data([1, 2, 3, 4]))
        XCTAssertEqual(try names(), ["blob"])
        XCTAssertThrowsError(try file.write([5]))
        XCTAssertThrowsError(try file.commit())
    }

    func testDiscardAndDroppingRemoveTheTemporaryFile() throws {
        let file = try AtomicFile(destination: directory + "/a")
        try file.write([1])
        file.discard()
        XCTAssertEqual(try names(), [])
        do {
            let dropped = try AtomicFile(destination: directory + "/b")
            try dropped.write([1])
            XCTAssertEqual(try names().count, 1)
        }
        XCTAssertEqual(try names(), [])
    }

    func testFailuresNamePathAndOSReasonAndLeaveNothingBehind() throws {
        // A missing directory: the temporary file cannot be created.
        XCTAssertThrowsError(try AtomicFile.write([1], to: directory + "/missing/file")) { error in
            guard let failure = error as? FileSystemError else { return XCTFail("\(error)") }
            XCTAssertEqual(failure.code, ENOENT)
            XCTAssertTrue(failure.path.hasPrefix(directory + "/missing/"), failure.path)
            XCTAssertTrue(failure.description.contains(String(cString: strerror(ENOENT))), failure.description)
        }
        // A non-empty directory at the destination: the rename fails and the temporary file is removed.
        let destination = directory + "/taken"
        try FileManager.default.createDirectory(atPath: destination + "/inside", withIntermediateDirectories: true)
        XCTAssertThrowsError(try AtomicFile.write([1], to: destination)) { error in
            guard let failure = error as? FileSystemError else { return XCTFail("\(error)") }
            XCTAssertEqual(failure.path, destination)
            XCTAssertNotEqual(failure.code, 0)
            XCTAssertTrue(failure.description.contains(String(cString: strerror(failure.code))), failure.description)
        }
        XCTAssertEqual(try names(), ["taken"])
    }

    func testLongNamesStillGetATemporaryFile() throws {
        let name = String(repeating: "é", count: 120)  // 240 bytes: the temporary name is shortened
        try AtomicFile.write([1], to: directory + "/" + name)
        XCTAssertEqual(try names(), [name])
    }

    // MARK: FileLock

    func testLockExcludesASecondHolderUntilUnlocked() throws {
        let path = directory + "/.lock"
        let events = Locked<[String]>([])
        let first = try FileLock(path, creatingWith: 0o600)
        XCTAssertEqual(try mode(path) & 0o077, 0, "created with the mode given, less the umask")
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            FileLock.withExclusiveLock(path) { events.withLock { $0.append("second") } }
            done.signal()
        }
        Thread.sleep(forTimeInterval: 0.3)
        events.withLock { $0.append("first") }
        first.unlock()
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(events.current, ["first", "second"])
        first.unlock()  // a second unlock does nothing
    }

    func testDirectoryLockAndBestEffortFallback() throws {
        let lock = try FileLock(directory, creatingWith: nil)
        lock.unlock()
        XCTAssertThrowsError(try FileLock(directory + "/none", creatingWith: nil)) { error in
            XCTAssertEqual((error as? FileSystemError)?.code, ENOENT)
        }
        let ran = FileLock.withExclusiveLock(directory + "/none", creatingWith: nil) { true }
        XCTAssertTrue(ran, "the body runs without the lock when it cannot be taken")
        XCTAssertThrowsError(try FileLock.withExclusiveLock(directory) { () throws -> Void in throw CocoaError(.fileNoSuchFile) })
    }
}
