import CArchive
import OCISpec
#if canImport(Glibc)
import Glibc
#endif

/// Reads a tar archive from a file, entry by entry, streaming each entry's data. Every tar dialect libarchive knows
/// is read (ustar, pax, GNU long names and sparse files, old v7); gzip, zstd, xz and bzip2 compression is detected
/// and undone. Other archive formats (zip, cpio) are refused.
///
/// One task uses a reader; it is not `Sendable`.
public final class TarReader {
    private let archive: OpaquePointer
    private let path: String
    private var current = ""
    /// The byte offset in the file where the current entry's data begins, when the file is an uncompressed tar;
    /// nil for a compressed one. With it a caller can read an entry later without reading the archive again.
    public private(set) var dataOffset: Int64?

    /// Opens the archive at `path`.
    public init(path: String) throws {
        guard let archive = archive_read_new() else {
            throw TarError(.io, "cannot read \(path): libarchive is out of memory")
        }
        self.archive = archive
        self.path = path
        archive_read_support_filter_all(archive)
        archive_read_support_format_tar(archive)
        guard withUTF8Locale({ archive_read_open_filename(archive, path, 64 * 1024) }) == ARCHIVE_OK else {
            // deinit frees the archive: every stored property is set, so it runs when init throws.
            let message = Self.message(archive)
            // libarchive reports a file it cannot recognise with EILSEQ (ARCHIVE_ERRNO_FILE_FORMAT).
            if archive_errno(archive) == EILSEQ {
                throw TarError(.invalidArgument, "\(path) is not a tar archive: \(message)")
            }
            throw TarError(.io, "cannot open the tar archive \(path): \(message)")
        }
    }

    deinit {
        archive_read_free(archive)
    }

    /// The next entry's header, nil after the last entry. The previous entry's unread data is skipped.
    public func next() throws -> TarHeader? {
        try withUTF8Locale { try nextHeader() }
    }

    private func nextHeader() throws -> TarHeader? {
        var entryPointer: OpaquePointer?
        let status = archive_read_next_header(archive, &entryPointer)
        if status == ARCHIVE_EOF { return nil }
        guard status >= ARCHIVE_WARN, let entry = entryPointer else {
            throw TarError(.invalidArgument, "\(path) is not a readable tar archive: \(Self.message(archive))")
        }
        let header = Self.header(of: entry)
        current = header.path
        // Filter 0 is the stream the tar reader sees; with no decompression filter its position is the file's.
        let uncompressed = archive_filter_count(archive) == 1 && archive_filter_code(archive, 0) == ARCHIVE_FILTER_NONE
        dataOffset = uncompressed ? archive_filter_bytes(archive, 0) : nil
        return header
    }

    /// Reads the next piece of the current entry's data into `buffer`; 0 at the end of the entry.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let count = archive_read_data(archive, base, buffer.count)
        guard count >= 0 else {
            throw TarError(.invalidArgument, "cannot read \(current) in \(path): \(Self.message(archive))")
        }
        return count
    }

    private static func header(of entry: OpaquePointer) -> TarHeader {
        func string(_ utf8: UnsafePointer<CChar>?, _ raw: UnsafePointer<CChar>?) -> String? {
            (utf8 ?? raw).map { String(cString: $0) }
        }
        let hardLink = string(archive_entry_hardlink_utf8(entry), archive_entry_hardlink(entry))
        let kind: TarHeader.Kind
        switch UInt32(archive_entry_filetype(entry)) {
        case _ where hardLink != nil: kind = .hardLink
        case FileTypeBits.directory: kind = .directory
        case FileTypeBits.symbolicLink: kind = .symbolicLink
        case FileTypeBits.characterDevice: kind = .characterDevice
        case FileTypeBits.blockDevice: kind = .blockDevice
        case FileTypeBits.fifo: kind = .fifo
        default: kind = .regular
        }
        let link = kind == .hardLink ? hardLink
            : kind == .symbolicLink ? string(archive_entry_symlink_utf8(entry), archive_entry_symlink(entry)) : nil
        return TarHeader(
            path: string(archive_entry_pathname_utf8(entry), archive_entry_pathname(entry)) ?? "",
            kind: kind,
            size: kind == .regular ? Int64(archive_entry_size(entry)) : 0,
            mode: UInt32(archive_entry_perm(entry)) & 0o7777,
            uid: Int(archive_entry_uid(entry)), gid: Int(archive_entry_gid(entry)),
            userName: string(archive_entry_uname_utf8(entry), archive_entry_uname(entry)) ?? "",
            groupName: string(archive_entry_gname_utf8(entry), archive_entry_gname(entry)) ?? "",
            modificationTime: Int64(archive_entry_mtime(entry)),
            linkTarget: link,
            deviceMajor: Int(archive_entry_rdevmajor(entry)), deviceMinor: Int(archive_entry_rdevminor(entry)))
    }

    private static func message(_ archive: OpaquePointer) -> String {
        archive_error_string(archive).map { String(cString: $0) } ?? "libarchive error \(archive_errno(archive))"
    }
}
