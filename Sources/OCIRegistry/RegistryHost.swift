import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1
import OCICredentials
import OCIReference

/// The state the client keeps for one registry host: the scheme found by the ping, the auth challenge,
/// credentials looked up for it, and bearer tokens cached per scope set until they expire. Concurrent
/// requests share one ping and one token fetch per scope set.
actor RegistryHost {
    /// What the ping learned.
    struct PingResult: Sendable {
        var scheme: String
        var challenge: AuthChallenge?
    }

    struct CachedToken: Sendable {
        var token: String
        var expires: ContinuousClock.Instant
    }

    let host: String
    private let transport: HTTPTransport
    private let configuration: RegistryClient.Configuration
    private var pingTask: Task<PingResult, any Error>?
    private var tokens: [String: CachedToken] = [:]
    private var tokenTasks: [String: Task<CachedToken, any Error>] = [:]
    private var credentialCache: [String: Credential] = [:]
    /// Why reading the credentials for this host failed, when it did (the requests then went anonymously).
    private(set) var credentialLookupFailure: String?
    /// A refresh token returned by the token server; it replaces the stored identity token for this run.
    private var refreshedIdentityToken: String?
    /// Until when every request to this host waits, after a 429/503 with `Retry-After` (backoff shared per host).
    private var holdUntil: ContinuousClock.Instant?
    /// Blobs (`repository@digest`) an existence check just found missing: the push that follows skips its own
    /// check, so a blob costs one HEAD, not two. Taken by that push; bounded.
    private var knownAbsent: Set<String> = []

    func noteAbsent(_ key: String) {
        if knownAbsent.count >= 10_000 { knownAbsent.removeAll() }
        knownAbsent.insert(key)
    }

    func takeAbsent(_ key: String) -> Bool {
        knownAbsent.remove(key) != nil
    }
    /// Counters for tests and diagnostics.
    private(set) var pingCount = 0
    private(set) var tokenFetchCount = 0

    /// The host's request limits (`RegistryClient.Configuration.hostLimits`), nil when it has none.
    nonisolated let gate: HostRequestGate?

    init(host: String, transport: HTTPTransport, configuration: RegistryClient.Configuration) {
        self.host = host
        self.gate = HostRequestGate(configuration.limits(for: host))
        self.transport = transport
        self.configuration = configuration
    }

    /// Pings the registry once (coalesced) and returns the scheme and challenge.
    func ping() async throws -> PingResult {
        if let task = pingTask {
            do { return try await task.value } catch {
                pingTask = nil
                throw error
            }
        }
        let task = Task { try await self.performPing() }
        pingTask = task
        do { return try await task.value } catch {
            pingTask = nil
            throw error
        }
    }

    /// What one scheme's `GET /v2/` gave: a registry's answer, or another status (not a registry, or a TLS port's
    /// "HTTP request to an HTTPS server").
    private enum ProbeOutcome {
        case registry(PingResult)
        case other(url: URL, status: Int, body: [UInt8])
    }

    private func probe(_ scheme: String) async throws -> ProbeOutcome {
        guard let url = URL(string: "\(scheme)://\(host)/v2/") else {
            throw RegistryError.invalidArgument("invalid registry host \"\(host)\"")
        }
        var headers = HTTPHeaders()
        headers.add(name: "User-Agent", value: configuration.userAgent)
        let response = try await transport.execute(method: .GET, url: url, headers: headers, body: nil)
        let body = try await readLimited(response.body, limit: 64 * 1024)
        switch response.status.code {
        case 200..<300:
            return .registry(PingResult(scheme: scheme, challenge: nil))
        case 401:
            let challenges = response.headers["WWW-Authenticate"].flatMap { AuthChallenge.parse(String($0)) }
            let chosen = challenges.first { $0.scheme == .bearer } ?? challenges.first { $0.scheme == .basic }
            return .registry(PingResult(scheme: scheme, challenge: chosen ?? AuthChallenge(scheme: .basic, parameters: [:])))
        default:
            return .other(url: url, status: Int(response.status.code), body: body)
        }
    }

    private func registryError(_ url: URL, status: Int, body: [UInt8]) -> RegistryError {
        .registry(operation: "ping", target: url.absoluteString, status: status,
                  errors: RegistryErrorDetail.decodeList(body) ?? [], bodySnippet: snippet(body))
    }

    /// `error` (a TLS or transport failure) with `note` added; other errors as they are.
    private static func noting(_ error: any Error, _ note: String) -> any Error {
        switch error as? RegistryError {
        case .tls(let h, let why)?: return RegistryError.tls(host: h, underlying: why + note)
        case .transport(let h, let why)?: return RegistryError.transport(host: h, underlying: why + note)
        default: return error
        }
    }

    private static func isConnectionFailure(_ error: any Error) -> Bool {
        switch error as? RegistryError {
        case .tls?, .transport?: return true
        default: return false
        }
    }

    private func performPing() async throws -> PingResult {
        pingCount += 1
        let settings = configuration.registries.hostSettings(host)
        if let blocked = settings.blocked {
            throw RegistryError.blocked(registry: host, origin: blocked.origin)
        }
        var mayUseHTTP: Bool
        switch configuration.plainHTTP {
        case .allowed: mayUseHTTP = true
        case .never: mayUseHTTP = false
        case .privateHostsOnly: mayUseHTTP = HostClassifier.allowsPlainHTTPByDefault(host)
        }
        // `insecure = true` in registries.conf: plain HTTP allowed for this host (and verification skipped).
        if settings.insecure { mayUseHTTP = true }
        guard mayUseHTTP else {
            switch try await probe("https") {
            case .registry(let result): return result
            case .other(let url, let status, let body): throw registryError(url, status: status, body: body)
            }
        }
        if RegistryClient.Configuration.Proxy.isLoopback(HostClassifier.hostOnly(host)), let url = URL(string: "http://\(host)/v2/"), transport.proxy(for: url) == nil {
            return try await pingPlainHTTPFirst()
        }
        return try await pingHTTPSFirst()
    }

    /// One scheme's probe, with a connection failure (TLS or transport) returned instead of thrown.
    private func attempt(_ scheme: String) async throws -> Result<ProbeOutcome, any Error> {
        do {
            return .success(try await probe(scheme))
        } catch where Self.isConnectionFailure(error) {
            return .failure(error)
        }
    }

    /// HTTPS, then plain HTTP when HTTPS cannot connect (a private host that may use plain HTTP).
    private func pingHTTPSFirst() async throws -> PingResult {
        let httpsError: any Error
        switch try await attempt("https") {
        case .success(.registry(let result)): return result
        case .success(.other(let url, let status, let body)): throw registryError(url, status: status, body: body)
        case .failure(let error): httpsError = error
        }
        switch try await attempt("http") {
        case .success(.registry(let result)):
            return result
        case .success(.other(let url, let status, _)):
            // A plain-HTTP answer after HTTPS failed (e.g. a TLS port's "HTTP request to an HTTPS server"): the
            // HTTPS failure is what the user must fix. Through a proxy, the answer may be the proxy's own: say it.
            if let proxy = transport.proxy(for: url) {
                throw Self.noting(httpsError, "; plain HTTP through the proxy \(proxy.redacted) answered \(status)")
            }
            throw httpsError
        case .failure(let error):
            // Both failed: the HTTPS failure leads (it is usually what to fix), the plain-HTTP one follows (through
            // a proxy for http:// only, it may be the one that matters).
            throw Self.noting(httpsError, "; plain HTTP failed too: \(error)")
        }
    }

    /// Plain HTTP, then HTTPS, for a loopback registry reached directly: nothing on the way can read or change
    /// the traffic, most loopback registries (test and CI registries, port forwards) speak plain HTTP, and the
    /// process then never builds a TLS context. A TLS port answers the plain request with a 400 or closes it, and
    /// HTTPS follows.
    private func pingPlainHTTPFirst() async throws -> PingResult {
        let plain = try await attempt("http")
        if case .success(.registry(let result)) = plain { return result }
        switch try await attempt("https") {
        case .success(.registry(let result)):
            return result
        case .success(.other(let url, let status, let body)):
            // The port speaks TLS, and its answer is no registry's.
            throw registryError(url, status: status, body: body)
        case .failure(let httpsError):
            switch plain {
            case .success(.other(let url, let status, let body)):
                // A 400 is a TLS port refusing the plain request (Go's "HTTP request to an HTTPS server", nginx's
                // "plain HTTP request was sent to HTTPS port"): the HTTPS failure is what to fix. Any other answer
                // comes from a port that speaks plain HTTP but is no registry, and says so itself.
                if status == 400 { throw httpsError }
                throw registryError(url, status: status, body: body)
            case .failure(let plainError):
                throw Self.noting(httpsError, "; plain HTTP failed too: \(plainError)")
            case .success(.registry(let result)):
                return result
            }
        }
    }

    /// The `Authorization` value for a request needing `scopes`, or nil for anonymous access.
    func authorization(scopes: [String], repository: String) async throws -> String? {
        let ping = try await ping()
        guard let challenge = ping.challenge else { return nil }
        let credential = try await credential(repository: repository)
        switch challenge.scheme {
        case .basic, .other:
            if let registryToken = credential.registryToken, !registryToken.isEmpty { return "Bearer \(registryToken)" }
            if let user = credential.username, let pass = credential.password, !user.isEmpty || !pass.isEmpty {
                return "Basic " + Data("\(user):\(pass)".utf8).base64EncodedString()
            }
            return nil
        case .bearer:
            if let registryToken = credential.registryToken, !registryToken.isEmpty { return "Bearer \(registryToken)" }
            let token = try await bearerToken(challenge: challenge, scopes: scopes, credential: credential)
            return "Bearer \(token.token)"
        }
    }

    /// `error` with a note when it is a refusal (401/403) of a request that went anonymously because reading the
    /// credentials failed: the refusal alone would hide the real cause.
    func annotated(_ error: RegistryError) -> RegistryError {
        guard let failure = credentialLookupFailure else { return error }
        let hint = RegistryErrorDetail(code: "CREDENTIALS_UNAVAILABLE",
                                       message: "the credentials for \(host) could not be read, so the request went anonymously: \(failure)")
        switch error {
        case .unauthorized(let op, let target, let status, let errors):
            return .unauthorized(operation: op, target: target, status: status, errors: errors + [hint])
        case .denied(let op, let target, let status, let errors):
            return .denied(operation: op, target: target, status: status, errors: errors + [hint])
        default: return error
        }
    }

    /// Forgets the token for `scopes` (after the registry rejected it).
    func invalidate(scopes: [String]) {
        tokens[Self.key(scopes)] = nil
    }

    /// Applies a challenge received on a request: a changed realm or scheme replaces the ping's.
    func updateChallenge(_ challenge: AuthChallenge) async {
        guard let current = try? await ping() else { return }
        if current.challenge?.scheme != challenge.scheme || current.challenge?.realm != challenge.realm {
            var updated = current
            updated.challenge = AuthChallenge(scheme: challenge.scheme,
                                              parameters: challenge.parameters.filter { $0.key != "scope" && $0.key != "error" })
            pingTask = Task { updated }
            tokens.removeAll()
        }
    }

    private func credential(repository: String) async throws -> Credential {
        if let cached = credentialCache[repository] { return cached }
        var credential = Credential.anonymous
        if let source = configuration.credentials {
            do {
                credential = try await source.credential(forHost: host, repository: repository) ?? .anonymous
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                // A broken credential store (a helper that is not installed or not logged in) must not block
                // what anonymous access allows, such as public pulls: go on anonymously, and name the failure
                // in any 401/403 that follows.
                credentialLookupFailure = "\(error)"
                configuration.logger.warning("reading the credentials for \(host) failed (\(error)); continuing anonymously")
            }
        }
        if let refreshed = refreshedIdentityToken { credential.identityToken = refreshed }
        credentialCache[repository] = credential
        return credential
    }

    private static func key(_ scopes: [String]) -> String { scopes.sorted().joined(separator: " ") }

    private func bearerToken(challenge: AuthChallenge, scopes: [String], credential: Credential) async throws -> CachedToken {
        let key = Self.key(scopes)
        if let cached = tokens[key], cached.expires > .now { return cached }
        if let task = tokenTasks[key] { return try await task.value }
        let task = Task { try await self.fetchToken(challenge: challenge, scopes: scopes, credential: credential) }
        tokenTasks[key] = task
        defer { tokenTasks[key] = nil }
        let token = try await task.value
        tokens[key] = token
        return token
    }

    private func fetchToken(challenge: AuthChallenge, scopes: [String], credential: Credential) async throws -> CachedToken {
        tokenFetchCount += 1
        guard let realmString = challenge.realm, let realm = URL(string: realmString), let realmScheme = realm.scheme,
              realmScheme == "https" || realmScheme == "http"
        else {
            throw RegistryError.tokenService(realm: challenge.realm ?? "(none)", status: nil,
                                             why: "the registry's Bearer challenge has no usable realm")
        }
        let service = challenge.service ?? host
        let registryScheme = try await ping().scheme
        let sendsCredentials = Self.realmMayReceiveCredentials(realm: realm, registryHost: host, registryScheme: registryScheme,
                                                               policy: configuration.plainHTTP)
        if !sendsCredentials, !credential.isAnonymous {
            configuration.logger.warning("""
                credentials withheld from the plain-HTTP token realm \(realm.redactedString) of \(registryScheme)://\(host); \
                the token request goes anonymous (allow plain HTTP, e.g. ocictl --plain-http, to send them)
                """)
        }
        let client = TokenClient(transport: transport, userAgent: configuration.userAgent, logger: configuration.logger)
        let response: TokenClient.Response
        if let identity = credential.identityToken, !identity.isEmpty, sendsCredentials {
            response = try await client.fetchWithRefreshToken(realm: realm, service: service, scopes: scopes,
                                                              refreshToken: identity,
                                                              fallbackCredential: credential)
        } else {
            response = try await client.fetch(realm: realm, service: service, scopes: scopes,
                                              credential: sendsCredentials ? credential : .anonymous)
        }
        if let refresh = response.refreshToken, !refresh.isEmpty {
            refreshedIdentityToken = refresh
            credentialCache.removeAll()
        }
        // Leeway: a token is renewed a little before it expires.
        let lifetime = max(1, response.expiresIn ?? 60)
        let leeway = min(30, max(1, lifetime / 10))
        return CachedToken(token: response.token, expires: .now + .seconds(lifetime - leeway))
    }

    /// Whether a token realm may receive the user's credentials (password or identity token).
    ///
    /// An HTTPS realm may, wherever it is: the registry chose it and TLS protects the secret. A plain-HTTP realm
    /// may only when the user has given leave for plain HTTP everywhere (`PlainHTTPPolicy.allowed`), or when the
    /// registry itself is spoken to over plain HTTP (the secret would travel in clear to it anyway) and the realm
    /// is the registry's own host or a host the policy lets us reach over HTTP. So an HTTPS registry can never make
    /// the client send a secret in clear text, not to itself and not to a private address it names.
    static func realmMayReceiveCredentials(realm: URL, registryHost: String, registryScheme: String,
                                           policy: PlainHTTPPolicy) -> Bool {
        if realm.scheme?.lowercased() == "https" { return true }
        switch policy {
        case .allowed: return true
        case .never: return false
        case .privateHostsOnly:
            guard registryScheme == "http" else { return false }
            let realmHost = (realm.host ?? "").lowercased()
            if realmHost == HostClassifier.hostOnly(registryHost).lowercased() { return true }
            return HostClassifier.allowsPlainHTTPByDefault(realmHost)
        }
    }

    func counters() -> (pings: Int, tokens: Int) { (pingCount, tokenFetchCount) }

    /// Makes every request to this host wait `delay` (the longest announced hold wins).
    func hold(for delay: Duration) {
        let until = ContinuousClock.now + delay
        if let current = holdUntil, current >= until { return }
        holdUntil = until
    }

    /// How long a new request must still wait, if at all.
    func pendingHold() -> Duration? {
        guard let until = holdUntil else { return nil }
        let left = until - .now
        if left <= .zero { holdUntil = nil; return nil }
        return left
    }
}

/// Reads at most `limit` bytes of a body. Past the limit it stops reading (the connection is dropped), so an
/// endless body costs no more than the limit. A read failure (timeout, cut connection) is a transport error.
func readLimited(_ body: HTTPClientResponse.Body, limit: Int, host: String = "registry") async throws -> [UInt8] {
    var out: [UInt8] = []
    do {
        for try await var chunk in body {
            let take = min(limit - out.count, chunk.readableBytes)
            if take > 0, let bytes = chunk.readBytes(length: take) { out.append(contentsOf: bytes) }
            if chunk.readableBytes > 0 || out.count >= limit { break }
        }
    } catch is CancellationError {
        throw CancellationError()
    } catch {
        throw HTTPTransport.classify(error, host: host)
    }
    return out
}

/// The start of a body as text, for error messages.
func snippet(_ body: [UInt8]) -> String? {
    guard !body.isEmpty else { return nil }
    let text = String(decoding: body.prefix(200), as: UTF8.self)
        .replacingOccurrences(of: "\n", with: " ").trimmingCharacters(in: .whitespaces)
    return text.isEmpty ? nil : text
}
