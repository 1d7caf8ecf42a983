import Foundation
import OCISync

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Small file-system helpers for the layout; every failure names the path.
enum LayoutFiles {
    /// The size of the regular file at `path`, or nil when there is none.
    static func regularFileSize(_ path: String) -> Int64? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              (attributes[.type] as? FileAttributeType) == .typeRegular,
              let size = attributes[.size] as? NSNumber else { return nil }
        return size.int64Value
    }

    /// Whether `path` is a directory.
    static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    /// Whether anything (file, directory, dangling link) exists at `path`.
    static func exists(_ path: String) -> Bool {
        (try? FileManager.default.attributesOfItem(atPath: path)) != nil
    }

    /// The whole file, or nil when it does not exist; refuses files larger than `limit`.
    static func read(_ path: String, limit: Int) throws(OCILayoutError) -> [UInt8]? {
        guard exists(path) else { return nil }
        if let size = regularFileSize(path), size > Int64(limit) {
            throw .io(path: path, operation: "read", reason: "the file has \(size) bytes, more than the limit of \(limit)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .io(path: path, operation: "read", reason: "not a readable regular file")
        }
        guard data.count <= limit else {
            throw .io(path: path, operation: "read", reason: "the file is larger than the limit of \(limit) bytes")
        }
        return [UInt8](data)
    }

    /// Replaces `path` with `bytes` through a temporary file and a rename: readers see the old or the new file.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(OCILayoutError) {
        do { try AtomicFile.write(bytes, to: path) } catch {
            throw .io(path: path, operation: "write", reason: "\(error)")
        }
    }

    /// Creates a directory and its parents.
    static func makeDirectory(_ path: String) throws(OCILayoutError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw .io(path: path, operation: "create directory", reason: "\(error.localizedDescription)")
        }
    }

    /// Removes the file at `path`; returns false when there was none.
    static func remove(_ path: String) throws(OCILayoutError) -> Bool {
        if unlink(path) == 0 { return true }
        let code = errno
        if code == ENOENT { return false }
        throw .io(path: path, operation: "remove", reason: String(cString: strerror(code)))
    }
}
