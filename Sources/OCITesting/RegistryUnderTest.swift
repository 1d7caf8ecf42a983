import Foundation
import OCISync

/// A registry for a test, of either kind: the real CNCF distribution registry (``TestRegistry``, a child process)
/// or the ``InProcessRegistry`` (swift-nio, in this process), started in the same ``TestRegistry/Mode`` and seen
/// through one surface, so that one test body runs against both.
///
/// ```swift
/// for kind in RegistryUnderTest.Kind.allCases where RegistryUnderTest.isAvailable(kind, .tlsHtpasswd) {
///     try await RegistryUnderTest.withRegistry(kind: kind, mode: .tlsHtpasswd) { registry in
///         // registry.host, registry.caCertificatePath, registry.username / registry.password, …
///         // registry.requestCount("GET", "/v2/app/blobs/*")
///     }
/// }
/// ```
///
/// How the modes map onto the in-process registry (which has no htpasswd file and no separate token server):
/// - ``TestRegistry/Mode/htpasswd`` and ``TestRegistry/Mode/tlsHtpasswd``: Basic auth with two users who may do
///   everything, as htpasswd has no per-repository rights; nothing for anonymous clients.
/// - ``TestRegistry/Mode/token`` and ``TestRegistry/Mode/tlsToken``: token auth with a full user and a pull-only
///   reader, anonymous pull. The token endpoint is the registry's own `/token` (HTTPS in ``TestRegistry/Mode/tlsToken``),
///   where the distribution registry uses a ``TokenServer`` whose realm is plain HTTP on loopback; its tokens
///   are opaque strings, not JWTs.
/// - TLS modes: a CA made at start; the server certificate names 127.0.0.1, ::1 and localhost on both kinds.
///
/// Passwords are random per start unless ``TestRegistry/Options`` sets them (both kinds honour `username`,
/// `password`, `readerUsername`, `readerPassword` and `deleteEnabled`; the other options reach the distribution
/// registry only).
public final class RegistryUnderTest: Sendable, CustomStringConvertible {
    /// Which registry implementation runs.
    public enum Kind: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// Debian's `docker-registry` (distribution 2.8) as a child process: ``TestRegistry``.
        case distribution
        /// The swift-nio registry in this process: ``InProcessRegistry``.
        case inProcess

        public var description: String { rawValue }
    }

    /// A request the registry answered, from the distribution registry's access log or the in-process registry's
    /// record. Both are written before the response is complete, so a count taken after a client saw the answer
    /// includes that request.
    public struct Request: Sendable, Hashable, CustomStringConvertible {
        /// The method, e.g. `GET`.
        public var method: String
        /// The path as sent, without the query.
        public var path: String
        /// The query (without `?`); nil when there was none.
        public var query: String?
        /// The status answered; nil when the in-process registry closed the connection without an answer.
        public var status: Int?

        /// A request.
        public init(method: String, path: String, query: String? = nil, status: Int? = nil) {
            self.method = method
            self.path = path
            self.query = query
            self.status = status
        }

        /// The path with the query, as sent.
        public var uri: String { query.map { "\(path)?\($0)" } ?? path }

        /// `METHOD URI -> STATUS`.
        public var description: String { "\(method) \(uri) -> \(status.map(String.init) ?? "closed")" }
    }

    /// The implementation.
    public let kind: Kind
    /// The mode both kinds were started in.
    public let mode: TestRegistry.Mode
    /// `127.0.0.1:PORT`, as image references name the registry.
    public let host: String
    /// `http` or `https`.
    public let scheme: String
    /// `scheme://host`, no trailing slash.
    public let baseURL: String
    /// The test CA's certificate in PEM (TLS modes).
    public let caCertificatePEM: [UInt8]?
    /// A PEM file holding ``caCertificatePEM`` (TLS modes).
    public let caCertificatePath: String?
    /// A directory holding only `ca.crt`, for `skopeo --cert-dir` (TLS modes).
    public let certificateDirectory: String?
    /// The full user (modes with users; nil otherwise).
    public let username: String?
    /// The full user's password.
    public let password: String?
    /// The second user: pull-only in the token modes, a second full user in the htpasswd modes.
    public let readerUsername: String?
    /// The second user's password.
    public let readerPassword: String?
    /// The distribution registry when ``kind`` is ``Kind/distribution``, for what only it has (its log, restarts,
    /// the token server).
    public let distribution: TestRegistry?
    /// The in-process registry when ``kind`` is ``Kind/inProcess``, for what only it has (faults, headers of
    /// recorded requests).
    public let inProcess: InProcessRegistry?

    /// Byte offset in the distribution registry's log where ``requests()`` starts reading.
    private let logOffset = Locked<UInt64>(0)

    /// Whether the registry is reached over plain HTTP.
    public var usesPlainHTTP: Bool { !mode.usesTLS }

    /// `kind/mode`, e.g. `inProcess/tlsHtpasswd`.
    public var description: String { "\(kind)/\(mode)" }

    private init(distribution registry: TestRegistry) {
        kind = .distribution
        mode = registry.mode
        host = registry.host
        scheme = registry.scheme
        baseURL = registry.baseURL
        caCertificatePEM = registry.caCertificatePEM
        caCertificatePath = registry.caCertificatePath
        certificateDirectory = registry.certificateDirectory
        username = registry.username
        password = registry.password
        readerUsername = registry.readerUsername
        readerPassword = registry.readerPassword
        distribution = registry
        inProcess = nil
        // The readiness probes of the start are not the test's requests.
        logOffset.withLock { $0 = Self.size(of: registry.logFile) }
    }

    private init(inProcess registry: InProcessRegistry, mode: TestRegistry.Mode, users: TestRegistry.Users?,
                 options: TestRegistry.Options) {
        kind = .inProcess
        self.mode = mode
        host = registry.host
        scheme = registry.scheme
        baseURL = registry.baseURL
        caCertificatePEM = registry.caCertificatePEM.map { Array($0.utf8) }
        caCertificatePath = registry.caCertificatePath
        certificateDirectory = registry.certificateDirectory
        username = users.map { _ in options.username }
        password = users?.password
        readerUsername = users.map { _ in options.readerUsername }
        readerPassword = users?.readerPassword
        distribution = nil
        inProcess = registry
    }

    /// Whether a registry of `kind` can run in `mode` here (the in-process one always can).
    public static func isAvailable(_ kind: Kind, _ mode: TestRegistry.Mode = .plain) -> Bool {
        switch kind {
        case .distribution: return TestRegistry.isAvailable(mode)
        case .inProcess: return true
        }
    }

    /// Starts a registry of `kind` in `mode`; stop it with ``stop()``.
    public static func start(_ kind: Kind, mode: TestRegistry.Mode = .plain,
                             options: TestRegistry.Options = .init()) async throws -> RegistryUnderTest {
        switch kind {
        case .distribution:
            return RegistryUnderTest(distribution: try await TestRegistry.start(mode, options: options))
        case .inProcess:
            let users = mode.hasUsers ? TestRegistry.Users(options: options) : nil
            var configuration = InProcessRegistry.Configuration(deleteEnabled: options.deleteEnabled)
            if mode.usesTLS { configuration.tls = .generated }
            if let users {
                let full = InProcessRegistry.User(options.username, password: users.password)
                if mode.usesHtpasswd {
                    let second = InProcessRegistry.User(options.readerUsername, password: users.readerPassword)
                    configuration.auth = .basic([full, second])
                } else {
                    let reader = InProcessRegistry.User(options.readerUsername, password: users.readerPassword,
                                                        access: [.pull])
                    configuration.auth = .token([full, reader], anonymous: [.pull])
                }
            }
            let registry = try await InProcessRegistry.start(configuration)
            return RegistryUnderTest(inProcess: registry, mode: mode, users: users, options: options)
        }
    }

    /// Starts a registry, runs `body` with it and stops it afterwards (also when `body` throws).
    public static func withRegistry<T>(kind: Kind, mode: TestRegistry.Mode = .plain, options: TestRegistry.Options = .init(),
                                       isolation: isolated (any Actor)? = #isolation,
                                       _ body: (RegistryUnderTest) async throws -> T) async throws -> T {
        let registry = try await start(kind, mode: mode, options: options)
        do {
            let result = try await body(registry)
            await registry.stop()
            return result
        } catch {
            await registry.stop()
            throw error
        }
    }

    /// Stops the registry (the process and its temp directory, or the listeners). Idempotent.
    public func stop() async {
        await distribution?.stop()
        try? await inProcess?.shutdown()
    }

    // MARK: Requests

    /// The requests answered since the start or the last ``resetRequests()``, in order (the distribution registry's
    /// readiness probes left out). The distribution registry's come from its access log (empty with
    /// `Options.accessLog == false`; restarts add their probes); the in-process registry's include its
    /// token endpoint (`/token`), where the distribution registry's token server is not counted here (see
    /// ``TestRegistry/tokenServer``).
    public func requests() -> [Request] {
        if let inProcess {
            return inProcess.requests().map { Request(method: $0.method, path: $0.path, query: $0.query, status: $0.status) }
        }
        guard let distribution else { return [] }
        let text = Self.read(distribution.logFile, from: logOffset.current)
        return text.split(separator: "\n").compactMap(Self.parseAccessLogLine)
    }

    /// How many requests with `method` (nil: any) had a path matching `path`: `*` matches within one segment,
    /// `**` across segments (`/v2/app/blobs/*`, `/v2/**`).
    public func requestCount(_ method: String? = nil, _ path: String = "**") -> Int {
        requests().filter { request in
            (method.map { $0.uppercased() == request.method } ?? true) && RegistryPathPattern.matches(path, request.path)
        }.count
    }

    /// Forgets the requests seen so far.
    public func resetRequests() {
        if let inProcess {
            inProcess.resetRequests()
        } else if let distribution {
            let size = Self.size(of: distribution.logFile)
            logOffset.withLock { $0 = size }
        }
    }

    private static func size(of path: String) -> UInt64 {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.uint64Value ?? 0
    }

    /// A docker `config.json` with Basic credentials of the full user for ``host``; `{"auths":{}}` without users.
    public func dockerConfigJSON() -> [UInt8] {
        guard let username, let password else { return Array("{\"auths\":{}}".utf8) }
        let auth = Base64.standard(Array("\(username):\(password)".utf8))
        return Array("{\"auths\":{\(jsonQuoted(host)):{\"auth\":\(jsonQuoted(auth))}}}".utf8)
    }

    private static func read(_ path: String, from offset: UInt64) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        try? handle.seek(toOffset: offset)
        let data = (try? handle.readToEnd()) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Parses a combined-log-format line, `IP - USER [DATE] "METHOD URI PROTO" STATUS SIZE "REFERER" "AGENT"`;
    /// nil for every other line of the registry log.
    static func parseAccessLogLine(_ line: Substring) -> Request? {
        guard !line.hasPrefix("time="), let open = line.range(of: "] \"") else { return nil }
        let rest = line[open.upperBound...]
        guard let close = rest.firstIndex(of: "\"") else { return nil }
        let requestLine = rest[..<close].split(separator: " ", omittingEmptySubsequences: true)
        guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/") else { return nil }
        let uri = requestLine[1]
        let path: Substring, query: Substring?
        if let mark = uri.firstIndex(of: "?") {
            path = uri[..<mark]
            query = uri[uri.index(after: mark)...]
        } else {
            path = uri
            query = nil
        }
        let status = rest[rest.index(after: close)...].split(separator: " ").first.flatMap { Int($0) }
        return Request(method: String(requestLine[0]), path: String(path), query: query.map(String.init), status: status)
    }
}
