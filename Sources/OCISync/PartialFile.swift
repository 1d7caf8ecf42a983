import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A resumable partial file beside its destination (`.<name>.partial`): a writer that dies leaves it, and the
/// next writer of the same destination claims it, keeps what it holds (the caller rehashes it) and appends the
/// rest; ``commit()`` renames it into place.
///
/// A claim is an exclusive `flock(2)` on the partial file itself, taken without waiting and held until
/// ``commit()``, ``release()`` or ``discard()``: two writers (processes or tasks) never append to the same
/// partial file. Holding it across `await`s is safe, as nothing ever blocks on it. After locking, the claim
/// checks that the path still names the locked file (a writer that committed meanwhile renamed it away).
///
/// One task uses a claim at a time; it is `Sendable` only so that the task may hand it on.
package final class PartialFile: @unchecked Sendable {
    /// How partial file names end.
    package static let suffix = ".partial"

    package let destination: String
    package let path: String
    /// The size of the file: what was there when claimed, plus what was written since.
    package private(set) var size: Int64
    private var fd: Int32

    private init(destination: String, path: String, fd: Int32, size: Int64) {
        self.destination = destination
        self.path = path
        self.fd = fd
        self.size = size
    }

    deinit { release() }

    /// The partial file's path for `destination`.
    package static func path(for destination: String) -> String {
        let slash = destination.lastIndex(of: "/")
        let directory = slash.map { String(destination[...$0]) } ?? ""
        let name = slash.map { String(destination[destination.index(after: $0)...]) } ?? destination
        return "\(directory).\(name)\(suffix)"
    }

    /// Claims the partial file of `destination`, creating it when missing. Nil when another writer holds it.
    package static func claim(destination: String) throws(FileSystemError) -> PartialFile? {
        let path = path(for: destination)
        for _ in 0..<8 {
            let fd = AtomicFile.retryingEINTR { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644) }
            guard fd >= 0 else { throw FileSystemError("create", path: path, code: errno) }
            if AtomicFile.retryingEINTR({ flock(fd, LOCK_EX | LOCK_NB) }) != 0 {
                let code = errno
                _ = close(fd)
                if code == EWOULDBLOCK || code == EAGAIN { return nil }
                throw FileSystemError("lock", path: path, code: code)
            }
            // The path must still name the file we locked: a committing writer may have renamed it away.
            var mine = stat(), current = stat()
            guard fstat(fd, &mine) == 0 else {
                let code = errno
                _ = close(fd)
                throw FileSystemError("stat", path: path, code: code)
            }
            if lstat(path, &current) == 0, current.st_ino == mine.st_ino, current.st_dev == mine.st_dev {
                guard lseek(fd, 0, SEEK_END) >= 0 else {
                    let code = errno
                    _ = close(fd)
                    throw FileSystemError("seek in", path: path, code: code)
                }
                return PartialFile(destination: destination, path: path, fd: fd, size: Int64(mine.st_size))
            }
            _ = close(fd)
        }
        throw FileSystemError("claim", path: path, reason: "the partial file keeps being replaced by another writer")
    }

    /// Whether another writer holds the claim on `destination`'s partial file right now.
    package static func isClaimed(destination: String) -> Bool {
        let path = path(for: destination)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { _ = close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 {
            _ = flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK || errno == EAGAIN
    }

    /// Reads up to `count` bytes at `offset` (fewer at the end of the file).
    package func read(at offset: Int64, count: Int) throws(FileSystemError) -> [UInt8] {
        guard fd >= 0 else { throw FileSystemError("read", path: path, reason: "the file was already closed") }
        return try DescriptorIO.read(fd, at: offset, count: count) { FileSystemError("read", path: path, code: $0) }
    }

    /// Appends bytes. On failure the partial file is removed (a full disk must not keep half a blob).
    package func append<Bytes: ContiguousBytes>(_ bytes: Bytes) throws(FileSystemError) {
        guard fd >= 0 else { throw FileSystemError("write", path: path, reason: "the file was already closed") }
        let failure = DescriptorIO.writeAll(fd, bytes)
        if let failure {
            discard()
            throw FileSystemError("write", path: path, code: failure)
        }
        size += Int64(bytes.withUnsafeBytes { $0.count })
    }

    /// Empties the file, to start over.
    package func truncate() throws(FileSystemError) {
        guard fd >= 0 else { throw FileSystemError("truncate", path: path, reason: "the file was already closed") }
        guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) >= 0 else {
            let code = errno
            discard()
            throw FileSystemError("truncate", path: path, code: code)
        }
        size = 0
    }

    /// Renames the file over the destination and gives up the claim. On failure the partial file is removed.
    package func commit() throws(FileSystemError) {
        guard fd >= 0 else { throw FileSystemError("commit", path: path, reason: "the file was already closed") }
        if rename(path, destination) != 0 {
            let code = errno
            discard()
            throw FileSystemError("rename \(path) to", path: destination, code: code)
        }
        _ = close(fd)
        fd = -1
    }

    /// Removes the file and gives up the claim.
    package func discard() {
        guard fd >= 0 else { return }
        _ = unlink(path)
        _ = close(fd)
        fd = -1
    }

    /// Gives up the claim and keeps the file, for a later writer to resume.
    package func release() {
        guard fd >= 0 else { return }
        _ = close(fd)
        fd = -1
    }

    /// Removes the partial files in `directory` that no writer holds and that are no use any more: those whose
    /// destination exists, and those not written for `maxAge` seconds. Returns how many were removed.
    @discardableResult
    package static func removeStale(in directory: String, maxAge: TimeInterval) -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return 0 }
        var removed = 0
        let now = Date().timeIntervalSince1970
        for name in names where name.hasPrefix(".") && name.hasSuffix(suffix) {
            let path = directory + "/" + name
            let destination = directory + "/" + String(name.dropFirst().dropLast(suffix.count))
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            #if canImport(Darwin)
            let modified = Double(st.st_mtimespec.tv_sec)
            #else
            let modified = Double(st.st_mtim.tv_sec)
            #endif
            let useless = access(destination, F_OK) == 0 || now - modified > maxAge
            guard useless, let claim = try? PartialFile.claim(destination: destination) else { continue }
            claim.discard()
            removed += 1
        }
        return removed
    }
}
