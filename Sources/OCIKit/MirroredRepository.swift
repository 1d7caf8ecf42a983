import Logging
import OCIContent
import OCIReference
import OCIRegistry
import OCISpec
import OCISync

/// A registry repository read through its mirrors: every read (resolve, manifest, blob, existence check,
/// referrers) tries the mirrors that apply, in order, then the origin, and stays with the first one that answers
/// until it fails. Writes (push, tag) go to the origin only. Made by `OCIClient` for the sources of pulls, copies and
/// inspections when `RegistryClient.Configuration.registries` names mirrors for the reference.
///
/// Which endpoint served is logged at `info` level (ocictl `-v`), as is each failure that moved on to the next one.
public struct MirroredRepository: Target, ManifestReader, TagLister, ReferrerLister, RegistryRepository {
    /// The mirrors, then the origin (last).
    public let endpoints: [RemoteRepository]
    /// The number of mirrors at the front of ``endpoints``.
    public let mirrorCount: Int
    private let current: Locked<Int?>
    private let logger: Logger

    /// The repository pushes and tags go to.
    public var origin: RemoteRepository { endpoints[endpoints.count - 1] }
    public var host: String { origin.host }
    public var name: String { origin.name }

    /// `mirrors` in order, then `origin`.
    public init(mirrors: [RemoteRepository], origin: RemoteRepository, logger: Logger) {
        self.endpoints = mirrors + [origin]
        self.mirrorCount = mirrors.count
        self.current = Locked(nil)
        self.logger = logger
    }

    /// The endpoint that served the last read, if any (for tests and diagnostics).
    public var lastServed: RemoteRepository? { current.current.map { endpoints[$0] } }

    private func label(_ index: Int) -> String {
        let endpoint = endpoints[index]
        return (index < mirrorCount ? "mirror " : "origin ") + "\(endpoint.host)/\(endpoint.name)"
    }

    private func attempt<T: Sendable>(_ what: String, _ body: (RemoteRepository) async throws -> T) async throws -> T {
        let preferred = current.current
        var order = Array(endpoints.indices)
        if let preferred {
            order.removeAll { $0 == preferred }
            order.insert(preferred, at: 0)
        }
        var lastError: (any Error)?
        for index in order {
            do {
                let result = try await body(endpoints[index])
                if preferred != index {
                    current.withLock { $0 = index }
                    logger.info("\(what) of \(origin.host)/\(origin.name) served by \(label(index))")
                }
                return result
            } catch {
                if error is CancellationError || Task.isCancelled { throw error }
                logger.info("\(label(index)) failed \(what) (\(error)); trying the next endpoint")
                lastError = error
            }
        }
        throw lastError ?? RegistryError.invalidArgument("no endpoint to read \(origin.host)/\(origin.name) from")
    }

    public func resolve(_ reference: String) async throws -> Descriptor {
        try await attempt("resolve \(reference)") { try await $0.resolve(reference) }
    }

    public func fetchManifest(_ reference: String) async throws -> (descriptor: Descriptor, bytes: [UInt8]) {
        let (descriptor, bytes) = try await attempt("fetch manifest \(reference)") { repository in
            let fetched = try await repository.fetchManifest(reference)
            return ManifestBox(descriptor: fetched.descriptor, bytes: fetched.bytes)
        }.tuple
        return (descriptor, bytes)
    }

    public func fetch(_ descriptor: Descriptor) async throws -> ByteStream {
        try await attempt("fetch \(descriptor.digest)") { try await $0.fetch(descriptor) }
    }

    public func fetch(_ descriptor: Descriptor, offset: Int64) async throws -> ByteStream {
        try await attempt("fetch \(descriptor.digest)") { try await $0.fetch(descriptor, offset: offset) }
    }

    public func exists(_ descriptor: Descriptor) async throws -> Bool {
        do {
            return try await checkEverywhere(descriptor)
        } catch let error as RegistryError where error.isNotFound {
            return false
        }
    }

    private func checkEverywhere(_ descriptor: Descriptor) async throws -> Bool {
        try await attempt("check \(descriptor.digest)") { repository in
            // A mirror that lacks content is no answer: ask the next one.
            guard try await repository.exists(descriptor) else {
                throw RegistryError.notFound(operation: "check", target: "\(repository.host)/\(repository.name)@\(descriptor.digest)", errors: [])
            }
            return true
        }
    }

    public func referrers(of subject: OCIDigest, artifactType: String?) async throws -> [Descriptor] {
        try await attempt("list referrers of \(subject)") { try await $0.referrers(of: subject, artifactType: artifactType) }
    }

    /// The origin's tags (a listing is not a pull).
    public func tags() async throws -> [String] { try await origin.tags() }

    public func push(_ descriptor: Descriptor, content: ByteStream) async throws {
        try await origin.push(descriptor, content: content)
    }

    public func push(_ descriptor: Descriptor, source: BlobSource) async throws {
        try await origin.push(descriptor, source: source)
    }

    public func tag(_ descriptor: Descriptor, as reference: String) async throws {
        try await origin.tag(descriptor, as: reference)
    }

    private struct ManifestBox: Sendable {
        var descriptor: Descriptor
        var bytes: [UInt8]
        var tuple: (Descriptor, [UInt8]) { (descriptor, bytes) }
    }
}
