import Foundation
import OCIContent
import OCIRegistry
import OCISchema1
import OCISpec
import OCISync
import OCITesting
import OCITestFixtures
import XCTest

/// F25: zstd schema1 layers, decompressed streaming by the system libzstd. The zstd bytes come from the zstd CLI
/// (an independent encoder); the expected diffIDs are sha256 of the uncompressed bytes.
final class Schema1ZstdTests: XCTestCase {
    /// A stream of exactly these chunks.
    private func stream(_ chunks: [[UInt8]]) -> ByteStream {
        ByteStream {
            let rest = Locked(chunks)
            return { rest.withLock { $0.isEmpty ? nil : $0.removeFirst() } }
        }
    }

    private func inspect(_ chunks: [[UInt8]]) async throws -> Schema1LayerInfo {
        try await Schema1Converter.inspectLayer(stream(chunks), blobSum: OCIDigest.of(chunks.flatMap { $0 }))
    }

    private func zstdInfo(_ compressed: [UInt8], _ content: [UInt8]) -> Schema1LayerInfo {
        Schema1LayerInfo(mediaType: MediaType.ociLayerZstd, size: Int64(compressed.count), diffID: OCIDigest.of(content))
    }

    /// Fails unless inspecting `chunks` throws `corruptLayer` with a zstd reason; returns the reason.
    @discardableResult
    private func assertCorrupt(_ chunks: [[UInt8]], _ name: String, file: StaticString = #filePath,
                               line: UInt = #line) async -> String? {
        do {
            _ = try await inspect(chunks)
            XCTFail("\(name) must fail", file: file, line: line)
        } catch let error as Schema1ConversionError {
            guard case .corruptLayer(_, let why) = error else {
                XCTFail("\(name): \(error)", file: file, line: line)
                return nil
            }
            XCTAssertTrue(why.hasPrefix("zstd: "), why, file: file, line: line)
            XCTAssertEqual(error.kind, .integrity, file: file, line: line)
            return why
        } catch {
            XCTFail("\(name): untyped \(error)", file: file, line: line)
        }
        return nil
    }

    // MARK: diffIDs

    func testZstdLayerDiffIDIsTheSHA256OfTheTar() async throws {
        let tar = try zstdTar(files: ["a.txt": "alpha\n", "dir/b.txt": String(repeating: "bravo ", count: 50_000),
                                      "c.bin": String(decoding: pseudoRandomBytes(count: 200_000, seed: 7).map { $0 & 0x7F }, as: UTF8.self)])
        XCTAssertGreaterThan(tar.count, 3 * 128 * 1024, "big enough to fill the output buffer several times")
        for flags in [["-1"], ["-3"], ["-19"], ["-3", "--no-check"], ["-3", "--no-content-size"], ["--fast=5"]] {
            let compressed = try zstdCLI(tar, flags)
            XCTAssertEqual(Schema1Converter.Compression.detect(compressed), .zstd)
            for chunkSize in [1 << 16, 4096, 7] {
                let info = try await Schema1Converter.inspectLayer(ByteStream(bytes: compressed, chunkSize: chunkSize),
                                                                  blobSum: OCIDigest.of(compressed))
                XCTAssertEqual(info, zstdInfo(compressed, tar), "\(flags) /\(chunkSize)")
            }
        }
        // Empty content is one valid frame.
        let empty = try zstdCLI([], ["-3"])
        let info = try await inspect([empty])
        XCTAssertEqual(info, zstdInfo(empty, []))
    }

    /// 64 MiB of zeros compress to a few KiB: the decoder streams them through its fixed buffer.
    func testHighlyCompressedLayerStreams() async throws {
        let content = [UInt8](repeating: 0, count: 64 << 20)
        let compressed = try zstdCLI(content, ["-19"])
        XCTAssertLessThan(compressed.count, 64 * 1024)
        let info = try await Schema1Converter.inspectLayer(ByteStream(bytes: compressed, chunkSize: 1000),
                                                          blobSum: OCIDigest.of(compressed))
        XCTAssertEqual(info, zstdInfo(compressed, content))
    }

    /// Frames whose content ends exactly where the decoder's output buffer (`ZSTD_DStreamOutSize()`, 128 KiB)
    /// fills, and just before and after: the call that finds the buffer full and no input left must not be taken
    /// for the start of another frame.
    func testFramesEndingAtTheOutputBufferSize() async throws {
        for size in [131_071, 131_072, 131_073, 262_144] {
            let content = pseudoRandomBytes(count: size, seed: UInt64(size)).map { $0 & 0x3F }
            for flags in [["-3"], ["-3", "--no-content-size"]] {
                let one = try zstdCLI(content, flags)
                for chunks in [[one], [Array(one.dropLast(1)), [one[one.count - 1]]]] {
                    let info = try await inspect(chunks)
                    XCTAssertEqual(info, zstdInfo(one, content), "\(size) \(flags) in \(chunks.count) chunks")
                }
                let small = try await Schema1Converter.inspectLayer(ByteStream(bytes: one, chunkSize: 7), blobSum: OCIDigest.of(one))
                XCTAssertEqual(small, zstdInfo(one, content), "\(size) \(flags) in 7-byte chunks")
                let two = one + one
                let info = try await inspect([two])
                XCTAssertEqual(info, zstdInfo(two, content + content), "\(size) \(flags) twice")
            }
        }
    }

    func testMultipleFramesDecodeAsOneStream() async throws {
        let a = Array("first frame\n".utf8), b = Array(String(repeating: "second frame ", count: 20_000).utf8)
        let c = pseudoRandomBytes(count: 50_000, seed: 3)
        let frameA = try zstdCLI(a, ["-3"]), frameB = try zstdCLI(b, ["-9", "--no-check"])
        let frameC = try zstdCLI(c, ["-1", "--no-content-size"]), empty = try zstdCLI([], ["-3"])
        // A skippable frame (magic 0x184D2A5?, little-endian length, ignored payload) between data frames.
        let skippable: [UInt8] = [0x53, 0x2A, 0x4D, 0x18, 5, 0, 0, 0] + Array("skip!".utf8)
        let all = frameA + empty + frameB + skippable + frameC
        for chunkSize in [1 << 16, 1000, 1] {
            let info = try await Schema1Converter.inspectLayer(ByteStream(bytes: all, chunkSize: chunkSize), blobSum: OCIDigest.of(all))
            XCTAssertEqual(info, zstdInfo(all, a + b + c), "/\(chunkSize)")
        }
        // The zstd CLI agrees on what the concatenation means.
        XCTAssertEqual(try zstdCLI(all, ["-d"]), a + b + c)
    }

    func testEverySplitOfASmallStream() async throws {
        let a = Array("first frame\n".utf8), b = Array(String(repeating: "second frame ", count: 40).utf8)
        let first = try zstdCLI(a, ["-3"]), second = try zstdCLI(b, ["-3"]), empty = try zstdCLI([], ["-3"])
        for (frames, content) in [(first + second, a + b), (empty + first, a), (first + empty, a), (empty + empty, [])] {
            for split in 0...frames.count {
                let info = try await inspect([Array(frames[..<split]), Array(frames[split...])])
                XCTAssertEqual(info, zstdInfo(frames, content), "split at \(split) of \(frames.count)")
            }
            for split in stride(from: 1, to: frames.count - 1, by: 3) {
                let info = try await inspect([Array(frames[..<split]), Array(frames[split..<(split + 1)]), Array(frames[(split + 1)...])])
                XCTAssertEqual(info.diffID, OCIDigest.of(content), "splits at \(split) and \(split + 1)")
            }
        }
        let info = try await inspect((first + second).map { [$0] })
        XCTAssertEqual(info.diffID, OCIDigest.of(a + b), "one byte at a time")
    }

    // MARK: damaged streams

    func testEveryTruncationFails() async throws {
        let a = Array("first frame\n".utf8), b = Array(String(repeating: "second frame ", count: 40).utf8)
        let first = try zstdCLI(a, ["-3"])
        for frames in [first + (try zstdCLI(b, ["-3"])), first + (try zstdCLI(b, ["-3", "--no-check"]))] {
            // Below 4 bytes the blob is not recognised as zstd; a cut at the frame boundary is a valid zstd of `a`.
            for cut in 4..<frames.count where cut != first.count {
                let why = await assertCorrupt([Array(frames[..<(cut / 2)]), Array(frames[(cut / 2)..<cut])], "a cut at \(cut)")
                if let why { XCTAssertTrue(why.contains("truncated"), "cut at \(cut): \(why)") }
            }
        }
        let why = await assertCorrupt([[0x28, 0xB5, 0x2F, 0xFD]], "the magic alone")
        XCTAssertEqual(why.map { $0.contains("truncated") }, true, why ?? "")
    }

    func testGarbageFails() async throws {
        var content: [UInt8] = []
        for i in 0..<5_000 { content += Array("row \(i)\n".utf8) }
        let zst = try zstdCLI(content, ["-3"])
        // Not a frame after the magic.
        await assertCorrupt([[0x28, 0xB5, 0x2F, 0xFD] + pseudoRandomBytes(count: 300, seed: 11)], "random after the magic")
        await assertCorrupt([[0x28, 0xB5, 0x2F, 0xFD, 0, 0, 0]], "a bare header")
        // Data after the last frame that is not a frame.
        for trailing: [UInt8] in [[0], [0x28], [0x28, 0xB5, 0x2F], Array("garbage".utf8), [0x28, 0xB5, 0x2F, 0xFC, 0, 0]] {
            for chunks in [[zst + trailing], [zst, trailing]] {
                await assertCorrupt(chunks, "trailing \(trailing)")
            }
        }
        let why = await assertCorrupt([zst + Array("garbage".utf8)], "trailing text")
        XCTAssertEqual(why.map { $0.contains("after frame 1") }, true, why ?? "")
        // Damage anywhere in a frame with a content checksum is caught, whichever byte it hits, or it changes
        // nothing (a bit the decoder never reads: the zstd CLI then decodes the same content too).
        var harmless: [Int] = []
        for position in 0..<zst.count {
            var damaged = zst
            damaged[position] ^= position < 4 ? 0x01 : 0x5A
            if position < 4 {
                XCTAssertNotEqual(Schema1Converter.Compression.detect(damaged), .zstd)
                continue
            }
            let chunks = [Array(damaged[..<(damaged.count / 2)]), Array(damaged[(damaged.count / 2)...])]
            do {
                let info = try await inspect(chunks)
                XCTAssertEqual(info.diffID, OCIDigest.of(content), "a flip at \(position) decoded to other content")
                XCTAssertEqual(try zstdCLI(damaged, ["-d"]), content, "a flip at \(position)")
                harmless.append(position)
            } catch let error as Schema1ConversionError {
                guard case .corruptLayer(_, let why) = error else { return XCTFail("a flip at \(position): \(error)") }
                XCTAssertTrue(why.hasPrefix("zstd: "), why)
            }
        }
        XCTAssertLessThan(harmless.count, 5, "flips that changed nothing: \(harmless)")
        // A wrong checksum says so.
        var badChecksum = zst
        badChecksum[zst.count - 1] ^= 0x01
        let checksum = await assertCorrupt([badChecksum], "a wrong checksum")
        XCTAssertEqual(checksum.map { $0.contains("checksum") }, true, checksum ?? "")
    }

    /// A frame that asks for a 2 GiB window is refused before anything is allocated for it.
    func testAHugeWindowIsRefused() async throws {
        // Magic, frame header descriptor 0 (no single segment, no checksum, no dictionary, no content size),
        // window descriptor exponent 21 (2^31 bytes), then one empty raw last block.
        let frame: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD, 0x00, 21 << 3, 0x01, 0x00, 0x00]
        let why = await assertCorrupt([frame], "a 2 GiB window")
        XCTAssertEqual(why.map { $0.contains("window") }, true, why ?? "")
        // The same frame with a 1 MiB window is valid (and empty).
        let small: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD, 0x00, 10 << 3, 0x01, 0x00, 0x00]
        let info = try await inspect([small])
        XCTAssertEqual(info, zstdInfo(small, []))
    }

    /// A verifying stream that fails (wrong content for the digest) ends the inspection with that error, with the
    /// decoder mid-frame.
    func testAStreamErrorMidFrameSurfaces() async throws {
        let content = pseudoRandomBytes(count: 100_000, seed: 5)
        let zst = try zstdCLI(content, ["-3"])
        let chunks = stride(from: 0, to: zst.count, by: 1000).map { Array(zst[$0..<min($0 + 1000, zst.count)]) }
        do {
            _ = try await Schema1Converter.inspectLayer(chunkedStream(Array(chunks.prefix(3)), failingWith: InjectedFailure()),
                                                        blobSum: OCIDigest.of(zst))
            XCTFail("a failing stream must fail")
        } catch is InjectedFailure {
        }
    }

    /// The decoder (libzstd's context, some 94 KiB, its buffers and the 128 KiB output buffer) is released however
    /// an inspection ends: a whole layer, a truncation, garbage, or a failing stream. A leak on any path would
    /// grow the process's data segment by over 100 MiB here.
    func testDecoderMemoryIsReleasedOnEveryPath() async throws {
        #if os(Linux)
        let content = pseudoRandomBytes(count: 20_000, seed: 9)
        let zst = try zstdCLI(content, ["-3"])
        let truncated = Array(zst.dropLast(10)), garbage = zst + Array("garbage".utf8)
        /// VmData: the heap and anonymous mappings, where malloc's memory lives, touched or not.
        func heap() throws -> Int {
            let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmData:") }),
                  let kib = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
            else { throw OCITestingError("no VmData in /proc/self/status") }
            return kib * 1024
        }
        func round() async {
            _ = try? await inspect([zst])
            _ = try? await inspect([truncated])
            _ = try? await inspect([garbage])
            _ = try? await Schema1Converter.inspectLayer(chunkedStream([Array(zst.prefix(1000))], failingWith: InjectedFailure()),
                                                         blobSum: OCIDigest.of(zst))
        }
        for _ in 0..<20 { await round() }  // warm up
        let before = try heap()
        for _ in 0..<300 { await round() }
        let grown = try heap() - before
        XCTAssertLessThan(grown, 16 << 20, "the heap grew by \(grown) bytes over 1200 inspections")
        #else
        throw XCTSkip("reads /proc/self/status")
        #endif
    }

    // MARK: the whole conversion

    /// A schema1 image with a zstd, a gzip and an uncompressed layer, served by the fake registry: the layers get
    /// the media types their magic bytes say, the diffIDs are the tars' sha256, and the config lists them.
    func testConversionWithAZstdLayer() async throws {
        let tarZ = try zstdTar(files: ["z.txt": String(repeating: "zstd layer\n", count: 3000)])
        let tarG = try zstdTar(files: ["g.txt": "gzip layer\n"])
        let tarP = try zstdTar(files: ["p.txt": "plain layer\n"])
        let zst = try zstdCLI(tarZ, ["-3"])
        let gz = try cli("gzip", ["-c", "-n", "-6"], input: tarG)
        let blobs: [String: [UInt8]] = [
            "/v2/s1/zstd/blobs/\(OCIDigest.of(zst))": zst,
            "/v2/s1/zstd/blobs/\(OCIDigest.of(gz))": gz,
            "/v2/s1/zstd/blobs/\(OCIDigest.of(tarP))": tarP,
        ]
        // Top (newest) first: plain, an empty layer, gzip, zstd (the base).
        let manifest = V1Manifest(fsLayers: [
            .init(blobSum: OCIDigest.of(tarP)), .init(blobSum: OCIDigest.of([UInt8]())),
            .init(blobSum: OCIDigest.of(gz)), .init(blobSum: OCIDigest.of(zst)),
        ], history: [
            .init(v1Compatibility: #"{"id":"4","parent":"3","os":"linux","architecture":"amd64","config":{"Cmd":["sh"]},"container_config":{"Cmd":["add","p"]}}"#),
            .init(v1Compatibility: #"{"id":"3","parent":"2","container_config":{"Cmd":["true"]},"throwaway":true}"#),
            .init(v1Compatibility: #"{"id":"2","parent":"1","container_config":{"Cmd":["add","g"]}}"#),
            .init(v1Compatibility: #"{"id":"1","container_config":{"Cmd":["add","z"]}}"#),
        ])
        // FakeHTTPServer: InProcessRegistry refuses schema1 manifests, and these serve them with their blobs.
        try await withFake({ req in
            if req.path == "/v2/" { return .json(200, "{}") }
            if let bytes = blobs[req.path] { return FakeResponse(status: 200, body: bytes) }
            return .registryError(404, code: "BLOB_UNKNOWN")
        }) { server, client in
            let repository = client.repository(host: server.host, name: "s1/zstd")
            let store = MemoryStore()
            let result = try await Schema1Converter(fetcher: repository).convert(try JSONCoding.encode(manifest), into: store)
            let layers = [
                Descriptor(mediaType: "application/vnd.oci.image.layer.v1.tar+zstd", digest: OCIDigest.of(zst), size: Int64(zst.count)),
                Descriptor(mediaType: MediaType.ociLayerGzip, digest: OCIDigest.of(gz), size: Int64(gz.count)),
                Descriptor(mediaType: MediaType.ociLayer, digest: OCIDigest.of(tarP), size: Int64(tarP.count)),
            ]
            XCTAssertEqual(result.layers, layers)
            XCTAssertEqual(result.diffIDs, [OCIDigest.of(tarZ), OCIDigest.of(tarG), OCIDigest.of(tarP)])
            let decoded = try JSONCoding.decode(Manifest.self, from: result.manifestBytes)
            XCTAssertEqual(decoded.layers, layers)
            struct Config: Decodable {
                struct RootFS: Decodable { var diff_ids: [String] }
                var rootfs: RootFS
            }
            let config = try JSONDecoder().decode(Config.self, from: Data(result.configBytes))
            XCTAssertEqual(config.rootfs.diff_ids, result.diffIDs.map(\.description))
            XCTAssertEqual(result.history.map(\.createdBy), ["add z", "add g", "true", "add p"])
            let storedManifest = await store.bytes(for: result.manifest.digest)
            XCTAssertEqual(storedManifest, result.manifestBytes)
            // Each blob was read once, the empty layer never.
            let fetched = registryRequests(server).map(\.path).filter { $0.contains("/blobs/") }
            XCTAssertEqual(fetched.sorted(), blobs.keys.sorted())
        }
    }
}

// MARK: - helpers

/// Runs a command line tool with `input` on its standard input; returns its standard output.
private func cli(_ tool: String, _ arguments: [String], input: [UInt8] = [], in directory: URL? = nil) throws -> [UInt8] {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("s1zst-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let inURL = dir.appendingPathComponent("in"), outURL = dir.appendingPathComponent("out")
    try Data(input).write(to: inURL)
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [tool] + arguments
    process.currentDirectoryURL = directory ?? dir
    process.standardInput = try FileHandle(forReadingFrom: inURL)
    process.standardOutput = try FileHandle(forWritingTo: outURL)
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw OCITestingError("\(tool) \(arguments) failed: \(process.terminationStatus)") }
    return Array(try Data(contentsOf: outURL))
}

/// zstd with the CLI, from standard input to standard output (`-q`: no progress, `-c`: to stdout).
private func zstdCLI(_ bytes: [UInt8], _ flags: [String]) throws -> [UInt8] {
    try cli("zstd", ["-q", "-c"] + flags, input: bytes)
}

/// A deterministic tar of `files`, made with the tar CLI.
private func zstdTar(files: [String: String]) throws -> [UInt8] {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("s1zstar-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    for (path, content) in files {
        let url = dir.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(content.utf8).write(to: url)
    }
    return try cli("tar", ["-cf", "-", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-C", dir.path, "."])
}
