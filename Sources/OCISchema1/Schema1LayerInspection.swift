import OCIContent
import OCISpec

// Streaming inspection of schema1 layer blobs: compression detection, compressed size, and the diffID (sha256 of
// the uncompressed tar). Layers are never buffered: gzip is inflated by a small pure-Swift DEFLATE decoder
// (RFC 1951/1952) that keeps only the 32 KiB window, so memory stays flat whatever the layer size.

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
    /// gzip (single or multi-member) is decompressed here, with CRC-32 and length checked. zstd cannot be
    /// decompressed (no decoder in this package's dependencies) and fails with
    /// ``Schema1ConversionError/unsupportedCompression(blobSum:compression:)``.
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
            let decoder = GzipDecoder(input: input, blobSum: blobSum)
            let diffID = try await decoder.run()
            return Schema1LayerInfo(mediaType: compression.layerMediaType, size: input.consumed, diffID: diffID)
        case .zstd:
            throw Schema1ConversionError.unsupportedCompression(blobSum: blobSum, compression: "zstd")
        }
    }
}

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

/// A streaming gzip decoder that hashes what it decompresses. Follows RFC 1952 (members, CRC-32 and ISIZE
/// checks, multiple members) and RFC 1951 (stored, fixed and dynamic Huffman blocks).
///
/// Symbols are decoded synchronously on local state while the current input chunk has at least 8 bytes left and
/// the output buffer has room (the common case); the async path handles chunk boundaries and the end of input.
final class GzipDecoder {
    private let input: LayerInput
    private let blobSum: OCIDigest
    private var bitBuffer: UInt64 = 0
    private var bitCount = 0
    /// Decompressed bytes: at least 32 KiB of history for back-references, then the not yet hashed bytes.
    private let output: UnsafeMutablePointer<UInt8>
    private var outputCount = 0
    private var hashedUpTo = 0
    private var hasher = DigestHasher(algorithm: .sha256)
    private var crc: UInt32 = 0xFFFF_FFFF
    private var memberLength: UInt32 = 0

    private static let windowSize = 32 * 1024
    private static let capacity = windowSize + 256 * 1024
    /// Room for the longest match (258 bytes) after this.
    private static let outputLimit = capacity - 258

    init(input: LayerInput, blobSum: OCIDigest) {
        self.input = input
        self.blobSum = blobSum
        output = .allocate(capacity: Self.capacity)
    }

    deinit { output.deallocate() }

    private func corrupt(_ why: String) -> Schema1ConversionError {
        .corruptLayer(blobSum: blobSum, why: "gzip: \(why)")
    }

    /// Decompresses every member and returns the sha256 of the whole uncompressed content.
    func run() async throws -> OCIDigest {
        var members = 0
        while true {
            if members > 0 {
                // Another member, or the end of the blob (the trailer leaves the bit buffer byte-aligned).
                if bitCount == 0, input.position == input.chunk.count, !(try await input.refill()) { break }
            }
            try await readHeader()
            try await inflate()
            flush(keepHistory: false)
            try await readTrailer()
            members += 1
        }
        return hasher.finalize()
    }

    // MARK: bits

    /// Loads bytes until `count` bits are buffered; false when the input ends first.
    private func need(_ count: Int) async throws -> Bool {
        while bitCount < count {
            if input.position == input.chunk.count {
                guard try await input.refill() else { return false }
            }
            bitBuffer |= UInt64(input.chunk[input.position]) << UInt64(bitCount)
            input.position += 1
            bitCount += 8
        }
        return true
    }

    private func bits(_ count: Int) async throws -> Int {
        if bitCount < count {
            guard try await need(count) else { throw corrupt("unexpected end of data") }
        }
        let value = Int(truncatingIfNeeded: bitBuffer & ((1 << UInt64(count)) - 1))
        bitBuffer >>= UInt64(count)
        bitCount -= count
        return value
    }

    private func byte() async throws -> Int { try await bits(8) }

    private func alignToByte() {
        let drop = bitCount & 7
        bitBuffer >>= UInt64(drop)
        bitCount -= drop
    }

    // MARK: gzip framing

    private func readHeader() async throws {
        guard try await byte() == 0x1F, try await byte() == 0x8B else {
            throw corrupt("invalid header (data after the end of the gzip stream is not another gzip member)")
        }
        guard try await byte() == 8 else { throw corrupt("unsupported compression method (only deflate is defined)") }
        let flags = try await byte()
        for _ in 0..<6 { _ = try await byte() }  // MTIME, XFL, OS
        if flags & 0x04 != 0 {  // FEXTRA
            let length = try await bits(16)
            for _ in 0..<length { _ = try await byte() }
        }
        if flags & 0x08 != 0 { while try await byte() != 0 {} }  // FNAME
        if flags & 0x10 != 0 { while try await byte() != 0 {} }  // FCOMMENT
        if flags & 0x02 != 0 { _ = try await bits(16) }  // FHCRC
        crc = 0xFFFF_FFFF
        memberLength = 0
    }

    private func readTrailer() async throws {
        alignToByte()
        let expectedCRC = UInt32(truncatingIfNeeded: try await bits(32))
        let expectedLength = UInt32(truncatingIfNeeded: try await bits(32))
        let actualCRC = crc ^ 0xFFFF_FFFF
        guard actualCRC == expectedCRC else { throw corrupt("CRC-32 mismatch (the layer is corrupt)") }
        guard memberLength == expectedLength else { throw corrupt("length mismatch (the layer is corrupt)") }
    }

    // MARK: output

    /// Hashes the decompressed bytes not hashed yet; keeps 32 KiB of history unless a member ended.
    private func flush(keepHistory: Bool) {
        if hashedUpTo < outputCount {
            let pending = UnsafeBufferPointer(start: output + hashedUpTo, count: outputCount - hashedUpTo)
            hasher.update(UnsafeRawBufferPointer(pending))
            crc = CRC32.update(crc, pending)
            memberLength &+= UInt32(truncatingIfNeeded: pending.count)
        }
        if keepHistory {
            let drop = outputCount - Self.windowSize
            if drop > 0 {
                (output).update(from: output + drop, count: Self.windowSize)
                outputCount = Self.windowSize
            }
            hashedUpTo = outputCount
        } else {
            outputCount = 0
            hashedUpTo = 0
        }
    }

    @inline(__always)
    private func append(_ byte: UInt8) {
        output[outputCount] = byte
        outputCount += 1
    }

    // MARK: deflate

    private func inflate() async throws {
        var last = false
        repeat {
            last = try await bits(1) == 1
            switch try await bits(2) {
            case 0: try await storedBlock()
            case 1: try await codesBlock(literals: Huffman.fixedLiterals, distances: Huffman.fixedDistances)
            case 2:
                let (literals, distances) = try await dynamicTables()
                try await codesBlock(literals: literals, distances: distances)
            default: throw corrupt("invalid block type")
            }
        } while !last
    }

    private func storedBlock() async throws {
        alignToByte()
        let length = try await bits(16)
        let complement = try await bits(16)
        guard length == (~complement & 0xFFFF) else { throw corrupt("stored block length check failed") }
        var remaining = length
        while remaining > 0, bitCount >= 8 {
            if outputCount > Self.outputLimit { flush(keepHistory: true) }
            append(UInt8(truncatingIfNeeded: try await bits(8)))
            remaining -= 1
        }
        while remaining > 0 {
            if outputCount > Self.outputLimit { flush(keepHistory: true) }
            if input.position == input.chunk.count {
                guard try await input.refill() else { throw corrupt("unexpected end of data") }
            }
            let n = min(remaining, input.chunk.count - input.position, Self.capacity - outputCount)
            let start = input.position
            input.chunk.withUnsafeBufferPointer { chunk in
                if let base = chunk.baseAddress { (output + outputCount).update(from: base + start, count: n) }
            }
            outputCount += n
            input.position += n
            remaining -= n
        }
    }

    static let lengthBase: [Int] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83,
                                    99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5,
                                     5, 5, 0]
    static let distanceBase: [Int] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
                                      1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    static let distanceExtra: [Int] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11,
                                       11, 12, 12, 13, 13]

    private func codesBlock(literals: Huffman, distances: Huffman) async throws {
        while true {
            if outputCount > Self.outputLimit { flush(keepHistory: true) }
            if input.chunk.count - input.position >= 8 {
                if try fastCodes(literals: literals, distances: distances) { return }
                continue
            }
            // Near the end of the chunk: one symbol through the async path, which moves on to the next chunk.
            let symbol = try await decode(literals)
            if symbol < 256 {
                append(UInt8(truncatingIfNeeded: symbol))
                continue
            }
            if symbol == 256 { return }
            let s = symbol - 257
            guard s < 29 else { throw corrupt("invalid length code") }
            let length = Self.lengthBase[s] + (try await bits(Self.lengthExtra[s]))
            let d = try await decode(distances)
            guard d < 30 else { throw corrupt("invalid distance code") }
            let distance = Self.distanceBase[d] + (try await bits(Self.distanceExtra[d]))
            try copyMatch(length: length, distance: distance, to: &outputCount)
        }
    }

    /// Copies a back-reference within the output (the source may overlap the destination).
    @inline(__always)
    private func copyMatch(length: Int, distance: Int, to count: inout Int) throws {
        guard distance <= count else { throw corrupt("distance too far back") }
        let destination = output + count
        let source = destination - distance
        if distance >= length {
            destination.update(from: source, count: length)
        } else {
            for i in 0..<length { destination[i] = source[i] }
        }
        count += length
    }

    /// Decodes symbols on local state while the chunk has at least 8 bytes left (enough for any literal or
    /// length/distance pair, 48 bits) and the output has room. Returns true at the end of the block.
    private func fastCodes(literals: Huffman, distances: Huffman) throws -> Bool {
        var buffer = bitBuffer, count = bitCount
        var position = input.position
        var produced = outputCount
        let chunk = input.chunk
        let end = chunk.count
        defer {
            bitBuffer = buffer
            bitCount = count
            input.position = position
            outputCount = produced
        }
        let mask = UInt64(Huffman.fastMask)
        return try chunk.withUnsafeBufferPointer { bytes throws -> Bool in
            while end - position >= 8, produced <= Self.outputLimit {
                while count <= 56 {
                    buffer |= UInt64(bytes[position]) << UInt64(count)
                    position += 1
                    count += 8
                }
                var symbol: Int
                let entry = Int(literals.fast[Int(truncatingIfNeeded: buffer & mask)])
                if entry != 0 {
                    let length = entry & 15
                    buffer >>= UInt64(length)
                    count -= length
                    symbol = entry >> 4
                } else {
                    symbol = try slowDecode(literals, &buffer, &count)
                }
                if symbol < 256 {
                    output[produced] = UInt8(truncatingIfNeeded: symbol)
                    produced += 1
                    continue
                }
                if symbol == 256 { return true }
                let s = symbol - 257
                guard s < 29 else { throw corrupt("invalid length code") }
                let lengthBits = Self.lengthExtra[s]
                let length = Self.lengthBase[s] + Int(truncatingIfNeeded: buffer & ((1 << UInt64(lengthBits)) - 1))
                buffer >>= UInt64(lengthBits)
                count -= lengthBits
                let distanceEntry = Int(distances.fast[Int(truncatingIfNeeded: buffer & mask)])
                var d: Int
                if distanceEntry != 0 {
                    let l = distanceEntry & 15
                    buffer >>= UInt64(l)
                    count -= l
                    d = distanceEntry >> 4
                } else {
                    d = try slowDecode(distances, &buffer, &count)
                }
                guard d < 30 else { throw corrupt("invalid distance code") }
                let distanceBits = Self.distanceExtra[d]
                let distance = Self.distanceBase[d] + Int(truncatingIfNeeded: buffer & ((1 << UInt64(distanceBits)) - 1))
                buffer >>= UInt64(distanceBits)
                count -= distanceBits
                try copyMatch(length: length, distance: distance, to: &produced)
            }
            return false
        }
    }

    /// Canonical decoding bit by bit, for codes longer than the lookup table (the buffer holds ≥ 15 bits).
    private func slowDecode(_ code: Huffman, _ buffer: inout UInt64, _ count: inout Int) throws -> Int {
        var value = 0, first = 0, index = 0
        for length in 1...15 {
            guard length <= count else { throw corrupt("unexpected end of data") }
            value |= Int(truncatingIfNeeded: (buffer >> UInt64(length - 1)) & 1)
            let n = code.counts[length]
            if value - n < first {
                buffer >>= UInt64(length)
                count -= length
                return code.symbols[index + value - first]
            }
            index += n
            first += n
            first <<= 1
            value <<= 1
        }
        throw corrupt("invalid Huffman code")
    }

    /// Decodes one symbol through the async path (it may need the next chunk).
    private func decode(_ code: Huffman) async throws -> Int {
        if bitCount < 15 { _ = try await need(15) }  // fewer bits remain only at the very end of the input
        let entry = Int(code.fast[Int(truncatingIfNeeded: bitBuffer & UInt64(Huffman.fastMask))])
        if entry != 0 {
            let length = entry & 15
            guard length <= bitCount else { throw corrupt("unexpected end of data") }
            bitBuffer >>= UInt64(length)
            bitCount -= length
            return entry >> 4
        }
        var buffer = bitBuffer, count = bitCount
        let symbol = try slowDecode(code, &buffer, &count)
        bitBuffer = buffer
        bitCount = count
        return symbol
    }

    private static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    private func dynamicTables() async throws -> (Huffman, Huffman) {
        let literalCount = try await bits(5) + 257
        let distanceCount = try await bits(5) + 1
        let codeLengthCount = try await bits(4) + 4
        guard literalCount <= 286, distanceCount <= 30 else { throw corrupt("too many length or distance codes") }
        var codeLengths = [Int](repeating: 0, count: 19)
        for i in 0..<codeLengthCount { codeLengths[Self.codeLengthOrder[i]] = try await bits(3) }
        guard let lengthCode = Huffman(lengths: codeLengths[...]) else { throw corrupt("invalid code lengths code") }
        var lengths = [Int](repeating: 0, count: literalCount + distanceCount)
        var index = 0
        while index < lengths.count {
            let symbol = try await decode(lengthCode)
            if symbol < 16 {
                lengths[index] = symbol
                index += 1
                continue
            }
            var value = 0
            let repeatCount: Int
            switch symbol {
            case 16:
                guard index > 0 else { throw corrupt("repeat with no previous length") }
                value = lengths[index - 1]
                repeatCount = 3 + (try await bits(2))
            case 17: repeatCount = 3 + (try await bits(3))
            default: repeatCount = 11 + (try await bits(7))
            }
            guard index + repeatCount <= lengths.count else { throw corrupt("too many code lengths") }
            for _ in 0..<repeatCount {
                lengths[index] = value
                index += 1
            }
        }
        guard lengths[256] != 0 else { throw corrupt("no end-of-block code") }
        guard let literals = Huffman(lengths: lengths[0..<literalCount]),
              let distances = Huffman(lengths: lengths[literalCount...]) else {
            throw corrupt("invalid literal/length or distance code")
        }
        return (literals, distances)
    }
}

/// A canonical Huffman code (RFC 1951 §3.2.2): counts per length, symbols in code order, and a lookup table for
/// codes of up to `fastBits` bits (entry = symbol << 4 | length, 0 = not in the table).
struct Huffman: Sendable {
    static let fastBits = 10
    static let fastMask = (1 << fastBits) - 1
    var counts: [Int]
    var symbols: [Int]
    var fast: [UInt16]

    /// nil for an over-subscribed code. Incomplete codes are accepted; their unused codes fail when decoded.
    init?(lengths: ArraySlice<Int>) {
        var counts = [Int](repeating: 0, count: 16)
        for l in lengths { counts[l] += 1 }
        var left = 1
        for length in 1...15 {
            left <<= 1
            left -= counts[length]
            if left < 0 { return nil }
        }
        var offsets = [Int](repeating: 0, count: 16)
        for length in 1..<15 { offsets[length + 1] = offsets[length] + counts[length] }
        var symbols = [Int](repeating: 0, count: lengths.count)
        var nextCode = [Int](repeating: 0, count: 16)
        var code = 0
        for length in 1...15 {
            code = (code + (length == 1 ? 0 : counts[length - 1])) << 1
            nextCode[length] = code
        }
        var fast = [UInt16](repeating: 0, count: 1 << Self.fastBits)
        for (symbol, length) in zip(0..., lengths) where length != 0 {
            symbols[offsets[length]] = symbol
            offsets[length] += 1
            let c = nextCode[length]
            nextCode[length] += 1
            guard length <= Self.fastBits else { continue }
            var reversed = 0
            for bit in 0..<length where c & (1 << bit) != 0 { reversed |= 1 << (length - 1 - bit) }
            var slot = reversed
            while slot < fast.count {
                fast[slot] = UInt16(symbol << 4 | length)
                slot += 1 << length
            }
        }
        counts[0] = 0
        self.counts = counts
        self.symbols = symbols
        self.fast = fast
    }

    static let fixedLiterals: Huffman = {
        var lengths = [Int](repeating: 8, count: 288)
        for i in 144..<256 { lengths[i] = 9 }
        for i in 256..<280 { lengths[i] = 7 }
        return Huffman(lengths: lengths[...]) ?? Huffman(empty: ())
    }()

    static let fixedDistances: Huffman = Huffman(lengths: [Int](repeating: 5, count: 30)[...]) ?? Huffman(empty: ())

    /// A code with no symbols (every lookup fails). Only a fallback that the fixed tables never need.
    private init(empty: Void) {
        counts = [Int](repeating: 0, count: 16)
        symbols = []
        fast = [UInt16](repeating: 0, count: 1 << Self.fastBits)
    }
}

/// CRC-32 (IEEE 802.3, reflected), as gzip uses it.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// Continues a running CRC (start with 0xFFFFFFFF, finish with `^ 0xFFFFFFFF`).
    static func update(_ crc: UInt32, _ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var c = crc
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return c
    }
}
