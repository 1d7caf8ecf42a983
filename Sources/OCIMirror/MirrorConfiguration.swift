import Foundation
import OCIKit
import Yams

/// What `ocictl sync` and `Mirror` read: per-host limits and a list of sync jobs, from YAML (docs/mirroring.md
/// describes every key).
///
/// ```yaml
/// hosts: {"docker.io": {concurrency: 3, rps: 5}}
/// sync:
///   - source: registry.example.com/team/app
///     destination: mirror.example.com/team/app
///     tags: {include: ['^v'], exclude: ['-rc$'], semver: '>=1.0.0', newest: 5}
///     platforms: [linux/amd64, linux/arm64]
///     referrers: true
/// ```
public struct MirrorConfiguration: Sendable {
    /// Limits and rate-limit policy per registry host, keyed as references name hosts (`docker.io`).
    public var hosts: [String: HostSettings]
    /// The jobs, in order.
    public var sync: [MirrorJob]
    /// How many images are copied at once (default 4); each copy moves `blobConcurrency` blobs at once.
    public var concurrency: Int
    /// How many blobs one image copy moves at once; nil takes the client's setting.
    public var blobConcurrency: Int?
    /// The shard count used with `JOB_COMPLETION_INDEX` when the command line names none.
    public var shards: Int?

    public init(hosts: [String: HostSettings] = [:], sync: [MirrorJob], concurrency: Int = 4,
                blobConcurrency: Int? = nil, shards: Int? = nil) {
        self.hosts = hosts
        self.sync = sync
        self.concurrency = max(1, concurrency)
        self.blobConcurrency = blobConcurrency
        self.shards = shards
    }

    /// What to do when a registry's pull rate limit (Docker Hub's `RateLimit-Remaining`) would run out.
    public enum RateLimitPolicy: String, Sendable, Codable, CaseIterable {
        /// Copy what the remaining pulls allow, then fail the rest with a message that says so.
        case stop
        /// Wait (re-checking with a HEAD, which costs no pull) until the window lets more pulls through.
        case wait
        /// Do not check.
        case ignore
    }

    /// The settings of one host.
    public struct HostSettings: Sendable, Equatable {
        /// The most requests in flight to the host at once.
        public var concurrency: Int?
        /// The most requests started per second.
        public var rps: Double?
        /// What to do when the host's pull rate limit would run out; nil: stop for Docker Hub, ignore elsewhere.
        public var rateLimit: RateLimitPolicy?
        /// Pulls to leave unused in the rate-limit window (default 0).
        public var reserve: Int

        public init(concurrency: Int? = nil, rps: Double? = nil, rateLimit: RateLimitPolicy? = nil, reserve: Int = 0) {
            self.concurrency = concurrency
            self.rps = rps
            self.rateLimit = rateLimit
            self.reserve = max(0, reserve)
        }
    }

    /// Reads a configuration file.
    public static func load(path: String) throws -> MirrorConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "it cannot be read" : "there is no such file"
            throw MirrorError.invalidConfiguration(path, reason)
        }
        return try parse(String(decoding: data, as: UTF8.self), name: path)
    }

    /// Parses YAML (or JSON, which is YAML); `name` names the text in errors.
    public static func parse(_ text: String, name: String = "the sync configuration") throws -> MirrorConfiguration {
        let configuration: MirrorConfiguration
        do {
            configuration = try YAMLDecoder().decode(MirrorConfiguration.self, from: text)
        } catch let error as MirrorError {
            throw error.named(name)
        } catch let DecodingError.keyNotFound(key, context) {
            throw MirrorError.invalidConfiguration(name, "\(Self.path(context.codingPath + [key])): the key is required")
        } catch let DecodingError.typeMismatch(type, context) {
            throw MirrorError.invalidConfiguration(name, "\(Self.path(context.codingPath)): expected \(Self.describe(type))")
        } catch let DecodingError.valueNotFound(type, context) {
            throw MirrorError.invalidConfiguration(name, "\(Self.path(context.codingPath)): expected \(Self.describe(type)), found nothing")
        } catch let DecodingError.dataCorrupted(context) {
            let underlying = context.underlyingError.map { " (\($0))" } ?? ""
            throw MirrorError.invalidConfiguration(name, "\(Self.path(context.codingPath)): \(context.debugDescription)\(underlying)")
        } catch {
            throw MirrorError.invalidConfiguration(name, "not valid YAML: \(error)")
        }
        guard !configuration.sync.isEmpty else {
            throw MirrorError.invalidConfiguration(name, "sync: no jobs; list at least one {source, destination}")
        }
        return configuration
    }

    /// The registry client's host limits for these hosts.
    public var hostLimits: [String: RegistryClient.Configuration.HostLimits] {
        hosts.compactMapValues { settings in
            let limits = RegistryClient.Configuration.HostLimits(maxConcurrentRequests: settings.concurrency,
                                                                 requestsPerSecond: settings.rps)
            return limits.isLimited ? limits : nil
        }
    }

    /// Adds this configuration's host limits to a client configuration.
    public func apply(to configuration: inout OCIClient.Configuration) {
        for (host, limits) in hostLimits { configuration.registry.hostLimits[host] = limits }
    }

    static func path(_ codingPath: [any CodingKey]) -> String {
        var text = ""
        for key in codingPath {
            if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
        }
        return text.isEmpty ? "the document" : text
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type: return "an integer"
        case is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "a list" }
            if name.hasPrefix("Dictionary") { return "a mapping" }
            return "a \(name)"
        }
    }
}

/// One sync job: a source, a destination, and which tags, platforms and referrers go.
public struct MirrorJob: Sendable {
    /// A registry repository (`host/repo`, or `host/repo:tag` for one tag), a registry prefix ending in `/`
    /// (the repositories below it, through the catalog), `ocidir://PATH` or `oci-archive://FILE.tar`.
    public var source: String
    /// A registry repository, a registry prefix ending in `/`, `ocidir://PATH` or `oci-archive://FILE.tar`
    /// (for a prefix source: `ocidir://DIR` and `oci-archive://DIR/` hold one layout or archive per repository).
    public var destination: String
    /// Which tags go (default: all).
    public var tags: TagSelection
    /// Which platforms of an index go (default: all, the index as it is).
    public var platforms: PlatformSelection
    /// Whether the manifests that refer to each copied one go too (OCI 1.1 referrers).
    public var referrers: Bool
    /// Whether destination tags that the source no longer has (after the filters) are deleted.
    public var prune: Bool
    /// What to do with a Docker schema1 source.
    public var schema1: Schema1CopyPolicy

    public init(source: String, destination: String, tags: TagSelection = TagSelection(), platforms: PlatformSelection = .all,
                referrers: Bool = false, prune: Bool = false, schema1: Schema1CopyPolicy = .auto) {
        self.source = source
        self.destination = destination
        self.tags = tags
        self.platforms = platforms
        self.referrers = referrers
        self.prune = prune
        self.schema1 = schema1
    }

    /// The tags a job takes: explicit names, or the filters of `TagFilter` (regular expressions, a semantic
    /// version range, the newest N).
    public struct TagSelection: Sendable {
        /// Exactly these tags (the filters below then do not apply).
        public var names: [String]
        public var include: [String]
        public var exclude: [String]
        public var semver: String?
        public var newest: Int?

        public init(names: [String] = [], include: [String] = [], exclude: [String] = [], semver: String? = nil,
                    newest: Int? = nil) {
            self.names = names
            self.include = include
            self.exclude = exclude
            self.semver = semver
            self.newest = newest
        }

        /// The filter for a listing.
        public func filter() throws -> TagFilter {
            try TagFilter(include: include, exclude: exclude, semver: semver.map { try SemanticVersionRange(parsing: $0) },
                          limit: newest)
        }

        /// The tags of `listed` this selection takes. `newest` without `semver` orders by version too: tags that
        /// parse as versions by version (a pre-release before its release), others before them, by name.
        public func apply(_ listed: [String]) throws -> [String] {
            if !names.isEmpty { return names }
            guard let newest, semver == nil else { return try filter().apply(listed) }
            let kept = try TagFilter(include: include, exclude: exclude).apply(listed)
            let ordered = kept.sorted { a, b in
                switch (SemanticVersion(parsing: a), SemanticVersion(parsing: b)) {
                case let (x?, y?): return x == y ? a < b : x < y
                case (nil, .some): return true
                case (.some, nil): return false
                case (nil, nil): return a < b
                }
            }
            return Array(ordered.suffix(newest))
        }
    }
}

// MARK: decoding

/// Keys read by name, so that unknown keys can be refused with their path.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) {
        stringValue = String(intValue)
        self.intValue = intValue
    }
}

extension KeyedDecodingContainer where Key == AnyKey {
    /// Refuses keys not in `known` (a typo would otherwise be ignored silently).
    func refuseUnknown(_ known: [String]) throws {
        for key in allKeys where !known.contains(key.stringValue) {
            let path = MirrorConfiguration.path(codingPath + [key])
            throw MirrorError.invalidConfiguration("", "\(path): unknown key (known here: \(known.joined(separator: ", ")))")
        }
    }

    func value<T: Decodable>(_ name: String, as type: T.Type = T.self) throws -> T? {
        try decodeIfPresent(T.self, forKey: AnyKey(name))
    }

    /// A string or a list of strings.
    func strings(_ name: String) throws -> [String] {
        let key = AnyKey(name)
        guard contains(key) else { return [] }
        if let one = try? decode(String.self, forKey: key) { return [one] }
        return try decode([String].self, forKey: key)
    }

    func invalid(_ name: String, _ reason: String) -> MirrorError {
        .invalidConfiguration("", "\(MirrorConfiguration.path(codingPath + [AnyKey(name)])): \(reason)")
    }
}

extension MirrorConfiguration: Decodable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.refuseUnknown(["hosts", "sync", "concurrency", "blobConcurrency", "shards"])
        let concurrency = try c.value("concurrency", as: Int.self) ?? 4
        guard concurrency >= 1 else { throw c.invalid("concurrency", "must be at least 1, got \(concurrency)") }
        let blobs = try c.value("blobConcurrency", as: Int.self)
        if let blobs, blobs < 1 { throw c.invalid("blobConcurrency", "must be at least 1, got \(blobs)") }
        let shards = try c.value("shards", as: Int.self)
        if let shards, shards < 1 { throw c.invalid("shards", "must be at least 1, got \(shards)") }
        guard c.contains(AnyKey("sync")) else { throw c.invalid("sync", "the key is required: a list of {source, destination} jobs") }
        self.init(hosts: try c.value("hosts") ?? [:], sync: try c.decode([MirrorJob].self, forKey: AnyKey("sync")),
                  concurrency: concurrency, blobConcurrency: blobs, shards: shards)
    }
}

extension MirrorConfiguration.HostSettings: Decodable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.refuseUnknown(["concurrency", "rps", "rateLimit", "reserve"])
        let concurrency = try c.value("concurrency", as: Int.self)
        if let concurrency, concurrency < 1 { throw c.invalid("concurrency", "must be at least 1, got \(concurrency)") }
        let rps = try c.value("rps", as: Double.self)
        if let rps, !(rps > 0) { throw c.invalid("rps", "must be a positive number of requests per second, got \(rps)") }
        var policy: MirrorConfiguration.RateLimitPolicy?
        if let text = try c.value("rateLimit", as: String.self) {
            guard let parsed = MirrorConfiguration.RateLimitPolicy(rawValue: text) else {
                throw c.invalid("rateLimit", "expected stop, wait or ignore, got \"\(text)\"")
            }
            policy = parsed
        }
        let reserve = try c.value("reserve", as: Int.self) ?? 0
        guard reserve >= 0 else { throw c.invalid("reserve", "must not be negative, got \(reserve)") }
        self.init(concurrency: concurrency, rps: rps, rateLimit: policy, reserve: reserve)
    }
}

extension MirrorJob: Decodable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.refuseUnknown(["source", "destination", "tags", "platforms", "referrers", "prune", "schema1"])
        guard let source = try c.value("source", as: String.self), !source.isEmpty else {
            throw c.invalid("source", "the key is required: a repository, a prefix ending in /, ocidir:// or oci-archive://")
        }
        guard let destination = try c.value("destination", as: String.self), !destination.isEmpty else {
            throw c.invalid("destination", "the key is required: a repository, a prefix ending in /, ocidir:// or oci-archive://")
        }
        var platforms = PlatformSelection.all
        let platformTexts = try c.strings("platforms")
        if !platformTexts.isEmpty {
            guard let parsed = PlatformSelection(parsing: platformTexts.joined(separator: ",")) else {
                throw c.invalid("platforms", "expected all or a list of os/arch[/variant], got \(platformTexts)")
            }
            platforms = parsed
        }
        var schema1 = Schema1CopyPolicy.auto
        if let text = try c.value("schema1", as: String.self) {
            guard let parsed = Schema1CopyPolicy(rawValue: text) else {
                throw c.invalid("schema1", "expected auto, convert or keep, got \"\(text)\"")
            }
            schema1 = parsed
        }
        let tags = try c.value("tags", as: TagSelection.self) ?? TagSelection()
        self.init(source: source, destination: destination, tags: tags, platforms: platforms,
                  referrers: try c.value("referrers") ?? false, prune: try c.value("prune") ?? false, schema1: schema1)
    }
}

extension MirrorJob.TagSelection: Decodable {
    public init(from decoder: any Decoder) throws {
        // `tags: [v1, v2]` names tags; a mapping filters.
        if let names = try? decoder.singleValueContainer().decode([String].self) {
            self.init(names: names)
            return
        }
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.refuseUnknown(["names", "include", "exclude", "semver", "newest"])
        let newest = try c.value("newest", as: Int.self)
        if let newest, newest < 1 { throw c.invalid("newest", "must be at least 1, got \(newest)") }
        self.init(names: try c.strings("names"), include: try c.strings("include"), exclude: try c.strings("exclude"),
                  semver: try c.value("semver"), newest: newest)
        do { _ = try filter() } catch {
            throw MirrorError.invalidConfiguration("", "\(MirrorConfiguration.path(c.codingPath)): \(error)")
        }
    }
}
