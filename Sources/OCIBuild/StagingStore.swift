import Foundation
import OCIContent
import OCISpec
import OCISync

/// What a build made and has not pushed yet: layer files on disk (in a private temporary directory, removed
/// by `remove()` or when the store goes away) and manifests and configs in memory. A read-only target, so the
/// graph copy reads from it (over the base image's store) when it pushes the result.
public final class StagingStore: ReadOnlyTarget, Sendable {
    /// The temporary directory layer files are written to.
    public let directory: String
    private let files = Locked([OCIDigest: String]())
    private let memory = MemoryStore()

    /// Makes a store with a new temporary directory under `parent` (default: the system's temporary directory).
    public init(parent: String? = nil) throws {
        let base = parent ?? NSTemporaryDirectory()
        let path = (base as NSString).appendingPathComponent("ocibuild-\(UUID().uuidString.lowercased())")
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw BuildError.io("create", path, "\(error.localizedDescription)")
        }
        directory = path
    }

    deinit { remove() }

    /// Removes the temporary directory and what it holds.
    public func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A fresh path inside the directory for a new file.
    public func newFilePath(_ suffix: String = "") -> String {
        (directory as NSString).appendingPathComponent(UUID().uuidString.lowercased() + suffix)
    }

    /// Serves the file at `path` (already hashed) as the blob `descriptor`.
    public func addFile(_ path: String, as descriptor: Descriptor) {
        files.withLock { $0[descriptor.digest] = path }
    }

    /// Keeps bytes (a manifest, index or config) and returns their descriptor.
    @discardableResult
    public func add(bytes: [UInt8], mediaType: String) async -> Descriptor {
        await memory.push(bytes: bytes, mediaType: mediaType)
    }

    /// The file a blob was staged in, if it was.
    public func file(for digest: OCIDigest) -> String? { files.withLock { $0[digest] } }

    public func fetch(_ descriptor: Descriptor) async throws -> ByteStream {
        if let path = file(for: descriptor.digest) {
            return ByteStream(fileAt: path).verifying(VerificationTarget(digest: descriptor.digest, size: descriptor.size))
        }
        return try await memory.fetch(descriptor)
    }

    public func fetch(_ descriptor: Descriptor, offset: Int64) async throws -> ByteStream {
        if let path = file(for: descriptor.digest) { return ByteStream(fileAt: path, offset: offset) }
        return try await memory.fetch(descriptor, offset: offset)
    }

    public func exists(_ descriptor: Descriptor) async throws -> Bool {
        if file(for: descriptor.digest) != nil { return true }
        return try await memory.exists(descriptor)
    }

    public func resolve(_ reference: String) async throws -> Descriptor { try await memory.resolve(reference) }
}

/// Reads each blob from the store that holds it: the staging store first, then the sources named for a digest
/// (a rebase's new base, an index's images), then a fallback. Lets one graph copy push content that comes from
/// several places.
public struct RoutedSource: ReadOnlyTarget {
    public let staged: StagingStore
    public let routes: [OCIDigest: any ReadOnlyTarget]
    public let fallback: (any ReadOnlyTarget)?

    public init(staged: StagingStore, routes: [OCIDigest: any ReadOnlyTarget] = [:], fallback: (any ReadOnlyTarget)?) {
        self.staged = staged
        self.routes = routes
        self.fallback = fallback
    }

    private func store(for descriptor: Descriptor) async throws -> any ReadOnlyTarget {
        if try await staged.exists(descriptor) { return staged }
        if let routed = routes[descriptor.digest] { return routed }
        if let fallback { return fallback }
        throw ContentError.notFound("blob \(descriptor.digest) in the build's sources")
    }

    public func fetch(_ descriptor: Descriptor) async throws -> ByteStream {
        try await store(for: descriptor).fetch(descriptor)
    }

    public func fetch(_ descriptor: Descriptor, offset: Int64) async throws -> ByteStream {
        try await store(for: descriptor).fetch(descriptor, offset: offset)
    }

    public func exists(_ descriptor: Descriptor) async throws -> Bool {
        try await store(for: descriptor).exists(descriptor)
    }

    public func resolve(_ reference: String) async throws -> Descriptor {
        do { return try await staged.resolve(reference) } catch {
            guard let fallback else { throw error }
            return try await fallback.resolve(reference)
        }
    }
}
