import Foundation
import OCIBuild
import OCIContent
import OCISpec
import OCITar
import OCITestFixtures
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Layers from files: what goes in (sorted entries, owners, times, modes, links, long names), the digests of
/// the one streaming pass, reproducibility, and hostile inputs.
final class LayerBuilderTests: XCTestCase {
    var dir: TemporaryDirectory!

    override func setUpWithError() throws { dir = try TemporaryDirectory() }
    override func tearDown() { dir.remove() }

    func write(_ name: String, _ text: String, mode: Int = 0o644) throws {
        let path = dir.sub(name)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        chmod(path, mode_t(mode))
    }

    /// The entries of a tar file (any compression) and each regular file's bytes.
    func entries(_ path: String) throws -> [(TarHeader, [UInt8])] {
        let reader = try TarReader(path: path)
        var out: [(TarHeader, [UInt8])] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while let header = try reader.next() {
            var data: [UInt8] = []
            while true {
                let n = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
                if n == 0 { break }
                data += buffer[0..<n]
            }
            out.append((header, data))
        }
        return out
    }

    func makeTree() throws {
        try write("root/bin/app", "#!/bin/sh\necho hi\n", mode: 0o755)
        try write("root/etc/app.conf", "key=value\n", mode: 0o600)
        let long = String(repeating: "n", count: 120)
        try write("root/share/\(long)/\(long).txt", "long name\n")
        try FileManager.default.createSymbolicLink(atPath: dir.sub("root/bin/link"), withDestinationPath: "app")
        // A link out of the tree, to a file whose content must never enter the layer.
        try write("secret.txt", "SECRET CONTENT\n")
        try FileManager.default.createSymbolicLink(atPath: dir.sub("root/etc/outside"), withDestinationPath: dir.sub("secret.txt"))
        XCTAssertEqual(link(dir.sub("root/bin/app"), dir.sub("root/bin/app-hard")), 0)
    }

    func testDirectoryLayerHoldsSortedEntriesWithFixedOwnersTimesAndLinks() throws {
        try makeTree()
        let out = dir.sub("layer.tar.gz")
        let builder = LayerBuilder(options: LayerOptions(compression: .gzip, modificationTime: 0))
        let layer = try builder.build([.directory(dir.sub("root"), destination: "/opt/app")], sink: Self.fileSink(out))
        XCTAssertEqual(layer.descriptor.mediaType, MediaType.ociLayerGzip)
        XCTAssertEqual(layer.descriptor.digest, OCIDigest.of(fileBytes(out) ?? []))
        XCTAssertEqual(layer.descriptor.size, Int64(fileBytes(out)?.count ?? -1))

        let found = try entries(out)
        let paths = found.map { $0.0.path.hasSuffix("/") ? String($0.0.path.dropLast()) : $0.0.path }
        XCTAssertEqual(paths, paths.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }, "entries are sorted")
        XCTAssertEqual(Array(paths.prefix(3)), ["opt", "opt/app", "opt/app/bin"])
        for (header, _) in found {
            XCTAssertEqual(header.uid, 0, header.path)
            XCTAssertEqual(header.gid, 0, header.path)
            XCTAssertEqual(header.modificationTime, 0, header.path)
        }
        func entry(_ path: String) -> (TarHeader, [UInt8])? {
            found.first { $0.0.path == path || $0.0.path == path + "/" }
        }
        XCTAssertEqual(entry("opt/app/bin/app")?.0.mode, 0o755)
        XCTAssertEqual(entry("opt/app/etc/app.conf")?.0.mode, 0o600)
        XCTAssertEqual(entry("opt/app/bin/app")?.1, Array("#!/bin/sh\necho hi\n".utf8))
        XCTAssertEqual(entry("opt/app/bin/link")?.0.kind, .symbolicLink)
        XCTAssertEqual(entry("opt/app/bin/link")?.0.linkTarget, "app")
        XCTAssertEqual(entry("opt/app/etc/outside")?.0.kind, .symbolicLink)
        XCTAssertEqual(entry("opt/app/etc/outside")?.0.linkTarget, dir.sub("secret.txt"))
        // "app" sorts before "app-hard": the first path carries the bytes, the second links to it.
        XCTAssertEqual(entry("opt/app/bin/app-hard")?.0.kind, .hardLink)
        XCTAssertEqual(entry("opt/app/bin/app-hard")?.0.linkTarget, "opt/app/bin/app")
        let long = String(repeating: "n", count: 120)
        XCTAssertEqual(entry("opt/app/share/\(long)/\(long).txt")?.1, Array("long name\n".utf8))
        // The secret behind the link never entered the layer.
        let raw = try decompressedTar(out)
        XCTAssertNil(raw.firstRange(of: Array("SECRET CONTENT".utf8)))
        XCTAssertEqual(layer.diffID, OCIDigest.of(raw))
        XCTAssertEqual(layer.uncompressedSize, Int64(raw.count))
    }

    func testSameInputsGiveTheSameDigestAndZstdHoldsTheSameTar() throws {
        try makeTree()
        var options = LayerOptions(compression: .gzip)
        let a = try LayerBuilder(options: options).build([.directory(dir.sub("root"))], sink: Self.fileSink(dir.sub("a")))
        let b = try LayerBuilder(options: options).build([.directory(dir.sub("root"))], sink: Self.fileSink(dir.sub("b")))
        XCTAssertEqual(a, b)
        options.compression = .zstd
        let z = try LayerBuilder(options: options).build([.directory(dir.sub("root"))], sink: Self.fileSink(dir.sub("z")))
        XCTAssertEqual(z.descriptor.mediaType, MediaType.ociLayerZstd)
        XCTAssertEqual(z.diffID, a.diffID, "the same tar under both compressions")
        options.compression = .none
        let n = try LayerBuilder(options: options).build([.directory(dir.sub("root"))], sink: Self.fileSink(dir.sub("n")))
        XCTAssertEqual(n.descriptor.digest, a.diffID)
        XCTAssertEqual(n.descriptor.mediaType, MediaType.ociLayer)
        // Another owner and time change the digest.
        options.uid = 1000
        let owned = try LayerBuilder(options: options).build([.directory(dir.sub("root"))], sink: { _ in })
        XCTAssertNotEqual(owned.diffID, a.diffID)
    }

    func testFilesWithDestinationsGetParentDirectories() throws {
        try write("app", "binary", mode: 0o755)
        let out = dir.sub("layer.tar")
        let layer = try LayerBuilder(options: LayerOptions(compression: .none)).build(
            [.file(dir.sub("app"), destination: "/usr/local/bin/app")], sink: Self.fileSink(out))
        let found = try entries(out)
        XCTAssertEqual(found.map { $0.0.path.trimmingCharacters(in: CharacterSet(charactersIn: "/")) },
                       ["usr", "usr/local", "usr/local/bin", "usr/local/bin/app"])
        XCTAssertEqual(found.first?.0.mode, 0o755)
        XCTAssertEqual(layer.diffID, layer.descriptor.digest)
    }

    func testDestinationClimbingOutOfTheRootIsRefused() throws {
        try write("app", "binary")
        for bad in ["../etc/passwd", "/a/../../etc/passwd", "..", "a/../../b"] {
            XCTAssertThrowsError(try LayerBuilder().build([.file(dir.sub("app"), destination: bad)], sink: { _ in }), bad) { error in
                XCTAssertEqual(error.ociErrorKind, .invalidArgument)
                XCTAssertTrue("\(error)".contains("climbs out"), "\(error)")
            }
        }
        XCTAssertEqual(try ImagePath.normalise("/usr/lib/../local/./bin//app"), "usr/local/bin/app")
        XCTAssertEqual(try ImagePath.normalise("/"), "")
    }

    func testSpecialFilesAreRefusedOrSkipped() throws {
        try write("root/file", "x")
        XCTAssertEqual(mkfifo(dir.sub("root/pipe"), 0o644), 0)
        XCTAssertThrowsError(try LayerBuilder().build([.directory(dir.sub("root"))], sink: { _ in })) { error in
            XCTAssertEqual(error.ociErrorKind, .unsupported)
            XCTAssertTrue("\(error)".contains("pipe"), "\(error)")
        }
        let out = dir.sub("layer.tar")
        _ = try LayerBuilder(options: LayerOptions(compression: .none, specialFiles: .skip))
            .build([.directory(dir.sub("root"))], sink: Self.fileSink(out))
        XCTAssertEqual(try entries(out).map(\.0.path), ["file"])
    }

    /// /proc files say size 0 and yet hold bytes: a file whose size changes between stat and read.
    func testAFileThatChangesSizeWhileReadFailsAndLeavesNoLayer() async throws {
        let out = dir.sub("layer.tar.gz")
        let error = await asyncError {
            try await LayerBuilder().build([.file("/proc/self/status", destination: "/status")], toFile: out)
        }
        XCTAssertEqual(error?.ociErrorKind, .io)
        XCTAssertTrue("\(error.map { "\($0)" } ?? "")".contains("grew"), "\(String(describing: error))")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no layer is left behind")
    }

    func testATarBecomesALayerAsItIs() throws {
        try makeTree()
        let tar = dir.sub("in.tar")
        let made = try LayerBuilder(options: LayerOptions(compression: .none)).build([.directory(dir.sub("root"))], sink: Self.fileSink(tar))
        let layer = try LayerBuilder(options: LayerOptions(compression: .gzip)).build([.tar(tar)], sink: Self.fileSink(dir.sub("out")))
        XCTAssertEqual(layer.diffID, made.descriptor.digest, "an uncompressed tar goes in byte for byte")
        // A gzip tar is read and written again: the same entries.
        let gz = dir.sub("in.tar.gz")
        _ = try LayerBuilder(options: LayerOptions(compression: .gzip)).build([.directory(dir.sub("root"))], sink: Self.fileSink(gz))
        let again = try LayerBuilder(options: LayerOptions(compression: .none)).build([.tar(gz)], sink: Self.fileSink(dir.sub("again")))
        XCTAssertEqual(try entries(dir.sub("again")).map(\.0.path), try entries(tar).map(\.0.path))
        XCTAssertGreaterThan(again.uncompressedSize, 0)
        // Not a tar: refused.
        try write("not.tar", String(repeating: "garbage ", count: 200))
        XCTAssertThrowsError(try LayerBuilder().build([.tar(dir.sub("not.tar"))], sink: { _ in }))
        XCTAssertThrowsError(try LayerBuilder().build([.tar(tar), .file(tar, destination: "/x")], sink: { _ in }))
    }

    /// gzip runs in 1 MiB pieces on several cores (one member each) and stores pieces it cannot shrink: the
    /// result is one gzip stream that gzip undoes to the same tar, compressible pieces get smaller, and the
    /// bytes are the same every time.
    func testParallelGzipIsOneStreamOfTheSameTarAndReproducible() throws {
        let random = pseudoRandomBytes(count: 2_500_000, seed: 7)
        _ = FileManager.default.createFile(atPath: dir.sub("in/random.bin"), contents: nil)
        try FileManager.default.createDirectory(atPath: dir.sub("in"), withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: dir.sub("in/random.bin"), contents: Data(random))
        _ = FileManager.default.createFile(atPath: dir.sub("in/zeros.bin"), contents: Data(count: 2_500_000))
        let plain = try LayerBuilder(options: LayerOptions(compression: .none)).build([.directory(dir.sub("in"))], sink: Self.fileSink(dir.sub("plain")))
        let first = try LayerBuilder().build([.directory(dir.sub("in"))], sink: Self.fileSink(dir.sub("gz1")))
        let second = try LayerBuilder().build([.directory(dir.sub("in"))], sink: Self.fileSink(dir.sub("gz2")))
        XCTAssertEqual(first, second)
        XCTAssertEqual(fileBytes(dir.sub("gz1")), fileBytes(dir.sub("gz2")))
        XCTAssertEqual(first.diffID, plain.descriptor.digest)
        XCTAssertEqual(try decompressedTar(dir.sub("gz1")), fileBytes(dir.sub("plain")))
        XCTAssertLessThan(first.descriptor.size, 2_500_000 + 600_000, "the zeros shrink; the random bytes are stored")
        // An empty tar is still a gzip stream.
        let empty = try LayerBuilder(options: LayerOptions(parentDirectories: false))
            .build([.directory(dir.sub("in"), destination: "/")], sink: { _ in })
        XCTAssertGreaterThan(empty.descriptor.size, 0)
    }

    func testCompressionParsing() throws {
        XCTAssertEqual(try LayerCompression(parsing: "gzip:9"), .gzip(level: 9))
        XCTAssertEqual(try LayerCompression(parsing: "zstd"), .zstd)
        XCTAssertEqual(try LayerCompression(parsing: "none"), LayerCompression.none)
        XCTAssertThrowsError(try LayerCompression(parsing: "gzip:12"))
        XCTAssertThrowsError(try LayerCompression(parsing: "brotli"))
        XCTAssertThrowsError(try LayerCompression.zstd.layerMediaType(.docker))
        XCTAssertEqual(try LayerCompression.gzip.layerMediaType(.docker), MediaType.dockerLayerGzip)
    }

    // MARK: helpers

    static func fileSink(_ path: String) -> (UnsafeRawBufferPointer) throws -> Void {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let handle = FileHandle(forWritingAtPath: path)
        return { bytes in try handle?.write(contentsOf: Data(bytes)) }
    }

    /// The uncompressed bytes of a gzip or zstd file, through the system's tools.
    func decompressedTar(_ path: String) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        let out = dir.sub("decompressed-\(UUID().uuidString)")
        process.arguments = ["-c", "(gzip -dc '\(path)' 2>/dev/null || zstd -dc '\(path)') > '\(out)'"]
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        return fileBytes(out) ?? []
    }
}
