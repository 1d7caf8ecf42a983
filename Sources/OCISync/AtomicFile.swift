import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A file-system call that failed: what was attempted, on which path, and why (`strerror(errno)`).
package struct FileSystemError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was attempted, phrased to precede the path: "create", "write", "rename /a/.b.tmp to".
    package var operation: String
    package var path: String
    /// The errno, 0 when the failure is not the OS's.
    package var code: Int32
    /// The OS's message for `code`, or the package's own reason.
    package var reason: String

    /// A failed OS call; `code` is the errno it left (read it right after the call).
    package init(_ operation: String, path: String, code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
        self.reason = String(cString: strerror(code))
    }

    /// A failure that is not an OS error.
    package init(_ operation: String, path: String, reason: String) {
        self.operation = operation
        self.path = path
        self.code = 0
        self.reason = reason
    }

    package var description: String { "cannot \(operation) \(path): \(reason)" }
}

/// Writes a file atomically: the bytes go to a new temporary file beside the destination
/// (`.<name>.<pid>.<random>.tmp`, created with `O_EXCL`), which ``commit()`` optionally fsyncs, sets to its
/// permissions and renames over the destination. Readers see the old file or the new one, never part of one.
///
/// Every failure of ``write(_:)`` or ``commit()``, ``discard()`` and dropping an uncommitted file remove the
/// temporary file; the destination is not touched before the rename. The directory must exist.
///
/// One task uses a file at a time; it is `Sendable` only so that the task may hand it on.
package final class AtomicFile: @unchecked Sendable {
    /// The mode of the new file.
    package enum Permissions: Sendable, Equatable {
        /// This mode less the process's umask, as `open(2)` creates files.
        case umask(mode_t)
        /// Exactly this mode, whatever the umask (set with `fchmod` before the rename).
        case exactly(mode_t)
    }

    /// How temporary file names end, so that a directory scan can recognise leftovers of crashed writers.
    package static let temporarySuffix = ".tmp"

    package let destination: String
    package let temporaryPath: String
    package let permissions: Permissions
    /// Whether ``commit()`` fsyncs the file before renaming it.
    package let synchronize: Bool
    package private(set) var bytesWritten: Int64 = 0
    private var fd: Int32

    /// Creates the temporary file in the destination's directory.
    package init(destination: String, permissions: Permissions = .umask(0o644), synchronize: Bool = false) throws(FileSystemError) {
        self.destination = destination
        self.permissions = permissions
        self.synchronize = synchronize
        let slash = destination.lastIndex(of: "/")
        let directory = slash.map { destination[...$0] } ?? ""
        let name = slash.map { String(destination[destination.index(after: $0)...]) } ?? destination
        let mode: mode_t
        switch permissions {
        case .umask(let m), .exactly(let m): mode = m
        }
        var attempt = 0
        while true {
            let candidate = "\(directory).\(Self.shortened(name)).\(getpid()).\(Self.randomTag())\(Self.temporarySuffix)"
            let opened = Self.retryingEINTR { open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode) }
            if opened >= 0 {
                temporaryPath = candidate
                fd = opened
                return
            }
            let code = errno
            attempt += 1
            // A name taken by another writer is astronomically unlikely; try another before giving up.
            guard code == EEXIST, attempt < 4 else { throw FileSystemError("create", path: candidate, code: code) }
        }
    }

    deinit { discard() }

    /// Appends bytes. On failure the temporary file is removed and the file cannot be used any more.
    package func write<Bytes: ContiguousBytes>(_ bytes: Bytes) throws(FileSystemError) {
        guard fd >= 0 else { throw FileSystemError("write", path: temporaryPath, reason: "the file was already closed") }
        let failure = DescriptorIO.writeAll(fd, bytes)
        if let failure {
            discard()
            throw FileSystemError("write", path: temporaryPath, code: failure)
        }
        bytesWritten += Int64(bytes.withUnsafeBytes { $0.count })
    }

    /// fsyncs (when asked to), sets the permissions, closes and renames the file over the destination. On failure
    /// the temporary file is removed and the destination is left as it was.
    package func commit() throws(FileSystemError) {
        guard fd >= 0 else { throw FileSystemError("commit", path: temporaryPath, reason: "the file was already closed") }
        var failure: FileSystemError?
        if synchronize, Self.retryingEINTR({ fsync(fd) }) != 0 {
            failure = FileSystemError("fsync", path: temporaryPath, code: errno)
        }
        if failure == nil, case .exactly(let mode) = permissions, fchmod(fd, mode) != 0 {
            failure = FileSystemError("set the permissions of", path: temporaryPath, code: errno)
        }
        if close(fd) != 0, failure == nil {
            failure = FileSystemError("close", path: temporaryPath, code: errno)
        }
        fd = -1
        if failure == nil, rename(temporaryPath, destination) != 0 {
            failure = FileSystemError("rename \(temporaryPath) to", path: destination, code: errno)
        }
        if let failure {
            _ = unlink(temporaryPath)
            throw failure
        }
    }

    /// Closes and removes the temporary file unless it was committed; the destination is untouched.
    package func discard() {
        guard fd >= 0 else { return }
        _ = close(fd)
        fd = -1
        _ = unlink(temporaryPath)
    }

    /// Writes `bytes` to `destination` atomically (create, write, commit).
    package static func write<Bytes: ContiguousBytes>(_ bytes: Bytes, to destination: String,
                                                      permissions: Permissions = .umask(0o644),
                                                      synchronize: Bool = false) throws(FileSystemError) {
        let file = try AtomicFile(destination: destination, permissions: permissions, synchronize: synchronize)
        try file.write(bytes)
        try file.commit()
    }

    // MARK: stale temporaries

    /// Removes the temporary files in `directory` that a process which no longer runs left behind (killed while
    /// writing): `.<name>.<pid>.<random>.tmp` whose pid is gone. Temporaries of live processes (another writer
    /// right now) are kept. Returns how many were removed; a directory that cannot be read removes nothing.
    @discardableResult
    package static func removeStaleTemporaries(in directory: String) -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return 0 }
        var removed = 0
        for name in names where name.hasPrefix(".") && name.hasSuffix(temporarySuffix) {
            let parts = name.dropLast(temporarySuffix.count).split(separator: ".")
            guard parts.count >= 3, let pid = Int32(parts[parts.count - 2]), pid > 0, parts[parts.count - 1].count == 16
            else { continue }
            // kill(pid, 0) fails with ESRCH only when no such process exists.
            guard kill(pid_t(pid), 0) != 0, errno == ESRCH else { continue }
            if unlink(directory + "/" + name) == 0 { removed += 1 }
        }
        return removed
    }

    // MARK: helpers

    /// The name cut to 200 UTF-8 bytes, so that the temporary name stays below NAME_MAX (255).
    private static func shortened(_ name: String) -> Substring {
        var end = name.startIndex
        var bytes = 0
        for index in name.indices {
            bytes += name[index].utf8.count
            if bytes > 200 { break }
            end = name.index(after: index)
        }
        return name[..<end]
    }

    private static func randomTag() -> String {
        let hex = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func retryingEINTR(_ call: () -> Int32) -> Int32 {
        while true {
            let result = call()
            if result >= 0 || errno != EINTR { return result }
        }
    }
}

