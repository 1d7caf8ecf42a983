import Foundation
import OCISchema1
import OCIContent
import OCISpec
import OCISync
import OCITesting
import XCTest

/// Schema1 layer inspection where chunk boundaries meet gzip member boundaries: zlib reports a member's end only
/// through its return code, so every split and every truncation of a two-member stream is tried.
final class Schema1GzipBoundaryTests: XCTestCase {
    /// A stream of exactly these chunks.
    private func stream(_ chunks: [[UInt8]]) -> ByteStream {
        ByteStream {
            let rest = Locked(chunks)
            return { rest.withLock { $0.isEmpty ? nil : $0.removeFirst() } }
        }
    }

    private func inspect(_ chunks: [[UInt8]]) async throws -> Schema1LayerInfo {
        let all = chunks.flatMap { $0 }
        return try await Schema1Converter.inspectLayer(stream(chunks), blobSum: OCIDigest.of(all))
    }

    func testEverySplitOfTwoMembers() async throws {
        let a = Array("first member\n".utf8), b = Array(String(repeating: "second member ", count: 40).utf8)
        let first = try gzipCLI(a), second = try gzipCLI(b), empty = try gzipCLI([])
        for (members, content) in [(first + second, a + b), (empty + first, a), (first + empty, a), (empty + empty, [])] {
            for split in 0...members.count {
                let chunks = [Array(members[..<split]), Array(members[split...])]
                let info = try await inspect(chunks)
                XCTAssertEqual(info, Schema1LayerInfo(mediaType: MediaType.ociLayerGzip, size: Int64(members.count),
                                                      diffID: OCIDigest.of(content)), "split at \(split)")
            }
        }
        // One byte at a time.
        let info = try await inspect((first + second).map { [$0] })
        XCTAssertEqual(info.diffID, OCIDigest.of(a + b))
    }

    func testEveryTruncationAndTrailingDataFail() async throws {
        let a = Array("first member\n".utf8), b = Array(String(repeating: "second member ", count: 40).utf8)
        let first = try gzipCLI(a), members = first + (try gzipCLI(b))
        // Below 3 bytes the blob is not recognised as gzip; a cut at the member boundary is a valid gzip of `a`.
        for cut in 3..<members.count where cut != first.count {
            let chunks = [Array(members[..<cut].prefix(cut / 2)), Array(members[(cut / 2)..<cut])]
            do {
                _ = try await inspect(chunks)
                XCTFail("a stream cut at \(cut) of \(members.count) must fail")
            } catch let error as Schema1ConversionError {
                guard case .corruptLayer = error else { return XCTFail("cut at \(cut): \(error)") }
            }
        }
        for trailing: [UInt8] in [[0], [0x1F], [0x1F, 0x8B], Array("garbage".utf8)] {
            for chunks in [[members + trailing], [members, trailing]] {
                do {
                    _ = try await inspect(chunks)
                    XCTFail("trailing \(trailing) must fail")
                } catch let error as Schema1ConversionError {
                    guard case .corruptLayer(_, let why) = error else { return XCTFail("\(error)") }
                    XCTAssertTrue(why.hasPrefix("gzip: "), why)
                }
            }
        }
    }
}

/// gzip -6 with the CLI (`-n`: no name or time).
private func gzipCLI(_ bytes: [UInt8]) throws -> [UInt8] {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("s1gz-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let input = dir.appendingPathComponent("in")
    try Data(bytes).write(to: input)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["gzip", "-n", "-6", input.path]
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw OCITestingError("gzip failed: \(process.terminationStatus)") }
    return Array(try Data(contentsOf: dir.appendingPathComponent("in.gz")))
}
