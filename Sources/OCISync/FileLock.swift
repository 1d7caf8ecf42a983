import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An advisory exclusive lock across processes: `flock(2)` on a lock file or a directory, held until
/// ``unlock()`` or until the lock is dropped. The descriptor is opened with `O_CLOEXEC`, so child processes do
/// not inherit the lock.
///
/// Waiting for the lock blocks the calling thread: hold it only around short synchronous work, never across an
/// `await`.
package final class FileLock: @unchecked Sendable {
    package let path: String
    private var fd: Int32

    /// Waits for the exclusive lock on `path`. With `mode`, `path` is a lock file, created with that mode (less
    /// the umask) when missing and opened read-write; without, it must exist (a directory, say) and is opened
    /// read-only.
    package init(_ path: String, creatingWith mode: mode_t? = 0o644) throws(FileSystemError) {
        self.path = path
        let opened = AtomicFile.retryingEINTR {
            if let mode { return open(path, O_RDWR | O_CREAT | O_CLOEXEC, mode) }
            return open(path, O_RDONLY | O_CLOEXEC)
        }
        guard opened >= 0 else { throw FileSystemError("open the lock file", path: path, code: errno) }
        guard AtomicFile.retryingEINTR({ flock(opened, LOCK_EX) }) == 0 else {
            let code = errno
            _ = close(opened)
            throw FileSystemError("lock", path: path, code: code)
        }
        fd = opened
    }

    /// Releases the lock (closing the descriptor releases it too); later calls do nothing.
    package func unlock() {
        guard fd >= 0 else { return }
        _ = flock(fd, LOCK_UN)
        _ = close(fd)
        fd = -1
    }

    deinit { unlock() }

    /// Runs `body` holding the exclusive lock on `path` (see ``init(_:creatingWith:)``), best effort: where the
    /// lock cannot be taken (a read-only directory, a file system without locks) `body` runs without it.
    package static func withExclusiveLock<Result, Failure: Error>(
        _ path: String, creatingWith mode: mode_t? = 0o644, _ body: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let lock = try? FileLock(path, creatingWith: mode)
        defer { lock?.unlock() }
        return try body()
    }
}
