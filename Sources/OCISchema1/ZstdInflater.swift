import CZstd
import OCISpec

/// Decompresses a zstd stream chunk by chunk with the system libzstd's streaming decoder
/// (`ZSTD_decompressStream`) and hashes what comes out. The output goes to one fixed buffer that is hashed
/// whenever a call fills it, so memory stays flat whatever the layer size: libzstd's own state is bounded by the
/// frame's window, and frames that need a window above libzstd's default limit (128 MiB; only `zstd --long=28`
/// and above write such frames) are refused rather than allocated.
///
/// Frames may follow each other (as `cat a.zst b.zst` makes them), skippable frames are skipped, and content
/// checksums are checked when a frame has one. Anything else after a frame is an error, and so is a stream that
/// ends inside a frame. The decoder context is freed when the inflater goes away, whichever way the inspection
/// ends. Used by one task.
final class ZstdInflater {
    private let blobSum: OCIDigest
    private let context: OpaquePointer
    private let output: UnsafeMutableRawBufferPointer
    private var hasher = DigestHasher(algorithm: .sha256)
    /// Whether libzstd has been given bytes of a frame that has not ended yet (its last answer was not 0).
    private var inFrame = false
    /// Frames that ended.
    private var frames = 0

    init(blobSum: OCIDigest) throws(Schema1ConversionError) {
        self.blobSum = blobSum
        guard let context = ZSTD_createDCtx() else {
            throw .corruptLayer(blobSum: blobSum, why: "zstd: libzstd cannot allocate a decoder")
        }
        self.context = context
        output = UnsafeMutableRawBufferPointer.allocate(byteCount: max(ZSTD_DStreamOutSize(), 64 * 1024),
                                                        alignment: MemoryLayout<UInt64>.alignment)
    }

    deinit {
        ZSTD_freeDCtx(context)
        output.deallocate()
    }

    private func corrupt(_ why: String) -> Schema1ConversionError {
        .corruptLayer(blobSum: blobSum, why: "zstd: \(why)")
    }

    /// Decompresses the next bytes of the blob.
    func consume(_ bytes: ArraySlice<UInt8>) throws(Schema1ConversionError) {
        guard !bytes.isEmpty else { return }
        let failure: Schema1ConversionError? = bytes.withUnsafeBytes { raw in
            var input = ZSTD_inBuffer(src: raw.baseAddress, size: raw.count, pos: 0)
            return decompress(&input)
        }
        if let failure { throw failure }
    }

    /// The sha256 of everything decompressed; fails if the blob ended inside a frame.
    func finish() throws(Schema1ConversionError) -> OCIDigest {
        guard !inFrame else { throw corrupt("unexpected end of data (the layer is truncated)") }
        return hasher.finalize()
    }

    /// Feeds all of `input` to libzstd. After the input is taken it calls again while the output buffer came back
    /// full, since libzstd may hold decoded bytes it had no room for. Returns the error instead of throwing it,
    /// because it runs inside `withUnsafeBytes`.
    private func decompress(_ input: inout ZSTD_inBuffer) -> Schema1ConversionError? {
        var stalls = 0
        while true {
            let before = input.pos
            var out = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
            let hint = ZSTD_decompressStream(context, &out, &input)
            if ZSTD_isError(hint) != 0 { return error(for: hint) }
            if out.pos > 0 { hasher.update(UnsafeRawBufferPointer(rebasing: output[0..<out.pos])) }
            let progress = input.pos > before || out.pos > 0
            if hint == 0 {
                // The frame is complete and flushed; the next byte, if any, starts another frame.
                if inFrame || progress { frames += 1 }
                inFrame = false
            } else if progress {
                inFrame = true
            }
            // (A call without progress changes nothing: after a frame ended exactly as the output buffer filled,
            // the next call, given no input, answers with the size of the next frame's header, yet no frame began.)
            let outputFull = out.pos == out.size
            if input.pos >= input.size && !outputFull { return nil }
            // libzstd itself fails after a run of calls without progress; this keeps the loop finite regardless.
            if !progress {
                stalls += 1
                if stalls > 64 { return corrupt("libzstd made no progress") }
            } else {
                stalls = 0
            }
        }
    }

    private func error(for code: Int) -> Schema1ConversionError {
        let name = String(cString: ZSTD_getErrorName(code))
        let errorCode = ZSTD_getErrorCode(code)
        if errorCode == ZSTD_error_prefix_unknown && frames > 0 && !inFrame {
            return corrupt("invalid data after frame \(frames) (not another zstd frame): \(name)")
        }
        if errorCode == ZSTD_error_frameParameter_windowTooLarge {
            return corrupt("a frame needs a window above libzstd's limit of 128 MiB (\(name))")
        }
        if errorCode == ZSTD_error_checksum_wrong {
            return corrupt("content checksum mismatch (the layer is corrupt): \(name)")
        }
        return corrupt("invalid compressed data (the layer is corrupt): \(name)")
    }
}
