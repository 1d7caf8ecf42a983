import Foundation
import OCISync

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A real forward proxy, squid (Debian's `squid`), as a child process on 127.0.0.1 with a free port and a generated
/// `squid.conf`: no cache, an access log, and a `hosts_file` that maps test names (by default `registry.test`) to
/// 127.0.0.1 while every other name fails to resolve, so a client that ignores the proxy cannot reach
/// `registry.test`. With ``Options/username`` the proxy demands Basic credentials (squid's `basic_ncsa_auth` over an
/// htpasswd file).
///
/// ```swift
/// let proxy = try await TestProxy.start()
/// // … HTTPS_PROXY=proxy.url, requests to https://registry.test:PORT …
/// XCTAssertTrue(proxy.accessLog().contains("CONNECT registry.test:"))
/// await proxy.stop()
/// ```
public final class TestProxy: Sendable {
    /// Start options.
    public struct Options: Sendable {
        /// Names the proxy resolves, to addresses.
        public var hosts: [String: String] = ["registry.test": "127.0.0.1"]
        /// With a user name, the proxy demands Basic credentials.
        public var username: String?
        /// The password of ``username``; nil: a random one.
        public var password: String?
        /// The squid binary: `$OCI_TEST_SQUID_BINARY` or `/usr/sbin/squid`.
        public var binary: String = TestProxy.defaultBinary
        /// squid's htpasswd helper.
        public var basicAuthHelper = "/usr/lib/squid/basic_ncsa_auth"
        /// The htpasswd CLI (for the users file).
        public var htpasswd = "htpasswd"
        public var readinessTimeout: Duration = .seconds(30)
        public var startAttempts = 3

        public init() {}
    }

    /// The squid binary used when no option says otherwise.
    public static var defaultBinary: String {
        let env = ProcessInfo.processInfo.environment["OCI_TEST_SQUID_BINARY"] ?? ""
        return env.isEmpty ? "/usr/sbin/squid" : env
    }

    /// Whether squid (and, for auth, its helper and htpasswd) are installed.
    public static var isAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: defaultBinary)
    }

    /// The listening port on 127.0.0.1.
    public let port: Int
    /// `http://127.0.0.1:PORT` (no credentials).
    public let url: String
    /// The user the proxy demands, if any, and its password.
    public let username: String?
    public let password: String?
    /// squid's access log (one line per request; CONNECTs as `CONNECT host:port`).
    public let accessLogPath: String
    /// squid's own log (stderr and cache.log).
    public let logFile: String
    /// The instance's directory; removed by ``stop()``.
    public let directory: String
    private let child: Locked<RegistryChild?>

    /// `http://USER:PASSWORD@127.0.0.1:PORT` (user and password percent-encoded), or ``url`` without a user.
    public var urlWithCredentials: String {
        guard let username, let password else { return url }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let user = username.addingPercentEncoding(withAllowedCharacters: allowed) ?? username
        let pass = password.addingPercentEncoding(withAllowedCharacters: allowed) ?? password
        return "http://\(user):\(pass)@127.0.0.1:\(port)"
    }

    private init(port: Int, options: Options, password: String?, directory: String, child: RegistryChild) {
        self.port = port
        self.url = "http://127.0.0.1:\(port)"
        self.username = options.username
        self.password = options.username == nil ? nil : password
        self.directory = directory
        self.accessLogPath = directory + "/access.log"
        self.logFile = directory + "/squid.log"
        self.child = Locked(child)
    }

    /// Starts squid and waits until it accepts connections.
    public static func start(_ options: Options = Options()) async throws -> TestProxy {
        guard FileManager.default.isExecutableFile(atPath: options.binary) else {
            throw OCITestingError("squid not found or not executable: \(options.binary) (install the Debian package squid or set OCI_TEST_SQUID_BINARY)")
        }
        let directory = try FileSupport.makeTemporaryDirectory(prefix: "oci-test-squid")
        do {
            // squid started as root runs as the `proxy` user: it must read the config and write the logs.
            chmod(directory, 0o777)
            let password = options.password ?? "proxy-" + randomHex(12)
            var authLines = ""
            if let username = options.username {
                let result = try await Tool.check(options.htpasswd, ["-bn", username, password])
                let entry = result.stdoutText.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
                try FileSupport.write(entry + "\n", to: directory + "/users", permissions: 0o644)
                authLines = """
                    auth_param basic program \(options.basicAuthHelper) \(directory)/users
                    auth_param basic realm oci-test-proxy
                    acl authenticated proxy_auth REQUIRED
                    http_access allow authenticated
                    """
            } else {
                authLines = "http_access allow all"
            }
            let hosts = options.hosts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: "\n")
            try FileSupport.write(hosts + "\n", to: directory + "/hosts", permissions: 0o644)
            try FileSupport.write("", to: directory + "/squid.log", permissions: 0o666)
            var failures: [String] = []
            for attempt in 1...max(1, options.startAttempts) {
                let port = try await Net.pickFreePort()
                let config = """
                    # Generated by OCITesting for one test proxy.
                    http_port 127.0.0.1:\(port)
                    pid_filename \(directory)/squid.pid
                    cache_log \(directory)/cache.log
                    access_log stdio:\(directory)/access.log
                    cache deny all
                    cache_mem 8 MB
                    cache_dir null /tmp
                    coredump_dir \(directory)
                    hosts_file \(directory)/hosts
                    # Names outside the hosts file do not resolve: nothing answers DNS on this port.
                    dns_nameservers 127.0.0.1
                    dns_timeout 2 seconds
                    shutdown_lifetime 0 seconds
                    via off
                    forwarded_for delete
                    \(authLines)
                    http_access deny all

                    """
                try FileSupport.write(config, to: directory + "/squid.conf", permissions: 0o644)
                let child = try RegistryChild.launch(binary: options.binary, config: directory + "/squid.conf",
                                                     log: directory + "/squid.log", directory: directory, watchdog: true,
                                                     cleanupDirectory: directory,
                                                     arguments: ["-N", "-d", "1", "-f", directory + "/squid.conf"])
                if await waitUntilReady(child: child, port: port, log: directory + "/squid.log", timeout: options.readinessTimeout) {
                    return TestProxy(port: port, options: options, password: password, directory: directory, child: child)
                }
                await child.terminate(grace: .seconds(2))
                failures.append("attempt \(attempt) (port \(port))")
            }
            throw OCITestingError("squid did not start (\(failures.joined(separator: ", "))):\n" + FileSupport.tail(of: directory + "/squid.log"))
        } catch {
            FileSupport.removeQuietly(directory)
            throw error
        }
    }

    private static func waitUntilReady(child: RegistryChild, port: Int, log: String, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard child.isRunning else { return false }
            let text = FileSupport.tail(of: log, maxLines: 400)
            if text.contains("Accepting HTTP Socket connections"), text.contains(":\(port)") {
                if let response = try? await TestHTTP.request("GET", "http://127.0.0.1:\(port)/", timeout: .seconds(2), maxBodyBytes: 4096),
                   response.status > 0 {
                    return true
                }
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// The access log's text.
    public func accessLog() -> String {
        FileManager.default.contents(atPath: accessLogPath).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// The access log once it contains `text`, or as it is after `timeout`. squid writes a tunnel's line when the
    /// tunnel closes, which may be a moment after the client closed its connection.
    public func accessLog(waitingFor text: String, timeout: Duration = .seconds(15)) async -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let log = accessLog()
            if log.contains(text) || ContinuousClock.now >= deadline { return log }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Stops squid and removes its directory. Idempotent.
    public func stop() async {
        let running = child.withLock { c -> RegistryChild? in
            defer { c = nil }
            return c
        }
        guard let running else { return }
        await running.terminate(grace: .seconds(5))
        FileSupport.removeQuietly(directory)
    }

    deinit {
        child.withLock { $0 }?.killNow()
    }
}
