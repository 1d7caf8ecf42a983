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
    /// Streams a file in chunks (256 KiB: large enough that a read costs little, small enough that several
    /// concurrent uploads hold little), from `offset` on; each iteration reopens it, so the stream can be replayed.
    public init(fileAt path: String, offset: Int64 = 0, chunkSize: Int = 256 << 10) {
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
    private var position: Int64 = 0

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
            position = offset
        }
        // A chunk no larger than what is left of the file, read straight into uninitialised storage: a 64 KiB blob
        // costs 64 KiB, not a zero-filled chunk-sized buffer, however many are read at once.
        var status = stat()
        let regular = fstat(fd, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
        let left = regular ? max(0, Int64(status.st_size) - position) : Int64(chunkSize)
        let capacity = Int(min(Int64(chunkSize), max(left, 1)))
        var failure: Int32 = 0
        let buffer = [UInt8](unsafeUninitializedCapacity: capacity) { storage, count in
            var n: Int
            repeat {
                n = read(fd, storage.baseAddress, storage.count)
            } while n < 0 && errno == EINTR
            if n < 0 { failure = errno }
            count = max(0, n)
        }
        guard failure == 0 else { throw ContentError.posix("read", path, errno: failure) }
        guard !buffer.isEmpty else {
            done = true
            close(fd)
            fd = -1
            return nil
        }
        position += Int64(buffer.count)
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
