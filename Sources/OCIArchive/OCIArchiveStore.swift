import Foundation
import OCIContent
import OCILayout
import OCISpec
import OCISync
import OCITar

/// A tar of an OCI image layout (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`), skopeo's `oci-archive:`, as a
/// content target: read without extracting it, written without a copy on disk beyond the archive itself.
///
/// - Reading scans the tar's headers once and serves every blob from its offset in the file, verified against
///   its descriptor while it is read (an uncompressed tar; compressed ones are refused with a message).
/// - Writing streams each blob straight into a new tar beside the archive (sizes come from the descriptors),
///   verified while it is written, and `close()` adds `index.json` last and renames the new tar over the
///   archive: readers see the old archive or the new one. With `.update`, an existing archive's entries are
///   copied into the new tar at `close()` (the archive is rewritten), but those `collectGarbage()` dropped;
///   nothing is rewritten when nothing changed.
///   A blob that fails verification mid-entry spoils the new tar: `close()` then throws and leaves the old
///   archive as it was.
///
/// Tags are the `org.opencontainers.image.ref.name` annotations of index.json's entries, as in a layout.
public actor OCIArchiveStore: Target, TagLister, ContentDeleter {
    /// The scheme prefix of archive locations: `oci-archive://FILE.tar[:TAG|@DIGEST]`.
    public static let scheme = "oci-archive://"

    /// How an archive is opened.
    public enum Mode: Sendable, Equatable {
        /// An existing archive, read only.
        case read
        /// A new archive: what the file held before is replaced at `close()`.
        case create
        /// An existing archive (or none yet) that gets more content: rewritten at `close()` if anything was added.
        case update
    }

    /// The archive file's absolute path.
    public nonisolated let path: String
    public nonisolated let mode: Mode

    /// Entries of the archive as it was opened: blob path -> data offset and size.
    private var entries: [String: ArchiveEntry] = [:]
    private var document: ImageIndex
    private var layoutFile: [UInt8]?
    /// Blobs written into the new tar this session.
    private var written: [OCIDigest: Int64] = [:]
    /// The manifests among them (small, kept for garbage collection, which must read them).
    private var writtenManifests: [OCIDigest: [UInt8]] = [:]
    /// Entries of the old archive that `collectGarbage` dropped: not copied into the new tar.
    private var dropped: Set<String> = []
    private var writer: ArchiveWriter?
    private var indexChanged = false
    private var closed = false
    /// Pushes take turns: a tar is one stream.
    private let turn = ConcurrencyLimiter(limit: 1)

    /// Opens the archive at `path`. `.read` and an existing archive under `.update` are scanned once (headers
    /// only); `.create` reads nothing.
    public init(path: String, mode: Mode = .read) throws {
        guard !path.isEmpty, !path.utf8.contains(0) else {
            throw OCIArchiveError.invalidArchive(path: path, reason: "the path is empty or contains a NUL byte")
        }
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        self.path = absolute
        self.mode = mode
        let exists = FileManager.default.fileExists(atPath: absolute)
        if mode == .read || (mode == .update && exists) {
            let scan = try ArchiveScan(path: absolute)
            entries = scan.entries
            document = scan.index
            layoutFile = scan.layoutFile
        } else {
            document = ImageIndex(schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [])
        }
    }

    /// Splits `oci-archive://FILE[:TAG|@DIGEST]` (the scheme is optional) as layout names are split: the
    /// reference is taken from the last path component.
    public static func parse(_ spec: String) -> (path: String, reference: String?) {
        var rest = Substring(spec)
        if rest.hasPrefix(scheme) { rest = rest.dropFirst(scheme.count) }
        return OCILayoutStore.parse(String(rest))
    }

    // MARK: reading

    /// The index.json of the archive (with what this session tagged).
    public func index() -> ImageIndex { document }

    private static func blobName(_ digest: OCIDigest) -> String {
        "blobs/\(digest.algorithm.rawValue)/\(digest.encoded)"
    }

    public func fetch(_ descriptor: Descriptor) async throws -> ByteStream {
        let name = Self.blobName(descriptor.digest)
        guard let entry = entries[name] else {
            if written[descriptor.digest] != nil {
                throw ContentError.unsupported("blob \(descriptor.digest) was written to \(path) in this session; close the archive and open it again to read it")
            }
            throw ContentError.notFound("blob \(descriptor.digest) in OCI archive \(path)")
        }
        if descriptor.size >= 0, entry.size != descriptor.size {
            throw ContentError.sizeMismatch(digest: descriptor.digest, expected: descriptor.size, actual: entry.size)
        }
        return ByteStream(fileAt: path, range: entry.offset..<(entry.offset + entry.size))
            .verifying(VerificationTarget(digest: descriptor.digest, size: entry.size))
    }

    public func exists(_ descriptor: Descriptor) async throws -> Bool {
        let size = entries[Self.blobName(descriptor.digest)]?.size ?? written[descriptor.digest]
        guard let size else { return false }
        return descriptor.size < 0 || size == descriptor.size
    }

    /// Resolves a tag (an entry's ref.name; the last wins) or a digest (an index.json entry, else the manifest
    /// blob itself, its media type sniffed).
    public func resolve(_ reference: String) async throws -> Descriptor {
        if let entry = document.manifests.last(where: { $0.annotations?[Annotation.refName] == reference }) {
            return Self.withoutRefName(entry)
        }
        if let digest = OCIDigest(reference) {
            if let entry = document.manifests.last(where: { $0.digest == digest }) { return Self.withoutRefName(entry) }
            guard let entry = entries[Self.blobName(digest)], entry.size <= Int64(ContentLimits.maxManifestBytes) else {
                throw ContentError.notFound("manifest \(digest) in OCI archive \(path)")
            }
            let bytes = try await fetch(Descriptor(mediaType: "application/octet-stream", digest: digest, size: entry.size))
                .collect(upTo: ContentLimits.maxManifestBytes)
            guard let mediaType = ManifestDocument.sniffMediaType(bytes) else {
                throw OCIArchiveError.invalidArchive(path: path, reason: "\(digest) is a blob, not a manifest or index")
            }
            return Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count))
        }
        throw ContentError.notFound("tag \"\(reference)\" in OCI archive \(path)")
    }

    /// The ref names in index.json, sorted, without duplicates.
    public func tags() async throws -> [String] {
        Set(document.manifests.compactMap { $0.annotations?[Annotation.refName] }).sorted()
    }

    // MARK: writing

    /// Streams `content` into the archive as the blob of `descriptor` (its size must be known), verifying it
    /// while it is written. A blob the archive has is not written again and `content` is not read.
    public func push(_ descriptor: Descriptor, content: ByteStream) async throws {
        try requireWritable()
        try await turn.run {
            try await self.write(descriptor, content: content)
        }
    }

    private func write(_ descriptor: Descriptor, content: ByteStream) async throws {
        if try await exists(descriptor) { return }
        guard descriptor.size >= 0 else {
            throw ContentError.unsupported("the size of blob \(descriptor.digest) is unknown; an archive entry needs it before its content")
        }
        let writer = try openWriter()
        try writer.begin(Self.blobName(descriptor.digest), size: descriptor.size)
        var manifest: [UInt8]? = MediaType.isManifest(descriptor.mediaType)
            && descriptor.size <= Int64(ContentLimits.maxManifestBytes) ? [] : nil
        do {
            for try await chunk in content.verifying(VerificationTarget(digest: descriptor.digest, size: descriptor.size))
                where !chunk.isEmpty {
                try writer.write(chunk)
                manifest?.append(contentsOf: chunk)
            }
            try writer.end()
        } catch {
            writer.spoil(because: "blob \(descriptor.digest) failed while it was written: \(error)")
            throw error
        }
        written[descriptor.digest] = descriptor.size
        if let manifest { writtenManifests[descriptor.digest] = manifest }
    }

    /// Points `reference` at `descriptor` (whose blob must be in the archive) in index.json.
    public func tag(_ descriptor: Descriptor, as reference: String) async throws {
        try requireWritable()
        guard OCILayoutStore.isValidTag(reference) else {
            throw ContentError.invalidReference("invalid tag \"\(reference)\": use letters, digits, '_', '.' and '-'")
        }
        guard try await exists(descriptor) else {
            throw ContentError.notFound("blob \(descriptor.digest) in OCI archive \(path) (push it before tagging it)")
        }
        var entry = Self.withoutRefName(descriptor)
        entry.annotations = (entry.annotations ?? [:]).merging([Annotation.refName: reference]) { $1 }
        document.manifests.removeAll { $0.annotations?[Annotation.refName] == reference }
        document.manifests.append(entry)
        indexChanged = true
    }

    /// Removes every index.json entry named `name` (the blobs stay until `collectGarbage`). Throws
    /// `ContentError.notFound` when there is none.
    public func untag(_ name: String) throws {
        try requireWritable()
        let before = document.manifests.count
        document.manifests.removeAll { $0.annotations?[Annotation.refName] == name }
        guard document.manifests.count != before else {
            throw ContentError.notFound("tag \"\(name)\" in OCI archive \(path)")
        }
        indexChanged = true
    }

    /// Drops from the archive the blobs that no index.json entry reaches (`ContentReachability`: children of
    /// reachable manifests and the referrers of reachable manifests stay), as `OCILayoutStore.collectGarbage`
    /// does for a layout; returns what is dropped (with `dryRun`, what would be). The old archive's unreachable
    /// entries are then not copied into the new tar at `close()`; blobs written in this session stay.
    public func collectGarbage(dryRun: Bool = false) throws -> GarbageCollection {
        try requireWritable()
        var sizes: [OCIDigest: Int64] = written
        var names: [OCIDigest: String] = [:]
        for (name, entry) in entries {
            let parts = name.split(separator: "/")
            guard parts.count == 3, parts[0] == "blobs", let digest = OCIDigest("\(parts[1]):\(parts[2])") else { continue }
            sizes[digest] = entry.size
            names[digest] = name
        }
        let reachable = try ContentReachability.reachable(roots: document.manifests, blobs: sizes) { digest in
            if let bytes = writtenManifests[digest] { return bytes }
            guard let name = names[digest], let entry = entries[name] else { return nil }
            return try Self.read(path, entry)
        }
        var result = GarbageCollection()
        for (digest, name) in names.sorted(by: { $0.key.description < $1.key.description })
            where !reachable.contains(digest) && written[digest] == nil {
            result.removed.append(digest)
            result.bytes += sizes[digest] ?? 0
            if !dryRun {
                dropped.insert(name)
                entries[name] = nil
            }
        }
        return result
    }

    /// The bytes of an entry of the archive at `path`, read at its offset.
    private static func read(_ path: String, _ entry: ArchiveEntry) throws -> [UInt8] {
        let reader = FileRangeReader(path: path, range: entry.offset..<(entry.offset + entry.size), chunkSize: 1 << 20)
        var bytes: [UInt8] = []
        while let chunk = try reader.next() { bytes += chunk }
        return bytes
    }

    /// Removes every index.json entry with the descriptor's digest (blobs stay until `collectGarbage`).
    public func delete(_ descriptor: Descriptor) async throws {
        try requireWritable()
        let before = document.manifests.count
        document.manifests.removeAll { $0.digest == descriptor.digest }
        guard document.manifests.count != before else {
            throw ContentError.notFound("\(descriptor.digest) in the index of OCI archive \(path)")
        }
        indexChanged = true
    }

    /// Writes what this session added: the rest of the tar, `oci-layout`, `index.json` last, then renames it over
    /// the archive. Nothing is written when nothing changed (and for `.read`). Later pushes fail.
    public func close() async throws {
        try await turn.run { try await self.closeNow() }
    }

    private func closeNow() throws {
        guard !closed else { return }
        closed = true
        guard mode != .read else { return }
        guard writer != nil || indexChanged || !dropped.isEmpty
                || (mode == .create && !FileManager.default.fileExists(atPath: path)) else {
            return
        }
        let writer = try openWriter()
        if mode == .update, FileManager.default.fileExists(atPath: path) {
            // The old archive's entries (but those garbage collection dropped) follow this session's blobs.
            do {
                try writer.copyEntries(from: path, except: dropped.union(["index.json", "oci-layout"]))
            } catch {
                writer.discard()
                throw error
            }
        }
        let layout = layoutFile ?? Array("{\"imageLayoutVersion\":\"\(OCILayoutStore.layoutVersion)\"}".utf8)
        let index: [UInt8]
        do { index = try JSONCoding.encode(document) } catch {
            writer.discard()
            throw OCIArchiveError.invalidArchive(path: path, reason: "cannot encode index.json: \(error)")
        }
        try writer.finish(layout: layout, index: index)
        self.writer = nil
    }

    /// Discards what this session wrote; the archive stays as it was.
    public func discard() {
        writer?.discard()
        writer = nil
        closed = true
    }

    private func requireWritable() throws {
        guard mode != .read else { throw ContentError.unsupported("OCI archive \(path) was opened read-only") }
        guard !closed else { throw ContentError.unsupported("OCI archive \(path) is closed") }
    }

    /// The new tar, started on first use with its directories; (for `.update`) the old archive's entries are
    /// copied in at `close()`, once garbage collection has had its say.
    private func openWriter() throws -> ArchiveWriter {
        if let writer { return writer }
        let made = try ArchiveWriter(destination: path)
        do {
            try made.directories()
        } catch {
            made.discard()
            throw error
        }
        writer = made
        return made
    }

    static func withoutRefName(_ descriptor: Descriptor) -> Descriptor {
        var d = descriptor
        d.annotations?.removeValue(forKey: Annotation.refName)
        if d.annotations?.isEmpty == true { d.annotations = nil }
        return d
    }
}

/// Where a blob's data is in the archive file.
struct ArchiveEntry: Sendable {
    var offset: Int64
    var size: Int64
}
