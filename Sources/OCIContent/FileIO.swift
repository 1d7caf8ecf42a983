import Foundation
import OCISpec
import OCISync

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension ByteStream {
    /// Streams a file in chunks, from `offset` on; each iteration reopens it, so the stream can be replayed.
    public init(fileAt path: String, offset: Int64 = 0, chunkSize: Int = 1 << 20) {
        self.init {
            let reader = FileChunkReader(path: path, chunkSize: chunkSize, offset: offset)
            return { try reader.next() }
        }
    }
}

extension BlobSource {
    /// A source reading a file, reopened at any offset.
    public static func file(_ path: String) -> BlobSource {
        BlobSource { offset in ByteStream(fileAt: path, offset: offset) }
    }

    /// A source over bytes in memory.
    public static func bytes(_ bytes: [UInt8]) -> BlobSource {
        BlobSource { offset in
            ByteStream(bytes: offset > 0 ? Array(bytes.dropFirst(Int(min(offset, Int64(bytes.count))))) : bytes)
        }
    }
}

/// Reads a file chunk by chunk with plain POSIX reads (no intermediate `Data`).
final class FileChunkReader: @unchecked Sendable {
    private let path: String
    private let chunkSize: Int
    private let offset: Int64
    private var fd: Int32 = -1
    private var done = false

    init(path: String, chunkSize: Int, offset: Int64 = 0) {
        self.path = path
        self.chunkSize = max(4096, chunkSize)
        self.offset = max(0, offset)
    }

    deinit { if fd >= 0 { close(fd) } }

    func next() throws -> [UInt8]? {
        if done { return nil }
        if fd < 0 {
            let opened = open(path, O_RDONLY | O_CLOEXEC)
            guard opened >= 0 else {
                let why = String(cString: strerror(errno))
                throw errno == ENOENT ? ContentError.notFound("file \(path)") : ContentError.io(operation: "open", path: path, reason: why)
            }
            fd = opened
            if offset > 0, lseek(fd, off_t(offset), SEEK_SET) < 0 {
                throw ContentError.posix("seek in", path, errno: errno)
            }
        }
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        var n: Int
        repeat {
            n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        } while n < 0 && errno == EINTR
        guard n >= 0 else { throw ContentError.posix("read", path, errno: errno) }
        guard n > 0 else {
            done = true
            close(fd)
            fd = -1
            return nil
        }
        if n < buffer.count { buffer.removeLast(buffer.count - n) }
        return buffer
    }
}

/// Writes a file atomically: content goes to a temporary file beside the destination, which is renamed over
/// the destination only by `commit()`. `discard()` (or dropping the writer) removes the temporary file.
/// Readers never see a partial file. Data is not fsynced: every store re-verifies content when it reads it.
/// The streaming front of the package's one atomic writer, `AtomicFile`; it creates missing directories.
public final class AtomicFileWriter: @unchecked Sendable {
    public let destination: String
    private let file: AtomicFile
    private var committed = false

    public init(destination: String) throws {
        self.destination = destination
        let dir = (destination as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir.isEmpty ? "." : dir, withIntermediateDirectories: true)
        do {
            file = try AtomicFile(destination: destination)
        } catch {
            throw ContentError(error)
        }
    }

    deinit { discard() }

    public func write(_ bytes: [UInt8]) throws {
        guard !committed else { throw ContentError.unsupported("write after commit to \(destination)") }
        do { try file.write(bytes) } catch { throw ContentError(error) }
    }

    /// Closes and renames the temporary file over the destination. Committing again does nothing.
    public func commit() throws {
        guard !committed else { return }
        committed = true
        do { try file.commit() } catch { throw ContentError(error) }
    }

    /// Removes the temporary file; the destination is untouched.
    public func discard() {
        file.discard()
    }

    /// Writes a whole stream and commits it; on any error nothing is left behind.
    public static func write(_ stream: ByteStream, to destination: String) async throws {
        let writer = try AtomicFileWriter(destination: destination)
        do {
            for try await chunk in stream where !chunk.isEmpty { try writer.write(chunk) }
            try writer.commit()
        } catch {
            writer.discard()
            throw error
        }
    }
}

extension ContentError {
    /// The content error for a file-system failure of the shared primitives: `.io` with the path and the
    /// operating system's message.
    init(_ error: any Error) {
        if let fs = error as? FileSystemError {
            self = .io(operation: fs.operation, path: fs.path, reason: fs.reason)
        } else if let content = error as? ContentError {
            self = content
        } else {
            self = .io(operation: "write", path: "", reason: "\(error)")
        }
    }
}
