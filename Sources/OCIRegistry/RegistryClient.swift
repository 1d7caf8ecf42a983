import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1
import OCIContent
import OCIReference
import OCISpec
import OCISync

/// The registry client: one HTTP connection pool, per-host auth state, and access to repositories.
///
/// Create one per process (or per set of settings) and call `shutdown()` when done. It is `Sendable`; share it.
public final class RegistryClient: Sendable {
    public let configuration: RegistryClient.Configuration
    let transport: HTTPTransport
    private let hosts = Locked<[String: RegistryHost]>([:])

    public init(configuration: RegistryClient.Configuration = RegistryClient.Configuration()) throws {
        self.configuration = configuration
        self.transport = try HTTPTransport(configuration: configuration)
    }

    /// Closes connections. Requests after this fail.
    public func shutdown() async throws {
        try await transport.shutdown()
    }

    /// The repository a reference names. `access` decides the token scope asked for: `.push` asks for
    /// `pull,push` once, so that a push costs one token.
    public func repository(_ reference: Reference, access: RepositoryAccess = .pull, mountSources: [String] = []) -> RemoteRepository {
        RemoteRepository(client: self, host: reference.endpointHost, name: reference.repository, access: access,
                         mountSources: mountSources)
    }

    /// The repository `name` on `host` (host as in references; Docker Hub hosts are mapped to its API host).
    public func repository(host: String, name: String, access: RepositoryAccess = .pull) -> RemoteRepository {
        RemoteRepository(client: self, host: DockerHub.endpoint(for: host),
                         name: name, access: access)
    }

    /// Checks that the registry answers and that the configured credentials are accepted for `scopes`
    /// (by default the catalog scope, as `docker login` does).
    public func checkLogin(host: String, repository: String? = nil) async throws {
        let endpoint = DockerHub.endpoint(for: host)
        let session = registryHost(endpoint)
        let ping = try await session.ping()
        guard let url = URL(string: "\(ping.scheme)://\(endpoint)/v2/") else {
            throw RegistryError.invalidArgument("invalid registry host \"\(host)\"")
        }
        let scopes = repository.map { ["repository:\($0):pull"] } ?? []
        let request = RegistryRequest(method: .GET, url: url, scopes: scopes, repository: repository ?? "",
                                      operation: "login to", target: host)
        let response = try await perform(request, on: session)
        let body = try await readLimited(response.body, limit: 64 * 1024)
        guard (200..<300).contains(response.status.code) else {
            throw await session.annotated(errorFor(status: Int(response.status.code), headers: response.headers, body: body,
                           operation: "login to", target: host))
        }
    }

    /// Lists repositories of a registry (`/v2/_catalog?n=1000`, following every `Link`), keeping those
    /// under `prefix` by whole path segments (`a/b` matches `a/b` and `a/b/c`, not `a/bc`).
    public func repositories(host: String, prefix: String = "") async throws -> [String] {
        let endpoint = DockerHub.endpoint(for: host)
        let session = registryHost(endpoint)
        let ping = try await session.ping()
        guard let first = URL(string: "\(ping.scheme)://\(endpoint)/v2/_catalog?n=1000") else {
            throw RegistryError.invalidArgument("invalid registry host \"\(host)\"")
        }
        struct Page: Decodable { var repositories: [String]? }
        var all: [String] = []
        try await paginate(first: first, session: session, scopes: ["registry:catalog:*"], repository: "",
                           operation: "list repositories of", target: host) { body in
            let page = try JSONCoding.decode(Page.self, from: body)
            all.append(contentsOf: page.repositories ?? [])
        }
        let trimmed = prefix.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        guard !trimmed.isEmpty else { return all }
        return all.filter { $0 == trimmed || $0.hasPrefix(trimmed + "/") }
    }

    /// Lists repositories under `HOST[/PREFIX]` as full names `HOST/REPO` (a scheme is ignored; the prefix
    /// matches whole path segments, a bare host lists all).
    public func repositories(under hostAndPrefix: String) async throws -> [String] {
        var text = Substring(hostAndPrefix)
        if let r = text.range(of: "://") { text = text[r.upperBound...] }
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let host = parts.first.map(String.init), !host.isEmpty else {
            throw RegistryError.invalidArgument("expected HOST[/PREFIX], got \"\(hostAndPrefix)\"")
        }
        let prefix = parts.count > 1 ? String(parts[1]) : ""
        return try await repositories(host: host, prefix: prefix).map { "\(host)/\($0)" }
    }

    /// Ping and token counts for one host (diagnostics and tests).
    public func requestCounters(host: String) async -> (pings: Int, tokens: Int) {
        await registryHost(host).counters()
    }

    func registryHost(_ host: String) -> RegistryHost {
        hosts.withLock { map in
            if let h = map[host] { return h }
            let h = RegistryHost(host: host, transport: transport, configuration: configuration)
            map[host] = h
            return h
        }
    }

    // MARK: request execution

    /// Sends a request with auth, challenge handling, manual redirects and retries. The caller consumes the body.
    /// The host's `HostLimits` apply: a request slot is held until the response's head arrives, and every
    /// attempt is paced.
    func perform(_ request: RegistryRequest, on session: RegistryHost) async throws -> HTTPClientResponse {
        guard let gate = session.gate else { return try await performAttempts(request, on: session) }
        let permit = try await gate.admit()
        defer { permit?.release() }
        return try await performAttempts(request, on: session)
    }

    private func performAttempts(_ request: RegistryRequest, on session: RegistryHost) async throws -> HTTPClientResponse {
        let policy = configuration.retry
        var url = request.url
        var method = request.method
        var body = request.body
        var scopes = request.scopes
        var attempt = 0
        var redirects = 0
        var authRetried = false
        let scheme = try await session.ping().scheme
        let registryOrigin = URL(string: "\(scheme)://\(session.host)/")?.canonicalOrigin ?? url.canonicalOrigin
        while true {
            attempt += 1
            var headers = request.headers
            headers.replaceOrAdd(name: "User-Agent", value: configuration.userAgent)
            let toRegistry = url.canonicalOrigin == registryOrigin
            if toRegistry, let wait = await session.pendingHold() {
                try await Task.sleep(for: wait)
            }
            if toRegistry, let gate = session.gate { try await gate.pace() }
            if toRegistry, let auth = try await session.authorization(scopes: scopes, repository: request.repository) {
                headers.replaceOrAdd(name: "Authorization", value: auth)
            } else {
                headers.remove(name: "Authorization")
            }
            let response: HTTPClientResponse
            do {
                response = try await transport.execute(method: method, url: url, headers: headers, body: body)
            } catch let error as RegistryError {
                if case .transport = error, attempt < policy.maxAttempts, body?.isReplayable ?? true, !request.isOptimistic {
                    configuration.logger.debug("retrying after transport error", metadata: ["url": "\(url.redactedString)"])
                    try await Task.sleep(for: backoff(attempt: attempt, retryAfter: nil))
                    continue
                }
                throw error
            }
            let status = Int(response.status.code)
            // The URL without credentials or query secrets; headers (and so credentials) are never logged.
            configuration.logger.debug("\(method.rawValue) \(url.redactedString) \(status)")
            switch status {
            case 401 where toRegistry && !authRetried:
                let challenges = response.headers["WWW-Authenticate"].flatMap { AuthChallenge.parse(String($0)) }
                guard let challenge = challenges.first(where: { $0.scheme == .bearer }) ?? challenges.first,
                      body?.isReplayable ?? true
                else { return response }
                authRetried = true
                _ = try? await readLimited(response.body, limit: 64 * 1024)
                await session.updateChallenge(challenge)
                let added = challenge.scopes.filter { !scopes.contains($0) }
                await session.invalidate(scopes: scopes)
                scopes = added + scopes
                continue
            case 301, 302, 303, 307, 308:
                guard let location = response.headers.first(name: "Location"),
                      let next = URL(string: location, relativeTo: url)?.absoluteURL
                else { return response }
                _ = try? await readLimited(response.body, limit: 64 * 1024)
                redirects += 1
                guard redirects <= 10 else {
                    throw RegistryError.unsafeRedirect(from: url.redactedString, to: next.redactedString, why: "more than 10 redirects (a loop?)")
                }
                guard next.scheme == "https" || url.scheme == "http" else {
                    throw RegistryError.unsafeRedirect(from: url.redactedString, to: next.redactedString, why: "it downgrades HTTPS to HTTP")
                }
                guard next.scheme == "https" || next.scheme == "http" else {
                    throw RegistryError.unsafeRedirect(from: url.redactedString, to: next.redactedString, why: "unsupported scheme")
                }
                if status == 303 || ((status == 301 || status == 302) && method == .POST) {
                    method = .GET
                    body = nil
                } else if let b = body, !b.isReplayable {
                    return response
                }
                url = next
                attempt = 0
                continue
            case let code where [408, 429, 500, 502, 503, 504].contains(code) && attempt < policy.maxAttempts
                && (body?.isReplayable ?? true) && !request.isOptimistic:
                let retryAfter = response.headers.first(name: "Retry-After").flatMap(parseRetryAfter)
                _ = try? await readLimited(response.body, limit: 64 * 1024)
                if let retryAfter, toRegistry { await session.hold(for: min(retryAfter, policy.maxBackoff)) }
                configuration.logger.debug("retrying", metadata: ["status": "\(status)", "url": "\(url.redactedString)"])
                try await Task.sleep(for: backoff(attempt: attempt, retryAfter: retryAfter))
                continue
            default:
                return response
            }
        }
    }

    /// Exponential backoff with full jitter, or `Retry-After` when the server gave one; both capped.
    func backoff(attempt: Int, retryAfter: Duration?) -> Duration {
        let cap = configuration.retry.maxBackoff
        if let retryAfter { return min(retryAfter, cap) }
        let base = configuration.retry.initialBackoff * Int(1 << min(attempt - 1, 16))
        let capped = min(base, cap)
        let millis = Double(capped.components.seconds) * 1000 + Double(capped.components.attoseconds) / 1e15
        return .milliseconds(Int64(millis / 2 + Double.random(in: 0...(millis / 2))))
    }

    /// Follows `Link: <…>; rel="next"` pages, passing each page's body to `consume`.
    func paginate(first: URL, session: RegistryHost, scopes: [String], repository: String, operation: String,
                  target: String, consume: ([UInt8]) throws -> Void) async throws {
        var next: URL? = first
        var pages = 0
        while let url = next {
            pages += 1
            guard pages <= 10_000 else { throw RegistryError.invalidResponse(operation: operation, target: target, why: "more than 10000 pages") }
            let request = RegistryRequest(method: .GET, url: url, scopes: scopes, repository: repository,
                                          operation: operation, target: target)
            let response = try await perform(request, on: session)
            let body = try await readLimited(response.body, limit: 16 << 20)
            guard response.status.code == 200 else {
                throw await session.annotated(errorFor(status: Int(response.status.code), headers: response.headers, body: body,
                               operation: operation, target: target))
            }
            if let errors = RegistryErrorDetail.decodeList(body) {
                throw RegistryError.registry(operation: operation, target: target, status: 200, errors: errors, bodySnippet: nil)
            }
            do { try consume(body) } catch {
                throw RegistryError.invalidResponse(operation: operation, target: target, why: "\(error)")
            }
            next = response.headers.first(name: "Link").flatMap { LinkHeader.nextURL($0, relativeTo: url) }
            if next == url { next = nil }
            if let candidate = next, candidate.scheme != first.scheme || candidate.canonicalOrigin != first.canonicalOrigin {
                throw RegistryError.unsafeRedirect(from: first.redactedString, to: candidate.redactedString,
                                                   why: "a pagination link must stay on the registry")
            }
        }
    }
}

/// Which token scope a repository handle asks for.
public enum RepositoryAccess: Sendable, Hashable {
    case pull
    case push
    case delete
}

struct RegistryRequest: Sendable {
    var method: HTTPMethod
    var url: URL
    var headers = HTTPHeaders()
    var body: RequestBody?
    var scopes: [String]
    var repository: String
    var operation: String
    var target: String
    /// An optimistic request (a cross-repository mount) whose failure has a fallback: it is sent once, never
    /// retried, and its 429/5xx answers put no hold on the host.
    var isOptimistic = false

    init(method: HTTPMethod, url: URL, headers: HTTPHeaders = HTTPHeaders(), body: RequestBody? = nil,
         scopes: [String], repository: String, operation: String, target: String) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.scopes = scopes
        self.repository = repository
        self.operation = operation
        self.target = target
    }
}

/// Maps an error status and body to a `RegistryError`.
func errorFor(status: Int, headers: HTTPHeaders, body: [UInt8], operation: String, target: String) -> RegistryError {
    let errors = RegistryErrorDetail.decodeList(body) ?? []
    switch status {
    case 404:
        return .notFound(operation: operation, target: target, status: status, errors: errors)
    case 401:
        let challenge = headers["WWW-Authenticate"].flatMap { AuthChallenge.parse(String($0)) }.first
        if challenge?.error == "insufficient_scope" || errors.contains(where: { $0.code == "DENIED" }) {
            return .denied(operation: operation, target: target, status: status, errors: errors)
        }
        return .unauthorized(operation: operation, target: target, status: status, errors: errors)
    case 403:
        return .denied(operation: operation, target: target, status: status, errors: errors)
    default:
        return .registry(operation: operation, target: target, status: status, errors: errors,
                         bodySnippet: errors.isEmpty ? snippet(body) : nil)
    }
}

/// Parses `Retry-After`: delay seconds or an HTTP date.
func parseRetryAfter(_ value: String) -> Duration? {
    let trimmed = value.trimmingCharacters(in: .whitespaces)
    if let seconds = Int(trimmed) { return .seconds(max(0, seconds)) }
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "GMT")
    formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
    guard let date = formatter.date(from: trimmed) else { return nil }
    return .milliseconds(Int64(max(0, date.timeIntervalSinceNow) * 1000))
}

extension URL {
    /// The URL without its query (upload state and signed-URL secrets stay out of logs and errors).
    var redactedString: String {
        guard var c = URLComponents(url: self, resolvingAgainstBaseURL: true) else { return "(url)" }
        c.query = nil
        c.user = nil
        c.password = nil
        return c.string ?? "(url)"
    }
}
