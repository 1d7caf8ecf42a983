import Foundation
import OCIContent
import OCILayout
import OCIRegistry
import OCISpec
import OCISync
import OCITestFixtures
import XCTest

final class FileStoreTests: XCTestCase {
    func testAddedFilesAreFetchableByDigestAndVerified() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let bytes = pseudoRandomBytes(count: 300_000, seed: 7)
        let path = dir.sub("data.bin")
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        let store = FileStore(directory: dir.sub("out"))
        let descriptor = try await store.add(path, mediaType: "application/x-test")
        XCTAssertEqual(descriptor.digest, OCIDigest.of(bytes))
        XCTAssertEqual(descriptor.size, Int64(bytes.count))
        XCTAssertEqual(descriptor.title, "data.bin")
        let fetched = try await store.fetch(descriptor).collect(upTo: 1 << 20)
        XCTAssertEqual(fetched, bytes)

        // The file changes after it was added: the fetch fails instead of returning other bytes.
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(pseudoRandomBytes(count: 300_000, seed: 8))))
        let error = await asyncError { try await store.fetch(descriptor).collect(upTo: 1 << 20) }
        XCTAssertEqual(error?.ociErrorKind, .integrity, "\(String(describing: error))")
    }

    func testPushedBlobsGoToTitlesNamesOrDigestPaths() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = FileStore(directory: dir.path)
        func blob(_ seed: UInt64, title: String?) -> (Descriptor, [UInt8]) {
            let bytes = pseudoRandomBytes(count: 1000, seed: seed)
            var d = Descriptor.of(bytes, mediaType: "application/octet-stream")
            if let title { d.annotations = [Annotation.title: title] }
            return (d, bytes)
        }
        let titled = blob(1, title: "notes.txt")
        let again = blob(2, title: "notes.txt")           // a title already used: digest path
        let climbing = blob(3, title: "../escape")         // unsafe: digest path
        let named = blob(4, title: nil)
        try store.name(named.0.digest, as: "config.json")
        XCTAssertThrowsError(try store.name(named.0.digest, as: "../config.json"))
        for (d, bytes) in [titled, again, climbing, named] {
            try await store.push(d, content: ByteStream(bytes: bytes))
        }
        XCTAssertEqual(fileBytes(dir.sub("notes.txt")), titled.1)
        XCTAssertEqual(store.writtenName(of: again.0.digest), "blobs/sha256/\(again.0.digest.encoded)")
        XCTAssertEqual(fileBytes(dir.sub("blobs/sha256/\(climbing.0.digest.encoded)")), climbing.1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path + "/../escape"))
        XCTAssertEqual(fileBytes(dir.sub("config.json")), named.1)

        // Wrong bytes are never written to a final path.
        var wrong = blob(5, title: "wrong.bin").0
        wrong.size = 1000
        let error = await asyncError {
            try await store.push(wrong, content: ByteStream(bytes: pseudoRandomBytes(count: 1000, seed: 6)))
        }
        XCTAssertEqual(error?.ociErrorKind, .integrity)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.sub("wrong.bin")))
        XCTAssertEqual(listing(dir.path).filter { $0.contains(".tmp-") }, [])
    }
}

/// One error vocabulary: "not found" and I/O failures have the same kind whatever the store.
final class ErrorKindTests: XCTestCase {
    func testNotFoundIsOneKindAcrossStores() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let stores: [(String, any Target)] = [
            ("memory", MemoryStore()),
            ("layout", try OCILayoutStore(path: dir.sub("layout"))),
            ("files", FileStore(directory: dir.sub("files"))),
        ]
        let missing = Descriptor.of(Array("absent".utf8), mediaType: "application/octet-stream")
        for (name, store) in stores {
            let resolveError = await asyncError { try await store.resolve("no-such-tag") }
            XCTAssertEqual(resolveError?.ociErrorKind, .notFound, "\(name): \(String(describing: resolveError))")
            let fetchError = await asyncError { try await store.fetch(missing) }
            XCTAssertEqual(fetchError?.ociErrorKind, .notFound, "\(name): \(String(describing: fetchError))")
        }
    }

    func testFileErrorsCarryThePathAndTheSystemMessage() async throws {
        let error = await asyncError { try await ByteStream(fileAt: "/nonexistent-dir/file").collect(upTo: 10) }
        XCTAssertEqual(error?.ociErrorKind, .notFound)

        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let readOnly = dir.sub("ro")
        try FileManager.default.createDirectory(atPath: readOnly, withIntermediateDirectories: true)
        chmod(readOnly, 0o500)
        defer { chmod(readOnly, 0o700) }
        guard access(readOnly, W_OK) != 0 else { throw XCTSkip("running as a user who can write anywhere (root)") }
        let writeError = await asyncError { try await AtomicFileWriter.write(ByteStream(bytes: [1]), to: readOnly + "/x") }
        XCTAssertEqual(writeError?.ociErrorKind, .io)
        let text = String(describing: writeError)
        XCTAssertTrue(text.contains(readOnly), text)
        XCTAssertTrue(text.contains("Permission denied"), text)
    }

    func testConcurrentMapKeepsOrderAndBoundsWidth() async throws {
        let running = Locked((now: 0, peak: 0))
        let results = try await concurrentMap(Array(0..<40), limit: 3) { i -> Int in
            running.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) }
            try await Task.sleep(for: .milliseconds(2))
            running.withLock { $0.now -= 1 }
            return i * 2
        }
        XCTAssertEqual(results, (0..<40).map { $0 * 2 })
        XCTAssertLessThanOrEqual(running.current.peak, 3)
        XCTAssertGreaterThan(running.current.peak, 1)
        let failure = await asyncError {
            try await concurrentMap(Array(0..<10), limit: 2) { i -> Int in
                if i == 4 { throw InjectedFailure() }
                return i
            }
        }
        XCTAssertTrue(failure is InjectedFailure)
    }
}

/// Every public error type of the package speaks the shared vocabulary.
final class ErrorVocabularyTests: XCTestCase {
    func testEveryErrorTypeHasAKind() {
        let errors: [any Error] = [
            ContentError.notFound("x"), ContentError.io(operation: "write", path: "/p", reason: "No space left on device"),
            OCILayoutError.invalidTag("x"), DigestError.invalidFormat("x"), SpecError.invalidJSON("x"),
            RegistryError.notFound(operation: "fetch", target: "t", errors: []),
            RegistryError.registry(operation: "push manifest", target: "t", status: 403, errors: [], bodySnippet: nil),
        ]
        let kinds = errors.map(\.ociErrorKind)
        XCTAssertEqual(kinds, [.notFound, .io, .invalidArgument, .invalidArgument, .invalidResponse, .notFound, .denied])
        XCTAssertEqual(String(describing: errors[1]), "cannot write /p: No space left on device")
        XCTAssertNil((CancellationError() as any Error).ociErrorKind)
    }
}
