import Foundation
import OCISpec
import OCITar
import XCTest

final class TarTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "ocitar-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func write(_ entries: [(TarHeader, [UInt8])], pieceSize: Int = 7) throws -> [UInt8] {
        var output: [UInt8] = []
        let writer = try TarWriter { output.append(contentsOf: $0) }
        for (header, data) in entries {
            try writer.append(header)
            var offset = 0
            while offset < data.count {
                let end = min(offset + pieceSize, data.count)
                try data[offset..<end].withUnsafeBytes { try writer.write($0) }
                offset = end
            }
        }
        try writer.finish()
        return output
    }

    private func readAll(_ path: String) throws -> [(TarHeader, [UInt8], Int64?)] {
        let reader = try TarReader(path: path)
        var result: [(TarHeader, [UInt8], Int64?)] = []
        var buffer = [UInt8](repeating: 0, count: 5)
        while let header = try reader.next() {
            var data: [UInt8] = []
            while true {
                let count = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
                if count == 0 { break }
                data.append(contentsOf: buffer[0..<count])
            }
            result.append((header, data, reader.dataOffset))
        }
        return result
    }

    private var sampleEntries: [(TarHeader, [UInt8])] {
        let longName = "deep/" + String(repeating: "n", count: 150) + "/file.txt"
        return [
            (TarHeader(path: "bin/", kind: .directory, mode: 0o755, modificationTime: 1_700_000_000), []),
            (TarHeader(path: "bin/tool", size: 11, mode: 0o4755, uid: 1000, gid: 1001, userName: "app",
                       groupName: "staff", modificationTime: 1_700_000_000), Array("hello world".utf8)),
            (TarHeader(path: "bin/tool-link", kind: .symbolicLink, mode: 0o777, linkTarget: "../../etc/passwd"), []),
            (TarHeader(path: "bin/tool-hard", kind: .hardLink, linkTarget: "bin/tool"), []),
            (TarHeader(path: longName, size: 3, linkTarget: nil), [1, 2, 3]),
            (TarHeader(path: "caf\u{E9}/\u{1F600}.txt", size: 1), [42]),
            (TarHeader(path: "empty", size: 0), []),
        ]
    }

    func testRoundTripKeepsEveryField() throws {
        let entries = sampleEntries
        let bytes = try write(entries)
        XCTAssertEqual(bytes.count % 512, 0)
        let path = directory + "/a.tar"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let read = try readAll(path)
        XCTAssertEqual(read.map(\.0), entries.map(\.0))
        XCTAssertEqual(read.map(\.1), entries.map(\.1))
    }

    func testSameEntriesGiveSameBytes() throws {
        XCTAssertEqual(try write(sampleEntries, pieceSize: 3), try write(sampleEntries, pieceSize: 1000))
    }

    func testDataOffsetsPointAtEachEntrysData() throws {
        let entries = sampleEntries
        let bytes = try write(entries)
        let path = directory + "/a.tar"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        for (header, data, offset) in try readAll(path) where header.kind == .regular && header.size > 0 {
            let start = try XCTUnwrap(offset).asInt
            XCTAssertEqual(Array(bytes[start..<start + data.count]), data, header.path)
        }
    }

    func testReadsWhatSystemTarWritesCompressed() throws {
        let tree = directory + "/tree"
        try FileManager.default.createDirectory(atPath: tree + "/sub", withIntermediateDirectories: true)
        try Data("payload".utf8).write(to: URL(fileURLWithPath: tree + "/sub/file"))
        try FileManager.default.createSymbolicLink(atPath: tree + "/link", withDestinationPath: "sub/file")
        for (flag, name) in [("-z", "t.tgz"), ("--zstd", "t.tar.zst"), ("", "t.tar")] {
            let tar = Process()
            tar.executableURL = URL(fileURLWithPath: "/bin/tar")
            tar.arguments = ["-c"] + (flag.isEmpty ? [] : [flag]) + ["-f", directory + "/" + name, "-C", tree, "."]
            try tar.run()
            tar.waitUntilExit()
            XCTAssertEqual(tar.terminationStatus, 0, name)
            let read = try readAll(directory + "/" + name)
            let file = try XCTUnwrap(read.first { $0.0.path == "./sub/file" }, name)
            XCTAssertEqual(file.1, Array("payload".utf8), name)
            XCTAssertEqual(read.first { $0.0.path == "./link" }?.0.linkTarget, "sub/file", name)
            XCTAssertEqual(read.first { $0.0.path == "./link" }?.0.kind, .symbolicLink, name)
            XCTAssertEqual(file.2 == nil, !flag.isEmpty, name)
        }
    }

    func testGNUTarAndPythonReadWhatWeWrite() throws {
        let path = directory + "/ours.tar"
        try Data(try write(sampleEntries)).write(to: URL(fileURLWithPath: path))
        let script = """
        import sys, tarfile
        with tarfile.open(sys.argv[1]) as t:
            for m in t.getmembers():
                print(m.name, m.type.decode(), oct(m.mode), m.uid, m.gid, m.size, m.linkname, sep="|")
        """
        let listing = try run("/usr/bin/python3", ["-c", script, path])
        let longName = "deep/" + String(repeating: "n", count: 150) + "/file.txt"
        XCTAssertEqual(listing.split(separator: "\n").map(String.init), [
            "bin|5|0o755|0|0|0|", "bin/tool|0|0o4755|1000|1001|11|", "bin/tool-link|2|0o777|0|0|0|../../etc/passwd",
            "bin/tool-hard|1|0o644|0|0|0|bin/tool", "\(longName)|0|0o644|0|0|3|", "caf\u{E9}/\u{1F600}.txt|0|0o644|0|0|1|",
            "empty|0|0o644|0|0|0|",
        ])
        let extract = directory + "/x"
        try FileManager.default.createDirectory(atPath: extract, withIntermediateDirectories: true)
        _ = try run("/bin/tar", ["-x", "-f", path, "-C", extract])
        XCTAssertEqual(try String(contentsOfFile: extract + "/bin/tool-hard", encoding: .utf8), "hello world")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: extract + "/bin/tool-link"),
                       "../../etc/passwd")
    }

    private func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ["LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "\(executable) \(arguments)")
        return String(decoding: output, as: UTF8.self)
    }

    func testShortDataIsRefusedNotPadded() throws {
        let writer = try TarWriter { _ in }
        try writer.append(TarHeader(path: "f", size: 10))
        try [UInt8](repeating: 1, count: 4).withUnsafeBytes { try writer.write($0) }
        XCTAssertThrowsError(try writer.finish()) { XCTAssertEqual($0.ociErrorKind, .invalidArgument) }
        XCTAssertThrowsError(try [UInt8](repeating: 1, count: 7).withUnsafeBytes { try writer.write($0) })
    }

    func testSinkErrorsPropagate() throws {
        struct Full: Error {}
        let writer = try TarWriter { _ in throw Full() }
        try writer.append(TarHeader(path: "f", size: 20_000))
        let data = [UInt8](repeating: 7, count: 20_000)
        XCTAssertThrowsError(try data.withUnsafeBytes { try writer.write($0) }) { XCTAssertTrue($0 is Full) }
    }

    func testNonTarInputIsAClearError() throws {
        let path = directory + "/not.tar"
        try Data("this is not an archive at all".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try TarReader(path: path).next()) { error in
            XCTAssertEqual(error.ociErrorKind, .invalidArgument)
            XCTAssertTrue("\(error)".contains(path))
        }
        XCTAssertThrowsError(try TarReader(path: directory + "/missing.tar")) { XCTAssertEqual($0.ociErrorKind, .io) }
    }
}

private extension Int64 {
    var asInt: Int { Int(self) }
}
