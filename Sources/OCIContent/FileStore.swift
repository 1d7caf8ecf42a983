import Foundation
import OCISpec
import OCISync

/// A directory of plain files as a content target, in the manner of oras-go's file store.
///
/// - Pushing into it (a pull): a blob whose title annotation is a safe file name is written to `DIR/TITLE`, a
///   blob given a name with `name(_:as:)` to that name, any other blob to `DIR/blobs/ALG/HEX`. Every write is
///   atomic and verified; a second blob with a title already used goes to its digest path. Manifests are kept
///   in memory unless they were given a name.
/// - Fetching from it (a push): files added with `add(_:mediaType:title:)` are served by digest, streamed from
///   disk and verified; manifests and configs pushed to it (the packer's output) are served from memory.
///
/// `exists` answers for what this store wrote or was given in this process, so a pull into a directory always
/// writes the files afresh.
public final class FileStore: Target, TagLister, Sendable {
    /// The directory files are written to (created on the first write).
    public let directory: String

    private struct State {
        var files: [OCIDigest: String] = [:]          // digest -> absolute path, for reading and for written files
        var names: [OCIDigest: String] = [:]          // digest -> relative name asked for
        var used: Set<String> = []                    // relative names taken
        var written: [OCIDigest: String] = [:]        // digest -> relative name written
        var tags: [String: Descriptor] = [:]
    }
    private let state = Locked(State())
    private let memory = MemoryStore()

    public init(directory: String) {
        self.directory = (directory as NSString).standardizingPath
    }

    // MARK: adding files (for pushes)

    /// Describes a file in one streaming hashing pass and makes it fetchable by its digest. The descriptor
    /// carries `title` (default: the file's name) as its title annotation.
    public func add(_ path: String, mediaType: String = "application/octet-stream",
                    title: String? = nil) async throws -> Descriptor {
        var hasher = DigestHasher()
        for try await chunk in ByteStream(fileAt: path) { hasher.update(chunk) }
        var descriptor = Descriptor(mediaType: mediaType, digest: hasher.finalize(), size: hasher.count)
        descriptor.annotations = [Annotation.title: title ?? (path as NSString).lastPathComponent]
        let digest = descriptor.digest
        state.withLock { $0.files[digest] = path }
        return descriptor
    }

    /// Keeps bytes (a manifest or config made in memory) fetchable from this store.
    @discardableResult
    public func add(bytes: [UInt8], mediaType: String) async -> Descriptor {
        await memory.push(bytes: bytes, mediaType: mediaType)
    }

    // MARK: naming (for pulls)

    /// Writes the blob with `digest`, when it is pushed, to `name` (a relative path without `..`).
    public func name(_ digest: OCIDigest, as name: String) throws {
        guard Self.isSafeRelativePath(name) else {
            throw ContentError.invalidReference("\"\(name)\" is not a safe relative path inside \(directory)")
        }
        state.withLock { state in
            state.names[digest] = name
            state.used.insert(name)
        }
    }

    /// Writes `bytes` to `name` in the directory, atomically.
    public func write(_ bytes: [UInt8], as name: String) async throws {
        guard Self.isSafeRelativePath(name) else {
            throw ContentError.invalidReference("\"\(name)\" is not a safe relative path inside \(directory)")
        }
        state.withLock { _ = $0.used.insert(name) }
        try await AtomicFileWriter.write(ByteStream(bytes: bytes), to: directory + "/" + name)
    }

    /// The name (relative to the directory) a pushed blob was written to, if it was written.
    public func writtenName(of digest: OCIDigest) -> String? { state.withLock { $0.written[digest] } }

    // MARK: Target

    public func fetch(_ descriptor: Descriptor) async throws -> ByteStream {
        if let path = state.withLock({ $0.files[descriptor.digest] }) {
            return ByteStream(fileAt: path).verifying(VerificationTarget(digest: descriptor.digest, size: descriptor.size))
        }
        return try await memory.fetch(descriptor)
    }

    public func exists(_ descriptor: Descriptor) async throws -> Bool {
        if state.withLock({ $0.files[descriptor.digest] != nil }) { return true }
        return try await memory.exists(descriptor)
    }

    public func push(_ descriptor: Descriptor, content: ByteStream) async throws {
        let named = state.withLock { $0.names[descriptor.digest] }
        if MediaType.isManifest(descriptor.mediaType), named == nil {
            try await memory.push(descriptor, content: content)
            return
        }
        let name = named ?? claimName(for: descriptor)
        let path = directory + "/" + name
        try await AtomicFileWriter.write(content.verifying(VerificationTarget(digest: descriptor.digest, size: descriptor.size)),
                                         to: path)
        let digest = descriptor.digest
        state.withLock { state in
            state.files[digest] = path
            state.written[digest] = name
        }
    }

    public func resolve(_ reference: String) async throws -> Descriptor {
        if let tagged = state.withLock({ $0.tags[reference] }) { return tagged }
        return try await memory.resolve(reference)
    }

    public func tag(_ descriptor: Descriptor, as reference: String) async throws {
        state.withLock { $0.tags[reference] = descriptor }
    }

    public func tags() async throws -> [String] { state.withLock { $0.tags.keys.sorted() } }

    // MARK: names

    private func claimName(for descriptor: Descriptor) -> String {
        state.withLock { state in
            if let title = descriptor.title, let safe = Self.safeFileName(title), !state.used.contains(safe) {
                state.used.insert(safe)
                return safe
            }
            let name = "blobs/\(descriptor.digest.algorithm.rawValue)/\(descriptor.digest.encoded)"
            state.used.insert(name)
            return name
        }
    }

    /// A title is used as a file name only when it is a single safe path component: no separators, not `.`/`..`,
    /// no control characters, not hidden, at most 255 bytes. Anything else falls back to the digest path.
    public static func safeFileName(_ title: String) -> String? {
        guard !title.isEmpty, title.utf8.count <= 255, title != ".", title != "..", !title.hasPrefix("."),
              !title.contains("/"), !title.contains("\\"),
              !title.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else { return nil }
        return title
    }

    static func isSafeRelativePath(_ name: String) -> Bool {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        return !name.hasPrefix("/") && !parts.isEmpty
            && parts.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." && !$0.contains("\\")
                && !$0.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) }
    }
}
