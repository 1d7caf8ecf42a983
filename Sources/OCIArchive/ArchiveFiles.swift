import Foundation
import OCIContent
import OCILayout
import OCISpec
import OCISync
import OCITar

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors specific to OCI archives; missing content and verification failures are `ContentError`s as for
/// every store.
public enum OCIArchiveError: Error, Sendable, CustomStringConvertible {
    /// The file is not a tar of an OCI image layout, or cannot be used as one.
    case invalidArchive(path: String, reason: String)
    /// Writing the archive failed: the path and the operating system's (or libarchive's) message.
    case io(path: String, operation: String, reason: String)

    public var description: String {
        switch self {
        case .invalidArchive(let path, let reason):
            return "\(path) is not a usable OCI archive: \(reason)"
        case .io(let path, let operation, let reason):
            return "cannot \(operation) \(path): \(reason); the archive was left as it was"
        }
    }
}

extension OCIArchiveError: OCIError {
    public var kind: OCIErrorKind {
        switch self {
        case .invalidArchive: return .invalidResponse
        case .io: return .io
        }
    }
}

/// One pass over an archive's headers: where each blob is, and the small files read whole.
struct ArchiveScan {
    var entries: [String: ArchiveEntry] = [:]
    var index: ImageIndex
    var layoutFile: [UInt8]?

    init(path: String) throws {
        let reader: TarReader
        do { reader = try TarReader(path: path) } catch {
            throw OCIArchiveError.invalidArchive(path: path, reason: "\(error)")
        }
        var indexBytes: [UInt8]?
        var links: [(String, String)] = []
        do {
            while let header = try reader.next() {
                let name = Self.normalise(header.path)
                switch header.kind {
                case .regular:
                    if name == "index.json" || name == "oci-layout" {
                        guard header.size <= 64 << 20 else {
                            throw OCIArchiveError.invalidArchive(path: path, reason: "\(name) has \(header.size) bytes")
                        }
                        let bytes = try Self.readAll(reader, size: Int(header.size))
                        if name == "index.json" { indexBytes = bytes } else { layoutFile = bytes }
                    } else if name.hasPrefix("blobs/") {
                        guard let offset = reader.dataOffset else {
                            throw OCIArchiveError.invalidArchive(
                                path: path, reason: "it is compressed; blobs are read from their offsets in an uncompressed tar, so decompress it first (e.g. gunzip)")
                        }
                        entries[name] = ArchiveEntry(offset: offset, size: header.size)
                    }
                case .hardLink:
                    if let target = header.linkTarget { links.append((name, Self.normalise(target))) }
                default:
                    break
                }
            }
        } catch let error as OCIArchiveError {
            throw error
        } catch {
            throw OCIArchiveError.invalidArchive(path: path, reason: "\(error)")
        }
        for (name, target) in links { if let entry = entries[target] { entries[name] = entry } }
        if let layoutFile {
            struct LayoutFile: Decodable { var imageLayoutVersion: String? }
            guard let file = try? JSONCoding.decode(LayoutFile.self, from: layoutFile), file.imageLayoutVersion == OCILayoutStore.layoutVersion else {
                throw OCIArchiveError.invalidArchive(path: path, reason: "its oci-layout file does not declare imageLayoutVersion \(OCILayoutStore.layoutVersion)")
            }
        }
        guard let indexBytes else {
            throw OCIArchiveError.invalidArchive(path: path, reason: "it has no index.json (is it a tar of an OCI image layout?)")
        }
        do { index = try JSONCoding.decode(ImageIndex.self, from: indexBytes) } catch {
            throw OCIArchiveError.invalidArchive(path: path, reason: "index.json: \(error)")
        }
    }

    /// `./blobs/x` and `blobs/x` name the same entry.
    static func normalise(_ path: String) -> String {
        var p = Substring(path)
        while p.hasPrefix("./") { p = p.dropFirst(2) }
        while p.hasPrefix("/") { p = p.dropFirst() }
        return String(p)
    }

    static func readAll(_ reader: TarReader, size: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        var filled = 0
        while filled < size {
            let n = try out.withUnsafeMutableBytes { raw in
                try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]))
            }
            if n == 0 { break }
            filled += n
        }
        out.removeSubrange(filled...)
        return out
    }
}


/// The new tar being written beside the archive, through `AtomicFile`: renamed over the archive by `finish`.
/// Used under the store's turn only.
final class ArchiveWriter: @unchecked Sendable {
    private let file: AtomicFile
    private let tar: TarWriter
    let destination: String
    private var spoiled: String?
    private var directoriesWritten = false

    init(destination: String) throws {
        self.destination = destination
        let directory = (destination as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory.isEmpty ? "." : directory, withIntermediateDirectories: true)
        } catch {
            throw OCIArchiveError.io(path: directory, operation: "create the directory", reason: "\(error.localizedDescription)")
        }
        do { file = try AtomicFile(destination: destination) } catch {
            throw OCIArchiveError.io(path: error.path, operation: error.operation, reason: error.reason)
        }
        let sink = file
        do {
            tar = try TarWriter { bytes in try sink.write(bytes) }
        } catch {
            file.discard()
            throw Self.ioError(error, destination: destination)
        }
    }

    static func ioError(_ error: any Error, destination: String) -> OCIArchiveError {
        if let fs = error as? FileSystemError { return .io(path: fs.path, operation: fs.operation, reason: fs.reason) }
        if let archive = error as? OCIArchiveError { return archive }
        return .io(path: destination, operation: "write", reason: "\(error)")
    }

    private func guarded<T>(_ body: () throws -> T) throws -> T {
        if let spoiled { throw OCIArchiveError.io(path: destination, operation: "write", reason: spoiled) }
        do { return try body() } catch {
            let wrapped = Self.ioError(error, destination: destination)
            spoil(because: "\(wrapped)")
            throw wrapped
        }
    }

    func directories() throws {
        guard !directoriesWritten else { return }
        directoriesWritten = true
        try guarded {
            try tar.append(TarHeader(path: "blobs/", kind: .directory, mode: 0o755))
            try tar.append(TarHeader(path: "blobs/sha256/", kind: .directory, mode: 0o755))
        }
    }

    func begin(_ name: String, size: Int64) throws {
        try guarded { try tar.append(TarHeader(path: name, kind: .regular, size: size, mode: 0o644)) }
    }

    func write(_ bytes: [UInt8]) throws {
        try guarded { try bytes.withUnsafeBytes { try tar.write($0) } }
    }

    func end() throws {}

    /// Copies the regular entries of the archive at `path` (their data streamed) but those named in `except`.
    func copyEntries(from path: String, except: Set<String>) throws {
        let reader: TarReader
        do { reader = try TarReader(path: path) } catch {
            throw OCIArchiveError.invalidArchive(path: path, reason: "\(error)")
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while let header = try reader.next() {
            let name = ArchiveScan.normalise(header.path)
            guard header.kind == .regular, !except.contains(name), name.hasPrefix("blobs/") else { continue }
            var copy = header
            copy.path = name
            try guarded { try tar.append(copy) }
            while true {
                let n = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
                if n == 0 { break }
                try guarded { try buffer.withUnsafeBytes { try tar.write(UnsafeRawBufferPointer(rebasing: $0[..<n])) } }
            }
        }
    }

    /// Marks the new tar unusable (an entry is incomplete or wrong): `finish` will refuse.
    func spoil(because reason: String) {
        if spoiled == nil { spoiled = reason }
    }

    /// `oci-layout`, `index.json` last, the end of the archive, the rename.
    func finish(layout: [UInt8], index: [UInt8]) throws {
        if let spoiled {
            discard()
            throw OCIArchiveError.io(path: destination, operation: "write", reason: spoiled)
        }
        do {
            try begin("oci-layout", size: Int64(layout.count))
            try write(layout)
            try begin("index.json", size: Int64(index.count))
            try write(index)
            try guarded { try tar.finish() }
            try file.commit()
        } catch {
            discard()
            throw Self.ioError(error, destination: destination)
        }
    }

    func discard() { file.discard() }
}

extension ByteStream {
    /// Streams the bytes of `range` of a file; each iteration reopens it.
    init(fileAt path: String, range: Range<Int64>, chunkSize: Int = 1 << 20) {
        self.init {
            let reader = FileRangeReader(path: path, range: range, chunkSize: chunkSize)
            return { try reader.next() }
        }
    }
}

/// Reads a byte range of a file with positional reads.
final class FileRangeReader: @unchecked Sendable {
    private let path: String
    private var offset: Int64
    private let end: Int64
    private let chunkSize: Int
    private var fd: Int32 = -1

    init(path: String, range: Range<Int64>, chunkSize: Int) {
        self.path = path
        offset = range.lowerBound
        end = range.upperBound
        self.chunkSize = max(4096, chunkSize)
    }

    deinit { if fd >= 0 { close(fd) } }

    func next() throws -> [UInt8]? {
        guard offset < end else {
            if fd >= 0 { close(fd); fd = -1 }
            return nil
        }
        if fd < 0 {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw ContentError.posix("open", path, errno: errno) }
        }
        let count = Int(min(Int64(chunkSize), end - offset))
        var buffer = [UInt8](repeating: 0, count: count)
        var n: Int
        repeat {
            n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        } while n < 0 && errno == EINTR
        guard n >= 0 else { throw ContentError.posix("read", path, errno: errno) }
        guard n > 0 else { throw ContentError.io(operation: "read", path: path, reason: "the archive ends inside an entry (truncated?)") }
        offset += Int64(n)
        if n < count { buffer.removeLast(count - n) }
        return buffer
    }
}
