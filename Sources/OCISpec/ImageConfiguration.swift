/// An OCI image configuration (`application/vnd.oci.image.config.v1+json`, and Docker's, which has the same
/// shape), decoded for reading. Fields this type does not know are not kept: code that must keep a config's
/// exact bytes works on the bytes.
public struct ImageConfiguration: Hashable, Sendable, Codable {
    /// The runtime settings of a container made from the image.
    public struct Runtime: Hashable, Sendable, Codable {
        public var user: String?
        public var exposedPorts: [String: JSONValue]?
        public var env: [String]?
        public var entrypoint: [String]?
        public var cmd: [String]?
        public var volumes: [String: JSONValue]?
        public var workingDir: String?
        public var labels: [String: String]?
        public var stopSignal: String?

        public init() {}

        enum CodingKeys: String, CodingKey {
            case user = "User", exposedPorts = "ExposedPorts", env = "Env", entrypoint = "Entrypoint", cmd = "Cmd"
            case volumes = "Volumes", workingDir = "WorkingDir", labels = "Labels", stopSignal = "StopSignal"
        }
    }

    /// The layers' uncompressed digests.
    public struct RootFS: Hashable, Sendable, Codable {
        public var type: String
        public var diffIDs: [OCIDigest]

        public init(type: String = "layers", diffIDs: [OCIDigest] = []) {
            self.type = type
            self.diffIDs = diffIDs
        }

        enum CodingKeys: String, CodingKey { case type, diffIDs = "diff_ids" }
    }

    /// One history entry (Go: `ocispecv1.History`). Empty strings and a false `empty_layer` are left out of the
    /// JSON, as Go's `omitempty` does.
    public struct History: Hashable, Sendable, Codable {
        /// RFC 3339 time.
        public var created: String?
        /// The command that made the layer.
        public var createdBy: String?
        public var author: String?
        public var comment: String?
        /// True for history entries without a layer; nil (absent) otherwise.
        public var emptyLayer: Bool?

        public init(created: String? = nil, createdBy: String? = nil, author: String? = nil, comment: String? = nil,
                    emptyLayer: Bool? = nil) {
            self.created = created
            self.createdBy = createdBy
            self.author = author
            self.comment = comment
            self.emptyLayer = emptyLayer
        }

        enum CodingKeys: String, CodingKey {
            case created, author, comment, createdBy = "created_by", emptyLayer = "empty_layer"
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            if let created { try c.encode(created, forKey: .created) }
            if let createdBy, !createdBy.isEmpty { try c.encode(createdBy, forKey: .createdBy) }
            if let author, !author.isEmpty { try c.encode(author, forKey: .author) }
            if let comment, !comment.isEmpty { try c.encode(comment, forKey: .comment) }
            if emptyLayer == true { try c.encode(true, forKey: .emptyLayer) }
        }
    }

    public var created: String?
    public var author: String?
    public var architecture: String?
    public var os: String?
    public var osVersion: String?
    public var variant: String?
    public var config: Runtime?
    public var rootfs: RootFS?
    public var history: [History]?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case created, author, architecture, os, variant, config, rootfs, history, osVersion = "os.version"
    }

    /// The platform the config names, when it names one.
    public var platform: Platform? {
        guard let architecture, let os else { return nil }
        return Platform(architecture: architecture, os: os, osVersion: osVersion, variant: variant)
    }
}
