import Foundation
import OCISpec

/// Changes to an image's config and manifest. Every field left nil (or empty) keeps what the image has.
public struct ImageEdit: Sendable, Hashable {
    /// The entrypoint (an empty array clears it).
    public var entrypoint: [String]?
    /// The default arguments (an empty array clears them).
    public var cmd: [String]?
    /// Environment variables to set, `KEY=VALUE`; a key the image has is replaced in place.
    public var env: [String]
    /// Environment variable names to remove.
    public var removeEnv: [String]
    public var workingDir: String?
    public var user: String?
    /// Labels to set, and label keys to remove.
    public var labels: [String: String]
    public var removeLabels: [String]
    /// Ports to expose: `8080/tcp`, `53/udp`, `8080` (tcp).
    public var exposedPorts: [String]
    public var stopSignal: String?
    /// Manifest annotations to set.
    public var annotations: [String: String]
    /// The config's `created` time (RFC 3339); nil keeps the image's.
    public var created: String?
    /// The config's platform (architecture, os, variant, os.version).
    public var platform: Platform?
    /// History entries appended (for edits that add no layer, mark them `emptyLayer`).
    public var history: [ImageConfiguration.History]

    public init(entrypoint: [String]? = nil, cmd: [String]? = nil, env: [String] = [], removeEnv: [String] = [],
                workingDir: String? = nil, user: String? = nil, labels: [String: String] = [:],
                removeLabels: [String] = [], exposedPorts: [String] = [], stopSignal: String? = nil,
                annotations: [String: String] = [:], created: String? = nil, platform: Platform? = nil,
                history: [ImageConfiguration.History] = []) {
        self.entrypoint = entrypoint
        self.cmd = cmd
        self.env = env
        self.removeEnv = removeEnv
        self.workingDir = workingDir
        self.user = user
        self.labels = labels
        self.removeLabels = removeLabels
        self.exposedPorts = exposedPorts
        self.stopSignal = stopSignal
        self.annotations = annotations
        self.created = created
        self.platform = platform
        self.history = history
    }

    /// Whether the edit changes nothing.
    public var isEmpty: Bool { self == ImageEdit() }

    /// Checks the values: `KEY=VALUE` environment entries, port syntax, label keys.
    public func validate() throws(BuildError) {
        for entry in env {
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex else {
                throw .invalidArgument("environment entry \"\(entry)\" is not KEY=VALUE")
            }
        }
        for port in exposedPorts { _ = try Self.normalisedPort(port) }
        for key in labels.keys where key.isEmpty { throw .invalidArgument("a label needs a key") }
        if let created, BuildTime.parse(created) == nil {
            throw .invalidArgument("created time \"\(created)\" is not RFC 3339 (2026-01-31T12:00:00Z)")
        }
    }

    /// `8080` -> `8080/tcp`; refuses anything but `PORT[/tcp|udp|sctp]`.
    static func normalisedPort(_ text: String) throws(BuildError) -> String {
        let parts = text.lowercased().split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), let number = Int(parts[0]), (0...65535).contains(number) else {
            throw .invalidArgument("port \"\(text)\" is not PORT[/PROTO] (8080/tcp)")
        }
        let proto = parts.count == 2 ? parts[1] : "tcp"
        guard ["tcp", "udp", "sctp"].contains(proto) else {
            throw .invalidArgument("port \"\(text)\": protocol must be tcp, udp or sctp")
        }
        return "\(number)/\(proto)"
    }
}

/// Times as configs write them, and the fixed build time: `SOURCE_DATE_EPOCH` when set, else the Unix epoch.
public enum BuildTime {
    /// Seconds since the epoch for reproducible builds: `$SOURCE_DATE_EPOCH` when it is a number, else 0.
    public static var sourceDateEpoch: Int64 {
        if let text = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"], let value = Int64(text), value >= 0 {
            return value
        }
        return 0
    }

    /// RFC 3339 in UTC with a `Z` (`1970-01-01T00:00:00Z`).
    public static func rfc3339(_ seconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    /// Parses RFC 3339 (with or without fractional seconds).
    public static func parse(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        if let date = plain.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }
}

/// An image config as a JSON object, so that an edit keeps every field it does not touch (Healthcheck,
/// OnBuild, fields of newer specs) while it changes the ones it does.
struct ConfigDocument {
    var object: [String: JSONValue]

    init(bytes: [UInt8]) throws(BuildError) {
        do {
            guard case .object(let object) = try JSONCoding.decode(JSONValue.self, from: bytes) else {
                throw BuildError.invalidArgument("the image config is not a JSON object")
            }
            self.object = object
        } catch let error as BuildError {
            throw error
        } catch {
            throw .invalidArgument("the image config is not valid JSON: \(error)")
        }
    }

    /// The config of an empty image for `platform`.
    init(scratch platform: Platform, created: String) {
        object = [
            "architecture": .string(platform.architecture), "os": .string(platform.os),
            "created": .string(created),
            "rootfs": .object(["type": .string("layers"), "diff_ids": .array([])]),
            "config": .object([:]),
        ]
        if let variant = platform.variant { object["variant"] = .string(variant) }
        if let version = platform.osVersion { object["os.version"] = .string(version) }
    }

    func encoded() throws(BuildError) -> [UInt8] {
        do { return try JSONCoding.encode(JSONValue.object(object)) } catch {
            throw .invalidArgument("cannot encode the image config: \(error)")
        }
    }

    var platform: Platform? {
        guard case .string(let arch)? = object["architecture"], case .string(let os)? = object["os"] else { return nil }
        var platform = Platform(architecture: arch, os: os)
        if case .string(let variant)? = object["variant"], !variant.isEmpty { platform.variant = variant }
        if case .string(let version)? = object["os.version"], !version.isEmpty { platform.osVersion = version }
        return platform
    }

    var diffIDs: [String] {
        get {
            guard case .object(let rootfs)? = object["rootfs"], case .array(let ids)? = rootfs["diff_ids"] else { return [] }
            return ids.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
        }
        set {
            var rootfs: [String: JSONValue] = [:]
            if case .object(let existing)? = object["rootfs"] { rootfs = existing }
            rootfs["type"] = .string("layers")
            rootfs["diff_ids"] = .array(newValue.map(JSONValue.string))
            object["rootfs"] = .object(rootfs)
        }
    }

    var history: [JSONValue] {
        get { if case .array(let entries)? = object["history"] { return entries } else { return [] } }
        set { object["history"] = newValue.isEmpty ? nil : .array(newValue) }
    }

    mutating func appendHistory(_ entry: ImageConfiguration.History) throws(BuildError) {
        do {
            let bytes = try JSONCoding.encode(entry)
            history.append(try JSONCoding.decode(JSONValue.self, from: bytes))
        } catch {
            throw .invalidArgument("cannot encode a history entry: \(error)")
        }
    }

    /// Applies the config part of an edit (annotations are the manifest's).
    mutating func apply(_ edit: ImageEdit) throws(BuildError) {
        try edit.validate()
        var runtime: [String: JSONValue] = [:]
        if case .object(let existing)? = object["config"] { runtime = existing }
        if let entrypoint = edit.entrypoint {
            runtime["Entrypoint"] = entrypoint.isEmpty ? nil : .array(entrypoint.map(JSONValue.string))
        }
        if let cmd = edit.cmd { runtime["Cmd"] = cmd.isEmpty ? nil : .array(cmd.map(JSONValue.string)) }
        if !edit.env.isEmpty || !edit.removeEnv.isEmpty {
            var env: [String] = []
            if case .array(let entries)? = runtime["Env"] {
                env = entries.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
            }
            func key(_ entry: String) -> Substring { entry.split(separator: "=", maxSplits: 1).first ?? Substring(entry) }
            let removed = Set(edit.removeEnv)
            env.removeAll { removed.contains(String(key($0))) }
            for entry in edit.env {
                if let at = env.firstIndex(where: { key($0) == key(entry) }) { env[at] = entry } else { env.append(entry) }
            }
            runtime["Env"] = env.isEmpty ? nil : .array(env.map(JSONValue.string))
        }
        if let dir = edit.workingDir { runtime["WorkingDir"] = dir.isEmpty ? nil : .string(dir) }
        if let user = edit.user { runtime["User"] = user.isEmpty ? nil : .string(user) }
        if let signal = edit.stopSignal { runtime["StopSignal"] = signal.isEmpty ? nil : .string(signal) }
        if !edit.labels.isEmpty || !edit.removeLabels.isEmpty {
            var labels: [String: JSONValue] = [:]
            if case .object(let existing)? = runtime["Labels"] { labels = existing }
            for key in edit.removeLabels { labels[key] = nil }
            for (key, value) in edit.labels { labels[key] = .string(value) }
            runtime["Labels"] = labels.isEmpty ? nil : .object(labels)
        }
        if !edit.exposedPorts.isEmpty {
            var ports: [String: JSONValue] = [:]
            if case .object(let existing)? = runtime["ExposedPorts"] { ports = existing }
            for port in edit.exposedPorts { ports[try ImageEdit.normalisedPort(port)] = .object([:]) }
            runtime["ExposedPorts"] = .object(ports)
        }
        object["config"] = .object(runtime)
        if let created = edit.created { object["created"] = .string(created) }
        if let platform = edit.platform {
            object["architecture"] = .string(platform.architecture)
            object["os"] = .string(platform.os)
            object["variant"] = platform.variant.map(JSONValue.string)
            object["os.version"] = platform.osVersion.map(JSONValue.string)
        }
        for entry in edit.history { try appendHistory(entry) }
    }
}
