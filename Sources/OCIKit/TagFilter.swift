import Foundation

/// Which tags of a repository a listing, a repository copy or a sync takes: regular expressions to include and
/// exclude, a semantic-version range, and the newest N.
///
/// Filters apply in that order: a tag must match some `include` (when any are given), match no `exclude`, and
/// parse as a version inside `semver` (when given); then `limit` keeps the last N in the registry's order, or the
/// N highest versions when `semver` is set.
public struct TagFilter: Sendable {
    public let include: [String]
    public let exclude: [String]
    public let semver: SemanticVersionRange?
    public let limit: Int?

    private let includeExpressions: [NSRegularExpressionBox]
    private let excludeExpressions: [NSRegularExpressionBox]

    /// Throws `OCIClientError.invalidArgument` for an expression that does not compile or a negative limit.
    public init(include: [String] = [], exclude: [String] = [], semver: SemanticVersionRange? = nil, limit: Int? = nil) throws {
        self.include = include
        self.exclude = exclude
        self.semver = semver
        if let limit, limit < 0 { throw OCIClientError.invalidArgument("the tag limit must not be negative, got \(limit)") }
        self.limit = limit
        includeExpressions = try include.map(NSRegularExpressionBox.init)
        excludeExpressions = try exclude.map(NSRegularExpressionBox.init)
    }

    /// The tags of `tags` that pass, in their order (by version for `semver` filters).
    public func apply(_ tags: [String]) -> [String] {
        var kept = tags.filter { tag in
            (includeExpressions.isEmpty || includeExpressions.contains { $0.matches(tag) })
                && !excludeExpressions.contains { $0.matches(tag) }
        }
        if let semver {
            let versioned = kept.compactMap { tag in SemanticVersion(parsing: tag).map { (tag, $0) } }
                .filter { semver.contains($0.1) }
                .sorted { $0.1 < $1.1 }
            kept = versioned.map(\.0)
        }
        if let limit, kept.count > limit { kept = Array(kept.suffix(limit)) }
        return kept
    }
}

/// A compiled regular expression (anchored only where the pattern says so), Sendable by immutability.
struct NSRegularExpressionBox: @unchecked Sendable {
    let expression: NSRegularExpression

    init(_ pattern: String) throws {
        do {
            expression = try NSRegularExpression(pattern: pattern)
        } catch {
            throw OCIClientError.invalidArgument("invalid regular expression \"\(pattern)\": \(error.localizedDescription)")
        }
    }

    func matches(_ text: String) -> Bool {
        expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}

/// A semantic version as tags write them: `1.2.3`, `v1.2`, `1.2.3-rc.1`; missing minor and patch are 0.
public struct SemanticVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var patch: Int
    /// Dot-separated pre-release identifiers (`rc.1`); empty for a release.
    public var prerelease: [String]

    public init(major: Int, minor: Int = 0, patch: Int = 0, prerelease: [String] = []) {
        self.major = major
        self.minor = minor
        self.patch = patch
        self.prerelease = prerelease
    }

    /// Parses `[v]MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD]`; nil otherwise.
    public init?(parsing text: String) {
        var rest = Substring(text)
        if rest.first == "v" || rest.first == "V" { rest = rest.dropFirst() }
        if let plus = rest.firstIndex(of: "+") { rest = rest[..<plus] }
        var prerelease: [String] = []
        if let dash = rest.firstIndex(of: "-") {
            prerelease = rest[rest.index(after: dash)...].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !prerelease.isEmpty, prerelease.allSatisfy({ !$0.isEmpty }) else { return nil }
            rest = rest[..<dash]
        }
        let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) }) else { return nil }
        let numbers = parts.compactMap { Int($0) }
        guard numbers.count == parts.count, numbers.allSatisfy({ $0 >= 0 }) else { return nil }
        self.init(major: numbers[0], minor: numbers.count > 1 ? numbers[1] : 0, patch: numbers.count > 2 ? numbers[2] : 0,
                  prerelease: prerelease)
    }

    public var description: String {
        "\(major).\(minor).\(patch)" + (prerelease.isEmpty ? "" : "-" + prerelease.joined(separator: "."))
    }

    public static func < (a: SemanticVersion, b: SemanticVersion) -> Bool {
        if (a.major, a.minor, a.patch) != (b.major, b.minor, b.patch) {
            return (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
        }
        // A pre-release sorts before its release; identifiers compare numerically when both are numbers.
        switch (a.prerelease.isEmpty, b.prerelease.isEmpty) {
        case (true, true), (true, false): return false
        case (false, true): return true
        case (false, false):
            for (x, y) in zip(a.prerelease, b.prerelease) where x != y {
                switch (Int(x), Int(y)) {
                case let (i?, j?): return i < j
                case (.some, nil): return true
                case (nil, .some): return false
                case (nil, nil): return x < y
                }
            }
            return a.prerelease.count < b.prerelease.count
        }
    }
}

/// A range of semantic versions: space-separated comparators that must all hold (`>=1.2 <2`), alternatives
/// joined by `||`, and the shorthands `^1.2` (same major), `~1.2` (same minor), `1.x` / `1.2.*` (wildcards) and
/// a bare version (exactly it). Pre-releases are included only when the range names one of the same
/// `major.minor.patch`, as npm and Masterminds/semver do.
public struct SemanticVersionRange: Sendable, CustomStringConvertible {
    struct Comparator: Sendable {
        enum Operation: Sendable { case less, lessOrEqual, greater, greaterOrEqual, equal }
        var operation: Operation
        var version: SemanticVersion

        func holds(_ v: SemanticVersion) -> Bool {
            switch operation {
            case .less: return v < version
            case .lessOrEqual: return v <= version
            case .greater: return v > version
            case .greaterOrEqual: return v >= version
            case .equal: return v == version
            }
        }
    }

    private let alternatives: [[Comparator]]
    public let description: String

    /// Throws `OCIClientError.invalidArgument` naming the part it cannot read.
    public init(parsing text: String) throws {
        description = text
        var alternatives: [[Comparator]] = []
        for alternative in text.components(separatedBy: "||") {
            var comparators: [Comparator] = []
            for token in alternative.split(separator: " ").map(String.init) where !token.isEmpty {
                comparators += try Self.parse(token)
            }
            guard !comparators.isEmpty else { throw OCIClientError.invalidArgument("empty version range in \"\(text)\"") }
            alternatives.append(comparators)
        }
        self.alternatives = alternatives
    }

    public func contains(_ version: SemanticVersion) -> Bool {
        alternatives.contains { comparators in
            guard comparators.allSatisfy({ $0.holds(version) }) else { return false }
            guard !version.prerelease.isEmpty else { return true }
            return comparators.contains { c in
                !c.version.prerelease.isEmpty
                    && (c.version.major, c.version.minor, c.version.patch) == (version.major, version.minor, version.patch)
            }
        }
    }

    private static func parse(_ token: String) throws -> [Comparator] {
        func version(_ text: Substring) throws -> SemanticVersion {
            guard let v = SemanticVersion(parsing: String(text)) else {
                throw OCIClientError.invalidArgument("\"\(text)\" is not a version (expected MAJOR[.MINOR[.PATCH]])")
            }
            return v
        }
        for (prefix, operation) in [(">=", Comparator.Operation.greaterOrEqual), ("<=", .lessOrEqual), (">", .greater),
                                    ("<", .less), ("=", .equal)] where token.hasPrefix(prefix) {
            return [Comparator(operation: operation, version: try version(token.dropFirst(prefix.count)))]
        }
        if token.hasPrefix("^") {
            let low = try version(token.dropFirst())
            let high = low.major > 0 ? SemanticVersion(major: low.major + 1)
                : low.minor > 0 ? SemanticVersion(major: 0, minor: low.minor + 1) : SemanticVersion(major: 0, minor: 0, patch: low.patch + 1)
            return [Comparator(operation: .greaterOrEqual, version: low), Comparator(operation: .less, version: high)]
        }
        if token.hasPrefix("~") {
            let low = try version(token.dropFirst())
            return [Comparator(operation: .greaterOrEqual, version: low),
                    Comparator(operation: .less, version: SemanticVersion(major: low.major, minor: low.minor + 1))]
        }
        let parts = token.split(separator: ".")
        if let wildcard = parts.firstIndex(where: { $0 == "x" || $0 == "X" || $0 == "*" }) {
            let fixed = try parts[..<wildcard].map { part -> Int in
                guard let n = Int(part.trimmingCharacters(in: CharacterSet(charactersIn: "v"))) else {
                    throw OCIClientError.invalidArgument("\"\(token)\" is not a version range")
                }
                return n
            }
            switch fixed.count {
            case 0: return [Comparator(operation: .greaterOrEqual, version: SemanticVersion(major: 0))]
            case 1: return [Comparator(operation: .greaterOrEqual, version: SemanticVersion(major: fixed[0])),
                            Comparator(operation: .less, version: SemanticVersion(major: fixed[0] + 1))]
            default: return [Comparator(operation: .greaterOrEqual, version: SemanticVersion(major: fixed[0], minor: fixed[1])),
                             Comparator(operation: .less, version: SemanticVersion(major: fixed[0], minor: fixed[1] + 1))]
            }
        }
        return [Comparator(operation: .equal, version: try version(Substring(token)))]
    }
}
