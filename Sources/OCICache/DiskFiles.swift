import Foundation
import OCISync
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The last OS error as text.
func errnoDescription(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

/// What `stat` says about a file: size, modification time, identity.
struct FileStatus: Sendable, Equatable {
    var size: Int64
    var modified: Date
    var device: UInt64
    var inode: UInt64
    var isRegularFile: Bool

    init(_ st: stat) {
        size = Int64(st.st_size)
        #if canImport(Darwin)
        let ts = st.st_mtimespec
        #else
        let ts = st.st_mtim
        #endif
        modified = Date(timeIntervalSince1970: Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9)
        device = UInt64(truncatingIfNeeded: st.st_dev)
        inode = UInt64(truncatingIfNeeded: st.st_ino)
        isRegularFile = (UInt32(st.st_mode) & 0o170000) == 0o100000
    }

    /// The status of `path` (not following a final symlink), or the errno.
    static func of(_ path: String) -> Result<FileStatus, POSIXErrorBox> {
        var st = stat()
        guard lstat(path, &st) == 0 else { return .failure(POSIXErrorBox(code: errno)) }
        return .success(FileStatus(st))
    }
}

/// An errno as an `Error`.
struct POSIXErrorBox: Error, Sendable {
    var code: Int32
    var description: String { errnoDescription(code) }
    var isMissing: Bool { code == ENOENT || code == ENOTDIR }
}

/// A cache entry opened for reading. Reads are positional, so the file stays readable after another process
/// or the garbage collector unlinks it, and every iteration of a stream can start at offset 0.
final class OpenedFile: Sendable {
    let path: String
    let status: FileStatus
    private let fd: Int32

    /// Opens `path` read-only; a missing file is `.failure` with `isMissing`.
    static func openFile(_ path: String) -> Result<OpenedFile, POSIXErrorBox> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(POSIXErrorBox(code: errno)) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let code = errno
            _ = close(fd)
            return .failure(POSIXErrorBox(code: code))
        }
        return .success(OpenedFile(path: path, fd: fd, status: FileStatus(st)))
    }

    private init(path: String, fd: Int32, status: FileStatus) {
        self.path = path
        self.fd = fd
        self.status = status
    }

    deinit { _ = close(fd) }

    /// Reads up to `count` bytes at `offset`; an empty result is the end of the file.
    func readChunk(at offset: Int64, count: Int) throws -> [UInt8] {
        try DescriptorIO.read(fd, at: offset, count: count) { code in
            CacheError.readFailed(path: path, reason: errnoDescription(code))
        }
    }

    /// Reads the whole file, refusing more than `limit` bytes.
    func readAll(limit: Int64) throws -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(Int(clamping: max(0, min(status.size, limit))))
        while true {
            let chunk = try readChunk(at: Int64(out.count), count: 1 << 20)
            if chunk.isEmpty { return out }
            guard Int64(out.count + chunk.count) <= limit else { return nil }
            out.append(contentsOf: chunk)
        }
    }
}

/// A temporary file beside a cache entry (`.<hex>.<pid>.<random>.tmp`, see `AtomicFile`). `commit` renames it
/// into place; `discard` (or dropping the writer) removes it. Used by one task at a time.
/// No fsync: a torn entry after a crash fails verification on read and is then deleted.
final class TemporaryFile: @unchecked Sendable {
    private let file: AtomicFile

    init(destination: String) throws(CacheError) {
        do { file = try AtomicFile(destination: destination) } catch { throw .writeFailed(path: error.path, reason: error.reason) }
    }

    var path: String { file.temporaryPath }
    var destination: String { file.destination }
    var bytesWritten: Int64 { file.bytesWritten }

    /// Appends bytes.
    func append(_ bytes: [UInt8]) throws(CacheError) {
        do { try file.write(bytes) } catch { throw .writeFailed(path: path, reason: error.reason) }
    }

    /// Closes the file and renames it over the destination. On failure the temporary file is removed.
    func commit() throws(CacheError) {
        do { try file.commit() } catch { throw .writeFailed(path: destination, reason: error.reason) }
    }

    /// Closes and removes the temporary file, if it is still open.
    func discard() { file.discard() }
}
