import Foundation
import OCIContent
import OCISpec
import OCISync

/// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`) as a content target, readable
/// and writable by other tools such as skopeo (`oci:DIR:TAG`).
///
/// Tags are the `org.opencontainers.image.ref.name` annotations of index.json's entries; they never become
/// paths. Blob paths are built only from validated digests. Blobs are written to a temporary file beside their
/// final path and renamed into place once size and digest are verified, so no process ever sees a partial
/// blob. index.json is rewritten atomically (temporary file and rename); updates are serialised by the actor
/// and, across processes using this store, by an advisory `flock` on the layout directory.
public actor OCILayoutStore: Target, TagLister, ContentDeleter {
    /// The absolute path of the layout directory.
    public nonisolated let path: String
    /// index.json as last read or written.
    var document: LayoutIndexDocument

    /// The only `imageLayoutVersion` this store reads and writes.
    public static let layoutVersion = "1.0.0"
    /// index.json files larger than this are refused (64 MiB: hundreds of thousands of entries).
    static let indexSizeLimit = 64 << 20

    /// Opens the layout at `path`. With `create`, a missing directory, `oci-layout`, `index.json` and `blobs`
    /// are created (an existing non-empty directory that looks like something else is refused); without it, a
    /// missing layout is an error and nothing is written.
    public init(path: String, create: Bool = true) throws {
        let root = try Self.absolute(path)
        self.path = root
        self.document = try Self.prepare(root: root, create: create)
    }

    /// `path/index.json`.
    nonisolated var indexPath: String { path + "/index.json" }

    /// `path/blobs/<alg>/<hex>`: where the blob with `digest` lives (a validated digest is a safe file name).
    public nonisolated func blobPath(for digest: OCIDigest) -> String {
        path + "/blobs/" + digest.algorithm.rawValue + "/" + digest.encoded
    }

    // MARK: index.json

    /// Reads index.json afresh (another process may have changed it).
    func loadIndex() throws -> LayoutIndexDocument {
        guard let bytes = try LayoutFiles.read(indexPath, limit: Self.indexSizeLimit) else {
            throw OCILayoutError.notALayout(path: path, reason: "index.json is missing")
        }
        let doc = try LayoutIndexDocument.decode(bytes, path: indexPath)
        document = doc
        return doc
    }

    /// Read-modify-write of index.json under the directory lock; writes only when `body` changed something.
    /// `body` must be synchronous: the lock blocks the thread.
    func updateIndex(_ body: (inout LayoutIndexDocument) throws -> Void) throws {
        try FileLock.withExclusiveLock(path, creatingWith: nil) {
            var doc = try loadIndex()
            let before = doc
            try body(&doc)
            guard doc != before else { return }
            let bytes: [UInt8]
            do { bytes = try doc.encode() } catch {
                throw OCILayoutError.invalidIndex(path: indexPath, reason: "\(error)")
            }
            try LayoutFiles.writeAtomically(bytes, to: indexPath)
            document = doc
        }
    }

    // MARK: opening

    private static func absolute(_ path: String) throws(OCILayoutError) -> String {
        guard !path.isEmpty else { throw .notALayout(path: path, reason: "the path is empty") }
        guard !path.utf8.contains(0) else { throw .notALayout(path: path, reason: "the path contains a NUL byte") }
        var p = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p
    }

    private static let layoutFileBytes = Array("{\"imageLayoutVersion\":\"\(layoutVersion)\"}".utf8)

    private struct LayoutFile: Decodable {
        var imageLayoutVersion: String?
    }

    private static func prepare(root: String, create: Bool) throws -> LayoutIndexDocument {
        if !LayoutFiles.exists(root) {
            guard create else { throw OCILayoutError.notALayout(path: root, reason: "the directory does not exist") }
            try LayoutFiles.makeDirectory(root)
        } else if !LayoutFiles.isDirectory(root) {
            throw OCILayoutError.notALayout(path: root, reason: "it is not a directory")
        }
        return try FileLock.withExclusiveLock(root, creatingWith: nil) {
            try checkOrCreateLayoutFile(root: root, create: create)
            let indexPath = root + "/index.json"
            let doc: LayoutIndexDocument
            if let bytes = try LayoutFiles.read(indexPath, limit: indexSizeLimit) {
                doc = try LayoutIndexDocument.decode(bytes, path: indexPath)
            } else {
                guard create else {
                    throw OCILayoutError.notALayout(path: root, reason: "index.json is missing")
                }
                doc = .empty
                try LayoutFiles.writeAtomically(try doc.encode(), to: indexPath)
            }
            if create && !LayoutFiles.exists(root + "/blobs") { try LayoutFiles.makeDirectory(root + "/blobs") }
            // Partial blobs of a writer that was killed never accumulate: removed when the layout is opened for
            // writing (a live writer's temporaries are kept).
            if create {
                for algorithm in (try? FileManager.default.contentsOfDirectory(atPath: root + "/blobs")) ?? [] {
                    AtomicFile.removeStaleTemporaries(in: root + "/blobs/" + algorithm)
                }
                OCILayoutStore.removeStalePartials(root: root)
            }
            return doc
        }
    }

    private static func checkOrCreateLayoutFile(root: String, create: Bool) throws {
        let layoutPath = root + "/oci-layout"
        if let bytes = try LayoutFiles.read(layoutPath, limit: 1 << 16) {
            let file: LayoutFile
            do { file = try JSONCoding.decode(LayoutFile.self, from: bytes) } catch {
                throw OCILayoutError.notALayout(path: root, reason: "oci-layout is not valid JSON (\(error.description))")
            }
            guard let version = file.imageLayoutVersion else {
                throw OCILayoutError.notALayout(path: root, reason: "oci-layout has no imageLayoutVersion")
            }
            guard version == layoutVersion else { throw OCILayoutError.unsupportedVersion(path: root, found: version) }
            return
        }
        guard create else { throw OCILayoutError.notALayout(path: root, reason: "there is no oci-layout file") }
        // Refuse to turn an unrelated, non-empty directory into a layout.
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        let visible = contents.filter { !$0.hasPrefix(".") }
        if !visible.isEmpty && !visible.contains("index.json") && !visible.contains("blobs") {
            throw OCILayoutError.notALayout(
                path: root, reason: "the directory is not empty and has no oci-layout file; use a new or empty directory")
        }
        try LayoutFiles.writeAtomically(layoutFileBytes, to: layoutPath)
    }
}
