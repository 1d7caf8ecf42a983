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

/// The on-disk layout: `ROOT/blobs/<algorithm>/<hex>` per entry, temporary files `.<hex>.<pid>.<random>.tmp`
/// beside them, and `ROOT/.lock`, locked with `flock` around renames, deletions, garbage collection and prune so
/// that processes sharing the directory do not race on the same path.
struct DiskLayout: Sendable {
    static let temporarySuffix = AtomicFile.temporarySuffix

    let root: String
    let blobs: String
    let lockPath: String

    init(root: String) {
        let trimmed = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        self.root = trimmed
        blobs = trimmed + "/blobs"
        lockPath = trimmed + "/.lock"
    }

    /// The index name of a digest: `<algorithm>/<hex>`, the path below `blobs`.
    static func name(of digest: OCIDigest) -> String { "\(digest.algorithm.rawValue)/\(digest.encoded)" }

    /// The path of an entry.
    func path(of name: String) -> String { blobs + "/" + name }

    /// Creates the directory for an algorithm's entries.
    func prepareDirectory(for algorithm: OCIDigest.Algorithm) throws(CacheError) {
        try Self.makeDirectories(blobs + "/" + algorithm.rawValue)
    }

    /// Whether `path` is a directory or a symlink to one.
    static func isDirectory(_ path: String) -> Bool {
        if case .success = FileStatus.of(path + "/.") { return true }
        return false
    }

    /// `mkdir -p` with an error that names the path component that failed and why.
    static func makeDirectories(_ path: String) throws(CacheError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) == 0 { continue }
            let code = errno
            if code == EEXIST {
                if isDirectory(current) { continue }
                throw .writeFailed(path: current, reason: "it exists and is not a directory")
            }
            throw .writeFailed(path: current, reason: "cannot create the directory: \(errnoDescription(code))")
        }
    }

    /// A temporary file for an entry, in the entry's directory.
    func temporaryFile(for name: String, algorithm: OCIDigest.Algorithm) throws(CacheError) -> TemporaryFile {
        try prepareDirectory(for: algorithm)
        return try TemporaryFile(destination: path(of: name))
    }

    /// Runs `body` holding the exclusive cross-process lock. When the lock file cannot be opened (a read-only
    /// directory, where nothing is written anyway) `body` runs without it.
    func withFileLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        try FileLock.withExclusiveLock(lockPath, creatingWith: 0o644, body)
    }

    /// Deletes the entry at `name` only if it is still the file described by `status`, so a corrupt file that
    /// another writer has meanwhile replaced is not taken with it. Call with the file lock held.
    @discardableResult
    func removeIfUnchanged(_ name: String, status: FileStatus) -> Bool {
        let p = path(of: name)
        guard case .success(let now) = FileStatus.of(p), now.device == status.device, now.inode == status.inode else {
            return false
        }
        return unlink(p) == 0
    }

    /// Deletes an entry. Call with the file lock held.
    @discardableResult
    func remove(_ name: String) -> Bool { unlink(path(of: name)) == 0 }

    /// An entry found on disk.
    struct ScannedEntry: Sendable {
        var name: String
        var size: Int64
        var modified: Date
    }

    /// Lists the entries on disk and removes temporary files older than `temporaryMaxAge` (left by crashed
    /// writers); younger ones may belong to a live writer in another process and are left alone.
    func scan(now: Date, temporaryMaxAge: Double) -> [ScannedEntry] {
        var found: [ScannedEntry] = []
        let fm = FileManager.default
        for algorithm in OCIDigest.Algorithm.allCases {
            let dir = blobs + "/" + algorithm.rawValue
            // Partial entries of broken downloads: kept for resumption unless useless (see CacheResume.swift).
            PartialFile.removeStale(in: dir, maxAge: temporaryMaxAge)
            guard let names = try? fm.contentsOfDirectory(atPath: dir) else { continue }
            for file in names {
                let p = dir + "/" + file
                guard case .success(let st) = FileStatus.of(p), st.isRegularFile else { continue }
                if file.hasPrefix("."), file.hasSuffix(Self.temporarySuffix) {
                    if now.timeIntervalSince(st.modified) > temporaryMaxAge { _ = unlink(p) }
                    continue
                }
                guard OCIDigest("\(algorithm.rawValue):\(file)") != nil else { continue }
                found.append(ScannedEntry(name: "\(algorithm.rawValue)/\(file)", size: st.size, modified: st.modified))
            }
        }
        return found
    }
}
