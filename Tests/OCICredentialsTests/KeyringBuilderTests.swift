import Foundation
import XCTest
@testable import OCICredentials

/// F39: the builder's sources, their order, the environment, pull secrets and default files.
final class KeyringBuilderTests: XCTestCase {
    var dir: TemporaryDirectory!

    override func setUpWithError() throws { dir = try TemporaryDirectory() }
    override func tearDown() { dir = nil }

    func b64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    /// A config with one `auths` entry per (address, user).
    func config(_ entries: [(String, String)]) -> String {
        let auths = entries.map { "\"\($0.0)\": {\"auth\": \"\(b64("\($0.1):pw-\($0.1)"))\"}" }.joined(separator: ", ")
        return "{\"auths\": {\(auths)}}"
    }

    /// An isolated environment: home in the temp dir, no CI variables.
    var home: String { dir.file("home") }
    var isolated: [String: String] { ["HOME": home, "PATH": "/usr/bin:/bin"] }

    // MARK: order

    /// The documented order: in-code, environment, pull secrets, explicit files, default docker config, podman auth.json.
    func testMergeOrder() throws {
        let address = "reg.example.com"
        try dir.write("home/.docker/config.json", config([(address, "default-docker"), ("only-docker.example.com", "docker")]))
        try dir.write("home/.config/containers/auth.json", config([(address, "podman"), ("only-podman.example.com", "podman")]))
        let explicitA = try dir.write("a.json", config([(address, "file-a")]))
        let explicitB = try dir.write("b.json", config([(address, "file-b"), ("only-b.example.com", "b")]))
        let secret = PullSecret.dockerConfigJSON(Data(config([(address, "secret")]).utf8), name: "regcred")
        var environment = isolated
        environment["OCI_AUTH_CONFIG"] = config([(address, "env")])

        func first(_ builder: KeyringBuilder) throws -> String? {
            try builder.build().get(resource: "\(address)/team/app")?.username
        }
        let all = KeyringBuilder(environment: environment)
            .withCredential(Credential(username: "in-code", password: "x"), for: address)
            .fromPullSecrets(secret)
            .fromConfigFiles(explicitA)
            .fromConfigFiles(explicitB)
        XCTAssertEqual(try first(all), "in-code")

        var noCode = KeyringBuilder(environment: environment).fromPullSecrets(secret).fromConfigFiles(explicitA, explicitB)
        XCTAssertEqual(try first(noCode), "env")
        noCode = noCode.withEnvironment(isolated)
        XCTAssertEqual(try first(noCode), "secret")
        XCTAssertEqual(try first(KeyringBuilder(environment: isolated).fromConfigFiles(explicitA, explicitB)), "file-a")
        XCTAssertEqual(try first(KeyringBuilder(environment: isolated).fromConfigFiles(explicitB, explicitA)), "file-b")
        XCTAssertEqual(try first(KeyringBuilder(environment: isolated)), "default-docker")
        try FileManager.default.removeItem(atPath: dir.file("home/.docker/config.json"))
        XCTAssertEqual(try first(KeyringBuilder(environment: isolated)), "podman")
        XCTAssertNil(try first(KeyringBuilder(environment: isolated).disableDefaultConfig()))

        // Every source still contributes the addresses only it has.
        try dir.write("home/.docker/config.json", config([("only-docker.example.com", "docker")]))
        let keyring = try all.build()
        XCTAssertEqual(keyring.get(resource: "only-docker.example.com/x")?.username, "docker")
        XCTAssertEqual(keyring.get(resource: "only-podman.example.com/x")?.username, "podman")
        XCTAssertEqual(keyring.get(resource: "only-b.example.com/x")?.username, "b")
    }

    /// A more specific key wins over a less specific one from an earlier source.
    func testSpecificityBeatsSourceOrder() throws {
        let file = try dir.write("a.json", config([("reg.example.com/team", "file-team")]))
        let keyring = try KeyringBuilder(environment: isolated).disableDefaultConfig()
            .withCredential(Credential(username: "in-code"), for: "reg.example.com")
            .fromConfigFiles(file).build()
        XCTAssertEqual(keyring.get(resource: "reg.example.com/team/app")?.username, "file-team")
        XCTAssertEqual(keyring.get(resource: "reg.example.com/other/app")?.username, "in-code")
    }

    /// Fix: repeated fromConfigFiles calls append (Go replaced the list).
    func testFixRepeatedFromConfigFilesAppend() throws {
        let a = try dir.write("a.json", config([("a.example.com", "a")]))
        let b = try dir.write("b.json", config([("b.example.com", "b")]))
        let keyring = try KeyringBuilder(environment: isolated).disableDefaultConfig().fromConfigFiles(a).fromConfigFiles(b).build()
        XCTAssertEqual(keyring.get(resource: "a.example.com/x")?.username, "a")
        XCTAssertEqual(keyring.get(resource: "b.example.com/x")?.username, "b")
        let secrets = try KeyringBuilder(environment: isolated).disableDefaultConfig()
            .fromPullSecrets(.dockerConfigJSON(Data(config([("s1.example.com", "s1")]).utf8)))
            .fromPullSecrets(.dockerConfigJSON(Data(config([("s2.example.com", "s2")]).utf8)))
            .build()
        XCTAssertEqual(secrets.size, 2)
    }

    // MARK: default files

    func testDockerConfigVariableAndDeduplication() throws {
        let configDir = dir.file("custom-docker")
        try dir.write("custom-docker/config.json", config([("custom.example.com", "custom")]))
        try dir.write("home/.docker/config.json", config([("home.example.com", "home")]))
        var environment = isolated
        environment["DOCKER_CONFIG"] = configDir
        let keyring = try KeyringBuilder(environment: environment).build()
        XCTAssertEqual(keyring.get(resource: "custom.example.com/x")?.username, "custom")
        XCTAssertNil(keyring.get(resource: "home.example.com/x"), "DOCKER_CONFIG replaces ~/.docker")

        // The default file given explicitly too is read once.
        let builder = KeyringBuilder(environment: environment).fromConfigFiles((configDir as NSString).appendingPathComponent("config.json"))
        XCTAssertEqual(try builder.build().size, 1)
    }

    func testInvalidDefaultFileFailsButMissingIsSkipped() throws {
        XCTAssertEqual(try KeyringBuilder(environment: isolated).build().size, 0)
        try dir.write("home/.docker/config.json", "{not json")
        XCTAssertThrowsError(try KeyringBuilder(environment: isolated).build())
        XCTAssertNoThrow(try KeyringBuilder(environment: isolated).disableDefaultConfig().build())
    }

    func testPodmanAuthFileLocations() throws {
        var environment = isolated
        environment["REGISTRY_AUTH_FILE"] = dir.file("explicit-auth.json")
        environment["XDG_RUNTIME_DIR"] = dir.file("run")
        environment["XDG_CONFIG_HOME"] = dir.file("xdg")
        XCTAssertEqual(ConfigLocations.podmanAuthFiles(environment: environment), [
            dir.file("explicit-auth.json"), dir.file("run/containers/auth.json"), dir.file("xdg/containers/auth.json"),
        ])
        XCTAssertEqual(ConfigLocations.podmanAuthFiles(environment: isolated), [dir.file("home/.config/containers/auth.json")])

        try dir.write("explicit-auth.json", config([("reg.example.com", "registry-auth-file"), ("a.example.com", "a")]))
        try dir.write("run/containers/auth.json", config([("reg.example.com", "runtime"), ("b.example.com", "b")]))
        // podman's auth.json may hold namespaced keys.
        try dir.write("xdg/containers/auth.json", config([("reg.example.com/ns/repo", "xdg")]))
        let keyring = try KeyringBuilder(environment: environment).build()
        XCTAssertEqual(keyring.get(resource: "reg.example.com/x")?.username, "registry-auth-file")
        XCTAssertEqual(keyring.get(resource: "b.example.com/x")?.username, "b")
        XCTAssertEqual(keyring.get(resource: "reg.example.com/ns/repo:1")?.username, "xdg")
    }

    func testHomeDirectoryCanBeInjected() throws {
        try dir.write("otherhome/.docker/config.json", config([("home.example.com", "other")]))
        let keyring = try KeyringBuilder(environment: isolated).withHomeDirectory(dir.file("otherhome")).build()
        XCTAssertEqual(keyring.get(resource: "home.example.com/x")?.username, "other")
    }

    // MARK: environment

    func testEnvironmentUsernamePasswordScopedByHost() throws {
        var environment = isolated
        environment["OCI_REGISTRY_USERNAME"] = "ci-user"
        environment["OCI_REGISTRY_PASSWORD"] = "ci-pass"
        environment["OCI_REGISTRY_HOST"] = "ghcr.io, registry.example.com:5000/team"
        let keyring = try KeyringBuilder(environment: environment).build()
        let found = try XCTUnwrap(keyring.get(resource: "ghcr.io/org/app:1"))
        XCTAssertEqual(found, Credential(username: "ci-user", password: "ci-pass"))
        XCTAssertEqual(found.source, "env:OCI_REGISTRY_USERNAME")
        XCTAssertEqual(keyring.get(resource: "registry.example.com:5000/team/app")?.username, "ci-user")
        XCTAssertNil(keyring.get(resource: "registry.example.com:5000/other/app"))
        XCTAssertNil(keyring.get(resource: "ubuntu"), "environment credentials are never a catch-all")
        XCTAssertNil(try KeyringBuilder(environment: environment).disableEnvironmentCredentials().build().get(resource: "ghcr.io/org/app"))
    }

    func testEnvironmentCredentialsNeedAHost() {
        var environment = isolated
        environment["OCI_REGISTRY_USERNAME"] = "ci-user"
        XCTAssertThrowsError(try KeyringBuilder(environment: environment).build()) { error in
            XCTAssertEqual(error as? CredentialsError, .invalidEnvironment(
                variable: "OCI_REGISTRY_USERNAME", reason: "set OCI_REGISTRY_HOST to the registry host these credentials are for (e.g. ghcr.io)"))
        }
    }

    func testEnvironmentAuthConfigs() throws {
        var environment = isolated
        environment["OCI_AUTH_CONFIG"] = config([("a.example.com", "oci"), ("both.example.com", "oci")])
        environment["DOCKER_AUTH_CONFIG"] = config([("b.example.com", "gitlab"), ("both.example.com", "gitlab")])
        let keyring = try KeyringBuilder(environment: environment).build()
        XCTAssertEqual(keyring.get(resource: "a.example.com/x")?.username, "oci")
        XCTAssertEqual(keyring.get(resource: "b.example.com/x")?.username, "gitlab")
        XCTAssertEqual(keyring.get(resource: "both.example.com/x")?.username, "oci", "OCI_AUTH_CONFIG before DOCKER_AUTH_CONFIG")
        XCTAssertEqual(keyring.get(resource: "a.example.com/x")?.source, "env:OCI_AUTH_CONFIG")

        environment["DOCKER_AUTH_CONFIG"] = "{oops"
        XCTAssertThrowsError(try KeyringBuilder(environment: environment).build()) { error in
            XCTAssertEqual(error as? CredentialsError, .invalidConfig(origin: "env:DOCKER_AUTH_CONFIG", reason: "not valid JSON"))
        }
    }

    // MARK: pull secrets

    func testPullSecretForms() throws {
        let dockerConfigJSON = config([("secret.example.com", "json")])
        let secretObject = """
        {"apiVersion":"v1","kind":"Secret","metadata":{"name":"regcred","namespace":"prod"},
         "type":"kubernetes.io/dockerconfigjson","data":{".dockerconfigjson":"\(b64(dockerConfigJSON))"}}
        """
        let legacyObject = """
        {"apiVersion":"v1","kind":"Secret","metadata":{"name":"old"},"type":"kubernetes.io/dockercfg",
         "data":{".dockercfg":"\(b64(#"{"https://legacy.example.com":{"auth":"\#(b64("legacyuser:pw"))","email":"a@b"}}"#))"}}
        """
        let stringDataObject = """
        {"kind":"Secret","type":"kubernetes.io/dockerconfigjson","stringData":{".dockerconfigjson":\(String(reflecting: config([("string.example.com", "strdata")])))}}
        """
        let opaque = #"{"kind":"Secret","type":"Opaque","data":{"x":"eA=="}}"#

        let secrets = try [
            PullSecret(json: Data(secretObject.utf8)),
            PullSecret(json: Data(legacyObject.utf8)),
            PullSecret(json: Data(stringDataObject.utf8)),
            PullSecret(json: Data(opaque.utf8)),
            PullSecret(json: Data(config([("decoded.example.com", "decoded")]).utf8), name: "decoded"),
            PullSecret(json: Data(#"{"raw.example.com":{"auth":"\#(b64("rawlegacy:pw"))"}}"#.utf8)),
        ]
        XCTAssertEqual(secrets[0].name, "prod/regcred")
        XCTAssertEqual(secrets[0].type, PullSecret.dockerConfigJSONType)
        XCTAssertEqual(secrets[1].type, PullSecret.dockerCfgType)
        XCTAssertEqual(secrets[4].type, PullSecret.dockerConfigJSONType)
        XCTAssertEqual(secrets[5].type, PullSecret.dockerCfgType)

        let keyring = try KeyringBuilder(environment: isolated).disableDefaultConfig().fromPullSecrets(secrets).build()
        XCTAssertEqual(keyring.get(resource: "secret.example.com/x")?.username, "json")
        XCTAssertEqual(keyring.get(resource: "secret.example.com/x")?.source, "pull-secret:prod/regcred")
        XCTAssertEqual(keyring.get(resource: "legacy.example.com/x")?.username, "legacyuser")
        XCTAssertEqual(keyring.get(resource: "string.example.com/x")?.username, "strdata")
        XCTAssertEqual(keyring.get(resource: "decoded.example.com/x")?.username, "decoded")
        XCTAssertEqual(keyring.get(resource: "raw.example.com/x")?.username, "rawlegacy")
        XCTAssertEqual(keyring.size, 5, "the Opaque secret is skipped")
    }

    func testInvalidPullSecrets() {
        XCTAssertThrowsError(try PullSecret(json: Data("[]".utf8)))
        XCTAssertThrowsError(try PullSecret(json: Data(#"{"kind":"Secret","type":"kubernetes.io/dockerconfigjson","data":{".dockerconfigjson":"%%"}}"#.utf8)))
        let missingKey = PullSecret(name: "broken", type: PullSecret.dockerConfigJSONType, data: [:])
        XCTAssertThrowsError(try KeyringBuilder(environment: isolated).disableDefaultConfig().fromPullSecrets(missingKey).build()) { error in
            guard case CredentialsError.invalidPullSecret(let name, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(name, "broken")
        }
    }

    func testExplicitKeyringIsMerged() throws {
        let own = Keyring()
        own.add(address: "own.example.com", credential: Credential(username: "own"))
        let keyring = try KeyringBuilder(environment: isolated).disableDefaultConfig().withKeyring(own).build()
        XCTAssertEqual(keyring.get(resource: "own.example.com/x")?.username, "own")
    }

    func testCredentialSourceChain() async throws {
        let first = Keyring()
        first.add(address: "a.example.com", credential: Credential(username: "first"))
        first.add(address: "c.example.com") { _ in throw CredentialsError.invalidAddress("boom") }
        let second = Keyring()
        second.add(address: "a.example.com", credential: Credential(username: "second"))
        second.add(address: "b.example.com", credential: Credential(username: "second-b"))
        let chain = CredentialSourceChain([first, second, AnonymousCredentialSource()])
        let a = try await chain.credential(forHost: "a.example.com", repository: "x")
        XCTAssertEqual(a?.username, "first")
        let b = try await chain.credential(forHost: "b.example.com", repository: "x")
        XCTAssertEqual(b?.username, "second-b")
        let none = try await chain.credential(forHost: "z.example.com", repository: "x")
        XCTAssertNil(none)
        do {
            _ = try await chain.credential(forHost: "c.example.com", repository: "")
            XCTFail("expected the getter's error")
        } catch {
            XCTAssertEqual(error as? CredentialsError, .invalidAddress("boom"))
        }
    }
}
