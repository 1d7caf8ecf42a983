import Foundation
import Logging
import OCICredentials
import OCISpec

/// When the client may speak plain HTTP to a registry.
public enum PlainHTTPPolicy: Sendable, Hashable {
    /// HTTPS only, except that loopback, private (RFC 1918) and `.local` hosts may fall back to HTTP.
    case privateHostsOnly
    /// Any host may fall back to HTTP when HTTPS fails (Go: `AllowPlainHttp`).
    case allowed
    /// HTTPS only, even for loopback hosts.
    case never
}

extension RegistryClient.Configuration {
/// TLS settings of one client: trust, client certificates (mutual TLS) and per-registry exceptions. Nothing here
/// touches process-wide state.
///
/// For an HTTPS request to `HOST:PORT` the settings are, in this order (later ones add to or override earlier):
/// the client-wide ``caFiles``, ``clientCertificate`` and ``insecureSkipVerify``; the first directory of
/// ``certificateDirectories`` that has `HOST:PORT` (or, failing that, `HOST`) in the `certs.d` layout docker,
/// containerd and podman share (`*.crt` CA files, a `NAME.cert` with its `NAME.key`); then ``hosts``'s entry for
/// `HOST:PORT` (or `HOST`).
public struct TLS: Sendable, Hashable {
    /// PEM files with extra CA certificates to trust, added to the system's roots.
    public var caFiles: [String]
    /// Skip certificate verification (dangerous; for test registries only).
    public var insecureSkipVerify: Bool
    /// The client certificate presented to every registry that asks for one (mutual TLS).
    public var clientCertificate: ClientCertificate?
    /// `certs.d` directories, searched in order for a registry's own CA files and client certificate. Empty by
    /// default; ``standardCertificateDirectories`` are the system's (`OCIClient.Configuration.automatic()` uses them).
    public var certificateDirectories: [String]
    /// Settings of single registries, keyed by `HOST:PORT` or `HOST` as in references.
    public var hosts: [String: HostTLS]

    public init(caFiles: [String] = [], insecureSkipVerify: Bool = false, clientCertificate: ClientCertificate? = nil,
                certificateDirectories: [String] = [], hosts: [String: HostTLS] = [:]) {
        self.caFiles = caFiles
        self.insecureSkipVerify = insecureSkipVerify
        self.clientCertificate = clientCertificate
        self.certificateDirectories = certificateDirectories
        self.hosts = hosts
    }

    /// The system's `certs.d` directories, in the order they are searched: containers' then docker's.
    public static let standardCertificateDirectories = ["/etc/containers/certs.d", "/etc/docker/certs.d"]
}

/// A client certificate (PEM, leaf first, intermediates after it) and its private key (PEM).
public struct ClientCertificate: Sendable, Hashable {
    public var certificateFile: String
    public var keyFile: String

    public init(certificateFile: String, keyFile: String) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }
}

/// TLS settings of one registry host (see ``TLS/hosts``).
public struct HostTLS: Sendable, Hashable {
    /// CA files trusted for this host, besides the client-wide ones.
    public var caFiles: [String]
    /// The client certificate for this host (replaces the client-wide one).
    public var clientCertificate: ClientCertificate?
    /// Skip certificate verification for this host only.
    public var insecureSkipVerify: Bool

    public init(caFiles: [String] = [], clientCertificate: ClientCertificate? = nil, insecureSkipVerify: Bool = false) {
        self.caFiles = caFiles
        self.clientCertificate = clientCertificate
        self.insecureSkipVerify = insecureSkipVerify
    }
}

/// How failed requests are retried: network errors, 408, 429 and 5xx, with exponential backoff and jitter.
public struct Retry: Sendable, Hashable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    /// The first backoff; it doubles each retry.
    public var initialBackoff: Duration
    /// No backoff is longer than this, `Retry-After` included.
    public var maxBackoff: Duration

    public init(maxAttempts: Int = 5, initialBackoff: Duration = .milliseconds(200), maxBackoff: Duration = .seconds(30)) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
    }

    /// No retries.
    public static let none = Retry(maxAttempts: 1)
}

/// How blobs are uploaded.
public struct Upload: Sendable, Hashable {
    /// Blobs at least this large go up in chunks (PATCH); smaller ones in one streamed PUT, with chunked
    /// upload as the fallback when the PUT fails.
    public var chunkedThreshold: Int64
    /// The size of each PATCH (raised to the registry's `OCI-Chunk-Min-Length` when that is larger).
    public var chunkSize: Int64

    /// Blobs of at most this many bytes are uploaded without asking first whether the registry has them: the
    /// upload starts with an anonymous mount (`POST …/uploads/?mount=DIGEST`), which a registry that finds the
    /// blob answers with 201, and sending a small blob again costs about what the HEAD would. Saves one request
    /// per small blob; 0 checks every blob first.
    public var uncheckedPushLimit: Int64

    public init(chunkedThreshold: Int64 = 2 << 30, chunkSize: Int64 = 32 << 20, uncheckedPushLimit: Int64 = 512 << 10) {
        self.chunkedThreshold = max(1, chunkedThreshold)
        self.chunkSize = max(1, chunkSize)
        self.uncheckedPushLimit = max(0, uncheckedPushLimit)
    }
}

}

extension RegistryClient {
/// Settings of a `RegistryClient`, each in one place: TLS, proxies, per-registry settings (registries.conf),
/// retries, uploads and the plain-HTTP policy are nested values, in the manner of AsyncHTTPClient's
/// `HTTPClient.Configuration`.
public struct Configuration: Sendable {
    public var plainHTTP: PlainHTTPPolicy
    public var tls: TLS
    /// The forward proxies requests go through (none by default; ``Proxy/environment(_:)`` reads the variables).
    public var proxy: Proxy
    /// Per-registry settings and mirrors, as containers' `registries.conf` has them (none by default).
    public var registries: RegistriesConfiguration
    /// Where credentials come from; nil means anonymous.
    public var credentials: (any CredentialSource)?
    public var retry: Retry
    public var upload: Upload
    /// Connect timeout per connection.
    public var connectTimeout: Duration
    /// The longest wait for the next bytes of a response (a stalled transfer fails after it).
    public var readTimeout: Duration
    /// How many blobs move at once in copies and pulls.
    public var concurrency: Int
    public var userAgent: String
    public var logger: Logger
    /// Whether blobs are first fetched from the `urls` their descriptors list (foreign, "non-distributable"
    /// layers such as Windows base layers). Off by default, as in containerd: otherwise any manifest could make
    /// the client request any URL it names (a blind SSRF). When on, only HTTPS URLs are followed, and plain-HTTP
    /// ones to hosts the plain-HTTP policy allows; they never get credentials, what they return is verified like
    /// any blob, and the registry is asked when they fail.
    public var followsForeignURLs: Bool

    public init(
        plainHTTP: PlainHTTPPolicy = .privateHostsOnly, tls: TLS = TLS(),
        credentials: (any CredentialSource)? = nil, retry: Retry = Retry(), upload: Upload = Upload(),
        connectTimeout: Duration = .seconds(30), readTimeout: Duration = .seconds(120), concurrency: Int = 4,
        userAgent: String = "swift-ociclient/\(OCIPackageVersion.current)", logger: Logger = Logger(label: "ociclient", factory: { _ in SwiftLogNoOpLogHandler() }),
        followsForeignURLs: Bool = false, proxy: Proxy = .none, registries: RegistriesConfiguration = RegistriesConfiguration()
    ) {
        self.plainHTTP = plainHTTP
        self.tls = tls
        self.proxy = proxy
        self.registries = registries
        self.credentials = credentials
        self.retry = retry
        self.upload = upload
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.concurrency = max(1, concurrency)
        self.userAgent = userAgent
        self.logger = logger
        self.followsForeignURLs = followsForeignURLs
    }
}
}
