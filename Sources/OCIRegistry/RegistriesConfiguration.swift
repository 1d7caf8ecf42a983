import Foundation
import OCIReference
import OCISpec
import TOMLKit

/// Per-registry settings and mirrors in the format of containers' `registries.conf` (version 2, as podman, buildah
/// and skopeo read it; see containers-registries.conf(5)): `[[registry]]` tables with `prefix`, `location`,
/// `insecure`, `blocked` and `[[registry.mirror]]` tables with `location`, `insecure` and `pull-from-mirror`.
/// Other keys (`unqualified-search-registries`, `[aliases]`, `short-name-mode`, …) are accepted and ignored.
///
/// - A reference matches the entry with the longest `prefix` (default: its `location`) that is a whole-segment
///   prefix of `host/repository`, or a `*.domain` prefix matching its host.
/// - Pulls try the entry's mirrors in order, then its `location` (the origin, with the prefix replaced); pushes go
///   to the reference as written. `pull-from-mirror` limits a mirror to pulls by digest (`digest-only`), by tag
///   (`tag-only`), or none (`all`, the default).
/// - `insecure = true` allows plain HTTP and skips certificate verification for that host; `blocked = true` refuses
///   every request to it with ``RegistryError/blocked(registry:origin:)``.
public struct RegistriesConfiguration: Sendable, Hashable {
    /// When a mirror is used.
    public enum PullFromMirror: String, Sendable, Hashable, Codable {
        case all
        case digestOnly = "digest-only"
        case tagOnly = "tag-only"
    }

    /// A mirror of a registry.
    public struct Mirror: Sendable, Hashable {
        /// `host[:port][/path]` the mirror serves the registry's repositories under.
        public var location: String
        public var insecure: Bool
        public var pullFromMirror: PullFromMirror

        public init(location: String, insecure: Bool = false, pullFromMirror: PullFromMirror = .all) {
            self.location = location
            self.insecure = insecure
            self.pullFromMirror = pullFromMirror
        }
    }

    /// One `[[registry]]` table.
    public struct Registry: Sendable, Hashable {
        /// What references it applies to (`host[/path]` or `*.domain`); the location when empty.
        public var prefix: String
        /// Where its content is (`host[:port][/path]`); empty for a `*.domain` prefix.
        public var location: String
        public var insecure: Bool
        public var blocked: Bool
        public var mirrors: [Mirror]
        /// The file it came from, for messages.
        public var origin: String

        public init(prefix: String = "", location: String, insecure: Bool = false, blocked: Bool = false,
                    mirrors: [Mirror] = [], origin: String = "configuration") {
            self.prefix = prefix.isEmpty ? location : prefix
            self.location = location
            self.insecure = insecure
            self.blocked = blocked
            self.mirrors = mirrors
            self.origin = origin
        }
    }

    /// One place a pull may be served from.
    public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        /// The reference to ask there (the prefix replaced by the mirror's or the registry's location).
        public var reference: Reference
        /// True for a mirror, false for the origin.
        public var isMirror: Bool
        public var description: String { (isMirror ? "mirror " : "origin ") + reference.name }
    }

    /// The entries, later files' entries replacing earlier ones with the same prefix.
    public var registries: [Registry]

    public init(registries: [Registry] = []) {
        self.registries = registries
    }

    /// Whether there is nothing in it.
    public var isEmpty: Bool { registries.isEmpty }

    // MARK: loading

    /// Parses one file's text; `origin` names it in errors. Later entries with the same prefix replace earlier ones.
    public init(parsing text: String, origin: String = "registries.conf") throws(RegistryError) {
        self.init()
        try merge(parsing: text, origin: origin)
    }

    /// Adds one file's entries (a drop-in of `registries.conf.d` on top of the main file).
    public mutating func merge(parsing text: String, origin: String) throws(RegistryError) {
        let file: FileV2
        do {
            file = try TOMLDecoder().decode(FileV2.self, from: text)
        } catch let error as TOMLParseError {
            throw .invalidArgument("\(origin): line \(error.source.begin.line): \(error.description); fix the TOML (see containers-registries.conf(5))")
        } catch {
            throw .invalidArgument("\(origin): \(Self.describe(error)); see containers-registries.conf(5) for the format")
        }
        var added: [Registry] = []
        for (n, entry) in (file.registry ?? []).enumerated() {
            let location = Self.trimmed(entry.location ?? "")
            let prefix = Self.trimmed(entry.prefix ?? "")
            guard !location.isEmpty || prefix.hasPrefix("*.") else {
                throw .invalidArgument("\(origin): [[registry]] number \(n + 1) has no location; give location = \"HOST[/PATH]\"")
            }
            if prefix.hasPrefix("*."), !location.isEmpty {
                throw .invalidArgument("\(origin): [[registry]] prefix \(prefix) is a wildcard, which cannot have a location")
            }
            let mirrors = try (entry.mirror ?? []).map { m throws(RegistryError) -> Mirror in
                let l = Self.trimmed(m.location ?? "")
                guard !l.isEmpty else {
                    throw .invalidArgument("\(origin): a [[registry.mirror]] of \(prefix.isEmpty ? location : prefix) has no location")
                }
                return Mirror(location: l, insecure: m.insecure ?? false, pullFromMirror: m.pullFromMirror ?? .all)
            }
            added.append(Registry(prefix: prefix, location: location, insecure: entry.insecure ?? false,
                                  blocked: entry.blocked ?? false, mirrors: mirrors, origin: origin))
        }
        // Version 1 tables: [registries.insecure] and [registries.block] host lists.
        for host in file.registries?.insecure?.registries ?? [] {
            added.append(Registry(location: Self.trimmed(host), insecure: true, origin: origin))
        }
        for host in file.registries?.block?.registries ?? [] {
            added.append(Registry(location: Self.trimmed(host), blocked: true, origin: origin))
        }
        for entry in added {
            registries.removeAll { $0.prefix == entry.prefix }
            registries.append(entry)
        }
    }

    /// Reads `main` (when it exists) and then the `*.conf` files of `dropInDirectories` in name order.
    /// A file that exists but cannot be read or parsed throws.
    public static func load(file main: String?, dropInDirectories: [String] = []) throws(RegistryError) -> RegistriesConfiguration {
        var configuration = RegistriesConfiguration()
        var files: [String] = []
        if let main, FileManager.default.fileExists(atPath: main) { files.append(main) }
        for directory in dropInDirectories {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            files += names.filter { $0.hasSuffix(".conf") }.sorted().map { (directory as NSString).appendingPathComponent($0) }
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw .invalidArgument("cannot read \(file); check its permissions")
            }
            try configuration.merge(parsing: String(decoding: data, as: UTF8.self), origin: file)
        }
        return configuration
    }

    /// The files containers tools read: `$CONTAINERS_REGISTRIES_CONF` alone when set; else the user's
    /// `$XDG_CONFIG_HOME/containers/registries.conf` (default `~/.config/…`) with its `registries.conf.d` when that
    /// file exists; else `/etc/containers/registries.conf` with `/etc/containers/registries.conf.d`.
    public static func standardFiles(environment: [String: String] = ProcessInfo.processInfo.environment)
        -> (file: String, dropInDirectories: [String]) {
        if let file = environment["CONTAINERS_REGISTRIES_CONF"], !file.isEmpty { return (file, []) }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        let configHome = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.config"
        let user = configHome + "/containers/registries.conf"
        if FileManager.default.fileExists(atPath: user) { return (user, [user + ".d"]) }
        return ("/etc/containers/registries.conf", ["/etc/containers/registries.conf.d"])
    }

    /// ``load(file:dropInDirectories:)`` of ``standardFiles(environment:)``.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) throws(RegistryError)
        -> RegistriesConfiguration {
        let (file, directories) = standardFiles(environment: environment)
        if environment["CONTAINERS_REGISTRIES_CONF"].map({ !$0.isEmpty }) == true, !FileManager.default.fileExists(atPath: file) {
            throw .invalidArgument("CONTAINERS_REGISTRIES_CONF names \(file), which does not exist")
        }
        return try load(file: file, dropInDirectories: directories)
    }

    // MARK: lookup

    /// The entry that applies to a reference (longest matching prefix), if any.
    public func registry(for reference: Reference) -> Registry? {
        let name = Self.canonicalName(reference)
        let host = reference.host.lowercased()
        var best: (Registry, Int)?
        for entry in registries {
            let length: Int?
            if entry.prefix.hasPrefix("*.") {
                let domain = String(entry.prefix.dropFirst(1)).lowercased()
                length = host.hasSuffix(domain) ? entry.prefix.count : nil
            } else {
                let prefix = Self.canonicalPrefix(entry.prefix)
                length = name == prefix || name.hasPrefix(prefix + "/") ? prefix.count : nil
            }
            if let length, length > (best?.1 ?? -1) { best = (entry, length) }
        }
        return best?.0
    }

    /// The entry whose location (or a mirror's) is `host` (`HOST[:PORT]`), for per-host settings.
    func hostSettings(_ host: String) -> (insecure: Bool, blocked: Registry?) {
        let wanted = host.lowercased()
        var insecure = false
        var blocked: Registry?
        for entry in registries {
            if Self.host(of: entry.location) == wanted || (entry.prefix.hasPrefix("*.") && wanted.hasSuffix(String(entry.prefix.dropFirst(1)))) {
                insecure = insecure || entry.insecure
                if entry.blocked { blocked = entry }
            }
            for mirror in entry.mirrors where Self.host(of: mirror.location) == wanted {
                insecure = insecure || mirror.insecure
            }
        }
        return (insecure, blocked)
    }

    /// Where a pull of `reference` may be served from, in order: the mirrors that apply (by `pull-from-mirror`
    /// and whether the reference names a digest), then the origin. Just the reference when no entry applies.
    public func pullEndpoints(for reference: Reference) throws(RegistryError) -> [Endpoint] {
        guard let entry = registry(for: reference) else { return [Endpoint(reference: reference, isMirror: false)] }
        if entry.blocked { throw .blocked(registry: reference.name, origin: entry.origin) }
        let byDigest = reference.digest != nil
        var endpoints: [Endpoint] = []
        for mirror in entry.mirrors {
            switch mirror.pullFromMirror {
            case .digestOnly where !byDigest, .tagOnly where byDigest: continue
            default: break
            }
            endpoints.append(Endpoint(reference: try Self.rewrite(reference, prefix: entry.prefix, location: mirror.location),
                                      isMirror: true))
        }
        let origin = entry.prefix.hasPrefix("*.") || entry.location.isEmpty ? reference
            : try Self.rewrite(reference, prefix: entry.prefix, location: entry.location)
        endpoints.append(Endpoint(reference: origin, isMirror: false))
        return endpoints
    }

    /// `reference` with the prefix `prefix` of its name replaced by `location`.
    static func rewrite(_ reference: Reference, prefix: String, location: String) throws(RegistryError) -> Reference {
        let name = canonicalName(reference)
        let rest = prefix.hasPrefix("*.") ? String(name.drop { $0 != "/" }) : String(name.dropFirst(canonicalPrefix(prefix).count))
        var text = location + rest
        if let tag = reference.tag { text += ":" + tag }
        if let digest = reference.digest { text += "@" + digest.description }
        do { return try Reference(parsing: text, defaultTag: nil) } catch {
            throw .invalidArgument("registries.conf maps \(reference) to \(text), which is not a valid reference: \(error)")
        }
    }

    /// `host/repository` with Docker Hub's host as `docker.io`, lowercased host.
    static func canonicalName(_ reference: Reference) -> String {
        let host = DockerHub.isDockerHub(reference.host) ? DockerHub.domain : reference.host.lowercased()
        return host + "/" + reference.repository
    }

    static func canonicalPrefix(_ prefix: String) -> String {
        var parts = prefix.split(separator: "/", maxSplits: 1).map(String.init)
        guard !parts.isEmpty else { return prefix }
        parts[0] = DockerHub.isDockerHub(parts[0]) ? DockerHub.domain : parts[0].lowercased()
        return parts.joined(separator: "/")
    }

    static func host(of location: String) -> String {
        let first = location.split(separator: "/", maxSplits: 1).first.map(String.init) ?? location
        let lower = first.lowercased()
        return DockerHub.isDockerHub(lower) ? DockerHub.endpoint(for: lower) : lower
    }

    static func trimmed(_ text: String) -> String {
        text.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(let type, let context), DecodingError.valueNotFound(let type, let context):
            return "\(context.codingPath.map(\.stringValue).joined(separator: ".")) is not a \(type)"
        case DecodingError.dataCorrupted(let context):
            return "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }

    // MARK: the file's shape

    struct FileV2: Decodable {
        var registry: [RegistryV2]?
        var registries: V1?
    }

    struct RegistryV2: Decodable {
        var prefix: String?
        var location: String?
        var insecure: Bool?
        var blocked: Bool?
        var mirror: [MirrorV2]?
    }

    struct MirrorV2: Decodable {
        var location: String?
        var insecure: Bool?
        var pullFromMirror: PullFromMirror?

        enum CodingKeys: String, CodingKey {
            case location, insecure, pullFromMirror = "pull-from-mirror"
        }
    }

    struct V1: Decodable {
        struct List: Decodable { var registries: [String]? }
        var insecure: List?
        var block: List?
    }
}
