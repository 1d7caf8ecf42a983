import Foundation
import NIOCore
import NIOHTTP1
import OCISync

/// A distribution API endpoint, parsed from the path the way distribution does (from the end: a repository
/// named `a/tags` has its list at `/v2/a/tags/tags/list`).
enum RegistryRoute: Sendable, Equatable {
    case ping
    case catalog
    case token
    case tags(String)
    case manifest(String, String)
    case blob(String, String)
    case uploads(String)
    case upload(String, String)
    case referrers(String, String)
    case notFound

    static func parse(_ path: String) -> RegistryRoute {
        if path == RegistryAuthority.tokenPath { return .token }
        if path == "/v2/" || path == "/v2" { return .ping }
        guard path.hasPrefix("/v2/") else { return .notFound }
        if path == "/v2/_catalog" { return .catalog }
        let components = path.dropFirst(4).split(separator: "/", omittingEmptySubsequences: false).map { decode($0) }
        let n = components.count
        func name(_ count: Int) -> String { components[0..<count].joined(separator: "/") }
        if n >= 3, components[n - 2] == "tags", components[n - 1] == "list" { return .tags(name(n - 2)) }
        if n >= 3, components[n - 2] == "blobs", components[n - 1] == "uploads" { return .uploads(name(n - 2)) }
        if n >= 4, components[n - 3] == "blobs", components[n - 2] == "uploads" {
            return components[n - 1].isEmpty ? .uploads(name(n - 3)) : .upload(name(n - 3), components[n - 1])
        }
        if n >= 3, components[n - 2] == "blobs" { return .blob(name(n - 2), components[n - 1]) }
        if n >= 3, components[n - 2] == "manifests" { return .manifest(name(n - 2), components[n - 1]) }
        if n >= 3, components[n - 2] == "referrers" { return .referrers(name(n - 2), components[n - 1]) }
        return .notFound
    }

    /// Percent-decoding of a path segment (`+` stays a plus).
    private static func decode(_ segment: Substring) -> String {
        guard segment.contains("%") else { return String(segment) }
        return segment.removingPercentEncoding ?? String(segment)
    }

    var repository: String? {
        switch self {
        case .tags(let n), .manifest(let n, _), .blob(let n, _), .uploads(let n), .upload(let n, _), .referrers(let n, _): return n
        case .ping, .catalog, .token, .notFound: return nil
        }
    }
}

/// The registry's request handling, shared by its listeners.
final class RegistryCore: Sendable {
    let configuration: InProcessRegistry.Configuration
    let store: RegistryStore
    let authority: RegistryAuthority
    let faults: RegistryFaultBook
    let recorder = RegistryRequestRecorder()
    let blobRecorder = RegistryRequestRecorder()
    private let bases = Locked<(registry: String, blobHost: String?)>(("", nil))
    /// The signatures of blob-host URLs handed out in redirects.
    private let signatures = Locked<Set<String>>([])

    init(configuration: InProcessRegistry.Configuration, store: RegistryStore) {
        self.configuration = configuration
        self.store = store
        self.authority = RegistryAuthority(configuration.auth)
        self.faults = RegistryFaultBook(configuration.faults)
    }

    func setBase(_ base: String) { bases.withLock { $0.registry = base } }
    func setBlobHostBase(_ base: String) { bases.withLock { $0.blobHost = base } }

    static let apiVersionHeader = ("Docker-Distribution-API-Version", "registry/2.0")

    // MARK: dispatch

    func handle(_ head: HTTPRequestHead, body: RegistryRequestBody) async -> RegistryReply {
        let (path, queryText) = registrySplitURI(registryOriginForm(head.uri))
        let query = RegistryQuery(queryText.map { Substring($0) } ?? "")
        var reply: RegistryReply
        var faulted = false
        let route = RegistryRoute.parse(path)
        let behavior = faults.behavior(method: head.method.rawValue, path: path, query: queryText)
        switch behavior {
        case .respond(let status, let headers, let bytes)?:
            _ = try? await body.collect(limit: 1 << 20)
            let fields = headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            reply = RegistryReply(response: RegistryResponse(status: status, headers: fields, body: bytes.map { .bytes($0) } ?? .empty))
            faulted = true
        case .closeConnection?:
            reply = RegistryReply(response: RegistryResponse(status: 500), delivery: .close)
            faulted = true
        case .redirect(let location, let status)?:
            reply = RegistryReply(response: RegistryResponse(status: status, headers: [("Location", location)]))
            faulted = true
        default:
            reply = RegistryReply(response: await dispatch(route, head: head, query: query, body: body))
            switch behavior {
            case .cutBody(let n)?: reply.delivery = .cut(max(0, n)); faulted = true
            case .slowBody(let size, let interval)?: reply.delivery = .drip(size, interval); faulted = true
            case .corruptBody?: reply.delivery = .corrupt; faulted = true
            case .redirectToBlobHost(let status)?:
                if case .blob(_, let reference) = route, head.method == .GET || head.method == .HEAD,
                   reply.response.status == 200 || reply.response.status == 206,
                   let location = blobHostLocation(reference) {
                    reply.response = RegistryResponse(status: status, headers: [("Location", location)])
                    faulted = true
                }
            default:
                break
            }
        }
        if route != .token {
            reply.response.headers.append(Self.apiVersionHeader)
        }
        if case .close = reply.delivery {
            recorder.record(head, status: nil, bodyLength: body.bytesRead, faulted: faulted)
        } else {
            recorder.record(head, status: reply.response.status, bodyLength: body.bytesRead, faulted: faulted)
        }
        return reply
    }

    /// `scheme://HOST` for the token realm: the client's `Host` when it is a plain host name or address (so a
    /// registry bound to all interfaces names itself as its clients reach it), the bound address otherwise.
    private func realm(_ hostHeader: String?) -> String {
        let base = bases.withLock { $0.registry }
        guard let host = hostHeader, !host.isEmpty, host.utf8.count <= 255,
              host.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || ".:-[]".unicodeScalars.contains($0) })
        else { return base }
        return (base.hasPrefix("https") ? "https://" : "http://") + host
    }

    private func blobHostLocation(_ reference: String) -> String? {
        guard let base = bases.withLock({ $0.blobHost }), let digest = CheckedDigest(reference) else { return nil }
        let signature = RegistryAuthority.randomToken()
        signatures.withLock { _ = $0.insert(signature) }
        return "\(base)/blobs/\(digest)?signature=\(signature)"
    }

    private func requirement(for route: RegistryRoute, method: HTTPMethod) -> RegistryAccessRequirement? {
        switch (route, method) {
        case (.ping, .GET), (.ping, .HEAD): return .login
        case (.catalog, .GET): return .catalog
        case (.tags(let n), .GET), (.referrers(let n, _), .GET): return .repository(n, .pull)
        case (.manifest(let n, _), .GET), (.manifest(let n, _), .HEAD), (.blob(let n, _), .GET), (.blob(let n, _), .HEAD):
            return .repository(n, .pull)
        case (.manifest(let n, _), .PUT), (.uploads(let n), .POST), (.upload(let n, _), .GET), (.upload(let n, _), .PATCH),
             (.upload(let n, _), .PUT), (.upload(let n, _), .DELETE):
            return .repository(n, .push)
        case (.manifest(let n, _), .DELETE), (.blob(let n, _), .DELETE): return .repository(n, .delete)
        default: return nil
        }
    }

    private func dispatch(_ route: RegistryRoute, head: HTTPRequestHead, query: RegistryQuery,
                          body: RegistryRequestBody) async -> RegistryResponse {
        if route == .notFound { return .text(404, "404 page not found\n") }
        if route == .token {
            var form: RegistryQuery?
            if head.method == .POST, let bytes = try? await body.collect(limit: 64 * 1024) {
                form = RegistryQuery(Substring(String(decoding: bytes, as: UTF8.self)))
            }
            guard head.method == .GET || head.method == .POST else { return .error(.unsupported) }
            return authority.tokenResponse(method: head.method, query: query, headers: head.headers, form: form)
        }
        if let name = route.repository, !RegistryGrammar.isValidName(name) {
            return .error(.nameInvalid, detail: "invalid repository name \"\(name)\"")
        }
        guard let requirement = requirement(for: route, method: head.method) else {
            return .error(.unsupported, detail: "\(head.method.rawValue) is not supported here")
        }
        let realmBase = realm(head.headers.first(name: "host"))
        let principal: RegistryPrincipal
        switch authority.authorize(head.headers, requirement, realmBase: realmBase) {
        case .success(let p): principal = p
        case .failure(let failure): return failure.response
        }
        do {
            switch route {
            case .ping:
                return .json(200, [String: String]())
            case .catalog:
                return try catalog(query)
            case .tags(let name):
                return try tags(name, query)
            case .manifest(let name, let reference):
                switch head.method {
                case .GET, .HEAD: return try getManifest(name, reference)
                case .PUT: return try await putManifest(name, reference, head: head, body: body)
                default: return try deleteManifest(name, reference)
                }
            case .blob(let name, let reference):
                if head.method == .DELETE { return try deleteBlob(name, reference) }
                return try getBlob(name, reference, head: head)
            case .uploads(let name):
                return try await startUpload(name, query: query, principal: principal, head: head, body: body)
            case .upload(let name, let id):
                return try await upload(name, id, query: query, head: head, body: body)
            case .referrers(let name, let reference):
                return try referrers(name, reference, query: query)
            case .token, .notFound:
                return .text(404, "404 page not found\n")
            }
        } catch let failure as RegistryFailure {
            var response = failure.response
            if case .manifest = route, head.method == .PUT, failure.status == 413 { response.closeConnection = true }
            return response
        } catch {
            return .error(.unknown, detail: "internal error: \(error)")
        }
    }

    // MARK: helpers

    private func digest(_ reference: String) throws -> CheckedDigest {
        guard let digest = CheckedDigest(reference) else {
            throw RegistryFailure(.digestInvalid, "invalid digest \"\(reference)\"", message: "invalid digest")
        }
        return digest
    }

    private static func uploadLocation(_ name: String, _ id: UUID) -> String {
        "/v2/\(name)/blobs/uploads/\(id.uuidString.lowercased())"
    }

    /// `Link: <path?n=N&last=LAST>; rel="next"` and the page of `items` after `last`.
    private static func page(_ items: [String], query: RegistryQuery, path: String) throws -> ([String], [(String, String)]) {
        var rest = items
        if let last = query["last"], !last.isEmpty { rest = rest.filter { $0 > last } }
        guard let nText = query["n"], !nText.isEmpty else { return (rest, []) }
        guard let n = Int(nText), n >= 0 else {
            throw RegistryFailure(.paginationNumberInvalid, "n=\(nText)")
        }
        let page = Array(rest.prefix(n))
        guard rest.count > n, let lastOnPage = page.last else { return (page, []) }
        return (page, [("Link", "<\(path)?n=\(n)&last=\(registryQueryEncode(lastOnPage))>; rel=\"next\"")])
    }

    // MARK: listing

    private func catalog(_ query: RegistryQuery) throws -> RegistryResponse {
        let (page, headers) = try Self.page(store.repositories(), query: query, path: "/v2/_catalog")
        return .json(200, ["repositories": page], headers: headers)
    }

    private func tags(_ name: String, _ query: RegistryQuery) throws -> RegistryResponse {
        guard let all = store.tags(in: name) else {
            throw RegistryFailure(.nameUnknown, "repository \(name) is not known")
        }
        let (page, headers) = try Self.page(all, query: query, path: "/v2/\(name)/tags/list")
        return .json(200, ["name": name, "tags": page], headers: headers)
    }

    private func referrers(_ name: String, _ reference: String, query: RegistryQuery) throws -> RegistryResponse {
        let subject = try digest(reference)
        let filters = query.all("artifactType").filter { !$0.isEmpty }
        var descriptors: [[String: Any]] = []
        for (digest, record) in store.referrers(of: subject, in: name) {
            if !filters.isEmpty, !filters.contains(record.artifactType ?? "") { continue }
            var d: [String: Any] = ["mediaType": record.mediaType, "digest": digest, "size": record.size]
            if let artifactType = record.artifactType { d["artifactType"] = artifactType }
            if let annotations = record.annotations, !annotations.isEmpty { d["annotations"] = annotations }
            descriptors.append(d)
        }
        let index: [String: Any] = ["schemaVersion": 2, "mediaType": RegistryMediaTypes.ociIndex, "manifests": descriptors]
        var response = RegistryResponse.json(200, index)
        response.setHeader("Content-Type", RegistryMediaTypes.ociIndex)
        if !filters.isEmpty { response.headers.append(("OCI-Filters-Applied", "artifactType")) }
        return response
    }

    // MARK: manifests

    /// A tag or digest reference: (digest, tag).
    private func manifestReference(_ reference: String) throws -> (CheckedDigest?, String?) {
        if reference.contains(":") { return (try digest(reference), nil) }
        guard RegistryGrammar.isValidTag(reference) else {
            throw RegistryFailure(.tagInvalid, "invalid tag \"\(reference)\"")
        }
        return (nil, reference)
    }

    private func getManifest(_ name: String, _ reference: String) throws -> RegistryResponse {
        let (byDigest, tag) = try manifestReference(reference)
        guard let digest = byDigest ?? tag.flatMap({ store.resolveTag($0, in: name) }),
              let (record, bytes) = store.manifest(digest, in: name) else {
            throw RegistryFailure(.manifestUnknown, "manifest \(reference) is not in \(name)")
        }
        return RegistryResponse(status: 200, headers: [
            ("Content-Type", record.mediaType),
            ("Docker-Content-Digest", digest.description),
            ("ETag", "\"\(digest)\""),
        ], body: .bytes(bytes))
    }

    private func deleteManifest(_ name: String, _ reference: String) throws -> RegistryResponse {
        guard configuration.deleteEnabled else { throw RegistryFailure(.unsupported, "deletes are disabled") }
        let (digest, tag) = try manifestReference(reference)
        if let digest {
            guard store.deleteManifest(digest, in: name) else {
                throw RegistryFailure(.manifestUnknown, "manifest \(digest) is not in \(name)")
            }
        } else if let tag {
            guard store.deleteTag(tag, in: name) else {
                throw RegistryFailure(.manifestUnknown, "tag \(tag) is not in \(name)")
            }
        }
        return RegistryResponse(status: 202)
    }

    private func putManifest(_ name: String, _ reference: String, head: HTTPRequestHead,
                             body: RegistryRequestBody) async throws -> RegistryResponse {
        let (expected, tag) = try manifestReference(reference)
        let declared = head.headers.first(name: "content-length").flatMap { Int($0) } ?? 0
        guard declared <= configuration.maxManifestBytes, let bytes = try await body.collect(limit: configuration.maxManifestBytes) else {
            throw RegistryFailure(.manifestInvalid, "manifest exceeds the limit of \(configuration.maxManifestBytes) bytes",
                                  message: "manifest too big", status: 413)
        }
        let digest = CheckedDigest.of(bytes, algorithm: expected?.algorithm ?? .sha256)
        if let expected, expected != digest {
            throw RegistryFailure(.digestInvalid, "the manifest's digest is \(digest), not \(expected)")
        }
        let contentType = head.headers.first(name: "content-type")
            .map { $0.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" } ?? ""
        let parsed = try RegistryManifestCheck.parse(bytes, contentType: contentType)
        // Everything the manifest references must be in the repository.
        var missing: [String] = []
        for blob in parsed.blobs where !store.isLinked(blob, in: name) { missing.append(blob.description) }
        for child in parsed.children where !store.hasManifest(child, in: name) { missing.append(child.description) }
        if !missing.isEmpty {
            throw RegistryFailure(.manifestBlobUnknown, missing.joined(separator: ", "))
        }
        let record = RegistryManifestRecord(mediaType: parsed.mediaType, size: bytes.count, subject: parsed.subject?.description,
                                    artifactType: parsed.artifactType, annotations: parsed.annotations)
        try store.putManifest(bytes, digest: digest, record: record, repository: name, tag: tag)
        var headers = [("Location", "/v2/\(name)/manifests/\(digest)"), ("Docker-Content-Digest", digest.description)]
        if let subject = parsed.subject { headers.append(("OCI-Subject", subject.description)) }
        return RegistryResponse(status: 201, headers: headers)
    }

    // MARK: blobs

    private func getBlob(_ name: String, _ reference: String, head: HTTPRequestHead) throws -> RegistryResponse {
        let digest = try digest(reference)
        guard let content = store.blob(digest, in: name) else {
            throw RegistryFailure(.blobUnknown, "blob \(digest) is not in \(name)")
        }
        return Self.blobResponse(content, digest: digest, range: head.headers.first(name: "range"))
    }

    /// 200 with the blob, 206 with a `Range` of it, 416 for a range past its end.
    static func blobResponse(_ content: RegistryBlobContent, digest: CheckedDigest, range: String?) -> RegistryResponse {
        let size = content.size
        var headers = [
            ("Content-Type", "application/octet-stream"),
            ("Docker-Content-Digest", digest.description),
            ("ETag", "\"\(digest)\""),
            ("Accept-Ranges", "bytes"),
            ("Cache-Control", "max-age=31536000"),
        ]
        switch RegistryByteRange.parse(range, size: size) {
        case .none:
            return RegistryResponse(status: 200, headers: headers, body: .blob(content, range: 0..<size))
        case .unsatisfiable:
            return RegistryResponse(status: 416, headers: [("Content-Range", "bytes */\(size)")])
        case .range(let r):
            headers.append(("Content-Range", "bytes \(r.lowerBound)-\(r.upperBound - 1)/\(size)"))
            return RegistryResponse(status: 206, headers: headers, body: .blob(content, range: r))
        }
    }

    private func deleteBlob(_ name: String, _ reference: String) throws -> RegistryResponse {
        guard configuration.deleteEnabled else { throw RegistryFailure(.unsupported, "deletes are disabled") }
        let digest = try digest(reference)
        guard store.unlink(digest, from: name) else {
            throw RegistryFailure(.blobUnknown, "blob \(digest) is not in \(name)")
        }
        return RegistryResponse(status: 202)
    }

    // MARK: uploads

    private func sessionHeaders(_ name: String, _ id: UUID, size: Int) -> [(String, String)] {
        [("Location", Self.uploadLocation(name, id)), ("Range", RegistryStore.rangeHeader(size)),
         ("Docker-Upload-UUID", id.uuidString.lowercased())]
    }

    private func finished(_ name: String, _ digest: CheckedDigest) -> RegistryResponse {
        RegistryResponse(status: 201, headers: [("Location", "/v2/\(name)/blobs/\(digest)"),
                                                ("Docker-Content-Digest", digest.description)])
    }

    /// Streams the body into a session; returns the bytes written.
    @discardableResult
    private func append(_ body: RegistryRequestBody, to id: UUID, name: String, head: HTTPRequestHead, isFinal: Bool) async throws -> Int {
        var expectedOffset: Int?
        if let contentRange = head.headers.first(name: "content-range") {
            guard let (start, end) = Self.parseContentRange(contentRange) else {
                throw RegistryFailure(.blobUploadInvalid, "invalid Content-Range \"\(contentRange)\"", status: 416,
                                      headers: [("Range", RegistryStore.rangeHeader(store.uploadSize(id, repository: name) ?? 0))])
            }
            if let lengthText = head.headers.first(name: "content-length"), let length = Int(lengthText), length >= 0,
               end - start != length - 1 {
                throw RegistryFailure(.sizeInvalid, "Content-Range \(contentRange) does not cover Content-Length \(length)", status: 416)
            }
            expectedOffset = start
        }
        let appender = try store.beginAppend(id, repository: name, expectedOffset: expectedOffset,
                                             minimumChunk: configuration.chunkMinLength, isFinal: isFinal)
        do {
            while let chunk = try await body.next() {
                try appender.write(chunk)
            }
        } catch {
            appender.close()
            throw error
        }
        appender.close()
        return appender.count
    }

    /// `start-end`, also with a `bytes ` prefix.
    static func parseContentRange(_ text: String) -> (Int, Int)? {
        var t = Substring(text.trimmingCharacters(in: .whitespaces))
        if t.hasPrefix("bytes ") { t = t.dropFirst(6) } else if t.hasPrefix("bytes=") { t = t.dropFirst(6) }
        if let slash = t.firstIndex(of: "/") { t = t[..<slash] }
        let parts = t.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let start = Int(parts[0]), let end = Int(parts[1]), start >= 0, end >= start else { return nil }
        return (start, end)
    }

    private func startUpload(_ name: String, query: RegistryQuery, principal: RegistryPrincipal, head: HTTPRequestHead,
                             body: RegistryRequestBody) async throws -> RegistryResponse {
        if let mount = query["mount"] {
            let digest = try digest(mount)
            if let from = query["from"], RegistryGrammar.isValidName(from), principal.allows(.repository(from, .pull)),
               store.isLinked(digest, in: from), store.link(digest, into: name) {
                return finished(name, digest)
            }
            // Not mountable: an ordinary session.
        } else if let digestText = query["digest"] {
            // Monolithic upload in one POST.
            let digest = try digest(digestText)
            let id = try store.startUpload(repository: name)
            do {
                try await append(body, to: id, name: name, head: head, isFinal: true)
            } catch {
                _ = store.cancelUpload(id, repository: name)
                throw error
            }
            try store.finishUpload(id, repository: name, digest: digest)
            return finished(name, digest)
        }
        let id = try store.startUpload(repository: name)
        var headers = sessionHeaders(name, id, size: 0)
        headers.append(("OCI-Chunk-Min-Length", String(configuration.chunkMinLength)))
        return RegistryResponse(status: 202, headers: headers)
    }

    private func upload(_ name: String, _ idText: String, query: RegistryQuery, head: HTTPRequestHead,
                        body: RegistryRequestBody) async throws -> RegistryResponse {
        guard let id = UUID(uuidString: idText), id.uuidString.lowercased() == idText.lowercased(),
              store.uploadSize(id, repository: name) != nil else {
            throw RegistryFailure(.blobUploadUnknown, "no upload \(idText) in \(name)")
        }
        switch head.method {
        case .GET:
            let size = store.uploadSize(id, repository: name) ?? 0
            return RegistryResponse(status: 204, headers: sessionHeaders(name, id, size: size))
        case .DELETE:
            guard store.cancelUpload(id, repository: name) else { throw RegistryFailure(.blobUploadUnknown) }
            return RegistryResponse(status: 204)
        case .PATCH:
            try await append(body, to: id, name: name, head: head, isFinal: false)
            let size = store.uploadSize(id, repository: name) ?? 0
            return RegistryResponse(status: 202, headers: sessionHeaders(name, id, size: size))
        default:  // PUT
            guard let digestText = query["digest"] else {
                throw RegistryFailure(.digestInvalid, "the digest parameter is missing")
            }
            let digest = try digest(digestText)
            try await append(body, to: id, name: name, head: head, isFinal: true)
            try store.finishUpload(id, repository: name, digest: digest)
            return finished(name, digest)
        }
    }

    // MARK: blob host

    /// The blob host: `GET`/`HEAD /blobs/DIGEST?signature=…` with a signature from a redirect; no credentials.
    func handleBlobHost(_ head: HTTPRequestHead, body: RegistryRequestBody) async -> RegistryReply {
        let (path, queryText) = registrySplitURI(registryOriginForm(head.uri))
        let query = RegistryQuery(queryText.map { Substring($0) } ?? "")
        let response: RegistryResponse
        if head.method != .GET && head.method != .HEAD {
            response = .text(405, "method not allowed\n")
        } else if !path.hasPrefix("/blobs/") {
            response = .text(404, "not found\n")
        } else if let signature = query["signature"], signatures.withLock({ $0.contains(signature) }) {
            if let digest = CheckedDigest(path.dropFirst("/blobs/".count)), let content = store.content(digest) {
                response = Self.blobResponse(content, digest: digest, range: head.headers.first(name: "range"))
            } else {
                response = .text(404, "no such blob\n")
            }
        } else {
            response = .text(403, "invalid signature\n")
        }
        blobRecorder.record(head, status: response.status, bodyLength: body.bytesRead, faulted: false)
        return RegistryReply(response: response)
    }
}

/// The path-and-query of a request target, also of the absolute form (`http://host/v2/`) some proxies send.
func registryOriginForm(_ uri: String) -> String {
    for scheme in ["http://", "https://"] where uri.lowercased().hasPrefix(scheme) {
        let rest = uri.dropFirst(scheme.count)
        guard let slash = rest.firstIndex(of: "/") else { return "/" }
        return String(rest[slash...])
    }
    return uri
}
