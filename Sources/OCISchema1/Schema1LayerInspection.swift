import CompressNIO
import NIOCore
import OCIContent
import OCISpec

// Streaming inspection of schema1 layer blobs: compression detection, compressed size, and the diffID (sha256 of
// the uncompressed tar). Layers are never buffered: gzip is inflated by zlib (through CompressNIO) and zstd by the
// system libzstd (through CZstd), chunk by chunk into a fixed output buffer that is hashed whenever it fills, so
// memory stays flat whatever the layer size.

/// What the conversion learns about one schema1 layer blob.
public struct Schema1LayerInfo: Hashable, Sendable {
    /// The OCI layer media type matching the blob's compression (`…tar`, `…tar+gzip` or `…tar+zstd`).
    public var mediaType: String
    /// The number of bytes of the blob (compressed).
    public var size: Int64
    /// sha256 of the uncompressed content (the OCI `diff_id`).
    public var diffID: OCIDigest

    public init(mediaType: String, size: Int64, diffID: OCIDigest) {
        self.mediaType = mediaType
        self.size = size
        self.diffID = diffID
    }
}

extension Schema1Converter {
    /// The compression a layer blob uses, detected from its first bytes as containerd does.
    public enum Compression: String, Sendable {
        case none, gzip, zstd

        /// The OCI layer media type for a blob compressed this way.
        public var layerMediaType: String {
            switch self {
            case .none: return MediaType.ociLayer
            case .gzip: return MediaType.ociLayerGzip
            case .zstd: return MediaType.ociLayerZstd
            }
        }

        /// gzip: `1f 8b 08`; zstd: `28 b5 2f fd`; anything else is taken as uncompressed.
        public static func detect<Bytes: Collection>(_ prefix: Bytes) -> Compression where Bytes.Element == UInt8 {
            let p = Array(prefix.prefix(4))
            if p.count >= 3, p[0] == 0x1F, p[1] == 0x8B, p[2] == 0x08 { return .gzip }
            if p.count >= 4, p[0] == 0x28, p[1] == 0xB5, p[2] == 0x2F, p[3] == 0xFD { return .zstd }
            return .none
        }
    }

    /// Reads a layer blob once, streaming: detects its compression, counts its bytes and hashes its uncompressed
    /// content. The stream is read to its end, so a verifying stream (as the registry client returns) checks the
    /// blob's digest too.
    ///
    /// gzip (single or multi-member) is decompressed with zlib, with CRC-32 and length checked; zstd (one frame
    /// or several, skippable frames skipped, content checksums checked) with libzstd's streaming decoder.
    /// Damaged, truncated or trailing data fails with ``Schema1ConversionError/corruptLayer(blobSum:why:)``.
    public static func inspectLayer(_ stream: ByteStream, blobSum: OCIDigest) async throws -> Schema1LayerInfo {
        let input = LayerInput(stream)
        try await input.buffer(atLeast: 4)
        let compression = Compression.detect(input.pending)
        switch compression {
        case .none:
            var hasher = DigestHasher(algorithm: .sha256)
            repeat {
                hasher.update(input.pending)
                input.position = input.chunk.count
            } while try await input.refill()
            return Schema1LayerInfo(mediaType: compression.layerMediaType, size: input.consumed, diffID: hasher.finalize())
        case .gzip:
            let diffID = try await inflate(input, with: try GzipInflater(blobSum: blobSum))
            return Schema1LayerInfo(mediaType: compression.layerMediaType, size: input.consumed, diffID: diffID)
        case .zstd:
            let diffID = try await inflate(input, with: try ZstdInflater(blobSum: blobSum))
            return Schema1LayerInfo(mediaType: compression.layerMediaType, size: input.consumed, diffID: diffID)
        }
    }

    /// Feeds every chunk of `input` to `inflater` and returns the digest of what it decompressed.
    private static func inflate(_ input: LayerInput, with inflater: some LayerInflater) async throws -> OCIDigest {
        repeat {
            try inflater.consume(input.pending)
            input.position = input.chunk.count
        } while try await input.refill()
        return try inflater.finish()
    }
}

/// A streaming decompressor that hashes what it produces (gzip through zlib, zstd through libzstd).
protocol LayerInflater {
    func consume(_ bytes: ArraySlice<UInt8>) throws(Schema1ConversionError)
    func finish() throws(Schema1ConversionError) -> OCIDigest
}

extension GzipInflater: LayerInflater {}
extension ZstdInflater: LayerInflater {}

/// Pulls chunks from a byte stream on demand and counts them. Used by one task.
final class LayerInput {
    private var iterator: ByteStream.AsyncIterator
    /// The current chunk and the read position in it.
    var chunk: [UInt8] = []
    var position = 0
    /// Bytes received so far.
    private(set) var consumed: Int64 = 0
    private var ended = false

    init(_ stream: ByteStream) { iterator = stream.makeAsyncIterator() }

    /// The unread part of the current chunk.
    var pending: ArraySlice<UInt8> { chunk[position...] }

    /// Replaces the current chunk with the next non-empty one; false at the end of the stream (which is when a
    /// verifying stream checks the digest, so errors surface here).
    func refill() async throws -> Bool {
        while !ended {
            guard let next = try await iterator.next() else {
                ended = true
                return false
            }
            guard !next.isEmpty else { continue }
            consumed += Int64(next.count)
            chunk = next
            position = 0
            return true
        }
        return false
    }

    /// Makes at least `count` unread bytes available in `chunk` (fewer at the end of the stream).
    func buffer(atLeast count: Int) async throws {
        while chunk.count - position < count, !ended {
            var rest = Array(pending)
            guard try await refill() else {
                chunk = rest
                position = 0
                return
            }
            rest.append(contentsOf: chunk)
            chunk = rest
            position = 0
        }
    }
}

/// Inflates a gzip stream chunk by chunk with zlib and hashes what comes out. zlib checks the RFC 1952 framing and
/// each member's CRC-32 and length; members may follow each other (pigz, concatenated files), anything else after
/// a member is an error, and so is a stream that ends inside a member. Used by one task.
final class GzipInflater {
    private let blobSum: OCIDigest
    private let zlib: ZlibDecompressor
    private var input: ByteBuffer
    private var output: ByteBuffer
    private var hasher = DigestHasher(algorithm: .sha256)
    /// Whether zlib has been given bytes of a member that has not ended yet.
    private var inMember = false
    /// Members that ended, and whether the current one has produced output yet.
    private var members = 0
    private var memberOutput = false

    private static let outputCapacity = 256 * 1024

    init(blobSum: OCIDigest) throws(Schema1ConversionError) {
        self.blobSum = blobSum
        do { zlib = try ZlibDecompressor(algorithm: .gzip, windowSize: 15) } catch {
            throw .corruptLayer(blobSum: blobSum, why: "gzip: zlib cannot start (\(error))")
        }
        input = ByteBufferAllocator().buffer(capacity: 64 * 1024)
        output = ByteBufferAllocator().buffer(capacity: Self.outputCapacity)
    }

    private func corrupt(_ why: String) -> Schema1ConversionError {
        .corruptLayer(blobSum: blobSum, why: "gzip: \(why)")
    }

    /// Inflates the next bytes of the blob.
    func consume(_ bytes: ArraySlice<UInt8>) throws(Schema1ConversionError) {
        input.clear()
        input.writeBytes(bytes)
        while input.readableBytes > 0 {
            if !inMember {
                if members > 0 {
                    do { try zlib.reset() } catch { throw corrupt("zlib cannot start the next member (\(error))") }
                }
                inMember = true
                memberOutput = false
            }
            guard try inflate() else { return }  // every byte went in; the member goes on in the next chunk
            inMember = false
            members += 1
        }
    }

    /// The sha256 of everything inflated; fails if the blob ended inside a member.
    func finish() throws(Schema1ConversionError) -> OCIDigest {
        guard !inMember else { throw corrupt("unexpected end of data (the layer is truncated)") }
        hashOutput()
        return hasher.finalize()
    }

    /// Feeds `input` to zlib, hashing the output whenever the buffer fills, until all of it is taken (false) or the
    /// member ends (true; the rest of `input` follows the member).
    private func inflate() throws(Schema1ConversionError) -> Bool {
        while true {
            if output.writableBytes == 0 { hashOutput() }
            let before = (input.readableBytes, output.readableBytes)
            do {
                try zlib.inflate(from: &input, to: &output)
            } catch let error as CompressNIOError where error == .bufferOverflow {
                // The output buffer is full (zlib stopped with Z_OK or Z_BUF_ERROR and no room left).
                guard output.writableBytes == 0 || before != (input.readableBytes, output.readableBytes) else {
                    throw corrupt("zlib made no progress")
                }
                noteOutput()
                continue
            } catch let error as CompressNIOError where error == .inputBufferOverflow {
                noteOutput()
                return false  // Z_BUF_ERROR: all input taken, the member wants more
            } catch let error as CompressNIOError where error == .corruptData {
                if members > 0 && !memberOutput {
                    throw corrupt("invalid data after member \(members) (not another gzip member, or a corrupt one)")
                }
                throw corrupt("invalid compressed data, or a CRC-32 or length mismatch (the layer is corrupt)")
            } catch {
                throw corrupt("zlib failed (\(error))")
            }
            noteOutput()
            // A normal return is Z_OK with room left, which means every input byte was taken, or Z_STREAM_END.
            if input.readableBytes > 0 { return true }
            return try memberEnded()
        }
    }

    /// After zlib took the last input byte without an error: whether it was the end of the member. zlib answers an
    /// empty call with Z_STREAM_END once the member ended, and with Z_BUF_ERROR (no progress) while it goes on.
    private func memberEnded() throws(Schema1ConversionError) -> Bool {
        if output.writableBytes == 0 { hashOutput() }
        do {
            try zlib.inflate(from: &input, to: &output)
            return true
        } catch let error as CompressNIOError where error == .inputBufferOverflow {
            return false
        } catch {
            throw corrupt("zlib failed at the end of a chunk (\(error))")
        }
    }

    private func noteOutput() {
        if output.readableBytes > 0 { memberOutput = true }
    }

    private func hashOutput() {
        guard output.readableBytes > 0 else { return }
        output.withUnsafeReadableBytes { hasher.update($0) }
        output.clear()
    }
}
