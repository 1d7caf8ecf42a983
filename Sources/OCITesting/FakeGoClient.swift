import Foundation
import OCIGoCompat
import OCIKit
import OCISync

/// A test double of the Go API (`GoExtendedClientProtocol`, all nine methods of Go's `Client` and
/// `ExtendedClient`; the inventory's F46) that serves from memory: one `MemoryStore` per repository, pushes
/// verified and kept, every call recorded, any method made to fail on cue.
public final class FakeGoClient: GoExtendedClientProtocol {
    public enum Method: String, Sendable, Hashable, CaseIterable {
        case resolve, fetch, pushBlob, getRawManifest, pushRawManifest, getManifest, pushManifest, listTags, listRepositories
    }

    /// One recorded call: the method and the reference it was given.
    public struct Call: Sendable, Hashable {
        public var method: Method
        public var reference: String
    }

    private struct State {
        var repositories: [String: MemoryStore] = [:]
        var calls: [Call] = []
        var failures: [Method: any Error] = [:]
    }
    private let state = Locked(State())

    public init() {}

    /// The calls so far, in order.
    public var calls: [Call] { state.withLock { $0.calls } }

    /// Makes every later call of `method` throw `error` (nil: stop failing).
    public func fail(_ method: Method, with error: (any Error & Sendable)?) {
        state.withLock { $0.failures[method] = error }
    }

    /// The store behind the repository of `ref` (`host/repo`), created empty on first use.
    public func store(for ref: String) throws -> MemoryStore {
        let name = try Reference(parsing: ref, defaultTag: nil).name
        return state.withLock { state in
            if let store = state.repositories[name] { return store }
            let store = MemoryStore()
            state.repositories[name] = store
            return store
        }
    }

    private func record(_ method: Method, _ ref: String) throws {
        try state.withLock { state in
            state.calls.append(Call(method: method, reference: ref))
            if let error = state.failures[method] { throw error }
        }
    }

    private func tagOrDigest(_ ref: String) throws -> String {
        guard let reference = try Reference(parsing: ref).manifestReference else {
            throw OCIClientError.invalidArgument("\(ref) has no tag or digest")
        }
        return reference
    }

    public func resolve(_ ref: String) async throws -> (name: String, descriptor: Descriptor) {
        try record(.resolve, ref)
        let descriptor = try await store(for: ref).resolve(try tagOrDigest(ref))
        return (try Reference(parsing: ref).description, descriptor)
    }

    public func fetch(_ ref: String, descriptor: Descriptor, into sink: (@Sendable ([UInt8]) async throws -> Void)) async throws {
        try record(.fetch, ref)
        for try await chunk in try await store(for: ref).fetch(descriptor) where !chunk.isEmpty { try await sink(chunk) }
    }

    public func pushBlob(_ ref: String, descriptor: Descriptor, store blobs: (any BlobStore)?) async throws {
        try record(.pushBlob, ref)
        let repository = try store(for: ref)
        if try await repository.exists(descriptor) { return }
        guard let blobs else { throw OCIClientError.noStore(descriptor.digest) }
        try await repository.push(descriptor, content: try await blobs.get(descriptor))
    }

    public func getRawManifest(_ ref: String) async throws -> (descriptor: Descriptor, bytes: [UInt8]) {
        try record(.getRawManifest, ref)
        return try await store(for: ref).manifest(try tagOrDigest(ref))
    }

    public func pushRawManifest(_ ref: String, descriptor: Descriptor, bytes: [UInt8], store blobs: (any BlobStore)?) async throws {
        try record(.pushRawManifest, ref)
        try await keep(ref, descriptor: descriptor, bytes: bytes, store: blobs)
    }

    private func keep(_ ref: String, descriptor: Descriptor, bytes: [UInt8], store blobs: (any BlobStore)?) async throws {
        guard MediaType.isSingleArch(descriptor.mediaType) || MediaType.isMultiArch(descriptor.mediaType) else {
            throw OCIClientError.unsupportedMediaType(descriptor.mediaType)
        }
        let repository = try store(for: ref)
        if MediaType.isSingleArch(descriptor.mediaType) {
            for blob in try JSONCoding.decode(Manifest.self, from: bytes).blobs where !(try await repository.exists(blob)) {
                guard let blobs else { throw OCIClientError.noStore(blob.digest) }
                try await repository.push(blob, content: try await blobs.get(blob))
            }
        }
        try await repository.push(descriptor, content: ByteStream(bytes: bytes))
        let reference = try Reference(parsing: ref)
        if let tag = reference.tag { try await repository.tag(descriptor, as: tag) }
    }

    public func getManifest(_ ref: String) async throws -> Manifest {
        try record(.getManifest, ref)
        let (descriptor, bytes) = try await store(for: ref).manifest(try tagOrDigest(ref))
        guard MediaType.isSingleArch(descriptor.mediaType) else { throw OCIClientError.notAManifest(descriptor.mediaType) }
        return try JSONCoding.decode(Manifest.self, from: bytes)
    }

    public func pushManifest(_ ref: String, manifest: Manifest, store blobs: (any BlobStore)?) async throws {
        try record(.pushManifest, ref)
        let (descriptor, bytes) = try OCIHelpers.descriptor(for: manifest)
        try await keep(ref, descriptor: descriptor, bytes: bytes, store: blobs)
    }

    public func listTags(_ ref: String) async throws -> [String] {
        try record(.listTags, ref)
        return try await store(for: ref).tags()
    }

    public func listRepositories(_ registryHostAndPrefix: String) async throws -> [String] {
        try record(.listRepositories, registryHostAndPrefix)
        let prefix = registryHostAndPrefix.hasSuffix("/") ? registryHostAndPrefix : registryHostAndPrefix + "/"
        let names = state.withLock { Array($0.repositories.keys) }
        return names.filter { $0.hasPrefix(prefix) || $0 == registryHostAndPrefix }.sorted()
    }
}
