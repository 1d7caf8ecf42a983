import Foundation

/// Where docker and podman keep their credentials, computed from an (injectable) environment and home directory.
public enum ConfigLocations {
    /// `$HOME`, else the user's home directory as Foundation knows it.
    public static func homeDirectory(environment: [String: String]) -> String {
        Credential.nonEmpty(environment["HOME"]) ?? NSHomeDirectory()
    }

    /// `$DOCKER_CONFIG`, else `<home>/.docker`.
    public static func dockerConfigDirectory(environment: [String: String], homeDirectory: String? = nil) -> String {
        if let directory = Credential.nonEmpty(environment["DOCKER_CONFIG"]) { return directory }
        let home = homeDirectory ?? Self.homeDirectory(environment: environment)
        return (home as NSString).appendingPathComponent(".docker")
    }

    /// The default docker config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    public static func dockerConfigFile(environment: [String: String], homeDirectory: String? = nil) -> String {
        (dockerConfigDirectory(environment: environment, homeDirectory: homeDirectory) as NSString)
            .appendingPathComponent("config.json")
    }

    /// podman / containers `auth.json` files, in the order they are read: `$REGISTRY_AUTH_FILE`,
    /// `$XDG_RUNTIME_DIR/containers/auth.json`, `$XDG_CONFIG_HOME/containers/auth.json` (default
    /// `~/.config/containers/auth.json`). Duplicates are removed; existence is not checked.
    public static func podmanAuthFiles(environment: [String: String], homeDirectory: String? = nil) -> [String] {
        var files: [String] = []
        if let file = Credential.nonEmpty(environment["REGISTRY_AUTH_FILE"]) { files.append(file) }
        if let runtime = Credential.nonEmpty(environment["XDG_RUNTIME_DIR"]) {
            files.append((runtime as NSString).appendingPathComponent("containers/auth.json"))
        }
        let home = homeDirectory ?? Self.homeDirectory(environment: environment)
        let configHome = Credential.nonEmpty(environment["XDG_CONFIG_HOME"]) ?? (home as NSString).appendingPathComponent(".config")
        files.append((configHome as NSString).appendingPathComponent("containers/auth.json"))
        var seen = Set<String>()
        return files.filter { seen.insert(($0 as NSString).standardizingPath).inserted }
    }
}
