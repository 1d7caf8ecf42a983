import Foundation
import NIOHTTP1
import OCISync

extension InProcessRegistry {
    /// What a user (or anonymous client) may do in a repository: the actions of Docker token scopes.
    public enum Access: String, Sendable, Hashable, CaseIterable, Codable {
        /// Read manifests, blobs, tags and referrers.
        case pull
        /// Upload blobs (also mounts into the repository) and manifests.
        case push
        /// Delete manifests, tags and blobs.
        case delete
    }

    /// An account of the registry.
    public struct User: Sendable, Hashable {
        /// The login name (Basic auth, the token endpoint).
        public var username: String
        /// The password, kept in clear (a test registry); empty when the account has a `passwordHash`.
        public var password: String
        /// An htpasswd hash (`$2y$…` bcrypt and the other crypt(3) hashes, or `{SHA}…`) checked instead of
        /// `password` when set.
        public var passwordHash: String?
        /// What the user may do in the repositories it can see.
        public var access: Set<Access>
        /// The repositories the user can see: exact names, or prefixes ending in `*` (`team/*`); nil: all.
        /// Only users that see all repositories may list the catalog.
        public var repositories: [String]?

        /// An account; by default with every action in every repository.
        public init(_ username: String, password: String, access: Set<Access> = Set(Access.allCases),
                    repositories: [String]? = nil) {
            self.username = username
            self.password = password
            self.access = access
            self.repositories = repositories
        }

        /// An account from an htpasswd line's hash.
        public init(_ username: String, passwordHash: String, access: Set<Access> = Set(Access.allCases),
                    repositories: [String]? = nil) {
            self.init(username, password: "", access: access, repositories: repositories)
            self.passwordHash = passwordHash
        }

        /// Whether `candidate` is this account's password.
        public func accepts(_ candidate: String) -> Bool {
            guard let passwordHash else { return RegistryAuthority.constantTimeEqual(password, candidate) }
            return Htpasswd.verify(candidate, hash: passwordHash)
        }

        /// Reads an htpasswd file (`htpasswd -B` bcrypt, `-s` SHA-1, or crypt(3) hashes; one `user:hash` per
        /// line, blank lines and `#` comments skipped), each account with `access`. Apache's `$apr1$` MD5 is not
        /// supported: it is refused with the line number, never silently accepted.
        public static func loadHtpasswd(atPath path: String, access: Set<Access> = Set(Access.allCases)) throws -> [User] {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw InProcessRegistryError("cannot read the htpasswd file \(path)")
            }
            var users: [User] = []
            for (number, raw) in String(decoding: data, as: UTF8.self)
                .split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.isEmpty || line.hasPrefix("#") { continue }
                guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                    throw InProcessRegistryError("\(path) line \(number + 1): expected user:hash")
                }
                let hash = String(line[line.index(after: colon)...])
                guard Htpasswd.isSupported(hash) else {
                    throw InProcessRegistryError("\(path) line \(number + 1): unsupported hash; use htpasswd -B (bcrypt) or -s (SHA-1)")
                }
                users.append(User(String(line[..<colon]), passwordHash: hash, access: access))
            }
            return users
        }

        /// Parses a plain `user:password` list, one account per line (blank lines and `#` comments skipped), each
        /// with `access`. This stands in for an htpasswd file without bcrypt: the passwords are stored in clear,
        /// so use it for tests and local serving only.
        public static func parseList(_ text: String, access: Set<Access> = Set(Access.allCases)) throws -> [User] {
            var users: [User] = []
            for (number, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.isEmpty || line.hasPrefix("#") { continue }
                guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                    throw InProcessRegistryError("user list line \(number + 1): expected user:password")
                }
                users.append(User(String(line[..<colon]), password: String(line[line.index(after: colon)...]), access: access))
            }
            return users
        }

        /// Reads a ``parseList(_:access:)`` file.
        public static func loadList(atPath path: String, access: Set<Access> = Set(Access.allCases)) throws -> [User] {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw InProcessRegistryError("cannot read the user list \(path)")
            }
            return try parseList(String(decoding: data, as: UTF8.self), access: access)
        }

        func sees(_ repository: String) -> Bool {
            guard let repositories else { return true }
            return repositories.contains { pattern in
                pattern.hasSuffix("*") ? repository.hasPrefix(pattern.dropLast()) : repository == pattern
            }
        }
    }

    /// How the registry authenticates clients.
    public struct Auth: Sendable {
        /// The challenge scheme.
        public enum Scheme: Sendable, Hashable {
            /// `WWW-Authenticate: Basic`: every request carries the user's password.
            case basic
            /// Docker token auth: `WWW-Authenticate: Bearer realm=…,service=…,scope=…`, with the token endpoint
            /// `/token` served by the registry itself. Tokens are opaque random strings (not JWTs) holding the
            /// granted scopes: the requested actions the user (or anonymous client) has.
            case token
        }

        /// nil: no authentication, everything is allowed.
        public var scheme: Scheme?
        /// The accounts.
        public var users: [User]
        /// What clients without credentials may do (in every repository).
        public var anonymous: Set<Access>
        /// The `service` of the Bearer challenge.
        public var service: String
        /// How long a token is valid.
        public var tokenLifetime: Duration

        /// Authentication with `scheme`; see also ``basic(_:anonymous:)`` and ``token(_:anonymous:service:tokenLifetime:)``.
        public init(scheme: Scheme?, users: [User] = [], anonymous: Set<Access> = [], service: String = "in-process-registry",
                    tokenLifetime: Duration = .seconds(300)) {
            self.scheme = scheme
            self.users = users
            self.anonymous = anonymous
            self.service = service
            self.tokenLifetime = tokenLifetime
        }

        /// No authentication.
        public static var none: Auth { Auth(scheme: nil) }

        /// Basic authentication for `users`; clients without credentials get `anonymous`.
        public static func basic(_ users: [User], anonymous: Set<Access> = []) -> Auth {
            Auth(scheme: .basic, users: users, anonymous: anonymous)
        }

        /// Token authentication for `users`; tokens requested without credentials get `anonymous`.
        public static func token(_ users: [User], anonymous: Set<Access> = [], service: String = "in-process-registry",
                                 tokenLifetime: Duration = .seconds(300)) -> Auth {
            Auth(scheme: .token, users: users, anonymous: anonymous, service: service, tokenLifetime: tokenLifetime)
        }
    }
}

/// What a request needs.
enum RegistryAccessRequirement: Sendable {
    /// Any authenticated client (`GET /v2/`).
    case login
    case repository(String, InProcessRegistry.Access)
    case catalog

    /// The scope a Bearer challenge names (nil for `login`).
    var scope: String? {
        switch self {
        case .login: return nil
        case .catalog: return "registry:catalog:*"
        case .repository(let name, .pull): return "repository:\(name):pull"
        case .repository(let name, .push): return "repository:\(name):pull,push"
        case .repository(let name, .delete): return "repository:\(name):delete"
        }
    }
}

/// Who sent a request, and what it may do.
enum RegistryPrincipal: Sendable {
    /// No authentication configured.
    case everyone
    case anonymous(Set<InProcessRegistry.Access>)
    case user(InProcessRegistry.User)
    case token(RegistryTokenGrant)

    func allows(_ requirement: RegistryAccessRequirement) -> Bool {
        switch (self, requirement) {
        case (.everyone, _): return true
        case (.anonymous(let access), .login): return !access.isEmpty
        case (.anonymous(let access), .repository(_, let action)): return access.contains(action)
        case (.anonymous, .catalog): return false
        case (.user, .login): return true
        case (.user(let user), .repository(let name, let action)): return user.sees(name) && user.access.contains(action)
        case (.user(let user), .catalog): return user.repositories == nil && user.access.contains(.pull)
        case (.token, .login): return true
        case (.token(let grant), .repository(let name, let action)): return grant.repositories[name]?.contains(action) ?? false
        case (.token(let grant), .catalog): return grant.catalog
        }
    }
}

/// The scopes one token grants.
struct RegistryTokenGrant: Sendable {
    var account: String?
    var repositories: [String: Set<InProcessRegistry.Access>]
    var catalog: Bool
    var expires: ContinuousClock.Instant
}

/// Checks credentials and tokens, and serves the token endpoint.
final class RegistryAuthority: Sendable {
    let auth: InProcessRegistry.Auth
    private let tokens = Locked<[String: RegistryTokenGrant]>([:])

    init(_ auth: InProcessRegistry.Auth) {
        self.auth = auth
    }

    static let tokenPath = "/token"

    /// The principal of a request meeting `requirement`, or the 401/403 answer.
    func authorize(_ headers: HTTPHeaders, _ requirement: RegistryAccessRequirement,
                   realmBase: String) -> Result<RegistryPrincipal, RegistryFailure> {
        guard let scheme = auth.scheme else { return .success(.everyone) }
        let authorization = headers.first(name: "authorization")
        switch scheme {
        case .basic:
            let challenge = ("WWW-Authenticate", #"Basic realm="in-process-registry""#)
            guard let authorization else {
                let anonymous = RegistryPrincipal.anonymous(auth.anonymous)
                if anonymous.allows(requirement) { return .success(anonymous) }
                return .failure(RegistryFailure(.unauthorized, headers: [challenge]))
            }
            guard let user = basicUser(authorization) else {
                return .failure(RegistryFailure(.unauthorized, "invalid username or password", headers: [challenge]))
            }
            let principal = RegistryPrincipal.user(user)
            guard principal.allows(requirement) else {
                return .failure(RegistryFailure(.denied, "\(user.username) may not do this"))
            }
            return .success(principal)
        case .token:
            var challenge = #"Bearer realm="\#(realmBase)\#(Self.tokenPath)",service="\#(auth.service)""#
            if let scope = requirement.scope { challenge += #",scope="\#(scope)""# }
            guard let authorization, authorization.lowercased().hasPrefix("bearer ") else {
                return .failure(RegistryFailure(.unauthorized, headers: [("WWW-Authenticate", challenge)]))
            }
            let token = String(authorization.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
            let now = ContinuousClock.now
            guard let grant = tokens.withLock({ $0[token] }), grant.expires > now else {
                return .failure(RegistryFailure(.unauthorized, "invalid or expired token",
                                                headers: [("WWW-Authenticate", challenge + #",error="invalid_token""#)]))
            }
            let principal = RegistryPrincipal.token(grant)
            guard principal.allows(requirement) else {
                return .failure(RegistryFailure(.unauthorized, "the token does not grant \(requirement.scope ?? "access")",
                                                headers: [("WWW-Authenticate", challenge + #",error="insufficient_scope""#)]))
            }
            return .success(principal)
        }
    }

    /// The user named by a `Basic` Authorization header with the right password.
    func basicUser(_ authorization: String) -> InProcessRegistry.User? {
        guard authorization.lowercased().hasPrefix("basic "),
              let data = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)) else {
            return nil
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let name = String(text[..<colon])
        let password = String(text[text.index(after: colon)...])
        return auth.users.first { $0.username == name && $0.accepts(password) }
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }

    // MARK: token endpoint

    /// `GET /token?service=…&scope=…` (Basic credentials or none) and the OAuth2 `POST /token` password grant.
    func tokenResponse(method: HTTPMethod, query: RegistryQuery, headers: HTTPHeaders, form: RegistryQuery?) -> RegistryResponse {
        guard auth.scheme == .token else { return .text(404, "404 page not found\n") }
        var user: InProcessRegistry.User?
        var scopes: [String] = []
        if method == .POST, let form {
            guard form["grant_type"] == "password" else {
                return .json(400, ["error": "unsupported_grant_type"])
            }
            guard let name = form["username"], let password = form["password"],
                  let found = auth.users.first(where: { $0.username == name && $0.accepts(password) }) else {
                return .json(401, ["error": "invalid_grant"])
            }
            user = found
            scopes = form.all("scope").flatMap { $0.split(separator: " ").map(String.init) }
        } else {
            if let authorization = headers.first(name: "authorization") {
                guard let found = basicUser(authorization) else {
                    return RegistryResponse.error(.unauthorized, detail: "invalid username or password")
                }
                user = found
            }
            scopes = query.all("scope").flatMap { $0.split(separator: " ").map(String.init) }
        }
        var grant = RegistryTokenGrant(account: user?.username, repositories: [:], catalog: false,
                               expires: ContinuousClock.now.advanced(by: auth.tokenLifetime))
        let principal: RegistryPrincipal = user.map { .user($0) } ?? .anonymous(auth.anonymous)
        for scope in scopes {
            let parts = scope.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count >= 3 else { continue }
            let type = parts[0]
            let name = parts[1..<(parts.count - 1)].joined(separator: ":")
            let actions = parts[parts.count - 1].split(separator: ",").map(String.init)
            if type == "registry", name == "catalog" {
                if principal.allows(.catalog) { grant.catalog = true }
                continue
            }
            guard type == "repository", RegistryGrammar.isValidName(name) else { continue }
            var wanted = Set(actions.compactMap { InProcessRegistry.Access(rawValue: $0) })
            if actions.contains("*") { wanted = Set(InProcessRegistry.Access.allCases) }
            let granted = wanted.filter { principal.allows(.repository(name, $0)) }
            grant.repositories[name, default: []].formUnion(granted)
        }
        let token = Self.randomToken()
        let now = ContinuousClock.now
        tokens.withLock { tokens in
            tokens = tokens.filter { $0.value.expires > now }
            tokens[token] = grant
        }
        let seconds = auth.tokenLifetime.components.seconds
        let issued = ISO8601DateFormatter().string(from: Date())
        return .json(200, ["token": token, "access_token": token, "expires_in": seconds, "issued_at": issued])
    }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<4 {
            var word = generator.next()
            for _ in 0..<8 {
                bytes.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        return CheckedDigest.hexString(bytes)
    }
}
