import OCICredentials
import OCIReference
import OCIRegistry

extension OCIClient {
    /// Checks `credential` with the registry at `host` (as `docker login` does: a request the registry must
    /// authorise), then stores it in the docker config file at `configFile` (the default one when nil), through
    /// its credential helper when it names one. Nothing is stored when the check fails.
    public static func login(host: String, credential: Credential, configFile: String? = nil,
                             configuration: RegistryClient.Configuration = RegistryClient.Configuration()) async throws {
        let keyring = Keyring()
        _ = keyring.add(address: host, credential: credential)
        var checked = configuration
        checked.credentials = keyring
        let client = try RegistryClient(configuration: checked)
        do {
            try await client.checkLogin(host: host)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
        _ = try DockerConfigWriter(path: configFile).store(credential, for: DockerHub.credentialKey(for: host))
    }

    /// Removes the credentials stored for `host` from the docker config file (or its helper). Returns whether
    /// there were any.
    @discardableResult
    public static func logout(host: String, configFile: String? = nil) throws -> Bool {
        try DockerConfigWriter(path: configFile).erase(address: DockerHub.credentialKey(for: host))
    }
}
