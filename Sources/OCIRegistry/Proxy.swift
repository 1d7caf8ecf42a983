import Foundation

extension RegistryClient.Configuration {
/// Which forward proxy each request goes through: one for `https://` URLs (through `CONNECT`), one for `http://`
/// URLs, and the hosts that go direct. Every request of the client is routed by its own URL, so token realms and
/// blob-storage redirects (other hosts than the registry) take the proxy too, unless ``noProxy`` names them.
///
/// Proxy URLs are `http://[user:password@]host[:port]` (a missing scheme means `http://`, a missing port 1080 for
/// SOCKS and 3128 otherwise, as curl has it) or `socks5://host[:port]`. Credentials in a proxy URL go to the proxy
/// only (`Proxy-Authorization` on the proxy's connection), never to a registry, and are never logged.
///
/// Loopback hosts (`localhost`, `*.localhost`, `127.0.0.0/8`, `::1`) are never proxied unless ``proxiesLoopback``
/// is set: that is Go's `net/http` rule (curl proxies them unless `NO_PROXY` names them). See docs/network.md.
public struct Proxy: Sendable, Hashable {
    /// The proxy for `https://` requests; nil: direct.
    public var httpsProxy: String?
    /// The proxy for `http://` requests; nil: direct.
    public var httpProxy: String?
    /// Hosts that go direct, comma separated as in `NO_PROXY`: `*` (everything), host names (`example.com` matches
    /// it and its subdomains, as does `.example.com`; `*.example.com` the same), IP addresses, CIDR ranges
    /// (`10.0.0.0/8`, `fd00::/8`), each optionally with a port (`registry.local:5000`, `[::1]:5000`), which then
    /// matches that port only.
    public var noProxy: String
    /// Whether loopback hosts are proxied too (off: they always go direct, as in Go).
    public var proxiesLoopback: Bool

    public init(httpsProxy: String? = nil, httpProxy: String? = nil, noProxy: String = "", proxiesLoopback: Bool = false) {
        self.httpsProxy = Self.nonEmpty(httpsProxy)
        self.httpProxy = Self.nonEmpty(httpProxy)
        self.noProxy = noProxy
        self.proxiesLoopback = proxiesLoopback
    }

    /// One proxy for both schemes (ocictl's `--proxy URL`).
    public init(url: String, noProxy: String = "", proxiesLoopback: Bool = false) {
        self.init(httpsProxy: url, httpProxy: url, noProxy: noProxy, proxiesLoopback: proxiesLoopback)
    }

    /// No proxy: every request goes direct (the default of a configuration).
    public static let none = Proxy()

    /// The proxies the environment names: `https_proxy`/`HTTPS_PROXY` for HTTPS, `http_proxy`/`HTTP_PROXY` for HTTP,
    /// `all_proxy`/`ALL_PROXY` for either when its own variable is unset, `no_proxy`/`NO_PROXY` for the exceptions.
    /// The lower-case name wins when both are set, as in curl. Empty values count as unset.
    public static func environment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Proxy {
        func value(_ name: String) -> String? {
            nonEmpty(environment[name.lowercased()]) ?? nonEmpty(environment[name.uppercased()])
        }
        let all = value("all_proxy")
        return Proxy(httpsProxy: value("https_proxy") ?? all, httpProxy: value("http_proxy") ?? all,
                     noProxy: value("no_proxy") ?? "")
    }

    /// Whether any proxy is set.
    public var isEnabled: Bool { httpsProxy != nil || httpProxy != nil }

    /// The proxy URL a request to `url` goes through, nil when it goes direct (the routing decision, for
    /// diagnostics and tests; credentials are removed).
    public func proxy(for url: URL) -> String? {
        guard let raw = rawProxy(for: url) else { return nil }
        return (try? ProxyServer(parsing: raw))?.redacted ?? "(invalid proxy URL)"
    }

    func rawProxy(for url: URL) -> String? {
        let scheme = url.scheme?.lowercased() ?? "https"
        guard let chosen = scheme == "http" ? httpProxy : httpsProxy else { return nil }
        let host = (url.host ?? "").lowercased()
        let port = url.port ?? (scheme == "http" ? 80 : 443)
        if !proxiesLoopback, Self.isLoopback(host) { return nil }
        if NoProxyRule.parse(noProxy).contains(where: { $0.matches(host: host, port: port) }) { return nil }
        return chosen
    }

    /// Parses both proxy URLs (at client creation), so that a wrong one fails at once with a clear error.
    func servers() throws(RegistryError) -> (https: ProxyServer?, http: ProxyServer?) {
        (try httpsProxy.map { url throws(RegistryError) in try ProxyServer(parsing: url) },
         try httpProxy.map { url throws(RegistryError) in try ProxyServer(parsing: url) })
    }

    static func isLoopback(_ host: String) -> Bool {
        let h = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if h == "localhost" || h.hasSuffix(".localhost") || h == "::1" { return true }
        if let v4 = IPAddress.v4(h) { return v4[0] == 127 }
        if let v6 = IPAddress.v6(h) { return v6 == [UInt8](repeating: 0, count: 15) + [1] }
        return false
    }

    static func nonEmpty(_ value: String?) -> String? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }
}
}

extension RegistryClient.Configuration.Proxy: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The settings with proxy credentials replaced by `***`: printing a configuration never shows a password.
    public var description: String {
        func show(_ url: String?) -> String { url.map { ProxyServer.redact($0) } ?? "direct" }
        return "Proxy(https: \(show(httpsProxy)), http: \(show(httpProxy)), noProxy: \(String(reflecting: noProxy)), proxiesLoopback: \(proxiesLoopback))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: [
            "httpsProxy": httpsProxy.map { ProxyServer.redact($0) } as Any,
            "httpProxy": httpProxy.map { ProxyServer.redact($0) } as Any,
            "noProxy": noProxy,
            "proxiesLoopback": proxiesLoopback,
        ], displayStyle: .struct)
    }
}

/// A proxy server parsed from its URL.
struct ProxyServer: Sendable, Hashable {
    enum Kind: Sendable, Hashable { case http, socks }
    var kind: Kind
    var host: String
    var port: Int
    var username: String?
    var password: String?

    /// The URL without credentials, for logs and errors.
    var redacted: String {
        let scheme = kind == .socks ? "socks5" : "http"
        let h = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(username != nil ? "***@" : "")\(h):\(port)"
    }

    init(parsing text: String) throws(RegistryError) {
        var value = text.trimmingCharacters(in: .whitespaces)
        if !value.contains("://") { value = "http://" + value }
        guard let components = URLComponents(string: value), let scheme = components.scheme?.lowercased(),
              let host = components.host, !host.isEmpty else {
            throw .invalidArgument("the proxy URL \(Self.redact(text)) is not a URL; give http://[user:password@]host:port")
        }
        switch scheme {
        case "http": kind = .http
        case "socks5", "socks5h", "socks": kind = .socks
        case "https":
            throw .invalidArgument("the proxy \(Self.redact(text)) asks for TLS to the proxy (https://), which is not supported; give an http:// proxy (HTTPS requests still go through it encrypted, by CONNECT)")
        default:
            throw .invalidArgument("the proxy \(Self.redact(text)) has the unsupported scheme \(scheme); give http:// or socks5://")
        }
        self.host = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        self.port = components.port ?? (kind == .socks ? 1080 : 3128)
        self.username = components.percentEncodedUser.map { $0.removingPercentEncoding ?? $0 }
        self.password = components.percentEncodedPassword.map { $0.removingPercentEncoding ?? $0 }
        if kind == .socks, username != nil {
            throw .invalidArgument("the SOCKS proxy \(redacted) has credentials, which are not supported for SOCKS; use an HTTP proxy")
        }
    }

    /// A proxy URL with any credentials replaced, for messages about URLs that did not parse.
    static func redact(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@") else { return text }
        let start = text.range(of: "://")?.upperBound ?? text.startIndex
        guard start <= at else { return text }
        return String(text[..<start]) + "***" + String(text[at...])
    }
}

/// One entry of `NO_PROXY`.
struct NoProxyRule: Sendable, Hashable {
    enum Pattern: Sendable, Hashable {
        case everything
        case domain(String)
        case address([UInt8])
        case network([UInt8], prefix: Int)
    }
    var pattern: Pattern
    var port: Int?

    static func parse(_ list: String) -> [NoProxyRule] {
        list.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { parse(entry: String($0)) }
    }

    static func parse(entry raw: String) -> NoProxyRule? {
        var text = raw.trimmingCharacters(in: .whitespaces).lowercased()
        guard !text.isEmpty else { return nil }
        if text == "*" { return NoProxyRule(pattern: .everything, port: nil) }
        // CIDR first: its '/' and an IPv6 range's ':' must not be read as a port.
        if let slash = text.firstIndex(of: "/") {
            let address = String(text[..<slash]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            guard let bits = Int(text[text.index(after: slash)...]), let bytes = IPAddress.bytes(address),
                  bits >= 0, bits <= bytes.count * 8 else { return nil }
            return NoProxyRule(pattern: .network(bytes, prefix: bits), port: nil)
        }
        if let bytes = IPAddress.bytes(text) { return NoProxyRule(pattern: .address(bytes), port: nil) }
        var port: Int?
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            let inside = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") { port = Int(rest.dropFirst()) }
            guard let bytes = IPAddress.bytes(inside) else { return nil }
            return NoProxyRule(pattern: .address(bytes), port: port)
        }
        if let colon = text.lastIndex(of: ":"), let p = Int(text[text.index(after: colon)...]) {
            port = p
            text = String(text[..<colon])
        }
        if let bytes = IPAddress.bytes(text) { return NoProxyRule(pattern: .address(bytes), port: port) }
        if text.hasPrefix("*.") { text.removeFirst(2) } else if text.hasPrefix(".") { text.removeFirst() }
        guard !text.isEmpty else { return nil }
        return NoProxyRule(pattern: .domain(text), port: port)
    }

    func matches(host rawHost: String, port requestPort: Int) -> Bool {
        if let port, port != requestPort { return false }
        let host = rawHost.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        switch pattern {
        case .everything: return true
        case .domain(let domain): return host == domain || host.hasSuffix("." + domain)
        case .address(let bytes): return IPAddress.bytes(host) == bytes
        case .network(let network, let prefix):
            guard let address = IPAddress.bytes(host), address.count == network.count else { return false }
            var left = prefix
            for (a, n) in zip(address, network) {
                guard left > 0 else { break }
                let take = min(8, left)
                let mask: UInt8 = take == 8 ? 0xFF : ~(0xFF >> UInt8(take))
                if a & mask != n & mask { return false }
                left -= take
            }
            return true
        }
    }
}

/// IP literals without DNS.
enum IPAddress {
    static func bytes(_ text: String) -> [UInt8]? { v4(text) ?? v6(text) }

    static func v4(_ text: String) -> [UInt8]? {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    static func v6(_ text: String) -> [UInt8]? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }
}
