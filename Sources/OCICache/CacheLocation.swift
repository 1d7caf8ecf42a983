import Foundation

extension ContentCache {
    /// The environment variable that sets the cache directory.
    public static let directoryEnvironmentVariable = "OCI_CACHE_DIR"

    /// The shared per-user cache directory: `$OCI_CACHE_DIR`, else `$XDG_CACHE_HOME/ociclient` (absolute paths
    /// only, as the XDG spec says), else `$HOME/.cache/ociclient`, else the user's home directory's `.cache/ociclient`.
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let dir = environment[directoryEnvironmentVariable], !dir.isEmpty { return dir }
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") { return join(xdg, "ociclient") }
        if let home = environment["HOME"], !home.isEmpty { return join(home, ".cache/ociclient") }
        return join(NSHomeDirectory(), ".cache/ociclient")
    }

    private static func join(_ base: String, _ component: String) -> String {
        base.hasSuffix("/") ? base + component : base + "/" + component
    }
}
