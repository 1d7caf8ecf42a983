import Dispatch
import Foundation
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

/// Writes a layer (a tar, compressed as `LayerOptions.compression` says) from files and directories, or from a
/// tar as it is, in one streaming pass that also yields its digest, size and diffID; memory stays flat whatever
/// the input size (file contents are streamed; only the list of entries is held).
///
/// Entries are sorted by path (bytewise), owners, names and times come from the options, so the same inputs
/// give the same digest on every machine. Symbolic links are stored as links and never followed; a file with
/// several links in the input becomes one file and hard links to it; special files are refused (or skipped);
/// a file that changes size while it is read fails the build, so no layer is ever written from a torn read.
/// The tar itself is written by libarchive (`OCITar.TarWriter`, PAX where ustar does not suffice).
public struct LayerBuilder: Sendable {
    public var options: LayerOptions

    public init(options: LayerOptions = LayerOptions()) {
        self.options = options
    }

    /// Builds the layer into a file, atomically (nothing is left at `path` when the build fails).
    public func build(_ sources: [LayerSource], toFile path: String) async throws -> BuiltLayer {
        let options = self.options
        return try await Self.offload {
            let file: AtomicFile
            do { file = try AtomicFile(destination: path) } catch {
                throw BuildError.io("create", path, "\(error)")
            }
            do {
                let layer = try LayerBuilder(options: options).build(sources) { bytes in
                    do { try file.write(bytes) } catch { throw BuildError.io("write", path, "\(error)") }
                }
                do { try file.commit() } catch { throw BuildError.io("write", path, "\(error)") }
                return layer
            } catch {
                file.discard()
                throw error
            }
        }
    }

    /// Builds the layer, handing the compressed bytes to `sink` as they are made (synchronously).
    public func build(_ sources: [LayerSource], sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws -> BuiltLayer {
        try options.compression.validate()
        let mediaType = try options.compression.layerMediaType(options.family)
        let digester = try LayerDigester(compression: options.compression, sink: sink)
        let tars = sources.compactMap { if case .tar(let path) = $0 { return path } else { return nil } }
        if !tars.isEmpty {
            guard sources.count == 1, let tar = tars.first else {
                throw BuildError.invalidArgument("a tar file becomes a layer on its own; put the other files in another layer")
            }
            try TarPassThrough.copy(tar, into: digester)
        } else {
            guard !sources.isEmpty else { throw BuildError.invalidArgument("a layer needs at least one file or directory") }
            let entries = try plan(sources)
            let writer = try TarWriter(sink: { try digester.write($0) })
            for entry in entries { try write(entry, to: writer) }
            try writer.finish()
        }
        let (digest, size, diffID) = try digester.finish()
        return BuiltLayer(descriptor: Descriptor(mediaType: mediaType, digest: digest, size: size), diffID: diffID,
                          uncompressedSize: digester.uncompressedSize)
    }

    /// Runs blocking file work off the cooperative thread pool.
    static func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try work() })
            }
        }
    }

    // MARK: planning

    /// One entry to write: where in the image, what, and (for a regular file) where its bytes are.
    struct Entry {
        var path: String
        var kind: TarHeader.Kind
        var mode: UInt32
        var source: String?
        var linkTarget: String?
        var inode: FileIdentity?
    }

    struct FileIdentity: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    /// Every entry of the layer, sorted, with parent directories and hard links resolved.
    func plan(_ sources: [LayerSource]) throws -> [Entry] {
        var entries: [String: Entry] = [:]
        for source in sources {
            switch source {
            case .directory(let directory, let destination):
                let root = try ImagePath.normalise(destination)
                var info = stat()
                guard stat(directory, &info) == 0 else { throw Self.posix("read", directory) }
                guard info.st_mode & S_IFMT == S_IFDIR else {
                    throw BuildError.invalidArgument("\(directory) is not a directory; add a file with a destination instead")
                }
                if !root.isEmpty {
                    entries[root] = Entry(path: root, kind: .directory, mode: UInt32(info.st_mode) & 0o7777)
                }
                try walk(directory, into: root, entries: &entries)
            case .file(let file, let destination):
                let path = try ImagePath.normalise(destination)
                guard !path.isEmpty else {
                    throw BuildError.invalidArgument("\(file) needs a destination path other than the root")
                }
                if let entry = try entry(file, at: path) { entries[path] = entry }
            case .tar:
                throw BuildError.invalidArgument("a tar file becomes a layer on its own")
            }
        }
        if options.parentDirectories {
            for path in Array(entries.keys) {
                var parent = FilesystemExporter.parent(path)
                while !parent.isEmpty, entries[parent] == nil {
                    entries[parent] = Entry(path: parent, kind: .directory, mode: 0o755)
                    parent = FilesystemExporter.parent(parent)
                }
            }
        }
        var sorted = entries.values.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        // Files with several links: the first path (in order) carries the bytes, the others link to it.
        var first: [FileIdentity: String] = [:]
        for i in sorted.indices {
            guard sorted[i].kind == .regular, let identity = sorted[i].inode else { continue }
            if let target = first[identity] {
                sorted[i].kind = .hardLink
                sorted[i].linkTarget = target
                sorted[i].source = nil
            } else {
                first[identity] = sorted[i].path
            }
        }
        return sorted
    }

    /// Adds the contents of `directory` under `root`, descending into subdirectories (never through links).
    private func walk(_ directory: String, into root: String, entries: inout [String: Entry]) throws {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw BuildError.io("list", directory, error.localizedDescription)
        }
        for name in names.sorted() {
            let hostPath = directory + "/" + name
            let path = root.isEmpty ? name : root + "/" + name
            guard let entry = try entry(hostPath, at: path) else { continue }
            entries[path] = entry
            if entry.kind == .directory { try walk(hostPath, into: path, entries: &entries) }
        }
    }

    /// The entry for one host path (lstat: a link is the link), nil for a special file that is skipped.
    private func entry(_ hostPath: String, at path: String) throws -> Entry? {
        var info = stat()
        guard lstat(hostPath, &info) == 0 else { throw Self.posix("read", hostPath) }
        let mode = UInt32(info.st_mode) & 0o7777
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            let identity = info.st_nlink > 1
                ? FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)) : nil
            return Entry(path: path, kind: .regular, mode: mode, source: hostPath, inode: identity)
        case S_IFDIR:
            return Entry(path: path, kind: .directory, mode: mode)
        case S_IFLNK:
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlink(hostPath, &buffer, buffer.count - 1)
            guard count >= 0 else { throw Self.posix("read the link", hostPath) }
            let target = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return Entry(path: path, kind: .symbolicLink, mode: 0o777, linkTarget: target)
        default:
            switch options.specialFiles {
            case .skip: return nil
            case .refuse:
                throw BuildError.unsupported("\(hostPath) is a special file (device, FIFO or socket); layers hold files, directories and links (skip special files to leave it out)")
            }
        }
    }

    // MARK: writing

    private func header(_ entry: Entry, size: Int64 = 0) -> TarHeader {
        TarHeader(path: entry.path, kind: entry.kind, size: size, mode: entry.mode, uid: options.uid, gid: options.gid,
                  userName: options.userName, groupName: options.groupName,
                  modificationTime: options.modificationTime, linkTarget: entry.linkTarget)
    }

    private func write(_ entry: Entry, to writer: TarWriter) throws {
        guard entry.kind == .regular, let source = entry.source else {
            try writer.append(header(entry))
            return
        }
        let fd = open(source, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw Self.posix("open", source) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Self.posix("read", source) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw BuildError.io("read", source, "it is no longer a regular file (it changed while the layer was written)")
        }
        let size = Int64(info.st_size)
        try writer.append(header(entry, size: size))
        let chunk = 256 * 1024
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var remaining = size
        while remaining > 0 {
            let want = Int(min(Int64(chunk), remaining))
            let n = read(fd, buffer.baseAddress, want)
            if n < 0 {
                if errno == EINTR { continue }
                throw Self.posix("read", source)
            }
            guard n > 0 else {
                throw BuildError.io("read", source, "the file shrank from \(size) to \(size - remaining) bytes while it was read; build the layer again when it is not being written")
            }
            try writer.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            remaining -= Int64(n)
        }
        let extra = read(fd, buffer.baseAddress, 1)
        if extra > 0 {
            throw BuildError.io("read", source, "the file grew beyond \(size) bytes while it was read; build the layer again when it is not being written")
        }
    }

    static func posix(_ operation: String, _ path: String) -> BuildError {
        let code = errno
        let reason = String(cString: strerror(code))
        return code == ENOENT ? .notFound("\(path): no such file or directory") : .io(operation, path, reason)
    }
}

/// A tar file as a layer: an uncompressed tar goes through byte for byte (after libarchive has read it once,
/// so that a file that is not a tar is refused); a compressed one (gzip, zstd, xz, bzip2) is read entry by
/// entry and written again uncompressed, then compressed as the layer's options say.
enum TarPassThrough {
    static func copy(_ path: String, into digester: LayerDigester) throws {
        let compressed = try isCompressed(path)
        let reader = try TarReader(path: path)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        if compressed {
            let writer = try TarWriter(sink: { try digester.write($0) })
            while let header = try reader.next() {
                try writer.append(header)
                while true {
                    let n = try reader.read(into: buffer)
                    if n == 0 { break }
                    try writer.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                }
            }
            try writer.finish()
            return
        }
        var entries = 0
        while try reader.next() != nil { entries += 1 }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LayerBuilder.posix("open", path) }
        defer { close(fd) }
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw LayerBuilder.posix("read", path)
            }
            if n == 0 { break }
            try digester.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
    }

    /// Whether the file starts with the magic of gzip, zstd, xz or bzip2.
    static func isCompressed(_ path: String) throws -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw LayerBuilder.posix("open", path) }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 6)) ?? Data())
        func starts(_ magic: [UInt8]) -> Bool { head.count >= magic.count && Array(head.prefix(magic.count)) == magic }
        return starts([0x1F, 0x8B]) || starts([0x28, 0xB5, 0x2F, 0xFD]) || starts([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00])
            || starts([0x42, 0x5A, 0x68])
    }
}
