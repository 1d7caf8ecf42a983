import Crypto
import Foundation
import NIOCore
import OCISync

extension InProcessRegistry {
    /// Where an ``InProcessRegistry`` keeps blobs, manifests and tags.
    public enum Storage: Sendable, Hashable {
        /// In memory; gone at ``InProcessRegistry/shutdown()``.
        case memory
        /// In a directory (created when missing): `blobs/ALG/HEX` (digest-addressed, written by atomic rename
        /// after verification), `uploads/` (sessions in progress), `state.json` (repositories, tags, manifest
        /// media types; rewritten atomically on every change). A registry started on the same directory again
        /// serves what the previous one stored; upload sessions do not survive a restart.
        case directory(String)
    }
}

/// A stored blob's bytes.
enum RegistryBlobContent: Sendable {
    case memory([UInt8])
    case file(path: String, size: Int)

    var size: Int {
        switch self {
        case .memory(let bytes): return bytes.count
        case .file(_, let size): return size
        }
    }

    /// Opens a reader of the content.
    func open() throws -> RegistryBlobReader {
        switch self {
        case .memory(let bytes):
            return RegistryBlobReader(bytes: bytes, handle: nil)
        case .file(let path, _):
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw RegistryStoreError("cannot open \(path)")
            }
            return RegistryBlobReader(bytes: [], handle: handle)
        }
    }
}

/// Reads ranges of one blob; owned by one task.
final class RegistryBlobReader {
    private let bytes: [UInt8]
    private let handle: FileHandle?

    init(bytes: [UInt8], handle: FileHandle?) {
        self.bytes = bytes
        self.handle = handle
    }

    /// Up to `count` bytes from `offset`.
    func read(offset: Int, count: Int) throws -> [UInt8] {
        guard let handle else {
            let end = min(bytes.count, offset + count)
            return offset < end ? Array(bytes[offset..<end]) : []
        }
        try handle.seek(toOffset: UInt64(offset))
        return Array(try handle.read(upToCount: count) ?? Data())
    }

    deinit {
        try? handle?.close()
    }
}

struct RegistryStoreError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// What the store knows about a manifest besides its bytes.
struct RegistryManifestRecord: Codable, Sendable, Hashable {
    var mediaType: String
    var size: Int
    /// The `subject` digest, for the referrers API.
    var subject: String?
    /// `artifactType`, or an image manifest's config media type when it has none.
    var artifactType: String?
    var annotations: [String: String]?
}

struct RegistryRepositoryState: Codable, Sendable {
    /// Blobs linked into the repository (uploaded, mounted or pushed to it).
    var blobs: Set<String> = []
    var manifests: [String: RegistryManifestRecord] = [:]
    var tags: [String: String] = [:]
}

private struct RegistryPersistedState: Codable {
    var version = 1
    var repositories: [String: RegistryRepositoryState] = [:]
}

/// Repositories, blobs and upload sessions of one registry. Every digest that names a file is a
/// ``CheckedDigest``; every blob is verified before it is stored.
final class RegistryStore: Sendable {
    private enum Backend: Sendable {
        case memory(Locked<[CheckedDigest: [UInt8]]>)
        case directory(root: String)
    }

    private struct Upload {
        var repository: String
        var size = 0
        var hasher = SHA256()
        /// In memory: the bytes so far. On disk: in `uploads/ID`.
        var bytes: [UInt8] = []
        /// A request is appending to the session.
        var busy = false
        /// The last chunk was shorter than the minimum chunk length (only the final chunk may be).
        var lastChunkShort = false
    }

    private let backend: Backend
    private let state: Locked<[String: RegistryRepositoryState]>
    private let uploads = Locked<[String: Upload]>([:])

    init(_ storage: InProcessRegistry.Storage) throws {
        switch storage {
        case .memory:
            backend = .memory(Locked([:]))
            state = Locked([:])
        case .directory(let path):
            let root = URL(fileURLWithPath: path).standardizedFileURL.path
            let fm = FileManager.default
            for sub in ["blobs/sha256", "blobs/sha512", "tmp"] {
                try fm.createDirectory(atPath: root + "/" + sub, withIntermediateDirectories: true)
            }
            // Sessions do not survive a restart.
            try? fm.removeItem(atPath: root + "/uploads")
            try fm.createDirectory(atPath: root + "/uploads", withIntermediateDirectories: true)
            backend = .directory(root: root)
            var repositories: [String: RegistryRepositoryState] = [:]
            if let data = fm.contents(atPath: root + "/state.json") {
                let persisted = try JSONDecoder().decode(RegistryPersistedState.self, from: data)
                repositories = Self.sanitized(persisted.repositories)
            }
            state = Locked(repositories)
        }
    }

    /// Drops entries of a state file that name invalid repositories or digests.
    private static func sanitized(_ repositories: [String: RegistryRepositoryState]) -> [String: RegistryRepositoryState] {
        var out: [String: RegistryRepositoryState] = [:]
        for (name, repo) in repositories where RegistryGrammar.isValidName(name) {
            var clean = RegistryRepositoryState()
            clean.blobs = repo.blobs.filter { CheckedDigest($0) != nil }
            clean.manifests = repo.manifests.filter { CheckedDigest($0.key) != nil }
            clean.tags = repo.tags.filter { RegistryGrammar.isValidTag($0.key) && clean.manifests[$0.value] != nil }
            out[name] = clean
        }
        return out
    }

    // MARK: paths (digests and upload ids only from validated values)

    private func blobPath(_ root: String, _ digest: CheckedDigest) -> String {
        "\(root)/blobs/\(digest.algorithm.rawValue)/\(digest.hex)"
    }

    private func uploadPath(_ root: String, _ id: UUID) -> String {
        "\(root)/uploads/\(id.uuidString.lowercased())"
    }

    private func temporaryPath(_ root: String) -> String {
        "\(root)/tmp/\(UUID().uuidString.lowercased())"
    }

    /// Writes `data` to a temporary file and renames it over `path`.
    private func atomicWrite(_ data: Data, to path: String, root: String) throws {
        let tmp = temporaryPath(root)
        guard FileManager.default.createFile(atPath: tmp, contents: data) else {
            throw RegistryStoreError("cannot write \(tmp)")
        }
        if rename(tmp, path) != 0 {
            let code = errno
            try? FileManager.default.removeItem(atPath: tmp)
            throw RegistryStoreError("cannot rename \(tmp) to \(path): errno \(code)")
        }
    }

    /// Writes the repositories' state (directory storage); call with the state lock held so writes keep their order.
    private func persist(_ repositories: [String: RegistryRepositoryState]) {
        guard case .directory(let root) = backend else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(RegistryPersistedState(repositories: repositories)) else { return }
        try? atomicWrite(data, to: root + "/state.json", root: root)
    }

    /// Runs a mutation of the repositories and persists the result.
    @discardableResult
    private func mutate<T>(_ body: (inout [String: RegistryRepositoryState]) throws -> T) rethrows -> T {
        try state.withLock { repositories in
            let result = try body(&repositories)
            persist(repositories)
            return result
        }
    }

    // MARK: blobs

    /// The stored bytes of `digest`, whatever repository links them.
    func content(_ digest: CheckedDigest) -> RegistryBlobContent? {
        switch backend {
        case .memory(let blobs):
            return blobs.withLock { $0[digest] }.map { .memory($0) }
        case .directory(let root):
            let path = blobPath(root, digest)
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                  let size = (attributes[.size] as? NSNumber)?.intValue else { return nil }
            return .file(path: path, size: size)
        }
    }

    /// The blob when `repository` links it.
    func blob(_ digest: CheckedDigest, in repository: String) -> RegistryBlobContent? {
        guard isLinked(digest, in: repository) else { return nil }
        return content(digest)
    }

    func isLinked(_ digest: CheckedDigest, in repository: String) -> Bool {
        state.withLock { $0[repository]?.blobs.contains(digest.description) ?? false }
    }

    /// Links a stored blob into `repository` (a mount); false when it is not stored.
    func link(_ digest: CheckedDigest, into repository: String) -> Bool {
        guard content(digest) != nil else { return false }
        mutate { $0[repository, default: RegistryRepositoryState()].blobs.insert(digest.description) }
        return true
    }

    /// Unlinks a blob from `repository`; false when it was not linked.
    func unlink(_ digest: CheckedDigest, from repository: String) -> Bool {
        mutate { repositories in
            repositories[repository]?.blobs.remove(digest.description) != nil
        }
    }

    /// Stores verified bytes under their digest (manifests and monolithic uploads).
    private func store(_ bytes: [UInt8], as digest: CheckedDigest) throws {
        switch backend {
        case .memory(let blobs):
            blobs.withLock { $0[digest] = bytes }
        case .directory(let root):
            let path = blobPath(root, digest)
            if FileManager.default.fileExists(atPath: path) { return }
            try atomicWrite(Data(bytes), to: path, root: root)
        }
    }

    /// The bytes of a stored blob (manifests), read whole.
    func bytes(_ digest: CheckedDigest) -> [UInt8]? {
        switch backend {
        case .memory(let blobs):
            return blobs.withLock { $0[digest] }
        case .directory(let root):
            return FileManager.default.contents(atPath: blobPath(root, digest)).map { Array($0) }
        }
    }

    // MARK: uploads

    /// Starts an upload session for `repository`; returns its id.
    func startUpload(repository: String) throws -> UUID {
        let id = UUID()
        if case .directory(let root) = backend {
            guard FileManager.default.createFile(atPath: uploadPath(root, id), contents: nil) else {
                throw RegistryStoreError("cannot create an upload file")
            }
        }
        uploads.withLock { $0[id.uuidString.lowercased()] = Upload(repository: repository) }
        return id
    }

    /// The bytes received so far by a session of `repository`; nil when there is no such session.
    func uploadSize(_ id: UUID, repository: String) -> Int? {
        uploads.withLock { sessions in
            guard let upload = sessions[id.uuidString.lowercased()], upload.repository == repository else { return nil }
            return upload.size
        }
    }

    /// Starts appending to a session. `expectedOffset` (from `Content-Range`) must be the current size; a PATCH
    /// (`isFinal` false) may not follow a chunk shorter than `minimumChunk`: only the last chunk may be short.
    func beginAppend(_ id: UUID, repository: String, expectedOffset: Int?, minimumChunk: Int,
                     isFinal: Bool) throws -> RegistryUploadAppender {
        let key = id.uuidString.lowercased()
        let (offset, hasher): (Int, SHA256) = try uploads.withLock { sessions in
            guard var upload = sessions[key], upload.repository == repository else {
                throw RegistryFailure(.blobUploadUnknown)
            }
            guard !upload.busy else {
                throw RegistryFailure(.blobUploadInvalid, "another request is writing to this upload", status: 416)
            }
            if let expectedOffset, expectedOffset != upload.size {
                throw RegistryFailure(.blobUploadInvalid, "chunk starts at \(expectedOffset), the upload has \(upload.size) bytes",
                                      status: 416, headers: [("Range", Self.rangeHeader(upload.size))])
            }
            if upload.lastChunkShort && !isFinal {
                throw RegistryFailure(.blobUploadInvalid, "a chunk shorter than OCI-Chunk-Min-Length \(minimumChunk) was not the last",
                                      status: 416, headers: [("Range", Self.rangeHeader(upload.size))])
            }
            upload.busy = true
            sessions[key] = upload
            return (upload.size, upload.hasher)
        }
        var handle: FileHandle?
        if case .directory(let root) = backend {
            handle = FileHandle(forWritingAtPath: uploadPath(root, id))
            if handle == nil {
                uploads.withLock { $0[key]?.busy = false }
                throw RegistryStoreError("cannot open the upload file")
            }
            _ = try? handle?.seekToEnd()
        }
        return RegistryUploadAppender(store: self, key: key, startSize: offset, hasher: hasher, handle: handle, minimumChunk: minimumChunk)
    }

    fileprivate func commitAppend(key: String, added: [UInt8], written: Int, hasher: SHA256, short: Bool) {
        uploads.withLock { sessions in
            guard var upload = sessions[key] else { return }
            upload.bytes.append(contentsOf: added)
            upload.size += written
            upload.hasher = hasher
            upload.busy = false
            if written > 0 { upload.lastChunkShort = short }
            sessions[key] = upload
        }
    }

    /// Ends a session: verifies the bytes against `digest`, stores and links the blob. The session is gone
    /// afterwards, also when the digest does not match (`DIGEST_INVALID`).
    @discardableResult
    func finishUpload(_ id: UUID, repository: String, digest: CheckedDigest) throws -> Int {
        let key = id.uuidString.lowercased()
        let upload: Upload = try uploads.withLock { sessions in
            guard let upload = sessions[key], upload.repository == repository else {
                throw RegistryFailure(.blobUploadUnknown)
            }
            guard !upload.busy else {
                throw RegistryFailure(.blobUploadInvalid, "another request is writing to this upload", status: 416)
            }
            sessions[key] = nil
            return upload
        }
        switch backend {
        case .memory(let blobs):
            let actual = digest.algorithm == .sha256 ? CheckedDigest.sha256(finalizing: upload.hasher)
                : CheckedDigest.of(upload.bytes, algorithm: digest.algorithm)
            guard actual == digest else {
                throw RegistryFailure(.digestInvalid, "the upload's digest is \(actual), not \(digest)")
            }
            blobs.withLock { $0[digest] = upload.bytes }
        case .directory(let root):
            let source = uploadPath(root, id)
            defer { try? FileManager.default.removeItem(atPath: source) }
            let actual: CheckedDigest
            if digest.algorithm == .sha256 {
                actual = CheckedDigest.sha256(finalizing: upload.hasher)
            } else {
                actual = try Self.sha512(ofFile: source)
            }
            guard actual == digest else {
                throw RegistryFailure(.digestInvalid, "the upload's digest is \(actual), not \(digest)")
            }
            let destination = blobPath(root, digest)
            if !FileManager.default.fileExists(atPath: destination), rename(source, destination) != 0 {
                throw RegistryStoreError("cannot move the upload into place: errno \(errno)")
            }
        }
        mutate { $0[repository, default: RegistryRepositoryState()].blobs.insert(digest.description) }
        return upload.size
    }

    private static func sha512(ofFile path: String) throws -> CheckedDigest {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw RegistryStoreError("cannot read \(path)") }
        defer { try? handle.close() }
        var hasher = SHA512()
        while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty {
            hasher.update(data: data)
        }
        return .sha512(finalizing: hasher)
    }

    /// Cancels a session; false when there is none.
    func cancelUpload(_ id: UUID, repository: String) -> Bool {
        let key = id.uuidString.lowercased()
        let removed: Bool = uploads.withLock { sessions in
            guard let upload = sessions[key], upload.repository == repository else { return false }
            sessions[key] = nil
            return true
        }
        if removed, case .directory(let root) = backend {
            try? FileManager.default.removeItem(atPath: uploadPath(root, id))
        }
        return removed
    }

    /// The `Range` header value distribution sends for a session holding `size` bytes: `0-(size-1)`, `0-0` when empty.
    static func rangeHeader(_ size: Int) -> String {
        "0-\(max(0, size - 1))"
    }

    // MARK: manifests and tags

    /// Stores a manifest (bytes already verified to have `digest`) and points `tag` at it.
    func putManifest(_ bytes: [UInt8], digest: CheckedDigest, record: RegistryManifestRecord, repository: String, tag: String?) throws {
        try store(bytes, as: digest)
        mutate { repositories in
            var repo = repositories[repository, default: RegistryRepositoryState()]
            repo.manifests[digest.description] = record
            if let tag { repo.tags[tag] = digest.description }
            repositories[repository] = repo
        }
    }

    /// The digest a tag points at.
    func resolveTag(_ tag: String, in repository: String) -> CheckedDigest? {
        state.withLock { $0[repository]?.tags[tag] }.flatMap { CheckedDigest($0) }
    }

    /// A manifest of `repository`: its record and bytes.
    func manifest(_ digest: CheckedDigest, in repository: String) -> (record: RegistryManifestRecord, bytes: [UInt8])? {
        guard let record = state.withLock({ $0[repository]?.manifests[digest.description] }),
              let bytes = bytes(digest) else { return nil }
        return (record, bytes)
    }

    func hasManifest(_ digest: CheckedDigest, in repository: String) -> Bool {
        state.withLock { $0[repository]?.manifests[digest.description] != nil }
    }

    /// Deletes a manifest and every tag pointing at it; false when it was not there.
    func deleteManifest(_ digest: CheckedDigest, in repository: String) -> Bool {
        mutate { repositories in
            guard var repo = repositories[repository], repo.manifests.removeValue(forKey: digest.description) != nil else {
                return false
            }
            repo.tags = repo.tags.filter { $0.value != digest.description }
            repositories[repository] = repo
            return true
        }
    }

    /// Deletes a tag (not the manifest); false when there was no such tag.
    func deleteTag(_ tag: String, in repository: String) -> Bool {
        mutate { repositories in
            repositories[repository]?.tags.removeValue(forKey: tag) != nil
        }
    }

    /// The repository's tags, sorted; nil when the repository is unknown.
    func tags(in repository: String) -> [String]? {
        state.withLock { $0[repository].map { $0.tags.keys.sorted() } }
    }

    /// Every repository that holds a blob or a manifest, sorted.
    func repositories() -> [String] {
        state.withLock { repositories in
            repositories.filter { !$0.value.blobs.isEmpty || !$0.value.manifests.isEmpty }.keys.sorted()
        }
    }

    /// The manifests of `repository` whose subject is `subject`, sorted by digest.
    func referrers(of subject: CheckedDigest, in repository: String) -> [(digest: String, record: RegistryManifestRecord)] {
        state.withLock { repositories in
            guard let repo = repositories[repository] else { return [] }
            return repo.manifests.filter { $0.value.subject == subject.description }
                .map { (digest: $0.key, record: $0.value) }
                .sorted { $0.digest < $1.digest }
        }
    }
}

/// Writes one request's bytes into an upload session; ``close()`` commits what was written (also after a
/// broken request, so the session's `Range` tells the client where to resume).
final class RegistryUploadAppender {
    private let store: RegistryStore
    private let key: String
    private var hasher: SHA256
    private let handle: FileHandle?
    private let minimumChunk: Int
    private var added: [UInt8] = []
    private var written = 0
    private var closed = false

    fileprivate init(store: RegistryStore, key: String, startSize: Int, hasher: SHA256, handle: FileHandle?, minimumChunk: Int) {
        self.store = store
        self.key = key
        self.hasher = hasher
        self.handle = handle
        self.minimumChunk = minimumChunk
    }

    func write(_ buffer: ByteBuffer) throws {
        let view = buffer.readableBytesView
        view.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        if let handle {
            try handle.write(contentsOf: Data(view))
        } else {
            added.append(contentsOf: view)
        }
        written += view.count
    }

    /// The bytes this request added.
    var count: Int { written }

    func close() {
        guard !closed else { return }
        closed = true
        try? handle?.close()
        store.commitAppend(key: key, added: added, written: written, hasher: hasher, short: written < minimumChunk)
    }

    deinit {
        close()
    }
}
