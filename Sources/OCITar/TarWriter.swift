import CArchive
import OCISpec

/// Writes a tar archive in the POSIX pax format to a sink, streaming: each entry's header, then its data in pieces
/// of any size. Fields that fit a ustar header go there; pax records are added only where one does not fit (names
/// past 100 bytes, non-ASCII names, large ids or sizes), so the same entries always give the same bytes.
///
/// The writer holds no data itself beyond libarchive's 10 KiB block buffer. One task uses a writer; it is not
/// `Sendable`. Call ``finish()`` to write the end-of-archive blocks: the sink has seen every byte when it returns.
public final class TarWriter {
    private let archive: OpaquePointer
    private let sink: SinkBox
    private var remaining: Int64 = 0
    private var currentPath = ""
    private var finished = false

    /// Creates a writer that hands every block of the archive to `sink`; an error the sink throws ends the archive
    /// and is rethrown by the call that wrote the block.
    public init(sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let archive = archive_write_new() else {
            throw TarError(.io, "cannot create a tar writer: libarchive is out of memory")
        }
        self.archive = archive
        self.sink = SinkBox(sink)
        archive_write_set_format_pax_restricted(archive)
        archive_write_add_filter_none(archive)
        archive_write_set_bytes_per_block(archive, 10240)
        // The end-of-archive marker is two zero blocks; no padding of the last block to 10 KiB.
        archive_write_set_bytes_in_last_block(archive, 1)
        let status = archive_write_open2(archive, Unmanaged.passUnretained(self.sink).toOpaque(), nil,
                                         { _, context, buffer, length in
                                             guard let context else { return -1 }
                                             let box = Unmanaged<SinkBox>.fromOpaque(context).takeUnretainedValue()
                                             return box.write(buffer, length)
                                         }, nil, nil)
        if status != ARCHIVE_OK {
            // deinit frees the archive: every stored property is set, so it runs when init throws.
            throw Self.error(archive, sink: self.sink, doing: "start the tar archive")
        }
    }

    deinit {
        archive_write_free(archive)
    }

    /// Writes the header of the next entry. A regular file's `size` bytes must follow through ``write(_:)``
    /// before the next entry or ``finish()``.
    public func append(_ header: TarHeader) throws {
        try withUTF8Locale { try appendHeader(header) }
    }

    private func appendHeader(_ header: TarHeader) throws {
        try requireOpen()
        try requireComplete()
        guard !header.path.isEmpty else { throw TarError(.invalidArgument, "a tar entry needs a path") }
        guard let entry = archive_entry_new() else {
            throw TarError(.io, "cannot create the tar entry \(header.path): libarchive is out of memory")
        }
        defer { archive_entry_free(entry) }
        _ = archive_entry_update_pathname_utf8(entry, header.path)
        archive_entry_set_perm(entry, mode_t(header.mode & 0o7777))
        archive_entry_set_uid(entry, la_int64_t(header.uid))
        archive_entry_set_gid(entry, la_int64_t(header.gid))
        if !header.userName.isEmpty { _ = archive_entry_update_uname_utf8(entry, header.userName) }
        if !header.groupName.isEmpty { _ = archive_entry_update_gname_utf8(entry, header.groupName) }
        archive_entry_set_mtime(entry, time_t(header.modificationTime), 0)
        var size: Int64 = 0
        switch header.kind {
        case .regular:
            guard header.size >= 0 else { throw TarError(.invalidArgument, "\(header.path): negative size") }
            archive_entry_set_filetype(entry, FileTypeBits.regular)
            size = header.size
        case .directory:
            archive_entry_set_filetype(entry, FileTypeBits.directory)
        case .symbolicLink:
            archive_entry_set_filetype(entry, FileTypeBits.symbolicLink)
            _ = archive_entry_update_symlink_utf8(entry, try linkTarget(of: header))
        case .hardLink:
            archive_entry_set_filetype(entry, FileTypeBits.regular)
            _ = archive_entry_update_hardlink_utf8(entry, try linkTarget(of: header))
        case .characterDevice, .blockDevice:
            archive_entry_set_filetype(entry, header.kind == .characterDevice ? FileTypeBits.characterDevice : FileTypeBits.blockDevice)
            archive_entry_set_rdevmajor(entry, dev_t(header.deviceMajor))
            archive_entry_set_rdevminor(entry, dev_t(header.deviceMinor))
        case .fifo:
            archive_entry_set_filetype(entry, FileTypeBits.fifo)
        }
        archive_entry_set_size(entry, la_int64_t(size))
        let status = archive_write_header(archive, entry)
        guard status == ARCHIVE_OK else {
            throw Self.error(archive, sink: sink, doing: "write the tar header of \(header.path)")
        }
        remaining = size
        currentPath = header.path
    }

    /// Writes the next piece of the current regular file's data; more than its declared size is an error.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try requireOpen()
        guard Int64(bytes.count) <= remaining else {
            throw TarError(.invalidArgument,
                           "\(currentPath): more data than the \(remaining) bytes its tar header declares")
        }
        var offset = 0
        while offset < bytes.count, let base = bytes.baseAddress {
            let written = archive_write_data(archive, base + offset, bytes.count - offset)
            guard written > 0 else {
                throw Self.error(archive, sink: sink, doing: "write the data of \(currentPath)")
            }
            offset += written
        }
        remaining -= Int64(bytes.count)
    }

    /// Writes the end-of-archive blocks and hands the last bytes to the sink.
    public func finish() throws {
        try requireOpen()
        try requireComplete()
        finished = true
        guard archive_write_close(archive) == ARCHIVE_OK else {
            throw Self.error(archive, sink: sink, doing: "finish the tar archive")
        }
    }

    private func requireOpen() throws {
        guard !finished else { throw TarError(.invalidArgument, "the tar archive is already finished") }
    }

    private func requireComplete() throws {
        guard remaining == 0 else {
            throw TarError(.invalidArgument,
                           "\(currentPath): \(remaining) bytes of its declared size were never written")
        }
    }

    private func linkTarget(of header: TarHeader) throws -> String {
        guard let target = header.linkTarget, !target.isEmpty else {
            throw TarError(.invalidArgument, "\(header.path): a link entry needs a target")
        }
        return target
    }

    private static func error(_ archive: OpaquePointer, sink: SinkBox, doing what: String) -> any Error {
        if let failure = sink.failure { return failure }
        let message = archive_error_string(archive).map { String(cString: $0) } ?? "libarchive error \(archive_errno(archive))"
        return TarError(.io, "cannot \(what): \(message)")
    }
}

/// The sink closure, reachable from libarchive's C callback; it keeps the first error the sink threw.
private final class SinkBox {
    let sink: (UnsafeRawBufferPointer) throws -> Void
    var failure: (any Error)?

    init(_ sink: @escaping (UnsafeRawBufferPointer) throws -> Void) { self.sink = sink }

    func write(_ buffer: UnsafeRawPointer?, _ length: Int) -> Int {
        guard failure == nil else { return -1 }
        do {
            try sink(UnsafeRawBufferPointer(start: buffer, count: length))
            return length
        } catch {
            failure = error
            return -1
        }
    }
}
