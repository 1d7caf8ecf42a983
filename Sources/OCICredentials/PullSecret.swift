import Foundation

/// A Kubernetes image pull secret: type `kubernetes.io/dockerconfigjson` (data key `.dockerconfigjson`, a docker
/// `config.json`) or the legacy `kubernetes.io/dockercfg` (data key `.dockercfg`, the flat `.dockercfg` format).
/// Secrets of other types are skipped by the builder.
public struct PullSecret: Sendable, Equatable {
    public static let dockerConfigJSONType = "kubernetes.io/dockerconfigjson"
    public static let dockerConfigJSONKey = ".dockerconfigjson"
    public static let dockerCfgType = "kubernetes.io/dockercfg"
    public static let dockerCfgKey = ".dockercfg"

    /// `metadata.name` (or `namespace/name`), used in errors and as provenance; "pull-secret" if unknown.
    public var name: String
    /// The secret's `type`.
    public var type: String
    /// The secret's data, already base64-decoded.
    public var data: [String: Data]

    public init(name: String = "pull-secret", type: String, data: [String: Data]) {
        self.name = name
        self.type = type
        self.data = data
    }

    /// A `kubernetes.io/dockerconfigjson` secret holding these (decoded) config bytes.
    public static func dockerConfigJSON(_ config: Data, name: String = "pull-secret") -> PullSecret {
        PullSecret(name: name, type: dockerConfigJSONType, data: [dockerConfigJSONKey: config])
    }

    /// A legacy `kubernetes.io/dockercfg` secret holding these (decoded) `.dockercfg` bytes.
    public static func dockerCfg(_ config: Data, name: String = "pull-secret") -> PullSecret {
        PullSecret(name: name, type: dockerCfgType, data: [dockerCfgKey: config])
    }

    /// Reads a secret given as JSON. Accepted forms:
    /// - the secret object (`{"kind":"Secret","type":…,"data":{".dockerconfigjson":"<base64>"}}`, `stringData` also read);
    /// - the decoded `.dockerconfigjson` bytes (`{"auths":{…}}`, or any object with `credsStore`/`credHelpers`);
    /// - the decoded legacy `.dockercfg` bytes (`{"<address>":{"auth":…}}`).
    public init(json: Data, name: String? = nil) throws(CredentialsError) {
        let label = name ?? "pull-secret"
        let object: [String: Any]
        do {
            guard let parsed = try JSONSerialization.jsonObject(with: json) as? [String: Any] else {
                throw CredentialsError.invalidPullSecret(name: label, reason: "the top level is not a JSON object")
            }
            object = parsed
        } catch let error as CredentialsError {
            throw error
        } catch {
            throw .invalidPullSecret(name: label, reason: "not valid JSON")
        }

        let looksLikeSecret = object["kind"] as? String == "Secret" || (object["type"] is String && (object["data"] != nil || object["stringData"] != nil))
        if looksLikeSecret {
            let metadata = object["metadata"] as? [String: Any]
            var secretName = name ?? (metadata?["name"] as? String) ?? "pull-secret"
            if name == nil, let namespace = metadata?["namespace"] as? String, !namespace.isEmpty { secretName = "\(namespace)/\(secretName)" }
            let type = object["type"] as? String ?? "Opaque"
            var data: [String: Data] = [:]
            if let encoded = object["data"] as? [String: Any] {
                for (key, value) in encoded {
                    guard let text = value as? String, let bytes = Data(base64Encoded: text.filter { !$0.isWhitespace }) else {
                        throw .invalidPullSecret(name: secretName, reason: "data[\(String(reflecting: key))] is not base64")
                    }
                    data[key] = bytes
                }
            }
            if let plain = object["stringData"] as? [String: Any] {
                for (key, value) in plain {
                    if let text = value as? String { data[key] = Data(text.utf8) }
                }
            }
            self.init(name: secretName, type: type, data: data)
        } else if object["auths"] != nil || object["credsStore"] != nil || object["credHelpers"] != nil {
            self = .dockerConfigJSON(json, name: label)
        } else {
            self = .dockerCfg(json, name: label)
        }
    }

    /// The docker config this secret holds; nil for secrets of other types. Throws for a secret of a docker type
    /// that lacks its data key or holds invalid JSON.
    public func dockerConfig() throws(CredentialsError) -> DockerConfig? {
        let origin = "pull-secret:\(name)"
        switch type {
        case Self.dockerConfigJSONType:
            guard let bytes = data[Self.dockerConfigJSONKey] else {
                throw .invalidPullSecret(name: name, reason: "no \(Self.dockerConfigJSONKey) key in data")
            }
            return try DockerConfig(data: bytes, origin: origin)
        case Self.dockerCfgType:
            guard let bytes = data[Self.dockerCfgKey] else {
                throw .invalidPullSecret(name: name, reason: "no \(Self.dockerCfgKey) key in data")
            }
            return try DockerConfig(legacyData: bytes, origin: origin)
        default:
            return nil
        }
    }
}
