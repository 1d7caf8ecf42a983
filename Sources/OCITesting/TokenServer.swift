import Crypto
import Foundation
import OCISync

/// An in-process Docker-style token server ("token auth", as used by Docker Hub) that distribution 2.8 accepts.
///
/// Tokens are ES256 JWTs (raw r‖s signature) whose header carries the signing certificate in `x5c`; point the
/// registry's `auth.token.rootcertbundle` at ``certificatePath`` and its `realm`/`service`/`issuer` at ``realm``,
/// ``service`` and ``issuer``. ``TestRegistry`` in `.token` mode does all of this.
///
/// Endpoints (on ``url``):
/// * `GET /token?service=S&scope=A&scope=B[&offline_token=true]`, optional Basic auth.
/// * `POST /token`, form-encoded OAuth2: `grant_type=password` (`username`, `password`, `service`, `scope`,
///   `client_id`, optional `access_type=offline` for a refresh token) or `grant_type=refresh_token`.
///
/// The grant is the requested actions ∩ the user's allowed actions for each scope; `*` allows everything
/// (including `registry:catalog:*`); requests without credentials get ``Options/anonymousActions``.
public final class TokenServer: Sendable {
    /// A user the token server knows.
    public struct User: Sendable, Equatable {
        public var name: String
        public var password: String
        /// Actions this user may receive on any repository: e.g. `["pull"]`, `["pull","push","delete"]`, or `["*"]`
        /// for everything. `"catalog"` additionally allows `registry:catalog:*`.
        public var actions: [String]
        /// Per-repository overrides: repository name → allowed actions (takes precedence over ``actions``).
        public var repositoryActions: [String: [String]]

        public init(_ name: String, password: String, actions: [String], repositoryActions: [String: [String]] = [:]) {
            self.name = name
            self.password = password
            self.actions = actions
            self.repositoryActions = repositoryActions
        }
    }

    /// Configuration of a token server.
    public struct Options: Sendable {
        /// The `service` (JWT `aud`) the registry is configured with.
        public var service: String = "oci-test-registry"
        /// The JWT `iss`.
        public var issuer: String = "oci-test-token-issuer"
        /// Known users. Default: `testuser` with `*` and `reader` with `pull`, each with a random password made
        /// when the options are created (read them back from here).
        public var users: [User] = [
            User("testuser", password: TestRegistry.randomPassword(), actions: ["*"]),
            User("reader", password: TestRegistry.randomPassword(), actions: ["pull"]),
        ]
        /// Actions granted to requests without credentials (default `["pull"]`; `[]` → empty access).
        public var anonymousActions: [String] = ["pull"]
        /// Token lifetime in seconds (`expires_in`, JWT `exp`). Registry 2.8 allows 60 s leeway, so an "already
        /// expired" token needs a value ≤ -61.
        public var tokenTTL: Int = 300
        /// When `false`, `POST` to the token path answers 404 (to test the GET fallback).
        public var postTokenEnabled: Bool = true
        /// The HTTP path of the token endpoint.
        public var path: String = "/token"
        /// Realm name in the `WWW-Authenticate: Basic` challenge sent for wrong credentials.
        public var basicRealm: String = "oci-test-token"
        /// Where the signing key and certificate are written; `nil` → a private temp dir removed by ``stop()``.
        public var directory: String? = nil
        /// The openssl CLI used to create the signing key and certificate.
        public var openssl: String = "openssl"

        public init() {}
    }

    /// Counters for assertions about token traffic (e.g. that a client caches tokens).
    public struct Stats: Sendable, Equatable {
        /// Requests to the token path (any method, including failures and 404s for a disabled POST).
        public var tokenRequests = 0
        /// Tokens handed out.
        public var tokensIssued = 0
        /// Requests rejected for bad credentials or unknown refresh tokens.
        public var authFailures = 0
        /// Tokens issued per user name; anonymous is `""`.
        public var byUser: [String: Int] = [:]
        /// Requests per HTTP method (`GET`, `POST`).
        public var byMethod: [String: Int] = [:]
        /// POST requests per `grant_type` (`password`, `refresh_token`, …).
        public var byGrantType: [String: Int] = [:]
        /// Every requested scope string, in arrival order (space-separated values are split).
        public var scopes: [String] = []

        public init() {}
    }

    /// One entry of a token's `access` claim.
    public struct Access: Sendable, Equatable {
        public var type: String
        public var `class`: String?
        public var name: String
        public var actions: [String]

        public init(type: String, class: String? = nil, name: String, actions: [String]) {
            self.type = type
            self.class = `class`
            self.name = name
            self.actions = actions
        }
    }

    /// The listening port.
    public let port: Int
    /// `127.0.0.1:PORT`.
    public let host: String
    /// The token endpoint, e.g. `http://127.0.0.1:PORT/token`.
    public let url: URL
    /// ``url`` as a string: the registry's `auth.token.realm`.
    public let realm: String
    /// The registry `service` name (JWT `aud`).
    public let service: String
    /// The JWT issuer.
    public let issuer: String
    /// PEM file of the self-signed signing certificate: the registry's `auth.token.rootcertbundle`.
    public let certificatePath: String
    /// PEM file of the signing key (P-256).
    public let privateKeyPath: String

    private let server: LoopbackHTTPServer
    private let logic: TokenLogic
    private let ownedDirectory: String?

    private init(server: LoopbackHTTPServer, logic: TokenLogic, options: Options, certificatePath: String,
                 privateKeyPath: String, ownedDirectory: String?) {
        self.server = server
        self.logic = logic
        self.port = server.port
        self.host = "127.0.0.1:\(server.port)"
        self.realm = "http://127.0.0.1:\(server.port)\(options.path)"
        self.url = URL(string: "http://127.0.0.1:\(server.port)\(options.path)") ?? URL(fileURLWithPath: "/")
        self.service = options.service
        self.issuer = options.issuer
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
        self.ownedDirectory = ownedDirectory
    }

    /// Generates a signing key and certificate (openssl CLI) and starts serving on 127.0.0.1 with a free port.
    public static func start(_ options: Options = .init()) async throws -> TokenServer {
        let owned = options.directory == nil
        let directory = try options.directory ?? FileSupport.makeTemporaryDirectory(prefix: "oci-token-server")
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let keyPath = directory + "/token-signing.key"
            let certPath = directory + "/token-signing.crt"
            try await Tool.check(options.openssl, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", keyPath])
            try await Tool.check(options.openssl, ["req", "-new", "-x509", "-sha256", "-key", keyPath, "-out", certPath,
                                                   "-days", "3650", "-subj", "/CN=oci-test-token-signer"])
            let keyPEM = try String(contentsOfFile: keyPath, encoding: .utf8)
            let certPEM = try String(contentsOfFile: certPath, encoding: .utf8)
            let key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
            guard let certDER = PEM.firstBlock(certPEM, type: "CERTIFICATE") else {
                throw OCITestingError("no certificate in \(certPath)")
            }
            let logic = TokenLogic(options: options, key: key, x5c: [Base64.standard(certDER)])
            let server = try await LoopbackHTTPServer.start(handler: { request in
                await logic.handle(request)
            })
            return TokenServer(server: server, logic: logic, options: options, certificatePath: certPath,
                               privateKeyPath: keyPath, ownedDirectory: owned ? directory : nil)
        } catch {
            if owned { FileSupport.removeQuietly(directory) }
            throw error
        }
    }

    /// A snapshot of the counters.
    public func stats() -> Stats {
        logic.state.withLock { $0.stats }
    }

    /// Zeroes the counters (refresh tokens stay valid).
    public func resetStats() {
        logic.state.withLock { $0.stats = Stats() }
    }

    /// Switches `POST` token requests on (default) or off (→ 404) at run time.
    public func setPostTokenEnabled(_ enabled: Bool) {
        logic.state.withLock { $0.postEnabled = enabled }
    }

    /// Changes the lifetime (seconds) of tokens issued from now on.
    public func setTokenTTL(_ seconds: Int) {
        logic.state.withLock { $0.ttl = seconds }
    }

    /// Changes the actions granted to anonymous requests from now on.
    public func setAnonymousActions(_ actions: [String]) {
        logic.state.withLock { $0.anonymousActions = actions }
    }

    /// Forgets all refresh tokens handed out so far (they then get 401).
    public func revokeRefreshTokens() {
        logic.state.withLock { $0.refreshTokens.removeAll() }
    }

    /// Signs a token directly (no HTTP, no statistics) with exactly the given access claims; `subject` `""` is
    /// anonymous. `ttl` defaults to the current token TTL.
    public func makeToken(subject: String, access: [Access], ttl: Int? = nil) throws -> String {
        try logic.sign(subject: subject, access: access, ttl: ttl ?? logic.state.withLock { $0.ttl })
    }

    /// The access a request by `user` (`nil` = anonymous) for `scopes` would be granted.
    public func grant(user: String?, scopes: [String]) -> [Access] {
        logic.grant(user: user ?? "", allowed: logic.allowedActions(user: user), scopes: scopes)
    }

    /// Stops serving and removes the key material if the server created its own directory. Idempotent.
    public func stop() async {
        await server.stop()
        if let ownedDirectory {
            FileSupport.removeQuietly(ownedDirectory)
        }
    }
}

enum PEM {
    /// The DER bytes of the first PEM block of `type`.
    static func firstBlock(_ pem: String, type: String) -> [UInt8]? {
        blocks(pem, type: type).first
    }

    static func blocks(_ pem: String, type: String) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var current = ""
        var inside = false
        for line in pem.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed == "-----BEGIN \(type)-----" {
                inside = true
                current = ""
            } else if trimmed == "-----END \(type)-----" {
                inside = false
                if let data = Data(base64Encoded: current) { out.append(Array(data)) }
            } else if inside {
                current += trimmed
            }
        }
        return out
    }
}

/// The token endpoint's behaviour and state.
final class TokenLogic: Sendable {
    struct MutableState {
        var stats = TokenServer.Stats()
        var refreshTokens: [String: String] = [:]  // refresh token → user
        var postEnabled: Bool
        var ttl: Int
        var anonymousActions: [String]
    }

    let options: TokenServer.Options
    /// The signing key's raw scalar (the key type itself is not Sendable).
    let keyBytes: Data
    let x5c: [String]
    let state: Locked<MutableState>

    init(options: TokenServer.Options, key: P256.Signing.PrivateKey, x5c: [String]) {
        self.options = options
        self.keyBytes = key.rawRepresentation
        self.x5c = x5c
        self.state = Locked(MutableState(postEnabled: options.postTokenEnabled, ttl: options.tokenTTL,
                                         anonymousActions: options.anonymousActions))
    }

    func handle(_ request: FakeRequest) async -> FakeResponse {
        guard request.path == options.path else {
            return .registryError(404, code: "NOT_FOUND", message: "no such endpoint: \(request.path)")
        }
        let method = request.method.uppercased()
        let postEnabled = state.withLock { s -> Bool in
            s.stats.tokenRequests += 1
            s.stats.byMethod[method, default: 0] += 1
            return s.postEnabled
        }
        switch method {
        case "GET":
            return handleGet(request)
        case "POST":
            guard postEnabled else {
                return .registryError(404, code: "NOT_FOUND", message: "POST token requests are disabled")
            }
            return handlePost(request)
        default:
            return FakeResponse.registryError(405, code: "UNSUPPORTED", message: "method not allowed",
                                              headers: ["Allow": "GET, POST"])
        }
    }

    private func handleGet(_ request: FakeRequest) -> FakeResponse {
        let scopes = request.queryValues("scope").flatMap(splitScopes)
        let service = request.queryValue("service") ?? ""
        var user = ""
        if let authorization = request.headers["Authorization"] {
            guard let (name, password) = basicCredentials(authorization), checkPassword(name, password) else {
                return unauthorized("invalid username/password", scopes: scopes)
            }
            user = name
        }
        let offline = request.queryValue("offline_token") == "true" && !user.isEmpty
        return issue(user: user, scopes: scopes, service: service, refreshToken: offline ? newRefreshToken(for: user) : nil)
    }

    private func handlePost(_ request: FakeRequest) -> FakeResponse {
        let form = formDecode(Substring(request.bodyText))
        func field(_ name: String) -> String { form.first { $0.name == name }?.value ?? "" }
        let scopes = form.filter { $0.name == "scope" }.flatMap { splitScopes($0.value) }
        let grantType = field("grant_type")
        state.withLock { $0.stats.byGrantType[grantType, default: 0] += 1 }
        switch grantType {
        case "password":
            let name = field("username")
            guard checkPassword(name, field("password")) else {
                return unauthorized("invalid username/password", scopes: scopes)
            }
            let refresh = field("access_type") == "offline" ? newRefreshToken(for: name) : nil
            return issue(user: name, scopes: scopes, service: field("service"), refreshToken: refresh)
        case "refresh_token":
            let token = field("refresh_token")
            guard let name = state.withLock({ $0.refreshTokens[token] }),
                  options.users.contains(where: { $0.name == name }) else {
                return unauthorized("invalid refresh token", scopes: scopes)
            }
            return issue(user: name, scopes: scopes, service: field("service"), refreshToken: token)
        default:
            return .json(400, "{\"error\":\"unsupported_grant_type\",\"error_description\":\(jsonQuoted("unsupported grant_type \(grantType)"))}")
        }
    }

    private func unauthorized(_ message: String, scopes: [String]) -> FakeResponse {
        state.withLock {
            $0.stats.authFailures += 1
            $0.stats.scopes.append(contentsOf: scopes)
        }
        return .registryError(401, code: "UNAUTHORIZED", message: message,
                              headers: ["WWW-Authenticate": "Basic realm=\(jsonQuoted(options.basicRealm))"])
    }

    private func newRefreshToken(for user: String) -> String {
        let token = randomHex(24)
        state.withLock { $0.refreshTokens[token] = user }
        return token
    }

    private func issue(user: String, scopes: [String], service: String, refreshToken: String?) -> FakeResponse {
        if !service.isEmpty && service != options.service {
            state.withLock { $0.stats.scopes.append(contentsOf: scopes) }
            return .registryError(400, code: "DENIED", message: "unknown service \(service)")
        }
        let ttl = state.withLock { $0.ttl }
        let access = grant(user: user, allowed: allowedActions(user: user.isEmpty ? nil : user), scopes: scopes)
        let now = Int(Date().timeIntervalSince1970)
        let token: String
        do {
            token = try sign(subject: user, access: access, ttl: ttl, now: now)
        } catch {
            return .registryError(500, code: "UNKNOWN", message: "signing failed: \(error)")
        }
        state.withLock {
            $0.stats.tokensIssued += 1
            $0.stats.byUser[user, default: 0] += 1
            $0.stats.scopes.append(contentsOf: scopes)
        }
        var body = "{\"token\":\(jsonQuoted(token)),\"access_token\":\(jsonQuoted(token)),\"expires_in\":\(ttl),"
        body += "\"issued_at\":\(jsonQuoted(rfc3339(now)))"
        if let refreshToken {
            body += ",\"refresh_token\":\(jsonQuoted(refreshToken))"
        }
        body += "}"
        return .json(200, body)
    }

    func allowedActions(user: String?) -> (global: Set<String>, perRepository: [String: Set<String>]) {
        guard let user, let entry = options.users.first(where: { $0.name == user }) else {
            return (Set(state.withLock { $0.anonymousActions }), [:])
        }
        return (Set(entry.actions), entry.repositoryActions.mapValues { Set($0) })
    }

    func grant(user: String, allowed: (global: Set<String>, perRepository: [String: Set<String>]),
               scopes: [String]) -> [TokenServer.Access] {
        var result: [TokenServer.Access] = []
        for scope in scopes {
            guard let parsed = parseScope(scope) else { continue }
            let permitted = parsed.type == "repository" ? (allowed.perRepository[parsed.name] ?? allowed.global)
                                                        : allowed.global
            let granted: [String]
            if permitted.contains("*") {
                granted = parsed.actions
            } else if parsed.type == "registry" {
                granted = permitted.contains("catalog") ? parsed.actions : parsed.actions.filter { permitted.contains($0) }
            } else {
                granted = parsed.actions.filter { permitted.contains($0) }
            }
            guard !granted.isEmpty else { continue }
            if let index = result.firstIndex(where: { $0.type == parsed.type && $0.name == parsed.name && $0.class == parsed.class }) {
                for action in granted where !result[index].actions.contains(action) {
                    result[index].actions.append(action)
                }
            } else {
                result.append(TokenServer.Access(type: parsed.type, class: parsed.class, name: parsed.name, actions: granted))
            }
        }
        return result
    }

    func sign(subject: String, access: [TokenServer.Access], ttl: Int, now: Int = Int(Date().timeIntervalSince1970)) throws -> String {
        let header = "{\"typ\":\"JWT\",\"alg\":\"ES256\",\"x5c\":[\(x5c.map(jsonQuoted).joined(separator: ","))]}"
        let accessJSON = access.map { entry -> String in
            var fields = "\"type\":\(jsonQuoted(entry.type))"
            if let klass = entry.class { fields += ",\"class\":\(jsonQuoted(klass))" }
            fields += ",\"name\":\(jsonQuoted(entry.name)),\"actions\":[\(entry.actions.map(jsonQuoted).joined(separator: ","))]"
            return "{\(fields)}"
        }.joined(separator: ",")
        var claims = "{\"iss\":\(jsonQuoted(options.issuer)),\"sub\":\(jsonQuoted(subject)),\"aud\":\(jsonQuoted(options.service)),"
        claims += "\"exp\":\(now + ttl),\"nbf\":\(now - 1),\"iat\":\(now),\"jti\":\(jsonQuoted(randomHex(16))),"
        claims += "\"access\":[\(accessJSON)]}"
        let signingInput = Base64.url(Array(header.utf8)) + "." + Base64.url(Array(claims.utf8))
        let key = try P256.Signing.PrivateKey(rawRepresentation: keyBytes)
        let signature = try key.signature(for: Data(signingInput.utf8))
        return signingInput + "." + Base64.url(Array(signature.rawRepresentation))
    }

    private func checkPassword(_ user: String, _ password: String) -> Bool {
        options.users.contains { $0.name == user && $0.password == password }
    }
}

/// Splits a scope value that may hold several space-separated scopes.
func splitScopes(_ value: String) -> [String] {
    value.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
}

/// Parses `type[(class)]:name:actions`; the name may contain `:` (e.g. `host:port/repo`).
func parseScope(_ scope: String) -> (type: String, class: String?, name: String, actions: [String])? {
    guard let first = scope.firstIndex(of: ":"), let last = scope.lastIndex(of: ":"), first < last else { return nil }
    var type = String(scope[..<first])
    let name = String(scope[scope.index(after: first)..<last])
    let actions = scope[scope.index(after: last)...].split(separator: ",").map(String.init).filter { !$0.isEmpty }
    var klass: String?
    if let open = type.firstIndex(of: "("), type.hasSuffix(")") {
        klass = String(type[type.index(after: open)..<type.index(before: type.endIndex)])
        type = String(type[..<open])
    }
    return (type, klass, name, actions)
}

/// `user:password` from a `Basic` Authorization header.
func basicCredentials(_ header: String) -> (String, String)? {
    let parts = header.split(separator: " ", maxSplits: 1)
    guard parts.count == 2, parts[0].lowercased() == "basic",
          let data = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)) else { return nil }
    let text = String(decoding: data, as: UTF8.self)
    guard let colon = text.firstIndex(of: ":") else { return nil }
    return (String(text[..<colon]), String(text[text.index(after: colon)...]))
}

func rfc3339(_ seconds: Int) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
}
