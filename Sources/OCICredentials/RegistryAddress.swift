import OCIReference
/// A normalised registry address: the key under which the keyring stores credentials and the form lookups are matched in.
///
/// Normalisation of a config key such as `https://User@Registry.Example.com:443/team/?x=1`:
/// - the scheme, userinfo, query, fragment and trailing `/` are dropped; `.`/`..`/empty path segments are cleaned;
/// - the host is lowercased; the default port is dropped (`:443` for `https://` and scheme-less keys, `:80` for `http://`),
///   so `https://h:443` == `h`;
/// - the path is kept (`gcr.io/project`, `host/ns/repo` are path-specific keys), except the API version suffix of legacy
///   keys: `/v1` or `/v2` as the whole path of a Docker Hub key, or of any key written with a scheme
///   (`https://index.docker.io/v1/` → Docker Hub, `https://registry.example.com/v2/` → `registry.example.com`);
/// - Docker Hub's names `docker.io`, `index.docker.io` and `registry-1.docker.io` all become `index.docker.io`.
///
/// An empty host is rejected, so no key can ever become a catch-all entry.
public struct RegistryAddress: Hashable, Sendable, CustomStringConvertible {
    /// Lowercased host with non-default port; Docker Hub as `index.docker.io`.
    public let host: String
    /// The path segments after the host (namespace / repository prefix), possibly empty.
    public let pathSegments: [String]
    /// For Docker Hub keys: 0 for `docker.io`, 1 for `index.docker.io`, 2 for `registry-1.docker.io`. Among equally
    /// specific keys of one source the lower rank is tried first (Go tried `docker.io` before `index.docker.io`).
    public let dockerHubAliasRank: Int?

    /// Docker Hub's names, in the order their keys are preferred.
    public static let dockerHubAliases = DockerHub.aliases
    /// The canonical host of Docker Hub keys.
    public static let dockerHubHost = DockerHub.canonicalHost
    /// The key `docker login` writes for Docker Hub.
    public static let dockerHubLoginKey = DockerHub.loginKey

    /// Normalises a config key or server address (see the type's documentation).
    public init(normalizing address: String) throws(CredentialsError) {
        var rest = Substring(address.trimmingWhitespace())
        var scheme: String?
        if let range = rest.range(of: "://") {
            scheme = rest[..<range.lowerBound].lowercased()
            rest = rest[range.upperBound...]
        }
        if let cut = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<cut] }
        let authority: Substring
        let path: Substring
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[slash...]
        } else {
            authority = rest
            path = ""
        }
        var hostPort = authority
        if let at = hostPort.lastIndex(of: "@") { hostPort = hostPort[hostPort.index(after: at)...] }
        let (rawHost, rawPort) = Self.splitPort(hostPort)
        let host = rawHost.lowercased()
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" }) else {
            throw .invalidAddress(address)
        }
        var port = rawPort
        if port == "443" && (scheme == nil || scheme == "https") { port = nil }
        if port == "80" && scheme == "http" { port = nil }
        let hostWithPort = port.map { "\(host):\($0)" } ?? host

        var segments = Self.cleanPath(path)
        let rank = Self.dockerHubAliases.firstIndex(of: hostWithPort)
        let isVersionSuffix = segments == ["v1"] || segments == ["v2"]
        if isVersionSuffix && (rank != nil || scheme != nil) { segments = [] }
        self.host = rank == nil ? hostWithPort : Self.dockerHubHost
        self.pathSegments = segments
        self.dockerHubAliasRank = rank
    }

    /// The address of a repository on a host as found in a reference (`host` without scheme, `repository` may be "").
    public init(host: String, repository: String) throws(CredentialsError) {
        let base = try RegistryAddress(normalizing: host)
        let extra = Self.cleanPath(Substring(repository))
        self.host = base.host
        self.pathSegments = base.pathSegments + extra
        self.dockerHubAliasRank = base.dockerHubAliasRank
    }

    /// `host/segment/...`: the keyring's index key.
    public var key: String { ([host] + pathSegments).joined(separator: "/") }

    public var description: String { key }

    /// Whether this is a Docker Hub address.
    public var isDockerHub: Bool { dockerHubAliasRank != nil }

    /// The keys of this address and each ancestor, most specific first (`h/a/b`, `h/a`, `h`).
    var keysMostSpecificFirst: [String] {
        (0...pathSegments.count).reversed().map { count in
            ([host] + pathSegments.prefix(count)).joined(separator: "/")
        }
    }

    /// The key `docker login` would write for this address: `https://index.docker.io/v1/` for Docker Hub, else `key`.
    public var loginKey: String {
        isDockerHub && pathSegments.isEmpty ? Self.dockerHubLoginKey : key
    }

    public static func == (lhs: RegistryAddress, rhs: RegistryAddress) -> Bool {
        lhs.host == rhs.host && lhs.pathSegments == rhs.pathSegments
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(host)
        hasher.combine(pathSegments)
    }

    // MARK: helpers

    /// Splits `host:port` / `[v6]:port`; the port only if it is all digits.
    private static func splitPort(_ hostPort: Substring) -> (Substring, String?) {
        if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
            let host = hostPort[...close]
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":"), Self.isDigits(after.dropFirst()) { return (host, String(after.dropFirst())) }
            return (hostPort, nil)
        }
        if let colon = hostPort.lastIndex(of: ":"), hostPort.firstIndex(of: ":") == colon {
            let port = hostPort[hostPort.index(after: colon)...]
            if Self.isDigits(port) { return (hostPort[..<colon], String(port)) }
        }
        return (hostPort, nil)
    }

    private static func isDigits(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
    }

    /// Path segments with empty and `.` segments removed and `..` applied (Go `path.Join` semantics).
    static func cleanPath(_ path: Substring) -> [String] {
        var out: [String] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            if segment == "." { continue }
            if segment == ".." {
                if !out.isEmpty { out.removeLast() }
                continue
            }
            out.append(String(segment))
        }
        return out
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
