import Foundation

/// Credentials from environment variables, for CI. Read by ``KeyringBuilder`` unless disabled, in this order:
///
/// | Variable | Meaning |
/// |---|---|
/// | `OCI_REGISTRY_HOST` | The address(es) the following credentials are for, separated by `,` or whitespace (e.g. `ghcr.io`, `registry.example.com:5000/team`). Required when `OCI_REGISTRY_USERNAME` or `OCI_REGISTRY_PASSWORD` is set; there is no catch-all. |
/// | `OCI_REGISTRY_USERNAME` | User name for `OCI_REGISTRY_HOST`. |
/// | `OCI_REGISTRY_PASSWORD` | Password or access token (sent with basic auth / the token flow) for `OCI_REGISTRY_HOST`. |
/// | `OCI_AUTH_CONFIG` | The JSON text of a docker `config.json` (`{"auths":{…}}`, `credHelpers`, `credsStore`), like GitLab's `DOCKER_AUTH_CONFIG`. |
/// | `DOCKER_AUTH_CONFIG` | The same, GitLab CI's variable name; read after `OCI_AUTH_CONFIG`. |
///
/// Variables that are unset or empty are ignored. Credentials get the source `env:<VARIABLE>`.
/// Invalid values (user name without host, invalid JSON) fail the build with ``CredentialsError/invalidEnvironment(variable:reason:)``
/// or ``CredentialsError/invalidConfig(origin:reason:)`` naming the variable, never its value.
public enum EnvironmentCredentials {
    public static let hostVariable = "OCI_REGISTRY_HOST"
    public static let usernameVariable = "OCI_REGISTRY_USERNAME"
    public static let passwordVariable = "OCI_REGISTRY_PASSWORD"
    public static let authConfigVariable = "OCI_AUTH_CONFIG"
    public static let dockerAuthConfigVariable = "DOCKER_AUTH_CONFIG"

    /// A source of credentials found in the environment.
    public enum Item: Sendable {
        /// Fixed credentials for these addresses.
        case credential(addresses: [String], credential: Credential)
        /// A docker config given as JSON text; `origin` is `env:<VARIABLE>`.
        case config(DockerConfig, origin: String)
    }

    /// The credential sources defined by `environment`, in the documented order.
    public static func items(from environment: [String: String]) throws(CredentialsError) -> [Item] {
        var items: [Item] = []
        let username = Credential.nonEmpty(environment[usernameVariable])
        let password = Credential.nonEmpty(environment[passwordVariable])
        let hosts = (environment[hostVariable] ?? "")
            .split(whereSeparator: { $0 == "," || $0.isWhitespace })
            .map(String.init)
        if username != nil || password != nil {
            guard !hosts.isEmpty else {
                throw .invalidEnvironment(variable: username != nil ? usernameVariable : passwordVariable,
                                          reason: "set \(hostVariable) to the registry host these credentials are for (e.g. ghcr.io)")
            }
            for host in hosts {
                do { _ = try RegistryAddress(normalizing: host) } catch {
                    throw .invalidEnvironment(variable: hostVariable, reason: "\(String(reflecting: host)) is not a registry address")
                }
            }
            let label = username != nil ? usernameVariable : passwordVariable
            items.append(.credential(addresses: hosts,
                                     credential: Credential(username: username, password: password, source: "env:\(label)")))
        }
        for variable in [authConfigVariable, dockerAuthConfigVariable] {
            guard let text = Credential.nonEmpty(environment[variable]) else { continue }
            let origin = "env:\(variable)"
            items.append(.config(try DockerConfig(data: Data(text.utf8), origin: origin), origin: origin))
        }
        return items
    }
}
