import Foundation
import OCIKit
import OCISync

/// A test double of `OCIClientProtocol` for users' unit tests: no server, no network. Every repository or
/// layout a location names is a `MemoryStore` (seed it with `store(for:)`), the verbs run over those stores
/// with the library's own code, every call is recorded, and any method can be made to fail.
///
/// ```swift
/// let fake = FakeOCIClient()
/// try await OCI.push(files: [FileToPush("fixture.txt")], to: fake.store(for: "registry.test/app"), tag: "v1")
/// try await codeUnderTest(client: fake)                      // takes `any OCIClientProtocol`
/// XCTAssertEqual(fake.calls.map(\.method), [.resolve, .copy])
/// ```
public final class FakeOCIClient: OCIClientProtocol {
    /// The methods of `OCIClientProtocol`.
    public enum Method: String, Sendable, Hashable, CaseIterable {
        case resolve, manifest, inspect, tags, referrers, fetchBlob, copy, pull, push, pushBlob, pushManifest, tag
    }

    /// One recorded call: the method and its location arguments, in order.
    public struct Call: Sendable, Hashable {
        public var method: Method
        public var arguments: [String]
    }

    private struct State {
        var stores: [String: MemoryStore] = [:]
        var calls: [Call] = []
        var failures: [Method: (error: any Error, remaining: Int?)] = [:]
    }
    private let state = Locked(State())

    public init() {}

    /// The calls so far, in order.
    public var calls: [Call] { state.withLock { $0.calls } }

    /// The memory store behind a repository (`host/repo`, a tag or digest is ignored) or a layout (`ocidir://PATH`).
    public func store(for location: String) -> MemoryStore {
        let key = Self.key(location)
        return state.withLock { state in
            if let store = state.stores[key] { return store }
            let store = MemoryStore()
            state.stores[key] = store
            return store
        }
    }

    /// Makes `method` throw `error`, the next `times` calls (every call when nil).
    public func fail(_ method: Method, with error: any Error & Sendable, times: Int? = nil) {
        state.withLock { $0.failures[method] = (error, times) }
    }

    private func record(_ method: Method, _ arguments: String...) throws {
        try state.withLock { state in
            state.calls.append(Call(method: method, arguments: arguments))
            guard let failure = state.failures[method] else { return }
            if let remaining = failure.remaining {
                state.failures[method] = remaining > 1 ? (failure.error, remaining - 1) : nil
            }
            throw failure.error
        }
    }

    private static func key(_ location: String) -> String {
        guard let parsed = try? OCILocation(parsing: location, defaultTag: nil) else { return location }
        switch parsed {
        case .registry(let reference): return reference.name
        case .layout(let path, _): return "ocidir://" + path
        case .archive(let path, _): return "oci-archive://" + path
        }
    }

    private func target(_ location: String) throws -> (store: MemoryStore, reference: String?, tag: String?) {
        let parsed = try OCILocation(parsing: location)
        return (store(for: location), parsed.reference, parsed.tag)
    }

    // MARK: OCIClientProtocol

    public func resolve(_ location: String) async throws -> Descriptor {
        try record(.resolve, location)
        let (store, reference, _) = try target(location)
        return try await store.resolve(reference ?? "latest")
    }

    public func manifest(_ location: String) async throws -> (descriptor: Descriptor, bytes: [UInt8]) {
        try record(.manifest, location)
        let (store, reference, _) = try target(location)
        return try await store.manifest(reference ?? "latest")
    }

    public func inspect(_ location: String, platform: Platform?) async throws -> ImageInspection {
        try record(.inspect, location)
        let (store, reference, _) = try target(location)
        return try await OCI.inspect(store, reference: reference ?? "latest", platform: platform)
    }

    public func tags(_ location: String) async throws -> [String] {
        try record(.tags, location)
        return try await store(for: location).tags()
    }

    public func referrers(_ location: String, artifactType: String?, platform: Platform?) async throws -> [Descriptor] {
        try record(.referrers, location)
        throw ContentError.unsupported("FakeOCIClient keeps no referrers; use fail(.referrers, …) or a registry")
    }

    public func fetchBlob(_ location: String, onEvent: (@Sendable (CopyEvent) -> Void)? = nil) async throws -> ByteStream {
        try record(.fetchBlob, location)
        let reference = try Reference(parsing: location, defaultTag: nil)
        guard let digest = reference.digest else { throw OCIClientError.invalidArgument("\(location) names no blob") }
        let store = store(for: location)
        guard let bytes = await store.bytes(for: digest) else { throw ContentError.notFound(location) }
        return ByteStream(bytes: bytes)
    }

    @discardableResult
    public func copy(from source: String, to destination: String, options: CopyOptions = CopyOptions()) async throws -> CopyResult {
        try record(.copy, source, destination)
        let (from, reference, _) = try target(source)
        let (to, _, tag) = try target(destination)
        return try await OCI.copy(from: from, reference: reference ?? "latest", to: to, tag: tag, options: options)
    }

    @discardableResult
    public func pull(_ location: String, into directory: String, options: PullOptions = PullOptions()) async throws -> PullResult {
        try record(.pull, location, directory)
        let (store, reference, _) = try target(location)
        return try await OCI.pull(from: store, reference: reference ?? "latest", into: directory, options: options)
    }

    @discardableResult
    public func push(files: [FileToPush], to location: String, options: PushOptions = PushOptions()) async throws -> Descriptor {
        try record(.push, location)
        let (store, _, tag) = try target(location)
        return try await OCI.push(files: files, to: store, tag: tag, options: options)
    }

    @discardableResult
    public func pushBlob(file path: String, to location: String, mediaType: String = "application/octet-stream",
                         onEvent: (@Sendable (CopyEvent) -> Void)? = nil) async throws -> Descriptor {
        try record(.pushBlob, path, location)
        guard let data = FileManager.default.contents(atPath: path) else { throw ContentError.notFound("file \(path)") }
        return await store(for: location).push(bytes: [UInt8](data), mediaType: mediaType)
    }

    @discardableResult
    public func pushManifest(_ bytes: [UInt8], mediaType: String, to location: String) async throws -> Descriptor {
        try record(.pushManifest, location)
        let (store, _, tag) = try target(location)
        let descriptor = await store.push(bytes: bytes, mediaType: mediaType)
        if let tag { try await store.tag(descriptor, as: tag) }
        return descriptor
    }

    @discardableResult
    public func tag(_ location: String, as tags: [String]) async throws -> Descriptor {
        try record(.tag, location)
        let (store, reference, _) = try target(location)
        return try await OCI.tag(store, reference: reference ?? "latest", as: tags)
    }
}
