import OCISpec

/// One entry of a registry's error body (`{"errors":[{"code","message","detail"}]}`).
public struct RegistryErrorDetail: Sendable, Hashable, Codable, CustomStringConvertible {
    public var code: String
    public var message: String?
    public var detail: JSONValue?

    public var description: String {
        var s = code
        if let message, !message.isEmpty { s += ": \(message)" }
        if let detail, detail != .null, let text = try? JSONCoding.encode(detail),
           let str = String(bytes: text, encoding: .utf8) {
            s += " (detail: \(str.prefix(200)))"
        }
        return s
    }

    /// Decodes a distribution error body; nil when the body is not one.
    static func decodeList(_ body: [UInt8]) -> [RegistryErrorDetail]? {
        struct Envelope: Decodable { var errors: [RegistryErrorDetail]? }
        guard !body.isEmpty, let env = try? JSONCoding.decode(Envelope.self, from: body), let errors = env.errors,
              !errors.isEmpty else { return nil }
        return errors
    }
}

/// Errors of the registry client. Each says what failed, with what, and what to do.
public enum RegistryError: Error, Sendable, CustomStringConvertible {
    /// The registry answered with an error status. `errors` holds its decoded error body; `bodySnippet` the start
    /// of a body that was not a distribution error document.
    case registry(operation: String, target: String, status: Int, errors: [RegistryErrorDetail], bodySnippet: String?)
    /// The manifest, blob, tag or repository does not exist. `status` is the HTTP status that said so (404).
    case notFound(operation: String, target: String, status: Int = 404, errors: [RegistryErrorDetail])
    /// Credentials are missing or were refused (401).
    case unauthorized(operation: String, target: String, status: Int = 401, errors: [RegistryErrorDetail])
    /// The credentials are valid but lack the rights: a 403, or a 401 for a token without the requested actions
    /// (`insufficient_scope`, or the registry's `DENIED` code); `status` tells which.
    case denied(operation: String, target: String, status: Int = 403, errors: [RegistryErrorDetail])
    /// The registry could not be reached.
    case transport(host: String, underlying: String)
    /// TLS failed: an untrusted certificate, a name mismatch or a handshake failure.
    case tls(host: String, underlying: String)
    /// The host answers only over plain HTTP, which is not allowed for it.
    case plainHTTPNotAllowed(host: String)
    /// The registry's answer breaks the protocol.
    case invalidResponse(operation: String, target: String, why: String)
    /// A redirect or upload location tried to leave HTTPS, loop, or go on too long.
    case unsafeRedirect(from: String, to: String, why: String)
    /// The token service refused or failed.
    case tokenService(realm: String, status: Int?, why: String)
    /// The manifest is larger than the 4 MiB limit.
    case manifestTooLarge(target: String, size: Int64)
    /// The operation needs something the caller did not give.
    case invalidArgument(String)
    /// The registry is blocked by the per-registry settings (`blocked = true` in registries.conf `origin`).
    case blocked(registry: String, origin: String)
    /// The forward proxy refused or failed the request (a 407 asks for proxy credentials).
    case proxy(proxy: String, target: String, why: String)

    public var description: String {
        func list(_ e: [RegistryErrorDetail]) -> String { e.isEmpty ? "" : ": " + e.map(\.description).joined(separator: "; ") }
        switch self {
        case .registry(let op, let target, let status, let errors, let snippet):
            var s = "\(op) \(target) failed with status code \(status)\(list(errors))"
            if errors.isEmpty, let snippet, !snippet.isEmpty { s += ": \(snippet)" }
            return s
        case .notFound(let op, let target, let status, let errors):
            return "\(op) \(target): not found (status code \(status))\(list(errors))"
        case .unauthorized(let op, let target, let status, let errors):
            return "\(op) \(target): unauthorized (status code \(status))\(list(errors)); "
                + "check the credentials configured for this registry"
        case .denied(let op, let target, let status, let errors):
            return "\(op) \(target): denied: requested access to the resource is denied (status code \(status))"
                + "\(list(errors)); the credentials lack the rights for this"
        case .transport(let host, let why):
            return "cannot reach registry \(host): \(why)"
        case .tls(let host, let why):
            return "TLS with \(host) failed: \(why); trust the registry's CA in the client's TLS configuration"
        case .plainHTTPNotAllowed(let host):
            return "registry \(host) does not answer over HTTPS, and the plain-HTTP policy does not allow HTTP for it"
        case .invalidResponse(let op, let target, let why):
            return "\(op) \(target): invalid response from registry: \(why)"
        case .unsafeRedirect(let from, let to, let why):
            return "refused redirect from \(from) to \(to): \(why)"
        case .tokenService(let realm, let status, let why):
            return "token request to \(realm) failed\(status.map { " with status code \($0)" } ?? ""): \(why)"
        case .manifestTooLarge(let target, let size):
            return "manifest \(target) is \(size) bytes, more than the limit of \(ContentLimits.maxManifestBytes)"
        case .invalidArgument(let why):
            return why
        case .blocked(let registry, let origin):
            return "registry \(registry) is blocked by \(origin) (blocked = true); remove the entry or use another registry"
        case .proxy(let proxy, let target, let why):
            return "the proxy \(proxy) failed the request to \(target): \(why)"
        }
    }

    /// The registry's error codes, if any (e.g. `MANIFEST_UNKNOWN`, `DENIED`).
    public var codes: [String] {
        switch self {
        case .registry(_, _, _, let e, _), .notFound(_, _, _, let e), .unauthorized(_, _, _, let e), .denied(_, _, _, let e):
            return e.map(\.code)
        default: return []
        }
    }

    /// The HTTP status the registry (or token service) answered with, when the error comes from one.
    public var statusCode: Int? {
        switch self {
        case .registry(_, _, let status, _, _), .notFound(_, _, let status, _), .unauthorized(_, _, let status, _),
             .denied(_, _, let status, _):
            return status
        case .tokenService(_, let status, _): return status
        default: return nil
        }
    }

    /// True for not-found errors.
    public var isNotFound: Bool {
        if case .notFound = self { return true }
        return false
    }

    /// True when credentials were missing or refused (401).
    public var isUnauthorized: Bool {
        if case .unauthorized = self { return true }
        return false
    }
}

extension RegistryError: OCIError {
    public var kind: OCIErrorKind {
        switch self {
        case .registry(_, _, let status, _, _):
            switch status {
            case 401: return .unauthorized
            case 403: return .denied
            case 404: return .notFound
            case 405, 415, 501: return .unsupported
            case 413: return .tooLarge
            case 400..<500: return .invalidArgument
            default: return .invalidResponse
            }
        case .notFound: return .notFound
        case .unauthorized: return .unauthorized
        case .denied: return .denied
        case .transport, .tls: return .network
        case .plainHTTPNotAllowed, .unsafeRedirect: return .denied
        case .invalidResponse: return .invalidResponse
        case .tokenService(_, let status, _):
            return status == 401 ? .unauthorized : status == 403 ? .denied : .network
        case .manifestTooLarge: return .tooLarge
        case .invalidArgument: return .invalidArgument
        case .blocked: return .denied
        case .proxy: return .network
        }
    }
}
