import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OCIContent
import OCIReference
import OCISpec

/// One repository of a registry, as a content target: resolve, fetch, exists, push, tag, plus tag listing,
/// deletion and cross-repository mount. Manifests keep their exact bytes; blobs stream, verified.
public struct RemoteRepository: Target, TagLister, ContentDeleter, BlobMounter, UncheckedBlobPusher, ManifestReader, ManifestWriter,
    ReferrerLister, RegistryRepository {
    let client: RegistryClient
    /// The host requests go to (Docker Hub's API host for Docker Hub).
    public let host: String
    /// The repository path.
    public let name: String
    public let access: RepositoryAccess
    /// Other repositories of the registry this handle may read from (mount sources); their pull scope joins
    /// every token this handle asks for, so a copy within a registry costs one token per side.
    public let mountSources: [String]

    init(client: RegistryClient, host: String, name: String, access: RepositoryAccess, mountSources: [String] = []) {
        self.client = client
        self.host = host
        self.name = name
        self.access = access
        self.mountSources = mountSources.filter { $0 != name }
    }

    var scopes: [String] {
        let own: String
        switch access {
        case .pull: own = "repository:\(name):pull"
        case .push: own = "repository:\(name):pull,push"
        case .delete: own = "repository:\(name):delete,pull,push"
        }
        return [own] + mountSources.map { "repository:\($0):pull" }
    }

    var session: RegistryHost { client.registryHost(host) }

    /// Tags and digests are validated before they become part of a URL.
    static func validate(reference: String) throws(RegistryError) {
        guard Reference.isValidTag(reference) || OCIDigest(reference) != nil else {
            throw .invalidArgument("\"\(reference)\" is neither a valid tag nor a digest")
        }
    }

    func url(_ path: String, query: String? = nil) async throws -> URL {
        guard Reference.isValidRepository(name) else {
            throw RegistryError.invalidArgument("\"\(name)\" is not a valid repository name")
        }
        let scheme = try await session.ping().scheme
        let text = "\(scheme)://\(host)/v2/\(name)/\(path)" + (query.map { "?\($0)" } ?? "")
        guard let url = URL(string: text) else { throw RegistryError.invalidArgument("cannot build a URL for \(host)/\(name)") }
        return url
    }

    func target(_ reference: String) -> String {
        reference.contains(":") && OCIDigest(reference) != nil ? "\(host)/\(name)@\(reference)" : "\(host)/\(name):\(reference)"
    }

    func send(_ method: HTTPMethod, _ url: URL, headers: HTTPHeaders = HTTPHeaders(), body: RequestBody? = nil,
                      scopes: [String]? = nil, operation: String, target: String,
                      optimistic: Bool = false) async throws -> HTTPClientResponse {
        var request = RegistryRequest(method: method, url: url, headers: headers, body: body, scopes: scopes ?? self.scopes,
                                      repository: name, operation: operation, target: target)
        request.isOptimistic = optimistic
        return try await client.perform(request, on: session)
    }

    func fail(_ response: HTTPClientResponse, operation: String, target: String) async -> RegistryError {
        let body = (try? await readLimited(response.body, limit: 64 * 1024)) ?? []
        return await session.annotated(errorFor(status: Int(response.status.code), headers: response.headers, body: body,
                                                operation: operation, target: target))
    }

    static var acceptHeaders: HTTPHeaders {
        var h = HTTPHeaders()
        h.add(name: "Accept", value: MediaType.manifestAccept.joined(separator: ", "))
        return h
    }

    // MARK: resolve and manifests

    /// Resolves a tag or digest to the manifest's descriptor (HEAD with containerd's Accept list; GET and hash when
    /// the registry gives no digest). A digest that names no manifest is looked up as a blob.
    public func resolve(_ reference: String) async throws -> Descriptor {
        try Self.validate(reference: reference)
        let target = target(reference)
        let refDigest = OCIDigest(reference)
        let response = try await send(.HEAD, try await url("manifests/\(reference)"), headers: Self.acceptHeaders,
                                      operation: "resolve", target: target)
        _ = try? await readLimited(response.body, limit: 0)
        switch response.status.code {
        case 200:
            let contentType = response.headers.first(name: "Content-Type").map(MediaType.normalise) ?? ""
            let headerDigest = response.headers.first(name: "Docker-Content-Digest").flatMap { OCIDigest($0) }
            let length = response.headers.first(name: "Content-Length").flatMap { Int64($0) }
            if let length, length > Int64(ContentLimits.maxManifestBytes) {
                throw RegistryError.manifestTooLarge(target: target, size: length)
            }
            if let digest = refDigest ?? headerDigest, let length, MediaType.isManifest(contentType) || contentType == "text/plain" {
                if let refDigest, let headerDigest, refDigest.algorithm == headerDigest.algorithm, refDigest != headerDigest {
                    throw RegistryError.invalidResponse(operation: "resolve", target: target,
                                                        why: "the registry answered with digest \(headerDigest)")
                }
                let mt = contentType == "text/plain" ? MediaType.dockerSchema1SignedManifest : contentType
                return Descriptor(mediaType: mt, digest: digest, size: length)
            }
            return try await fetchManifest(reference).descriptor
        case 404 where refDigest != nil:
            return try await resolveBlob(reference, target: target)
        case 405, 501:
            return try await fetchManifest(reference).descriptor
        default:
            throw await session.annotated(errorFor(status: Int(response.status.code), headers: response.headers, body: [],
                           operation: "resolve", target: target))
        }
    }

    /// The blob `digest`'s descriptor (size and type from one HEAD of `/blobs/`), nil when the repository lacks it.
    public func blob(_ digest: OCIDigest) async throws -> Descriptor? {
        do {
            return try await resolveBlob(digest.description, target: "\(host)/\(name)@\(digest)")
        } catch RegistryError.notFound {
            return nil
        }
    }

    private func resolveBlob(_ reference: String, target: String) async throws -> Descriptor {
        guard let digest = OCIDigest(reference) else { throw RegistryError.invalidArgument("invalid digest \(reference)") }
        let response = try await send(.HEAD, try await url("blobs/\(digest)"), operation: "resolve", target: target)
        _ = try? await readLimited(response.body, limit: 0)
        guard response.status.code == 200 else {
            throw await session.annotated(errorFor(status: Int(response.status.code), headers: response.headers, body: [],
                           operation: "resolve", target: target))
        }
        let size = response.headers.first(name: "Content-Length").flatMap { Int64($0) } ?? -1
        let mt = response.headers.first(name: "Content-Type").map(MediaType.normalise) ?? "application/octet-stream"
        return Descriptor(mediaType: mt, digest: digest, size: size)
    }

    /// A manifest's descriptor and exact bytes, by tag or digest. The digest is computed over the bytes received
    /// (over the JWS payload for signed schema1) and checked against the reference and the registry's header.
    public func fetchManifest(_ reference: String) async throws -> (descriptor: Descriptor, bytes: [UInt8]) {
        try Self.validate(reference: reference)
        let target = target(reference)
        let response = try await send(.GET, try await url("manifests/\(reference)"), headers: Self.acceptHeaders,
                                      operation: "fetch manifest", target: target)
        guard response.status.code == 200 else { throw await fail(response, operation: "fetch manifest", target: target) }
        if let length = response.headers.first(name: "Content-Length").flatMap({ Int64($0) }),
           length > Int64(ContentLimits.maxManifestBytes) {
            throw RegistryError.manifestTooLarge(target: target, size: length)
        }
        let bytes = try await readLimited(response.body, limit: ContentLimits.maxManifestBytes + 1)
        guard bytes.count <= ContentLimits.maxManifestBytes else {
            throw RegistryError.manifestTooLarge(target: target, size: Int64(bytes.count))
        }
        var mediaType = response.headers.first(name: "Content-Type").map(MediaType.normalise) ?? ""
        if mediaType == "text/plain" { mediaType = MediaType.dockerSchema1SignedManifest }
        if !MediaType.isManifest(mediaType) {
            mediaType = ManifestDocument.sniffMediaType(bytes) ?? mediaType
        }
        if let rateLimit = RateLimit(headers: response.headers), let remaining = rateLimit.remaining,
           let limit = rateLimit.limit, remaining * 10 < limit {
            client.configuration.logger.warning("\(host): \(remaining) of \(limit) manifest pulls left in the rate-limit window")
        }
        let headerDigest = response.headers.first(name: "Docker-Content-Digest").flatMap { OCIDigest($0) }
        let refDigest = OCIDigest(reference)
        let algorithm = refDigest?.algorithm ?? headerDigest?.algorithm ?? .sha256
        let digest = Schema1.manifestDigest(of: bytes, mediaType: mediaType, algorithm: algorithm)
        if let refDigest, refDigest != digest {
            throw ContentError.digestMismatch(expected: refDigest, actual: digest)
        }
        if let headerDigest, headerDigest.algorithm == algorithm, headerDigest != digest {
            throw RegistryError.invalidResponse(operation: "fetch manifest", target: target,
                                                why: "content digest \(digest) differs from the registry's \(headerDigest)")
        }
        return (Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count)), bytes)
    }

    /// Uploads manifest bytes exactly as given, to a tag or (when `reference` is nil) to its digest.
    /// The Content-Type is the media type. Returns the descriptor of what was pushed.
    /// A manifest with a `subject` is also added to the subject's referrers fallback index (`sha256-HEX`) when
    /// the registry does not answer with `OCI-Subject` (it has no referrers API).
    @discardableResult
    public func pushManifest(_ bytes: [UInt8], mediaType: String, reference: String? = nil) async throws -> Descriptor {
        try await pushManifest(bytes, mediaType: mediaType, reference: reference, maintainReferrers: true)
    }

    func pushManifest(_ bytes: [UInt8], mediaType: String, reference: String?, maintainReferrers: Bool) async throws -> Descriptor {
        guard bytes.count <= ContentLimits.maxManifestBytes else {
            throw RegistryError.manifestTooLarge(target: "\(host)/\(name)", size: Int64(bytes.count))
        }
        if let reference { try Self.validate(reference: reference) }
        let descriptor = Descriptor(mediaType: mediaType, digest: Schema1.manifestDigest(of: bytes, mediaType: mediaType),
                                    size: Int64(bytes.count))
        let ref = reference ?? descriptor.digest.description
        let target = target(ref)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: mediaType)
        let response = try await send(.PUT, try await url("manifests/\(ref)"), headers: headers, body: .bytes(bytes),
                                      scopes: pushScopes, operation: "push manifest", target: target)
        guard (200..<300).contains(response.status.code) else {
            throw await fail(response, operation: "push manifest", target: target)
        }
        _ = try? await readLimited(response.body, limit: 64 * 1024)
        if let returned = response.headers.first(name: "Docker-Content-Digest").flatMap({ OCIDigest($0) }),
           returned.algorithm == descriptor.digest.algorithm, returned != descriptor.digest, !MediaType.isSchema1(mediaType) {
            throw RegistryError.invalidResponse(operation: "push manifest", target: target,
                                                why: "the registry stored digest \(returned), expected \(descriptor.digest)")
        }
        if maintainReferrers, response.headers.first(name: "OCI-Subject") == nil,
           bytes.count < 1 << 20, String(decoding: bytes, as: UTF8.self).contains("\"subject\""),
           let (subject, entry) = Self.referrerDescriptor(for: bytes, mediaType: mediaType) {
            try await updateReferrersTag(subject: subject, adding: entry, removing: nil)
        }
        return descriptor
    }

    var pushScopes: [String] {
        access == .pull ? ["repository:\(name):pull,push"] + mountSources.map { "repository:\($0):pull" } : scopes
    }

    // MARK: fetch and exists

    public func fetch(_ descriptor: Descriptor) async throws -> ByteStream {
        if MediaType.isManifest(descriptor.mediaType) {
            let (fetched, bytes) = try await fetchManifest(descriptor.digest.description)
            // (A schema1 manifest's signatures, and so its size, may change between requests; its digest does not.)
            if descriptor.size >= 0, fetched.size != descriptor.size, !MediaType.isSchema1(fetched.mediaType) {
                throw ContentError.sizeMismatch(digest: descriptor.digest, expected: descriptor.size, actual: fetched.size)
            }
            return ByteStream(bytes: bytes)
        }
        var expectedSize = descriptor.size >= 0 ? descriptor.size : nil
        var verification = VerificationTarget(digest: descriptor.digest, size: expectedSize)
        if client.configuration.followsForeignURLs {
            for external in descriptor.urls ?? [] {
                guard let u = URL(string: external), mayFollowForeignURL(u) else { continue }
                if let stream = try? await openExternal(u) { return stream.verifying(verification) }
            }
        }
        let target = "\(host)/\(name)@\(descriptor.digest)"
        let blobURL = try await url("blobs/\(descriptor.digest)")
        let download = BlobDownload(repository: self, url: blobURL, target: target)
        let length = try await download.start()
        if expectedSize == nil {
            // Unknown size: the registry's Content-Length bounds the stream; without one, refuse.
            guard let length else {
                throw RegistryError.invalidResponse(operation: "fetch blob", target: target,
                    why: "a blob of unknown size came without Content-Length; give the descriptor's size")
            }
            expectedSize = length
            verification = VerificationTarget(digest: descriptor.digest, size: length)
        }
        return ByteStream { { try await download.next() } }.verifying(verification)
    }

    /// Streams a blob from `offset` on with an HTTP range request (unverified unless offset is 0). A registry
    /// that ignores the range (200 and the whole blob) works too: the bytes before `offset` are dropped.
    public func fetch(_ descriptor: Descriptor, offset: Int64) async throws -> ByteStream {
        guard offset > 0, !MediaType.isManifest(descriptor.mediaType) else {
            let stream = try await fetch(descriptor)
            return offset > 0 ? stream.dropping(offset) : stream
        }
        let target = "\(host)/\(name)@\(descriptor.digest)"
        let download = BlobDownload(repository: self, url: try await url("blobs/\(descriptor.digest)"), target: target, offset: offset)
        try await download.start(tolerateWholeBody: true)
        return ByteStream { { try await download.next() } }
    }

    /// HTTPS URLs, and plain-HTTP ones to hosts the plain-HTTP policy allows.
    private func mayFollowForeignURL(_ url: URL) -> Bool {
        guard let host = url.host, !host.isEmpty else { return false }
        switch url.scheme?.lowercased() {
        case "https": return true
        case "http":
            switch client.configuration.plainHTTP {
            case .allowed: return true
            case .never: return false
            case .privateHostsOnly: return HostClassifier.allowsPlainHTTPByDefault(host)
            }
        default: return false
        }
    }

    private func openExternal(_ url: URL) async throws -> ByteStream {
        let response = try await client.transport.execute(method: .GET, url: url,
                                                          headers: ["User-Agent": client.configuration.userAgent], body: nil)
        guard response.status.code == 200 else {
            _ = try? await readLimited(response.body, limit: 4096)
            throw RegistryError.notFound(operation: "fetch", target: url.redactedString, status: Int(response.status.code),
                                         errors: [])
        }
        let box = BodyBox(response.body)
        return ByteStream { { try await box.next() } }
    }

    /// Opens a blob download at `offset` (a Range request when offset > 0). Used by `BlobDownload`.
    func openBlob(_ url: URL, offset: Int64, target: String, tolerateWholeBody: Bool = false) async throws -> HTTPClientResponse {
        var headers = HTTPHeaders()
        if offset > 0 { headers.add(name: "Range", value: "bytes=\(offset)-") }
        let response = try await send(.GET, url, headers: headers, operation: "fetch blob", target: target)
        let expected: UInt = offset > 0 ? 206 : 200
        if tolerateWholeBody, offset > 0, response.status.code == 200 { return response }
        guard response.status.code == expected else {
            if offset > 0, response.status.code == 200 {
                _ = try? await readLimited(response.body, limit: 0)
                throw RegistryError.invalidResponse(operation: "fetch blob", target: target, why: "the registry cannot resume (no range support)")
            }
            throw await fail(response, operation: "fetch blob", target: target)
        }
        return response
    }

    public func exists(_ descriptor: Descriptor) async throws -> Bool {
        let isManifest = MediaType.isManifest(descriptor.mediaType)
        let path = isManifest ? "manifests/\(descriptor.digest)" : "blobs/\(descriptor.digest)"
        let target = "\(host)/\(name)@\(descriptor.digest)"
        let response = try await send(.HEAD, try await url(path), headers: isManifest ? Self.acceptHeaders : HTTPHeaders(),
                                      operation: "check", target: target)
        _ = try? await readLimited(response.body, limit: 0)
        switch response.status.code {
        case 200: return true
        case 404:
            if !isManifest { await session.noteAbsent("\(name)@\(descriptor.digest)") }
            return false
        default:
            throw await session.annotated(errorFor(status: Int(response.status.code), headers: response.headers, body: [], operation: "check", target: target))
        }
    }

    /// Points `tag` at a manifest already in the repository (fetches it by digest, then PUTs it to the tag).
    /// A tag that already points at the manifest costs one HEAD and no upload (Go: the PUT is skipped when the
    /// existing manifest's digest matches).
    public func tag(_ descriptor: Descriptor, as reference: String) async throws {
        guard Reference.isValidTag(reference) else { throw RegistryError.invalidArgument("invalid tag \"\(reference)\"") }
        if let current = try? await resolve(reference), current.digest == descriptor.digest { return }
        let (_, bytes) = try await fetchManifest(descriptor.digest.description)
        try await pushManifest(bytes, mediaType: descriptor.mediaType, reference: reference)
    }

    // MARK: listing, delete, mount

    /// Every tag, across pages (`/tags/list?n=1000`, following `Link`), in the order the registry sends them.
    public func tags() async throws -> [String] {
        struct Page: Decodable { var tags: [String]? }
        var all: [String] = []
        try await client.paginate(first: try await url("tags/list", query: "n=1000"), session: session, scopes: scopes,
                                  repository: name, operation: "list tags of", target: "\(host)/\(name)") { body in
            all.append(contentsOf: try JSONCoding.decode(Page.self, from: body).tags ?? [])
        }
        return all
    }

    /// Deletes a manifest (by digest) or a blob.
    public func delete(_ descriptor: Descriptor) async throws {
        let isManifest = MediaType.isManifest(descriptor.mediaType)
        let target = "\(host)/\(name)@\(descriptor.digest)"
        let response = try await send(.DELETE, try await url((isManifest ? "manifests/" : "blobs/") + descriptor.digest.description),
                                      scopes: ["repository:\(name):delete,pull,push"], operation: "delete", target: target)
        guard (200..<300).contains(response.status.code) else { throw await fail(response, operation: "delete", target: target) }
        _ = try? await readLimited(response.body, limit: 0)
    }

    /// Mounts a blob from another repository of this registry. False when the registry answers with an upload
    /// session instead (the session is cancelled; upload the blob). Sent once, without retries: a refusal
    /// (an error status) is thrown, and `copyGraph` uploads the blob instead.
    public func mount(_ descriptor: Descriptor, fromRepository repository: String) async throws -> Bool {
        let target = "\(host)/\(name)@\(descriptor.digest)"
        let query = "mount=\(descriptor.digest)&from=\(repository)"
        let mountScopes = mountSources.contains(repository) ? pushScopes
            : ["repository:\(name):pull,push", "repository:\(repository):pull"]
        let postURL = try await url("blobs/uploads/", query: query)
        let response = try await send(.POST, postURL, headers: ["Content-Length": "0"], body: .bytes([]),
                                      scopes: mountScopes, operation: "mount blob", target: target, optimistic: true)
        _ = try? await readLimited(response.body, limit: 0)
        switch response.status.code {
        case 201: return true
        case 202:
            if let cancelURL = try? uploadURL(response.headers.first(name: "Location"), base: postURL, digest: nil, target: target) {
                let cancel = try? await send(.DELETE, cancelURL, scopes: mountScopes, operation: "cancel upload", target: target)
                if let cancel { _ = try? await readLimited(cancel.body, limit: 0) }
            }
            return false
        default:
            throw await session.annotated(errorFor(status: Int(response.status.code), headers: response.headers, body: [], operation: "mount blob", target: target))
        }
    }
}
