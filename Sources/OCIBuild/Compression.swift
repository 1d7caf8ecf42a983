import CZstd
import CompressNIO
import Dispatch
import Foundation
import NIOCore
import OCISpec

/// How a layer's tar is compressed: gzip (zlib, through CompressNIO), zstd (the system libzstd), or not at all,
/// with a level. The same input and level give the same bytes on every machine (gzip headers carry no name or
/// time; zstd runs single-threaded).
public struct LayerCompression: Sendable, Hashable, CustomStringConvertible {
    public enum Algorithm: String, Sendable, Hashable, CaseIterable {
        case none, gzip, zstd
    }

    public var algorithm: Algorithm
    /// gzip 1...9 (default 6, zlib's), zstd 1...19 (default 3, libzstd's); ignored for `none`.
    public var level: Int?

    public init(_ algorithm: Algorithm, level: Int? = nil) {
        self.algorithm = algorithm
        self.level = level
    }

    public static let none = LayerCompression(.none)
    public static let gzip = LayerCompression(.gzip)
    public static let zstd = LayerCompression(.zstd)
    public static func gzip(level: Int) -> LayerCompression { LayerCompression(.gzip, level: level) }
    public static func zstd(level: Int) -> LayerCompression { LayerCompression(.zstd, level: level) }

    /// Parses `gzip`, `zstd`, `none`, optionally with a level: `gzip:9`, `zstd:19`.
    public init(parsing text: String) throws(BuildError) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard let first = parts.first, let algorithm = Algorithm(rawValue: first.lowercased()) else {
            throw .invalidArgument("unknown compression \"\(text)\"; use gzip, zstd or none (optionally :LEVEL)")
        }
        var level: Int?
        if parts.count == 2 {
            guard let parsed = Int(parts[1]) else {
                throw .invalidArgument("compression level \"\(parts[1])\" is not a number")
            }
            level = parsed
        }
        self.init(algorithm, level: level)
        try validate()
    }

    /// Refuses levels the algorithm does not have.
    public func validate() throws(BuildError) {
        guard let level else { return }
        switch algorithm {
        case .none: return
        case .gzip:
            guard (1...9).contains(level) else { throw .invalidArgument("gzip level \(level) is outside 1...9") }
        case .zstd:
            guard (1...19).contains(level) else { throw .invalidArgument("zstd level \(level) is outside 1...19") }
        }
    }

    public var description: String { algorithm.rawValue + (level.map { ":\($0)" } ?? "") }

    /// The layer media type in a media-type family. Docker's family has no zstd layer type.
    public func layerMediaType(_ family: MediaTypeFamily) throws(BuildError) -> String {
        switch (family, algorithm) {
        case (.oci, .none): return MediaType.ociLayer
        case (.oci, .gzip): return MediaType.ociLayerGzip
        case (.oci, .zstd): return MediaType.ociLayerZstd
        case (.docker, .none): return MediaType.dockerLayer
        case (.docker, .gzip): return MediaType.dockerLayerGzip
        case (.docker, .zstd):
            throw .unsupported("Docker images have no zstd layer media type; use gzip, or the OCI media types (format oci)")
        }
    }

    /// A compressor for this setting.
    func makeCompressor() throws(BuildError) -> any StreamCompressor {
        try validate()
        switch algorithm {
        case .none: return PassThrough()
        case .gzip: return try ParallelGzipCompressor(level: level ?? 6)
        case .zstd: return try ZstdCompressor(level: level ?? 3)
        }
    }
}

/// The media types an image is written with: OCI's or Docker's (v2 schema 2).
public enum MediaTypeFamily: String, Sendable, Hashable, CaseIterable {
    case oci, docker

    /// The family of a manifest media type (OCI for anything that is not Docker's).
    public init(manifestMediaType: String) {
        self = manifestMediaType == MediaType.dockerManifest || manifestMediaType == MediaType.dockerManifestList
            ? .docker : .oci
    }

    public var manifest: String { self == .oci ? MediaType.ociManifest : MediaType.dockerManifest }
    public var index: String { self == .oci ? MediaType.ociIndex : MediaType.dockerManifestList }
    public var config: String { self == .oci ? MediaType.ociConfig : MediaType.dockerConfig }
}

extension MediaType {
    /// Docker's uncompressed layer (rarely used; registries and engines accept it).
    public static let dockerLayer = "application/vnd.docker.image.rootfs.diff.tar"
}

/// Compresses a byte stream in pieces, handing compressed bytes to `emit` as they come. One task uses one.
protocol StreamCompressor: AnyObject {
    func compress(_ bytes: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws
    func finish(emit: (UnsafeRawBufferPointer) throws -> Void) throws
}

final class PassThrough: StreamCompressor {
    func compress(_ bytes: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        if !bytes.isEmpty { try emit(bytes) }
    }
    func finish(emit: (UnsafeRawBufferPointer) throws -> Void) throws {}
}

/// gzip through zlib (CompressNIO's `ZlibCompressor`): a header without name or time, so output is reproducible.
final class GzipCompressor: StreamCompressor {
    private let zlib: ZlibCompressor
    private var input: ByteBuffer
    private var output: ByteBuffer
    private static let outputSize = 256 * 1024

    init(level: Int) throws(BuildError) {
        do {
            zlib = try ZlibCompressor(algorithm: .gzip, configuration: ZlibConfiguration(
                windowSize: 15, compressionLevel: Int32(level), memoryLevel: 8, strategy: .default))
        } catch {
            throw .io("start", "zlib deflate", "\(error)")
        }
        let allocator = ByteBufferAllocator()
        input = allocator.buffer(capacity: 64 * 1024)
        output = allocator.buffer(capacity: Self.outputSize)
    }

    private func drain(_ emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        if output.readableBytes > 0 { try output.withUnsafeReadableBytes { try emit($0) } }
        output.clear()
    }

    func compress(_ bytes: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard !bytes.isEmpty else { return }
        input.clear()
        input.writeBytes(bytes)
        var stalls = 0
        while input.readableBytes > 0 {
            let before = input.readableBytes
            do {
                try zlib.deflate(from: &input, to: &output, flush: .no)
            } catch let error as CompressNIOError where error == .bufferOverflow {
                // The output filled up; drained below.
            }
            let progressed = input.readableBytes < before || output.readableBytes > 0
            try drain(emit)
            stalls = progressed ? 0 : stalls + 1
            if stalls > 8 { throw BuildError.io("compress", "gzip stream", "zlib made no progress") }
        }
    }

    func finish(emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        input.clear()
        for _ in 0..<1_000_000 {
            do {
                try zlib.deflate(from: &input, to: &output, flush: .finish)
                try drain(emit)
                return
            } catch let error as CompressNIOError where error == .bufferOverflow {
                // More output than room: drain and go on.
                let wrote = output.readableBytes > 0
                try drain(emit)
                if !wrote { throw BuildError.io("finish", "gzip stream", "zlib made no progress") }
            }
        }
        throw BuildError.io("finish", "gzip stream", "zlib did not end the stream")
    }
}

/// gzip in parallel: the input is cut into fixed 1 MiB pieces, each compressed by zlib on its own core into a
/// gzip member of its own, and the members are written in order. A file of several members is one gzip stream
/// (RFC 1952 section 2.2; Go's, zlib's, libarchive's and GNU gzip's readers all read it), the cut points depend
/// only on the input, so the output is the same on every machine, and each member costs a few bytes of
/// header and a fresh window. At most one piece per core (plus one) is held at a time: memory stays flat.
final class ParallelGzipCompressor: StreamCompressor {
    static let pieceSize = 1 << 20
    private let level: Int
    private let width = max(1, ProcessInfo.processInfo.activeProcessorCount)
    private var piece: [UInt8] = []
    private var pending: [Job] = []
    private var members = 0

    final class Job: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        var output: [UInt8] = []
        var failure: (any Error)?
    }

    init(level: Int) throws(BuildError) {
        self.level = level
        _ = try GzipCompressor(level: level)  // refuses a level zlib refuses, before any work starts
        piece.reserveCapacity(Self.pieceSize)
    }

    deinit {
        // Jobs still running finish on their own; wait so that none outlives its inputs' owner.
        for job in pending { job.done.wait() }
    }

    func compress(_ bytes: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        var rest = bytes[...]
        while !rest.isEmpty {
            let take = min(Self.pieceSize - piece.count, rest.count)
            piece.append(contentsOf: rest.prefix(take))
            rest = rest.dropFirst(take)
            if piece.count == Self.pieceSize { try submit(emit) }
        }
    }

    func finish(emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        if !piece.isEmpty || members == 0 { try submit(emit) }
        while !pending.isEmpty { try emitOldest(emit) }
    }

    private func submit(_ emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        let input = piece
        piece = []
        piece.reserveCapacity(Self.pieceSize)
        members += 1
        let job = Job()
        let level = self.level
        pending.append(job)
        DispatchQueue.global().async {
            do { job.output = try Self.member(input, level: level) } catch { job.failure = error }
            job.done.signal()
        }
        while pending.count > width { try emitOldest(emit) }
    }

    private func emitOldest(_ emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        let job = pending.removeFirst()
        job.done.wait()
        if let failure = job.failure { throw failure }
        try job.output.withUnsafeBytes { try emit($0) }
    }

    /// One complete gzip member of `input`. A piece of which zlib cannot shrink any of three 16 KiB samples
    /// (start, middle, end) by 3% at level 1 (random, already compressed or encrypted data) is written in stored
    /// blocks (level 0): about the size zlib's own stored-block fallback gives, without the match search that
    /// finds nothing.
    static func member(_ input: [UInt8], level: Int) throws -> [UInt8] {
        var level = level
        let window = 16 * 1024
        if level > 0, input.count >= 4 * window {
            var incompressible = true
            for start in [0, input.count / 2 - window / 2, input.count - window] {
                let sample = Array(input[start..<(start + window)])
                if try deflated(sample, level: 1).count * 100 < sample.count * 97 {
                    incompressible = false
                    break
                }
            }
            if incompressible { level = 0 }
        }
        return try deflated(input, level: level)
    }

    private static func deflated(_ input: [UInt8], level: Int) throws -> [UInt8] {
        let compressor = try GzipCompressor(level: level)
        var out: [UInt8] = []
        out.reserveCapacity(input.count + input.count / 64 + 64)
        try input.withUnsafeBytes { raw in
            try compressor.compress(raw) { out.append(contentsOf: $0) }
        }
        try compressor.finish { out.append(contentsOf: $0) }
        return out
    }
}

/// zstd through the system libzstd's streaming compressor, single-threaded (reproducible output).
final class ZstdCompressor: StreamCompressor {
    private let context: OpaquePointer
    private let output: UnsafeMutableRawBufferPointer

    init(level: Int) throws(BuildError) {
        guard let context = ZSTD_createCCtx() else { throw .io("start", "zstd compressor", "libzstd cannot allocate") }
        self.context = context
        output = UnsafeMutableRawBufferPointer.allocate(byteCount: max(ZSTD_CStreamOutSize(), 128 * 1024),
                                                        alignment: MemoryLayout<UInt64>.alignment)
        let set = ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, Int32(level))
        if ZSTD_isError(set) != 0 {
            throw .invalidArgument("zstd level \(level): \(String(cString: ZSTD_getErrorName(set)))")
        }
        _ = ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)
    }

    deinit {
        ZSTD_freeCCtx(context)
        output.deallocate()
    }

    private func run(_ bytes: UnsafeRawBufferPointer, _ mode: ZSTD_EndDirective,
                     emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        while true {
            var out = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
            let remaining = ZSTD_compressStream2(context, &out, &input, mode)
            if ZSTD_isError(remaining) != 0 {
                throw BuildError.io("compress", "zstd stream", String(cString: ZSTD_getErrorName(remaining)))
            }
            if out.pos > 0 { try emit(UnsafeRawBufferPointer(rebasing: output[0..<out.pos])) }
            if mode == ZSTD_e_end {
                if remaining == 0 { return }
            } else if input.pos >= input.size {
                return
            }
        }
    }

    func compress(_ bytes: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard !bytes.isEmpty else { return }
        try run(bytes, ZSTD_e_continue, emit: emit)
    }

    func finish(emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        try run(UnsafeRawBufferPointer(start: nil, count: 0), ZSTD_e_end, emit: emit)
    }
}

/// The one streaming pass of a layer: uncompressed tar bytes in; their digest (the diffID), the compressed
/// bytes' digest and size, and the compressed bytes handed to `sink`. One task uses one.
final class LayerDigester {
    private var diffHasher = DigestHasher()
    private var blobHasher = DigestHasher()
    private let compressor: any StreamCompressor
    private let sink: (UnsafeRawBufferPointer) throws -> Void

    init(compression: LayerCompression, sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws(BuildError) {
        compressor = try compression.makeCompressor()
        self.sink = sink
    }

    /// The uncompressed bytes so far.
    var uncompressedSize: Int64 { diffHasher.count }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !bytes.isEmpty else { return }
        diffHasher.update(bytes)
        try compressor.compress(bytes) { compressed in
            blobHasher.update(compressed)
            try sink(compressed)
        }
    }

    /// Ends the compressed stream; returns (digest, size, diffID).
    func finish() throws -> (digest: OCIDigest, size: Int64, diffID: OCIDigest) {
        try compressor.finish { compressed in
            blobHasher.update(compressed)
            try sink(compressed)
        }
        return (blobHasher.finalize(), blobHasher.count, diffHasher.finalize())
    }
}
