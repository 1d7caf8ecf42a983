import Foundation
import OCIContent
import OCILayout
import OCISpec
import OCITestFixtures
import XCTest

/// Layouts written by this store are read by skopeo (`oci:DIR:TAG`), and the reverse.
final class SkopeoInteropTests: XCTestCase {
    private static let skopeo = "/usr/bin/skopeo"
    private var tmp: TemporaryDirectory!

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: Self.skopeo), "\(Self.skopeo) is not installed")
        tmp = try TemporaryDirectory()
    }

    override func tearDown() { tmp?.remove() }

    /// Runs skopeo and returns its standard output; fails with its standard error when it exits non-zero.
    private func skopeo(_ arguments: [String]) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.skopeo)
        // No policy.json is needed to copy between local directories.
        process.arguments = ["--insecure-policy"] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["TMPDIR"] = tmp.path
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read stderr concurrently so that neither pipe fills up.
        let errorBox = DataBox()
        let errorReader = Thread { errorBox.data = err.fileHandleForReading.readDataToEndOfFile() }
        errorReader.start()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errorBox.done { usleep(1000) }
        guard process.terminationStatus == 0 else {
            throw SkopeoFailure(arguments: arguments, status: process.terminationStatus,
                                stderr: String(decoding: errorBox.data, as: UTF8.self))
        }
        return [UInt8](data)
    }

    func testSkopeoReadsOurLayoutAndWeReadSkopeos() async throws {
        let image = try TestImage.make()
        let source = await image.memoryStore()
        let dir = tmp.sub("ours")
        let store = try OCILayoutStore(path: dir)
        try await OCI.copyGraph(from: source, to: store, root: image.index)
        try await store.tag(image.index, as: "multi")
        try await store.tag(image.manifests[0], as: "single")

        // skopeo sees our exact manifest bytes.
        let rawSingle = try skopeo(["inspect", "--raw", "oci:\(dir):single"])
        XCTAssertEqual(rawSingle, image.bytes(image.manifests[0]))
        let rawMulti = try skopeo(["inspect", "--raw", "oci:\(dir):multi"])
        XCTAssertEqual(rawMulti, image.indexBytes)

        // skopeo copies out of our layout into a layout of its own.
        let theirs = tmp.sub("theirs")
        _ = try skopeo(["copy", "--all", "--preserve-digests", "oci:\(dir):multi", "oci:\(theirs):copied"])
        _ = try skopeo(["copy", "oci:\(dir):single", "oci:\(theirs):one"])

        // We read skopeo's layout: resolve the tag, fetch every blob, verified.
        let reader = try OCILayoutStore(path: theirs, create: false)
        let tags = try await reader.tags()
        XCTAssertEqual(tags, ["copied", "one"])
        let root = try await reader.resolve("copied")
        XCTAssertEqual(root.digest, image.index.digest, "--preserve-digests keeps the index")
        var fetched = 0
        var pending = [root]
        while let node = pending.popLast() {
            let bytes = try await reader.fetch(node).collect(upTo: 1 << 24)
            XCTAssertEqual(Int64(bytes.count), node.size)
            fetched += 1
            if MediaType.isManifest(node.mediaType) {
                pending += try ManifestDocument.decode(bytes, mediaType: node.mediaType).children
            }
        }
        XCTAssertEqual(fetched, 1 + 2 * 4, "index, then per platform manifest, config and two layers")
        let one = try await reader.resolve("one")
        XCTAssertEqual(one.digest, image.manifests[0].digest)
        let copy = MemoryStore()
        try await OCI.copyGraph(from: reader, to: copy, root: root)
        for (digest, bytes) in image.blobs {
            let copied = await copy.bytes(for: digest)
            XCTAssertEqual(copied, bytes, "\(digest)")
        }

        // Our rewrite of skopeo's index.json is still readable by skopeo, and skopeo's writes into our
        // layout keep our tags.
        try await reader.untag("one")
        let stillThere = try skopeo(["inspect", "--raw", "oci:\(theirs):copied"])
        XCTAssertEqual(stillThere, image.indexBytes)
        _ = try skopeo(["copy", "oci:\(theirs):copied", "oci:\(dir):from-skopeo"])
        let ourTags = try await store.tags()
        XCTAssertEqual(ourTags, ["from-skopeo", "multi", "single"])
    }
}

struct SkopeoFailure: Error, CustomStringConvertible {
    let arguments: [String]
    let status: Int32
    let stderr: String
    var description: String { "skopeo \(arguments.joined(separator: " ")) exited with \(status): \(stderr)" }
}

final class DataBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value = Data()
    private var finished = false

    var data: Data {
        get { lock.lock(); defer { lock.unlock() }; return value }
        set { lock.lock(); value = newValue; finished = true; lock.unlock() }
    }

    var done: Bool { lock.lock(); defer { lock.unlock() }; return finished }
}
