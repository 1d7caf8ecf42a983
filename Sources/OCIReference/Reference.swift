import OCISpec

/// A normalised distribution reference: `host/repository` with a tag or a digest.
///
/// Parsing follows the distribution reference grammar with the Go `ociclient` normalisation:
/// a leading `scheme://` is dropped; a name without a registry host means Docker Hub (`index.docker.io`, with
/// `library/` for single-component names); a name with neither tag nor digest gets the tag `latest`; with both,
/// only the digest is kept.
public struct Reference: Hashable, Sendable, CustomStringConvertible {
    /// The registry host as written (with port), Docker Hub as `index.docker.io`.
    public var host: String
    /// The repository path, e.g. `library/ubuntu`.
    public var repository: String
    public var tag: String?
    public var digest: OCIDigest?

    static let maxNameLength = 255

    public init(host: String, repository: String, tag: String? = nil, digest: OCIDigest? = nil) {
        self.host = host
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// Parses and normalises a reference (Go: `oci.ParseRef`).
    /// - Parameter defaultTag: the tag given to a reference with neither tag nor digest; nil leaves it bare.
    public init(parsing input: String, defaultTag: String? = "latest") throws(ReferenceError) {
        var text = Substring(input)
        if let range = text.range(of: "://") { text = text[range.upperBound...] }
        guard !text.isEmpty else { throw .empty }
        // As Go: a 64-hex string alone is an image ID, not a name.
        if text.utf8.count == 64, text.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) {
            throw .hexIdentifier(input)
        }

        // Split off the digest.
        var digest: OCIDigest?
        if let at = text.firstIndex(of: "@") {
            let digestText = String(text[text.index(after: at)...])
            do { digest = try OCIDigest(parsing: digestText) } catch { throw .invalidDigest(input, error.description) }
            text = text[..<at]
        }
        // Split off the tag: a ':' after the last '/'.
        var tag: String?
        let lastSlash = text.lastIndex(of: "/")
        if let colon = text.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            let tagText = String(text[text.index(after: colon)...])
            guard Self.isValidTag(tagText) else { throw .invalidTag(input) }
            tag = tagText
            text = text[..<colon]
        }
        // Split the domain from the path.
        var host: String
        var path: String
        if let slash = text.firstIndex(of: "/") {
            let first = String(text[..<slash])
            if first.contains(".") || first.contains(":") || first == "localhost" || first.lowercased() != first {
                host = first
                path = String(text[text.index(after: slash)...])
            } else {
                host = DockerHub.domain
                path = String(text)
            }
        } else {
            host = DockerHub.domain
            path = String(text)
        }
        if host == DockerHub.canonicalHost { host = DockerHub.domain }
        guard Self.isValidHost(host) else { throw .invalidHost(input) }
        guard path.lowercased() == path else { throw .uppercaseRepository(input) }
        if host == DockerHub.domain && !path.contains("/") {
            path = DockerHub.officialNamespace + "/" + path
        }
        guard Self.isValidPath(path) else { throw .invalidRepository(input) }
        guard host.utf8.count + 1 + path.utf8.count <= Self.maxNameLength else { throw .nameTooLong(input) }

        if digest != nil { tag = nil } else if tag == nil { tag = defaultTag }
        if host == DockerHub.domain { host = DockerHub.canonicalHost }
        self.init(host: host, repository: path, tag: tag, digest: digest)
    }

    /// `host/repository` (Go: `RefSpec.Name()`).
    public var name: String { "\(host)/\(repository)" }

    /// `name:tag`, else `name@digest`, else `name` (Go: `RefSpec.String()`, which gives "" for the bare name).
    public var description: String {
        if let tag { return "\(name):\(tag)" }
        if let digest { return "\(name)@\(digest)" }
        return name
    }

    /// The tag or digest string used in `/manifests/<reference>` URLs.
    public var manifestReference: String? { digest?.description ?? tag }

    /// The host requests go to: Docker Hub's API host for Docker Hub references, else `host`.
    public var endpointHost: String {
        DockerHub.endpoint(for: host)
    }

    /// This reference with the digest set and the tag dropped.
    public func withDigest(_ digest: OCIDigest) -> Reference {
        Reference(host: host, repository: repository, tag: nil, digest: digest)
    }

    /// This reference with the tag set and the digest dropped.
    public func withTag(_ tag: String) -> Reference {
        Reference(host: host, repository: repository, tag: tag, digest: nil)
    }

    /// The repository with neither tag nor digest.
    public var repositoryOnly: Reference { Reference(host: host, repository: repository) }

    // MARK: grammar

    /// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
    public static func isValidTag(_ tag: String) -> Bool {
        let u = Array(tag.utf8)
        guard !u.isEmpty, u.count <= 128 else { return false }
        func word(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 }
        guard word(u[0]) else { return false }
        return u.dropFirst().allSatisfy { word($0) || $0 == 46 || $0 == 45 }
    }

    /// Whether `name` is a valid repository path (lowercase components joined by `/`, at most 255 bytes).
    public static func isValidRepository(_ name: String) -> Bool {
        name.utf8.count <= maxNameLength && isValidPath(name)
    }

    /// Path components `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` joined by `/`.
    static func isValidPath(_ path: String) -> Bool {
        let comps = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !comps.isEmpty else { return false }
        for comp in comps {
            let u = Array(comp.utf8)
            guard let first = u.first, let last = u.last, isAlnum(first), isAlnum(last) else { return false }
            var i = 0
            while i < u.count {
                if isAlnum(u[i]) { i += 1; continue }
                // a separator run: ".", "_", "__", or one or more "-"
                var j = i
                while j < u.count, !isAlnum(u[j]) { j += 1 }
                let sep = u[i..<j]
                let ok = sep.elementsEqual([46]) || sep.elementsEqual([95]) || sep.elementsEqual([95, 95])
                    || sep.allSatisfy { $0 == 45 }
                guard ok else { return false }
                i = j
            }
        }
        return true
    }

    /// Host names (with optional port) and bracketed IPv6 addresses.
    static func isValidHost(_ host: String) -> Bool {
        var name = Substring(host)
        if name.hasPrefix("[") {
            guard let close = name.firstIndex(of: "]") else { return false }
            let inner = name[name.index(after: name.startIndex)..<close]
            guard !inner.isEmpty, inner.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) || ("a"..."f").contains($0)
                || ("A"..."F").contains($0) || $0 == ":" || $0 == "." }) else { return false }
            name = name[name.index(after: close)...]
            if name.isEmpty { return true }
            guard name.hasPrefix(":") else { return false }
            let port = name.dropFirst()
            return !port.isEmpty && port.unicodeScalars.allSatisfy { ("0"..."9").contains($0) }
        }
        if let colon = name.lastIndex(of: ":") {
            let port = name[name.index(after: colon)...]
            guard !port.isEmpty, port.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
            name = name[..<colon]
        }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard !labels.isEmpty else { return false }
        for label in labels {
            let u = Array(label.utf8)
            guard let f = u.first, let l = u.last, isAlnumAnyCase(f), isAlnumAnyCase(l),
                  u.allSatisfy({ isAlnumAnyCase($0) || $0 == 45 }) else { return false }
        }
        return true
    }

    private static func isAlnum(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 97 && c <= 122) }
    private static func isAlnumAnyCase(_ c: UInt8) -> Bool { isAlnum(c) || (c >= 65 && c <= 90) }
}

/// Why a string is not a valid reference.
public enum ReferenceError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case invalidDigest(String, String)
    case invalidTag(String)
    case invalidHost(String)
    case invalidRepository(String)
    case uppercaseRepository(String)
    case hexIdentifier(String)
    case nameTooLong(String)

    public var description: String {
        switch self {
        case .empty: return "unable to parse ref: empty reference"
        case .invalidDigest(let r, let why): return "unable to parse ref \"\(r)\": \(why)"
        case .invalidTag(let r): return "unable to parse ref \"\(r)\": invalid tag (allowed: letters, digits, _ . -, at most 128, not starting with . or -)"
        case .invalidHost(let r): return "unable to parse ref \"\(r)\": invalid registry host"
        case .invalidRepository(let r): return "unable to parse ref \"\(r)\": invalid repository name (lowercase letters, digits and separators . _ __ -)"
        case .uppercaseRepository(let r): return "unable to parse ref \"\(r)\": repository name must be lowercase"
        case .hexIdentifier(let r): return "unable to parse ref \"\(r)\": cannot specify 64-byte hexadecimal strings"
        case .nameTooLong(let r): return "unable to parse ref \"\(r)\": repository name must not be more than 255 characters"
        }
    }
}

/// Whether a host may be reached over plain HTTP without the user's explicit leave: loopback, `localhost`,
/// `*.local`, and private (RFC 1918) addresses. The port is ignored.
public enum HostClassifier {
    public static func allowsPlainHTTPByDefault(_ hostWithPort: String) -> Bool {
        let host = hostOnly(hostWithPort).lowercased()
        if host == "localhost" || host.hasSuffix(".localhost") || host.hasSuffix(".local") { return true }
        if host == "::1" || host == "0:0:0:0:0:0:0:1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false).compactMap { UInt8($0) }
        guard octets.count == 4, host.split(separator: ".").count == 4 else { return false }
        switch (octets[0], octets[1]) {
        case (127, _), (10, _), (192, 168): return true
        case (172, let b) where (16...31).contains(b): return true
        default: return false
        }
    }

    /// The host without port or IPv6 brackets.
    public static func hostOnly(_ hostWithPort: String) -> String {
        if hostWithPort.hasPrefix("["), let close = hostWithPort.firstIndex(of: "]") {
            return String(hostWithPort[hostWithPort.index(after: hostWithPort.startIndex)..<close])
        }
        if let colon = hostWithPort.lastIndex(of: ":"), hostWithPort.filter({ $0 == ":" }).count == 1 {
            return String(hostWithPort[..<colon])
        }
        return hostWithPort
    }
}

extension ReferenceError: OCIError {
    public var kind: OCIErrorKind { .invalidArgument }
}
