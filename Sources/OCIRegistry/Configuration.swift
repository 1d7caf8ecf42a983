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
/// TLS settings of one client. Nothing here touches process-wide state.
public struct TLS: Sendable, Hashable {
    /// PEM files with extra CA certificates to trust, added to the system's roots.
    public var caFiles: [String]
    /// Skip certificate verification (dangerous; for test registries only).
    public var insecureSkipVerify: Bool

    public init(caFiles: [String] = [], insecureSkipVerify: Bool = false) {
        self.caFiles = caFiles
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
/// Settings of a `RegistryClient`, each in one place: TLS, retries, uploads and the plain-HTTP policy are
/// nested values, in the manner of AsyncHTTPClient's `HTTPClient.Configuration`.
public struct Configuration: Sendable {
    public var plainHTTP: PlainHTTPPolicy
    public var tls: TLS
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
    /// Request limits per registry host, keyed as references name hosts (`docker.io`, `ghcr.io`,
    /// `127.0.0.1:5000`): concurrent requests and requests per second. Empty: no limits.
    public var hostLimits: [String: HostLimits] = [:]

    public init(
        plainHTTP: PlainHTTPPolicy = .privateHostsOnly, tls: TLS = TLS(),
        credentials: (any CredentialSource)? = nil, retry: Retry = Retry(), upload: Upload = Upload(),
        connectTimeout: Duration = .seconds(30), readTimeout: Duration = .seconds(120), concurrency: Int = 4,
        userAgent: String = "swift-ociclient/\(OCIPackageVersion.current)", logger: Logger = Logger(label: "ociclient", factory: { _ in SwiftLogNoOpLogHandler() }),
        followsForeignURLs: Bool = false
    ) {
        self.plainHTTP = plainHTTP
        self.tls = tls
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
