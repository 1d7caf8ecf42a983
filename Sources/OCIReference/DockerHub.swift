/// Everything the package knows about Docker Hub's names, in one place: references, the API host, credential
/// keys and the login key all read these.
public enum DockerHub {
    /// The short domain references use (`docker.io/library/alpine`).
    public static let domain = "docker.io"
    /// The canonical host of Docker Hub references and credential keys.
    public static let canonicalHost = "index.docker.io"
    /// The host that serves the registry API.
    public static let apiHost = "registry-1.docker.io"
    /// Every name of Docker Hub, in the order credential keys are preferred (Go tried `docker.io` first).
    public static let aliases = [domain, canonicalHost, apiHost]
    /// The key `docker login` writes in config files for Docker Hub.
    public static let loginKey = "https://index.docker.io/v1/"
    /// The namespace of official images (`alpine` is `library/alpine`).
    public static let officialNamespace = "library"

    /// Whether `host` is one of Docker Hub's names (case-insensitive).
    public static func isDockerHub(_ host: String) -> Bool {
        aliases.contains(host.lowercased())
    }

    /// The host to send requests to: the API host for Docker Hub, `host` otherwise.
    public static func endpoint(for host: String) -> String {
        isDockerHub(host) ? apiHost : host
    }

    /// The key credentials of `host` are stored under by `login`: the login key for Docker Hub, `host` otherwise.
    public static func credentialKey(for host: String) -> String {
        isDockerHub(host) ? loginKey : host
    }
}
