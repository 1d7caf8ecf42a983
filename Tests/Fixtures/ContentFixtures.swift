import Foundation
import OCIContent
import OCISpec
import XCTest

/// A fresh directory under the system temporary directory, removed by `remove()`.
package struct TemporaryDirectory {
    package let path: String

    package init() throws {
        path = FileManager.default.temporaryDirectory.path + "/ocilayout-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    package func sub(_ name: String) -> String { path + "/" + name }

    package func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs `body` and returns the error it throws (nil and a failure when it does not throw).
@discardableResult
package func asyncError<T>(
    file: StaticString = #filePath, line: UInt = #line, _ body: () async throws -> T
) async -> (any Error)? {
    do {
        let value = try await body()
        XCTFail("expected an error, got \(value)", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

/// Deterministic pseudo-random bytes.
package func pseudoRandomBytes(count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &* 6364136223846793005 &+ 1442695040888963407
    var out = [UInt8]()
    out.reserveCapacity(count)
    for _ in 0..<count {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        out.append(UInt8(truncatingIfNeeded: state >> 33))
    }
    return out
}

/// A stream fed by a list of chunks, optionally failing after them instead of ending.
package func chunkedStream(_ chunks: [[UInt8]], failingWith error: (any Error & Sendable)? = nil) -> ByteStream {
    ByteStream {
        let feeder = ChunkFeeder(chunks: chunks, error: error)
        return { try await feeder.next() }
    }
}

actor ChunkFeeder {
    private var chunks: [[UInt8]]
    private let error: (any Error & Sendable)?

    init(chunks: [[UInt8]], error: (any Error & Sendable)?) {
        self.chunks = chunks
        self.error = error
    }

    func next() throws -> [UInt8]? {
        if !chunks.isEmpty { return chunks.removeFirst() }
        if let error { throw error }
        return nil
    }
}

package struct InjectedFailure: Error {
    package init() {}
}

/// Wraps `payload` in a gzip member made of stored (uncompressed) deflate blocks: a valid gzip layer
/// without a compressor.
package func gzipStored(_ payload: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]
    var offset = 0
    repeat {
        let n = min(65535, payload.count - offset)
        let final: UInt8 = offset + n == payload.count ? 1 : 0
        out.append(final)
        out += [UInt8(n & 0xff), UInt8(n >> 8), UInt8(~n & 0xff), UInt8((~n >> 8) & 0xff)]
        out += payload[offset..<(offset + n)]
        offset += n
    } while offset < payload.count
    func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xff), UInt8((v >> 8) & 0xff), UInt8((v >> 16) & 0xff), UInt8(v >> 24)] }
    out += le32(crc32(payload))
    out += le32(UInt32(truncatingIfNeeded: payload.count))
    return out
}

package func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xffff_ffff
    for b in bytes {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1 }
    }
    return ~crc
}

/// A small multi-platform image: per platform a config and two gzip layers (one shared), a manifest, and an
/// index over both manifests.
package struct TestImage {
    package var blobs: [OCIDigest: [UInt8]] = [:]
    package var manifests: [Descriptor] = []
    package var index: Descriptor
    package var indexBytes: [UInt8]

    package func bytes(_ d: Descriptor) -> [UInt8] { blobs[d.digest] ?? [] }

    package static func make() throws -> TestImage {
        var blobs: [OCIDigest: [UInt8]] = [:]
        func add(_ bytes: [UInt8], _ mediaType: String) -> Descriptor {
            let d = Descriptor.of(bytes, mediaType: mediaType)
            blobs[d.digest] = bytes
            return d
        }
        let sharedTar = pseudoRandomBytes(count: 3000, seed: 1)
        let shared = add(gzipStored(sharedTar), MediaType.ociLayerGzip)
        var manifests: [Descriptor] = []
        for (i, arch) in ["amd64", "arm64"].enumerated() {
            let ownTar = pseudoRandomBytes(count: 70_000 + i, seed: UInt64(10 + i))
            let own = add(gzipStored(ownTar), MediaType.ociLayerGzip)
            let config = """
            {"architecture":"\(arch)","os":"linux","rootfs":{"type":"layers","diff_ids":["\(OCIDigest.of(sharedTar))","\(OCIDigest.of(ownTar))"]}}
            """
            let configDesc = add(Array(config.utf8), MediaType.ociConfig)
            let manifest = Manifest(config: configDesc, layers: [shared, own])
            var m = add(try JSONCoding.encode(manifest), MediaType.ociManifest)
            m.platform = Platform(architecture: arch, os: "linux")
            manifests.append(m)
        }
        let indexBytes = try JSONCoding.encode(ImageIndex(manifests: manifests))
        let index = add(indexBytes, MediaType.ociIndex)
        return TestImage(blobs: blobs, manifests: manifests, index: index, indexBytes: indexBytes)
    }

    /// A memory store holding every blob of the image.
    package func memoryStore() async -> MemoryStore {
        let store = MemoryStore()
        for (_, bytes) in blobs.sorted(by: { $0.key < $1.key }) {
            let mediaType = ManifestDocument.sniffMediaType(bytes) ?? "application/octet-stream"
            await store.push(bytes: bytes, mediaType: mediaType)
        }
        return store
    }
}

/// The names of the files in `directory`, sorted; empty when it does not exist.
package func listing(_ directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
}

/// The content of a file as bytes.
package func fileBytes(_ path: String) -> [UInt8]? {
    FileManager.default.contents(atPath: path).map { [UInt8]($0) }
}
