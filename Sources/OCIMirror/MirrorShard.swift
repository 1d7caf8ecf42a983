/// One of N shares of a sync's work, so that N processes (or the N pods of a Kubernetes Indexed Job) share one
/// configuration without coordinating: every (repository, tag) belongs to exactly one shard, chosen by a stable
/// hash (FNV-1a, 64 bits) of `REPOSITORY:TAG` that is the same in every process, on every machine and in
/// every release.
public struct MirrorShard: Sendable, Hashable, CustomStringConvertible {
    /// 1-based: `1...count`.
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1, (1...count).contains(index) else {
            throw MirrorError.invalidShard("shard \(index) of \(count)")
        }
        self.index = index
        self.count = count
    }

    /// Parses `K/N` (1-based, as `--shard 1/2`).
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else {
            throw MirrorError.invalidShard("\"\(text)\" is not K/N")
        }
        try self.init(index: k, count: n)
    }

    /// The environment variable a Kubernetes Indexed Job sets in each pod (0-based).
    public static let completionIndexVariable = "JOB_COMPLETION_INDEX"

    /// The shard of a Kubernetes Indexed Job's pod: `JOB_COMPLETION_INDEX` (0-based) of `count` shards; nil when
    /// the variable is not set.
    public static func fromEnvironment(_ environment: [String: String], count: Int?) throws -> MirrorShard? {
        guard let text = environment[completionIndexVariable], !text.isEmpty else { return nil }
        guard let index = Int(text), index >= 0 else {
            throw MirrorError.invalidShard("\(completionIndexVariable)=\(text) is not a number")
        }
        guard let count else {
            throw MirrorError.invalidShard("\(completionIndexVariable)=\(text) is set but no shard count is: pass --shard-count N (the Job's completions) or set shards: N in the configuration")
        }
        return try MirrorShard(index: index + 1, count: count)
    }

    /// Whether this shard owns the tag `tag` of `repository`.
    public func owns(repository: String, tag: String) -> Bool {
        Int(Self.stableHash("\(repository):\(tag)") % UInt64(count)) == index - 1
    }

    /// FNV-1a over the UTF-8 bytes: stable across processes, unlike Swift's seeded `Hasher`.
    public static func stableHash(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    public var description: String { "\(index)/\(count)" }
}
