import Foundation
import OCIKit
import OCIRegistry
import OCITesting
import XCTest

/// Requests through a real forward proxy (squid) whose hosts file alone resolves `registry.test`: a client that
/// ignored the proxy could not even resolve the name.
final class ProxyTests: XCTestCase {
    typealias Proxy = RegistryClient.Configuration.Proxy

    func startTLSRegistry() async throws -> TestRegistry {
        try NetworkTools.registry(.tls)
        var options = TestRegistry.Options()
        options.extraHostNames = ["registry.test"]
        return try await TestRegistry.start(.tls, options: options)
    }

    /// Runs `body`, then stops the proxy and the registry, whether `body` threw or not.
    private func stopping(_ proxy: TestProxy, _ registry: TestRegistry, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            await proxy.stop()
            await registry.stop()
            throw error
        }
        await proxy.stop()
        await registry.stop()
    }

    /// HTTPS goes through CONNECT; push and pull both work; the proxy's log shows the tunnels.
    func testHTTPSThroughTheProxyByConnect() async throws {
        try NetworkTools.squid()
        let registry = try await startTLSRegistry()
        let proxy = try await TestProxy.start()
        let dir = try TempDir(prefix: "proxy-https")
        defer { dir.remove() }
        try await stopping(proxy, registry) {
            var configuration = Sample.configuration()
            configuration.registry.proxy = Proxy(url: proxy.url)
            configuration.registry.tls.caFiles = [try XCTUnwrap(registry.caCertificatePath)]
            let ref = "registry.test:\(registry.port)/proxied/app:1"
            let files = try Sample.files(in: dir)
            try await OCIClient.withClient(configuration: configuration) { client in
                let pushed = try await client.push(files: files, to: ref)
                let pulled = try await client.pull(ref, into: dir.file("out"))
                XCTAssertEqual(pulled.descriptor.digest, pushed.digest)
            }
            XCTAssertEqual(dir.read("out/a.txt"), dir.read("a.txt"))
            let log = await proxy.accessLog(waitingFor: "CONNECT registry.test:\(registry.port)")
            XCTAssertTrue(log.contains("CONNECT registry.test:\(registry.port)"), log)
            // Without the proxy the name does not resolve.
            configuration.registry.proxy = .none
            await assertRegistryError("direct to registry.test", {
                try await OCIClient.withClient(configuration: configuration) { _ = try await $0.resolve(ref) }
            }, matches: { if case .transport = $0 { return true }; return false })
        }
    }

    /// A proxy that demands credentials: without them a clear 407 error; with them in the proxy URL it works, and
    /// neither the registry's log nor our error messages ever see them.
    func testProxyCredentialsGoOnlyToTheProxy() async throws {
        try NetworkTools.squid()
        let registry = try await startTLSRegistry()
        var proxyOptions = TestProxy.Options()
        proxyOptions.username = "proxyuser"
        proxyOptions.password = "pr0xy:p@ss/word"
        let proxy = try await TestProxy.start(proxyOptions)
        try await stopping(proxy, registry) {
            var configuration = Sample.configuration()
            configuration.registry.tls.caFiles = [try XCTUnwrap(registry.caCertificatePath)]
            configuration.registry.proxy = Proxy(url: proxy.url)
            let ref = "registry.test:\(registry.port)/auth/app:1"
            let error = await assertRegistryError("no proxy credentials", {
                try await OCIClient.withClient(configuration: configuration) { _ = try await $0.resolve(ref) }
            }, matches: { if case .proxy = $0 { return true }; return false })
            XCTAssertTrue("\(error.map { "\($0)" } ?? "")".contains("407"), "\(String(describing: error))")

            configuration.registry.proxy = Proxy(url: proxy.urlWithCredentials)
            let dir = try TempDir(prefix: "proxy-auth")
            defer { dir.remove() }
            let files = try Sample.files(in: dir)
            let pushed = try await OCIClient.withClient(configuration: configuration) { client in
                try await client.push(files: files, to: ref)
            }
            let resolved = try await OCIClient.withClient(configuration: configuration) { try await $0.resolve(ref) }
            XCTAssertEqual(resolved.digest, pushed.digest)
            let log = await proxy.accessLog(waitingFor: "CONNECT registry.test:\(registry.port) proxyuser")
            XCTAssertTrue(log.contains("CONNECT registry.test:\(registry.port) proxyuser"), log)
            let registryLog = (try? String(contentsOfFile: registry.logFile, encoding: .utf8)) ?? ""
            let basic = Data("proxyuser:pr0xy:p@ss/word".utf8).base64EncodedString()
            XCTAssertFalse(registryLog.contains("pr0xy"), "the proxy password reached the registry")
            XCTAssertFalse(registryLog.contains(basic), "the proxy credentials reached the registry")
            XCTAssertFalse(registryLog.contains("proxyuser"), "the proxy user reached the registry")

            // A wrong password: the proxy's refusal, without the password in the message.
            configuration.registry.proxy = Proxy(url: "http://proxyuser:wrongsecret@127.0.0.1:\(proxy.port)")
            let refused = await assertRegistryError("wrong proxy credentials", {
                try await OCIClient.withClient(configuration: configuration) { _ = try await $0.resolve(ref) }
            }, matches: { if case .proxy = $0 { return true }; return false })
            XCTAssertFalse("\(refused.map { "\($0)" } ?? "")".contains("wrongsecret"))
        }
    }

    /// Plain HTTP through the proxy, and a token realm (another host) through it too.
    func testPlainHTTPAndTokenRealmThroughTheProxy() async throws {
        try NetworkTools.squid()
        try NetworkTools.registry(.token)
        let registry = try await TestRegistry.start(.token)
        let proxy = try await TestProxy.start()
        try await stopping(proxy, registry) {
            var configuration = Sample.configuration()
            configuration.registry.plainHTTP = .allowed
            // The realm is on 127.0.0.1: loopback is proxied only when asked.
            configuration.registry.proxy = Proxy(url: proxy.url, proxiesLoopback: true)
            configuration.registry.credentials = Clients.keyring(hosts: [("registry.test:\(registry.port)", registry.username, registry.password)])
            let ref = "registry.test:\(registry.port)/plain/app:1"
            let dir = try TempDir(prefix: "proxy-plain")
            defer { dir.remove() }
            let files = try Sample.files(in: dir)
            let pushed = try await OCIClient.withClient(configuration: configuration) { try await $0.push(files: files, to: ref) }
            let resolved = try await OCIClient.withClient(configuration: configuration) { try await $0.resolve(ref) }
            XCTAssertEqual(resolved.digest, pushed.digest)
            let realmPort = try XCTUnwrap(URL(string: try XCTUnwrap(registry.tokenServer).realm)?.port)
            let log = await proxy.accessLog(waitingFor: "127.0.0.1:\(realmPort)")
            XCTAssertTrue(log.contains("GET http://registry.test:\(registry.port)/v2/"), "plain HTTP in absolute form:\n\(log)")
            XCTAssertTrue(log.contains("PUT http://registry.test:\(registry.port)/v2/plain/app/manifests/1"), log)
            XCTAssertTrue(log.contains("127.0.0.1:\(realmPort)"), "the token realm went through the proxy:\n\(log)")
        }
    }

    /// Plain HTTP through a proxy that demands credentials: a 407 without them, push and pull (a blob of a few MiB,
    /// streamed) with them, in the library and in ocictl (`HTTP_PROXY`).
    func testPlainHTTPThroughAnAuthenticatingProxy() async throws {
        try NetworkTools.squid()
        try NetworkTools.registry(.plain)
        let registry = try await TestRegistry.start(.plain)
        var proxyOptions = TestProxy.Options()
        proxyOptions.username = "plainuser"
        let proxy = try await TestProxy.start(proxyOptions)
        let dir = try TempDir(prefix: "proxy-plain-auth")
        let ocictl = try OCICtl()
        defer {
            dir.remove()
            ocictl.cleanup()
        }
        try await stopping(proxy, registry) {
            var configuration = Sample.configuration()
            configuration.registry.plainHTTP = .allowed
            configuration.registry.proxy = Proxy(httpProxy: proxy.url)
            let ref = "registry.test:\(registry.port)/plainauth/app:1"
            await assertRegistryError("no proxy credentials", {
                try await OCIClient.withClient(configuration: configuration) { _ = try await $0.resolve(ref) }
            }, matches: { if case .proxy = $0 { return true }; return false })
            configuration.registry.proxy = Proxy(httpProxy: proxy.urlWithCredentials)
            let big = try dir.write("big.bin", Bytes.random(3 << 20))
            let pushed = try await OCIClient.withClient(configuration: configuration) { try await $0.push(files: [FileToPush(big)], to: ref) }
            let pulled = try await OCIClient.withClient(configuration: configuration) { try await $0.pull(ref, into: dir.file("out")) }
            XCTAssertEqual(pulled.descriptor.digest, pushed.digest)
            XCTAssertEqual(dir.read("out/big.bin"), dir.read("big.bin"))
            let log = await proxy.accessLog(waitingFor: "GET http://registry.test:\(registry.port)/v2/plainauth/app/blobs/")
            XCTAssertTrue(log.contains("GET http://registry.test:\(registry.port)/v2/plainauth/app/blobs/"), log)
            XCTAssertTrue(log.contains("plainuser"), log)
            let registryLog = (try? String(contentsOfFile: registry.logFile, encoding: .utf8)) ?? ""
            XCTAssertFalse(registryLog.contains(try XCTUnwrap(proxy.password)), "the proxy password reached the registry")
            XCTAssertFalse(registryLog.contains("plainuser"), "the proxy user reached the registry")
            let resolved = try await ocictl.ok(["resolve", ref, "--plain-http"], environment: ["HTTP_PROXY": proxy.urlWithCredentials])
            XCTAssertTrue(resolved.stdoutText.hasPrefix(pushed.digest.description), resolved.summary)
        }
    }

    /// A blob download redirected to storage on another host goes through the proxy too, unless NO_PROXY names
    /// that host.
    func testBlobRedirectsFollowTheProxyRules() async throws {
        try NetworkTools.squid()
        let registry = try await InProcessRegistry.start(.init(blobHost: true))
        let proxy = try await TestProxy.start()
        let dir = try TempDir(prefix: "proxy-redirect")
        defer { dir.remove() }
        do {
            let blobHost = try XCTUnwrap(registry.blobHost)
            let ref = "\(registry.host)/redirected/app:1"
            let files = try Sample.files(in: dir)
            _ = try await OCIClient.withClient(configuration: Sample.configuration()) { try await $0.push(files: files, to: ref) }
            registry.setFaults([.init("GET", "/v2/**/blobs/*", .redirectToBlobHost())])
            var configuration = Sample.configuration()
            configuration.registry.proxy = Proxy(url: proxy.url, proxiesLoopback: true)
            _ = try await OCIClient.withClient(configuration: configuration) { try await $0.pull(ref, into: dir.file("one")) }
            let log = await proxy.accessLog(waitingFor: "GET http://\(blobHost)/")
            XCTAssertTrue(log.contains("GET http://\(registry.host)/v2/redirected/app/blobs/"), log)
            XCTAssertTrue(log.contains("GET http://\(blobHost)/"), "the redirect target went through the proxy:\n\(log)")
            XCTAssertEqual(dir.read("one/a.txt"), dir.read("a.txt"))

            let before = log.split(separator: "\n").filter { $0.contains(blobHost) }.count
            configuration.registry.proxy = Proxy(url: proxy.url, noProxy: blobHost, proxiesLoopback: true)
            _ = try await OCIClient.withClient(configuration: configuration) { try await $0.pull(ref, into: dir.file("two")) }
            let after = await proxy.accessLog(waitingFor: "never-there", timeout: .milliseconds(300))
            XCTAssertEqual(after.split(separator: "\n").filter { $0.contains(blobHost) }.count, before,
                           "NO_PROXY sent the storage host direct:\n\(after)")
            XCTAssertEqual(dir.read("two/a.txt"), dir.read("a.txt"))
        } catch {
            await proxy.stop()
            try? await registry.shutdown()
            throw error
        }
        await proxy.stop()
        try await registry.shutdown()
    }

    /// NO_PROXY names go direct (registry.test then fails to resolve; the proxy sees nothing), loopback goes direct
    /// by default, and a NO_PROXY address goes direct when loopback is proxied.
    func testNoProxyAndLoopbackBypassTheProxy() async throws {
        try NetworkTools.squid()
        let registry = try await startTLSRegistry()
        let proxy = try await TestProxy.start()
        try await stopping(proxy, registry) {
            var configuration = Sample.configuration()
            configuration.registry.tls.caFiles = [try XCTUnwrap(registry.caCertificatePath)]
            configuration.registry.proxy = Proxy.environment(["https_proxy": proxy.url, "NO_PROXY": "other.test,.registry.test"])
            await assertRegistryError("NO_PROXY registry.test", {
                try await OCIClient.withClient(configuration: configuration) {
                    _ = try await $0.resolve("registry.test:\(registry.port)/x/y:1")
                }
            }, matches: { if case .transport = $0 { return true }; return false })
            XCTAssertFalse(proxy.accessLog().contains("registry.test"), proxy.accessLog())

            let dir = try TempDir(prefix: "proxy-loopback")
            defer { dir.remove() }
            let files = try Sample.files(in: dir)
            configuration.registry.proxy = Proxy(url: proxy.url)
            _ = try await OCIClient.withClient(configuration: configuration) {
                try await $0.push(files: files, to: "127.0.0.1:\(registry.port)/loop/app:1")
            }
            configuration.registry.proxy = Proxy(url: proxy.url, noProxy: "127.0.0.1:\(registry.port)", proxiesLoopback: true)
            _ = try await OCIClient.withClient(configuration: configuration) { try await $0.resolve("127.0.0.1:\(registry.port)/loop/app:1") }
            XCTAssertFalse(proxy.accessLog().contains("127.0.0.1:\(registry.port)"), "loopback and NO_PROXY went direct:\n\(proxy.accessLog())")
            configuration.registry.proxy = Proxy(url: proxy.url, proxiesLoopback: true)
            _ = try await OCIClient.withClient(configuration: configuration) { try await $0.resolve("127.0.0.1:\(registry.port)/loop/app:1") }
            let tunnelled = await proxy.accessLog(waitingFor: "CONNECT 127.0.0.1:\(registry.port)")
            XCTAssertTrue(tunnelled.contains("CONNECT 127.0.0.1:\(registry.port)"), tunnelled)
        }
    }

    /// ocictl: HTTPS_PROXY from the environment, --proxy, --no-proxy.
    func testOcictlHonoursTheProxyVariablesAndFlags() async throws {
        try NetworkTools.squid()
        let registry = try await startTLSRegistry()
        var proxyOptions = TestProxy.Options()
        proxyOptions.username = "ctl"
        let proxy = try await TestProxy.start(proxyOptions)
        let ocictl = try OCICtl()
        let dir = try TempDir(prefix: "proxy-ocictl")
        defer {
            ocictl.cleanup()
            dir.remove()
        }
        try await stopping(proxy, registry) {
            let ca = try XCTUnwrap(registry.caCertificatePath)
            let ref = "registry.test:\(registry.port)/ctl/app:1"
            let file = try dir.write("f.txt", Bytes.random(1000))
            let push = try await ocictl.run(["push", ref, file, "--ca-file", ca, "-q", "-v"],
                                            environment: ["HTTPS_PROXY": proxy.urlWithCredentials])
            XCTAssertEqual(push.status, 0, push.summary)
            XCTAssertFalse(push.stderrText.contains(try XCTUnwrap(proxy.password)), "ocictl -v logged the proxy password")
            let resolved = try await ocictl.run(["resolve", ref, "--ca-file", ca, "--proxy", proxy.urlWithCredentials])
            XCTAssertEqual(resolved.status, 0, resolved.summary)
            let ctlLog = await proxy.accessLog(waitingFor: "CONNECT registry.test:\(registry.port) ctl")
            XCTAssertTrue(ctlLog.contains("CONNECT registry.test:\(registry.port) ctl"), ctlLog)
            let direct = try await ocictl.run(["resolve", ref, "--ca-file", ca, "--no-proxy"],
                                              environment: ["HTTPS_PROXY": proxy.urlWithCredentials])
            XCTAssertNotEqual(direct.status, 0, "--no-proxy must go direct, where registry.test does not resolve")
            let unauthenticated = try await ocictl.run(["resolve", ref, "--ca-file", ca], environment: ["https_proxy": proxy.url])
            XCTAssertNotEqual(unauthenticated.status, 0)
            XCTAssertTrue(unauthenticated.stderrText.contains("407"), unauthenticated.stderrText)
            XCTAssertTrue(unauthenticated.stderrText.contains("--proxy"), unauthenticated.stderrText)
        }
    }
}
