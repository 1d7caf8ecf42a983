import Foundation
import OCISync

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A real CNCF distribution registry (2.8, Debian's `docker-registry`) running as a child process on
/// 127.0.0.1 with a free port, its own temp directory and — depending on the ``Mode`` — TLS, htpasswd or token
/// auth (with an in-process ``TokenServer``). Passwords are random per start unless ``Options`` sets them; read
/// them from ``password`` and ``readerPassword``.
///
/// ```swift
/// try XCTSkipUnless(TestRegistry.isAvailable(.token))
/// let registry = try await TestRegistry.start(.token)
/// // … use registry.baseURL, registry.username/password, registry.tokenServer …
/// await registry.stop()
/// ```
/// Always call ``stop()``; `deinit` kills a forgotten process as a last resort, and a small watchdog process
/// kills the registry if the test process dies.
public final class TestRegistry: Sendable {
    /// What kind of registry to start.
    public enum Mode: String, Sendable, Equatable, CaseIterable {
        /// Plain HTTP, no auth.
        case plain
        /// HTTPS with a CA generated for this instance (see ``TestRegistry/caCertificatePath``).
        case tls
        /// Plain HTTP with Basic auth (bcrypt htpasswd): a full user and a second user (htpasswd has no
        /// per-repository rights, so both can do everything).
        case htpasswd
        /// HTTPS (as ``tls``) with Basic auth (as ``htpasswd``): the Go package's envtest registry (F45).
        case tlsHtpasswd
        /// Plain HTTP with token auth against an in-process ``TokenServer``: a full user (all actions including
        /// `registry:catalog:*`), a pull-only reader, anonymous gets pull.
        case token
        /// HTTPS (as ``tls``) with token auth (as ``token``); the token server's realm stays plain HTTP on
        /// loopback, which is how the client's rule for plain-HTTP realms of an HTTPS registry is tested.
        case tlsToken

        /// Whether the registry listens with TLS.
        public var usesTLS: Bool { self == .tls || self == .tlsToken || self == .tlsHtpasswd }
        /// Whether the registry delegates auth to an in-process ``TokenServer``.
        public var usesTokenServer: Bool { self == .token || self == .tlsToken }
        /// Whether the registry checks Basic credentials against an htpasswd file.
        public var usesHtpasswd: Bool { self == .htpasswd || self == .tlsHtpasswd }
        /// Whether the registry has users (and so answers an anonymous `GET /v2/` with 401).
        public var hasUsers: Bool { usesHtpasswd || usesTokenServer }
    }

    /// Start options.
    public struct Options: Sendable {
        /// Adds `compatibility.schema1.enabled: true` (schema1 manifest push).
        public var schema1Enabled = false
        /// `storage.delete.enabled`.
        public var deleteEnabled = true
        /// `http.relativeurls` (relative `Location` headers).
        public var relativeURLs = false
        /// Registry access log lines in ``TestRegistry/logFile``.
        public var accessLog = true
        /// The registry binary: `$OCI_TEST_REGISTRY_BINARY` or `/usr/bin/docker-registry`.
        public var registryBinary: String = TestRegistry.defaultBinary
        /// How long to wait for `GET /v2/` to answer after each launch.
        public var readinessTimeout: Duration = .seconds(30)
        /// Launch attempts (each with a new port) before giving up.
        public var startAttempts = 5
        /// Time between SIGTERM and SIGKILL when stopping.
        public var stopGracePeriod: Duration = .seconds(5)
        /// The full user (htpasswd and token modes).
        public var username = "testuser"
        /// The full user's password; `nil` (the default): a random one, new at every start.
        public var password: String? = nil
        /// The second user: pull-only in token mode, a second full user in htpasswd mode.
        public var readerUsername = "reader"
        /// The second user's password; `nil` (the default): a random one, new at every start.
        public var readerPassword: String? = nil
        /// Token mode: token server options. `nil` → users built from ``username``/``readerUsername``
        /// (`*` and `pull`), anonymous pull. If set, its `directory` is ignored; keep its users consistent with
        /// ``username``/``readerUsername`` (a `nil` password is then taken from the token server's user of that
        /// name).
        public var tokenServer: TokenServer.Options? = nil
        /// The openssl CLI (tls and token modes).
        public var openssl = "openssl"
        /// The htpasswd CLI (htpasswd mode).
        public var htpasswd = "htpasswd"
        /// Run a watchdog process that kills the registry when the test process dies without calling stop().
        public var watchdog = true
        /// TLS modes: DNS names the server certificate holds besides `localhost` (e.g. `registry.test`, a name
        /// only a proxy's hosts file resolves).
        public var extraHostNames: [String] = []
        /// TLS modes: demand a client certificate signed by a client CA generated for this instance
        /// (`http.tls.clientcas`); see ``TestRegistry/clientCertificatePath``.
        public var requiresClientCertificate = false

        public init() {}
    }

    /// The registry binary used when no option says otherwise.
    public static var defaultBinary: String {
        let env = ProcessInfo.processInfo.environment["OCI_TEST_REGISTRY_BINARY"] ?? ""
        return env.isEmpty ? "/usr/bin/docker-registry" : env
    }

    /// Whether the registry binary exists (tests should `XCTSkip` when not).
    public static var isAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: defaultBinary)
    }

    /// Whether the registry binary and the CLI tools `mode` needs (openssl, htpasswd) exist.
    public static func isAvailable(_ mode: Mode) -> Bool {
        guard isAvailable else { return false }
        switch mode {
        case .plain: return true
        case .tls, .token, .tlsToken: return FileSupport.findExecutable("openssl") != nil
        case .htpasswd: return FileSupport.findExecutable("htpasswd") != nil
        case .tlsHtpasswd:
            return FileSupport.findExecutable("openssl") != nil && FileSupport.findExecutable("htpasswd") != nil
        }
    }

    /// The mode this registry runs in.
    public let mode: Mode
    /// The listening port.
    public let port: Int
    /// `127.0.0.1:PORT` (what image references and docker config `auths` keys use).
    public let host: String
    /// `http` or `https`.
    public let scheme: String
    /// `http(s)://127.0.0.1:PORT` (no trailing slash).
    public let baseURL: String
    /// ``baseURL`` as a `URL`.
    public let url: URL
    /// PEM file of the test CA that signed the server certificate (TLS modes).
    public let caCertificatePath: String?
    /// The server certificate (TLS modes): EC P-256, SANs `IP:127.0.0.1`, `IP:::1`, `DNS:localhost`.
    public let serverCertificatePath: String?
    /// A directory holding only a copy of the CA certificate (`ca.crt`), as `skopeo --cert-dir` and docker's
    /// `certs.d` want it (TLS modes; the directory of ``caCertificatePath`` also holds keys).
    public let certificateDirectory: String?
    /// The test CA certificate in PEM (TLS modes), e.g. for `TLSConfiguration.additionalTrustRoots`.
    public let caCertificatePEM: [UInt8]?
    /// With ``Options/requiresClientCertificate``: a client certificate the registry accepts (PEM) and its key.
    public let clientCertificatePath: String?
    public let clientKeyPath: String?
    /// The full user (htpasswd and token modes; `nil` otherwise).
    public let username: String?
    public let password: String?
    /// Token mode: the pull-only user; htpasswd mode: the second user. `nil` otherwise.
    public let readerUsername: String?
    public let readerPassword: String?
    /// The token server (token mode).
    public let tokenServer: TokenServer?
    /// The registry's storage root.
    public let dataDirectory: String
    /// The file receiving the registry's stdout and stderr.
    public let logFile: String
    /// The registry configuration file.
    public let configFile: String
    /// The instance's temp directory (config, data, certs, log); removed by ``stop()``.
    public let directory: String

    private let options: Options
    private let state: Locked<RunState>

    private struct RunState {
        var child: RegistryChild?
        var stopped = false
    }

    private init(mode: Mode, port: Int, options: Options, users: Users, paths: Paths, caPEM: [UInt8]?,
                 tokenServer: TokenServer?, child: RegistryChild) {
        self.mode = mode
        self.port = port
        self.host = "127.0.0.1:\(port)"
        self.scheme = mode.usesTLS ? "https" : "http"
        self.baseURL = "\(scheme)://127.0.0.1:\(port)"
        self.url = URL(string: "\(scheme)://127.0.0.1:\(port)") ?? URL(fileURLWithPath: "/")
        self.caCertificatePath = mode.usesTLS ? paths.caCertificate : nil
        self.certificateDirectory = mode.usesTLS ? paths.trust : nil
        self.serverCertificatePath = mode.usesTLS ? paths.serverCertificate : nil
        self.caCertificatePEM = caPEM
        let mutual = mode.usesTLS && options.requiresClientCertificate
        self.clientCertificatePath = mutual ? paths.clientCertificate : nil
        self.clientKeyPath = mutual ? paths.clientKey : nil
        let hasUsers = mode.hasUsers
        self.username = hasUsers ? options.username : nil
        self.password = hasUsers ? users.password : nil
        self.readerUsername = hasUsers ? options.readerUsername : nil
        self.readerPassword = hasUsers ? users.readerPassword : nil
        self.tokenServer = tokenServer
        self.dataDirectory = paths.data
        self.logFile = paths.log
        self.configFile = paths.config
        self.directory = paths.root
        self.options = options
        self.state = Locked(RunState(child: child))
    }

    // MARK: Starting

    /// Starts a registry in `mode` and waits until `GET /v2/` answers (200, or 401 with auth).
    /// Retries with a new port when the launch fails (the free-port choice is racy); the error carries the tail of
    /// the registry log.
    public static func start(_ mode: Mode = .plain, options: Options = .init()) async throws -> TestRegistry {
        guard FileManager.default.isExecutableFile(atPath: options.registryBinary) else {
            throw OCITestingError("registry binary not found or not executable: \(options.registryBinary) (install the Debian package docker-registry or set OCI_TEST_REGISTRY_BINARY)")
        }
        let root = try FileSupport.makeTemporaryDirectory(prefix: "oci-test-registry")
        let paths = Paths(root: root)
        var tokenServer: TokenServer?
        do {
            for dir in [paths.data, paths.auth, paths.certs] {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            }
            try FileSupport.write("", to: paths.log)
            var caPEM: [UInt8]?
            if mode.usesTLS {
                try await makeCertificates(paths: paths, openssl: options.openssl, extraHostNames: options.extraHostNames)
                if options.requiresClientCertificate {
                    try await makeClientCertificates(paths: paths, openssl: options.openssl)
                }
                caPEM = FileManager.default.contents(atPath: paths.caCertificate).map { Array($0) }
                try FileManager.default.createDirectory(atPath: paths.trust, withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: paths.caCertificate, toPath: paths.trust + "/ca.crt")
            }
            let users = Users(options: options)
            switch mode {
            case .plain, .tls:
                break
            case .htpasswd, .tlsHtpasswd:
                try await makeHtpasswd(paths: paths, options: options, users: users)
            case .token, .tlsToken:
                var tokenOptions = options.tokenServer ?? TokenServer.Options()
                if options.tokenServer == nil {
                    tokenOptions.users = [
                        TokenServer.User(options.username, password: users.password, actions: ["*"]),
                        TokenServer.User(options.readerUsername, password: users.readerPassword, actions: ["pull"]),
                    ]
                    tokenOptions.anonymousActions = ["pull"]
                }
                tokenOptions.directory = paths.auth
                tokenOptions.openssl = options.openssl
                tokenServer = try await TokenServer.start(tokenOptions)
            }
            let secret = randomHex(16)
            var failures: [String] = []
            for attempt in 1...max(1, options.startAttempts) {
                let port = try await Net.pickFreePort()
                let config = makeConfig(mode: mode, port: port, secret: secret, paths: paths, options: options,
                                        tokenServer: tokenServer)
                try FileSupport.write(config, to: paths.config)
                do {
                    let child = try await launchAndWait(mode: mode, port: port, paths: paths, options: options)
                    return TestRegistry(mode: mode, port: port, options: options, users: users, paths: paths,
                                        caPEM: caPEM, tokenServer: tokenServer, child: child)
                } catch {
                    failures.append("attempt \(attempt) (port \(port)): \(error)")
                }
            }
            throw OCITestingError("the registry did not start after \(failures.count) attempts:\n"
                                  + failures.joined(separator: "\n")
                                  + "\n--- tail of \(paths.log) ---\n" + FileSupport.tail(of: paths.log))
        } catch {
            await tokenServer?.stop()
            FileSupport.removeQuietly(root)
            throw error
        }
    }

    /// Starts a registry, runs `body` with it and stops it afterwards (also when `body` throws).
    public static func withRegistry<T>(_ mode: Mode = .plain, options: Options = .init(),
                                       isolation: isolated (any Actor)? = #isolation,
                                       _ body: (TestRegistry) async throws -> T) async throws -> T {
        let registry = try await start(mode, options: options)
        do {
            let result = try await body(registry)
            await registry.stop()
            return result
        } catch {
            await registry.stop()
            throw error
        }
    }

    /// The passwords of one start: the options' or random ones.
    struct Users: Sendable {
        var password: String
        var readerPassword: String

        init(options: Options) {
            func tokenServerPassword(_ name: String) -> String? {
                options.tokenServer?.users.first { $0.name == name }?.password
            }
            password = options.password ?? tokenServerPassword(options.username) ?? TestRegistry.randomPassword()
            readerPassword = options.readerPassword ?? tokenServerPassword(options.readerUsername)
                ?? TestRegistry.randomPassword()
        }
    }

    /// A random password (128 bits, hex).
    static func randomPassword() -> String {
        "pw-" + randomHex(16)
    }

    struct Paths: Sendable {
        let root: String
        var data: String { root + "/data" }
        var auth: String { root + "/auth" }
        var certs: String { root + "/certs" }
        var trust: String { certs + "/trust" }
        var log: String { root + "/registry.log" }
        var config: String { root + "/config.yml" }
        var htpasswd: String { auth + "/htpasswd" }
        var caCertificate: String { certs + "/ca.crt" }
        var serverCertificate: String { certs + "/server.crt" }
        var serverKey: String { certs + "/server.key" }
        var clientCA: String { certs + "/client-ca.crt" }
        var clientCertificate: String { certs + "/client.cert" }
        var clientKey: String { certs + "/client.key" }
    }

    // MARK: Process control

    /// Launches the registry and waits until it is ready; kills it and throws if it exits or never gets ready.
    private static func launchAndWait(mode: Mode, port: Int, paths: Paths, options: Options) async throws -> RegistryChild {
        let logOffset = (try? FileManager.default.attributesOfItem(atPath: paths.log)[.size] as? NSNumber)?.intValue ?? 0
        let child = try RegistryChild.launch(binary: options.registryBinary, config: paths.config, log: paths.log,
                                             directory: paths.root, watchdog: options.watchdog,
                                             cleanupDirectory: paths.root)
        do {
            try await waitUntilReady(child: child, mode: mode, port: port, paths: paths, logOffset: logOffset,
                                     timeout: options.readinessTimeout)
            return child
        } catch {
            await child.terminate(grace: .seconds(2))
            throw error
        }
    }

    private static func waitUntilReady(child: RegistryChild, mode: Mode, port: Int, paths: Paths, logOffset: Int,
                                       timeout: Duration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var lastProbe = "no answer yet"
        while clock.now < deadline {
            if !child.isRunning {
                throw OCITestingError("the registry exited early with status \(child.exitStatus)")
            }
            // Our own log must report the listener: otherwise an answer on the port may come from someone else
            // who grabbed it first.
            if logMentionsListener(paths.log, from: logOffset) {
                do {
                    let response = try await TestHTTP.request("GET", "http://127.0.0.1:\(port)/v2/", timeout: .seconds(2),
                                                              maxBodyBytes: 4096)
                    let ok: Bool
                    switch mode {
                    case .plain: ok = response.status == 200
                    case .htpasswd, .token: ok = response.status == 401
                    case .tls, .tlsToken, .tlsHtpasswd:
                        ok = response.status == 400  // plain HTTP to the TLS port: Go answers 400
                    }
                    if ok && child.isRunning {
                        if mode.usesTLS {
                            try await verifyTLS(port: port, caFile: paths.caCertificate,
                                                expectedStatus: mode.hasUsers ? "401" : "200",
                                                client: FileManager.default.fileExists(atPath: paths.clientCertificate)
                                                    ? (paths.clientCertificate, paths.clientKey) : nil)
                        }
                        return
                    }
                    lastProbe = "GET /v2/ answered \(response.status)"
                } catch let error as OCITestingError where error.message.hasPrefix("TLS check") {
                    throw error
                } catch {
                    lastProbe = "GET /v2/ failed: \(error)"
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw OCITestingError("the registry was not ready within \(timeout) (\(lastProbe))")
    }

    private static func logMentionsListener(_ log: String, from offset: Int) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: log) else { return false }
        defer { try? handle.close() }
        try? handle.seek(toOffset: UInt64(offset))
        let data = (try? handle.readToEnd()) ?? Data()
        return String(decoding: data, as: UTF8.self).contains("listening on")
    }

    /// Checks the TLS endpoint with a client that trusts only the test CA (curl, when installed).
    private static func verifyTLS(port: Int, caFile: String, expectedStatus: String,
                                  client: (certificate: String, key: String)? = nil) async throws {
        guard FileSupport.findExecutable("curl") != nil else { return }
        let clientArguments = client.map { ["--cert", $0.certificate, "--key", $0.key] } ?? []
        let result = try await Tool.run("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                                                 "--cacert", caFile] + clientArguments + ["https://127.0.0.1:\(port)/v2/"])
        guard result.status == 0, result.stdoutText == expectedStatus else {
            throw OCITestingError("TLS check with curl --cacert failed (exit \(result.status), HTTP \(result.stdoutText)): \(result.stderrText)")
        }
    }

    /// Stops the process (SIGTERM, then SIGKILL after the grace period), the token server, and removes the temp
    /// directory. Idempotent.
    public func stop() async {
        let (wasStopped, child) = state.withLock { s -> (Bool, RegistryChild?) in
            defer {
                s.stopped = true
                s.child = nil
            }
            return (s.stopped, s.child)
        }
        guard !wasStopped else { return }
        if let child {
            await child.terminate(grace: options.stopGracePeriod)
        }
        await tokenServer?.stop()
        FileSupport.removeQuietly(directory)
    }

    /// Stops only the registry process (data, port and token server stay), e.g. to test a registry that is down.
    /// ``startProcess()`` brings it back.
    public func stopProcess() async {
        let child: RegistryChild? = state.withLock { s in
            defer { s.child = nil }
            return s.child
        }
        await child?.terminate(grace: options.stopGracePeriod)
    }

    /// Starts the registry process again on the same port and data directory (after ``stopProcess()``).
    public func startProcess() async throws {
        let stopped = state.withLock { $0.stopped }
        if stopped { throw OCITestingError("the registry was stopped") }
        if state.withLock({ $0.child != nil }) { return }
        let paths = Paths(root: directory)
        var failures: [String] = []
        for attempt in 1...max(1, options.startAttempts) {
            do {
                let child = try await TestRegistry.launchAndWait(mode: mode, port: port, paths: paths, options: options)
                let keep = state.withLock { s -> Bool in
                    if s.stopped || s.child != nil { return false }
                    s.child = child
                    return true
                }
                if !keep { await child.terminate(grace: .seconds(2)) }
                return
            } catch {
                failures.append("attempt \(attempt): \(error)")
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        throw OCITestingError("the registry did not restart on port \(port):\n" + failures.joined(separator: "\n")
                              + "\n--- tail of \(logFile) ---\n" + FileSupport.tail(of: logFile))
    }

    /// Stops the registry process and starts it again on the same port and data directory.
    public func restart() async throws {
        await stopProcess()
        try await startProcess()
    }

    /// The process id of the running registry, if any.
    public var processIdentifier: Int32? {
        state.withLock { $0.child?.pid }
    }

    /// The last lines of the registry log.
    public func logTail(lines: Int = 40) -> String {
        FileSupport.tail(of: logFile, maxLines: lines)
    }

    /// A docker `config.json` with Basic credentials of the full user for ``host``; `{"auths":{}}` without users.
    public func dockerConfigJSON() -> [UInt8] {
        guard let username, let password else { return Array("{\"auths\":{}}".utf8) }
        let auth = Base64.standard(Array("\(username):\(password)".utf8))
        return Array("{\"auths\":{\(jsonQuoted(host)):{\"auth\":\(jsonQuoted(auth))}}}".utf8)
    }

    deinit {
        let (wasStopped, child) = state.withLock { s -> (Bool, RegistryChild?) in
            defer { s.stopped = true }
            return (s.stopped, s.child)
        }
        guard !wasStopped else { return }
        child?.killNow()
        FileSupport.removeQuietly(directory)
    }
}
