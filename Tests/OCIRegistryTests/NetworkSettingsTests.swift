import Foundation
import OCIReference
import OCIRegistry
import XCTest

/// Proxy variables and NO_PROXY routing, and registries.conf parsing and lookup, without a network.
final class NetworkSettingsTests: XCTestCase {
    typealias Proxy = RegistryClient.Configuration.Proxy

    func route(_ proxy: Proxy, _ url: String) -> String? {
        proxy.proxy(for: URL(string: url)!)
    }

    func testEnvironmentLowerCaseWinsAndAllProxyFillsIn() {
        let p = Proxy.environment([
            "HTTPS_PROXY": "http://upper:3128", "https_proxy": "http://lower:3128",
            "ALL_PROXY": "http://all:8080", "NO_PROXY": "a.example.com", "no_proxy": "b.example.com",
        ])
        XCTAssertEqual(p.httpsProxy, "http://lower:3128")
        XCTAssertEqual(p.httpProxy, "http://all:8080", "ALL_PROXY serves the scheme whose variable is unset")
        XCTAssertEqual(p.noProxy, "b.example.com")
        XCTAssertEqual(Proxy.environment(["HTTP_PROXY": "proxy:3128", "http_proxy": ""]).httpProxy, "proxy:3128",
                       "an empty variable counts as unset")
        XCTAssertFalse(Proxy.environment([:]).isEnabled)
    }

    func testRoutingBySchemeAndNoProxyRules() {
        let p = Proxy(httpsProxy: "http://user:secret@proxy.corp:3128", httpProxy: "plainproxy:8080",
                      noProxy: "internal.corp, .svc.local,*.wild.test, 10.0.0.0/8, 192.168.1.7, fd00::/8, ports.corp:5000, [2001:db8::1]:443")
        XCTAssertEqual(route(p, "https://registry.example.com/v2/"), "http://***@proxy.corp:3128", "credentials never show")
        XCTAssertEqual(route(p, "http://registry.example.com/v2/"), "http://plainproxy:8080")
        XCTAssertNil(route(p, "https://internal.corp/v2/"))
        XCTAssertNil(route(p, "https://registry.internal.corp/v2/"), "a host name covers its subdomains")
        XCTAssertNotNil(route(p, "https://notinternal.corp/v2/"), "only whole labels match")
        XCTAssertNil(route(p, "https://svc.local/v2/"))
        XCTAssertNil(route(p, "https://a.svc.local/v2/"))
        XCTAssertNil(route(p, "https://x.wild.test/v2/"))
        XCTAssertNil(route(p, "https://10.1.2.3:5000/v2/"), "CIDR")
        XCTAssertNotNil(route(p, "https://11.1.2.3/v2/"))
        XCTAssertNil(route(p, "https://192.168.1.7/v2/"))
        XCTAssertNotNil(route(p, "https://192.168.1.8/v2/"))
        XCTAssertNil(route(p, "https://[fd12::5]/v2/"))
        XCTAssertNil(route(p, "https://ports.corp:5000/v2/"))
        XCTAssertNotNil(route(p, "https://ports.corp:5001/v2/"), "a port in NO_PROXY limits the entry to it")
        XCTAssertNil(route(p, "https://[2001:db8::1]/v2/"), "the scheme's default port counts")
        XCTAssertNil(route(Proxy(url: "http://p:1", noProxy: "*"), "https://anything.example/v2/"))
    }

    func testPrintingNeverShowsProxyCredentials() {
        var configuration = RegistryClient.Configuration()
        configuration.proxy = Proxy(url: "http://user:s3cret@proxy.corp:3128")
        for text in ["\(configuration.proxy)", String(reflecting: configuration.proxy), "\(configuration)", String(reflecting: configuration)] {
            XCTAssertFalse(text.contains("s3cret"), text)
        }
        XCTAssertTrue("\(configuration.proxy)".contains("http://***@proxy.corp:3128"))
    }

    func testLoopbackGoesDirectUnlessAskedOtherwise() {
        let p = Proxy(url: "http://proxy:3128")
        for url in ["https://localhost:5000/v2/", "http://127.0.0.1:5000/v2/", "https://127.9.9.9/", "https://[::1]:5000/", "https://a.localhost/"] {
            XCTAssertNil(route(p, url), url)
        }
        let all = Proxy(url: "http://proxy:3128", proxiesLoopback: true)
        XCTAssertEqual(route(all, "http://127.0.0.1:5000/v2/"), "http://proxy:3128")
        XCTAssertNil(route(Proxy(url: "http://proxy:3128", noProxy: "127.0.0.1", proxiesLoopback: true), "http://127.0.0.1:5000/v2/"))
    }

    func testInvalidProxiesFailAtClientCreationWithoutTheirPassword() {
        for bad in ["https://u:topsecret@proxy:3128", "ftp://u:topsecret@proxy", "socks5://u:topsecret@proxy:1080", "http://u:topsecret@:3128"] {
            var configuration = RegistryClient.Configuration()
            configuration.proxy = Proxy(url: bad)
            XCTAssertThrowsError(try RegistryClient(configuration: configuration), bad) { error in
                XCTAssertFalse("\(error)".contains("topsecret"), "\(error)")
                guard case RegistryError.invalidArgument = error else { return XCTFail("\(error)") }
            }
        }
    }

    // MARK: registries.conf

    let sample = """
        unqualified-search-registries = ["docker.io"]
        short-name-mode = "enforcing"

        [[registry]]
        location = "registry.example.com"
        [[registry.mirror]]
        location = "mirror-a.example.com:5000"
        pull-from-mirror = "digest-only"
        [[registry.mirror]]
        location = "mirror-b.example.com/cache"
        insecure = true

        [[registry]]
        prefix = "docker.io/library"
        location = "hub-cache.example.com/library"

        [[registry]]
        location = "bad.example.com"
        blocked = true

        [[registry]]
        prefix = "*.dev.example.com"
        insecure = true

        [aliases]
        "fedora" = "registry.fedoraproject.org/fedora"
        """

    func testParsesMirrorsAndRewritesPulls() throws {
        let conf = try RegistriesConfiguration(parsing: sample, origin: "test.conf")
        XCTAssertEqual(conf.registries.count, 4)
        let byTag = try conf.pullEndpoints(for: Reference(parsing: "registry.example.com/team/app:1.0"))
        XCTAssertEqual(byTag.map(\.reference.description), ["mirror-b.example.com/cache/team/app:1.0", "registry.example.com/team/app:1.0"],
                       "the digest-only mirror is skipped for a tag")
        let digest = "sha256:" + String(repeating: "a", count: 64)
        let byDigest = try conf.pullEndpoints(for: Reference(parsing: "registry.example.com/team/app@\(digest)"))
        XCTAssertEqual(byDigest.map(\.reference.description), [
            "mirror-a.example.com:5000/team/app@\(digest)", "mirror-b.example.com/cache/team/app@\(digest)",
            "registry.example.com/team/app@\(digest)",
        ])
        XCTAssertEqual(byDigest.map(\.isMirror), [true, true, false])
        let hub = try conf.pullEndpoints(for: Reference(parsing: "alpine:3"))
        XCTAssertEqual(hub.map(\.reference.description), ["hub-cache.example.com/library/alpine:3"], "prefix replaced by location")
        let untouched = try conf.pullEndpoints(for: Reference(parsing: "registry.example.community/app:1"))
        XCTAssertEqual(untouched.map(\.reference.description), ["registry.example.community/app:1"], "prefixes match whole segments")
        XCTAssertThrowsError(try conf.pullEndpoints(for: Reference(parsing: "bad.example.com/x:1"))) { error in
            guard case RegistryError.blocked(_, let origin) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(origin, "test.conf")
            XCTAssertTrue("\(error)".contains("blocked"))
        }
        XCTAssertEqual(conf.registry(for: try Reference(parsing: "a.dev.example.com/x:1"))?.insecure, true)
    }

    func testDropInsReplaceEntriesWithTheSamePrefix() throws {
        var conf = try RegistriesConfiguration(parsing: sample, origin: "main.conf")
        try conf.merge(parsing: """
            [[registry]]
            location = "registry.example.com"
            insecure = true
            """, origin: "50-override.conf")
        let entry = try XCTUnwrap(conf.registry(for: Reference(parsing: "registry.example.com/x:1")))
        XCTAssertTrue(entry.insecure)
        XCTAssertTrue(entry.mirrors.isEmpty)
        XCTAssertEqual(entry.origin, "50-override.conf")
    }

    func testInvalidFilesSayWhereAndWhat() {
        XCTAssertThrowsError(try RegistriesConfiguration(parsing: "[[registry]\nlocation = 1", origin: "broken.conf")) { error in
            XCTAssertTrue("\(error)".contains("broken.conf"), "\(error)")
            XCTAssertTrue("\(error)".contains("line"), "\(error)")
        }
        XCTAssertThrowsError(try RegistriesConfiguration(parsing: "[[registry]]\nlocation = \"a.example.com\"\n[[registry.mirror]]\nlocation = \"m\"\npull-from-mirror = \"sometimes\"", origin: "x.conf"))
        XCTAssertThrowsError(try RegistriesConfiguration(parsing: "[[registry]]\ninsecure = true", origin: "x.conf")) { error in
            XCTAssertTrue("\(error)".contains("no location"), "\(error)")
        }
    }

    func testStandardFilesFollowTheEnvironment() throws {
        let dir = NSTemporaryDirectory() + "/regconf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/containers/registries.conf.d", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertEqual(RegistriesConfiguration.standardFiles(environment: ["CONTAINERS_REGISTRIES_CONF": "/x/r.conf"]).file, "/x/r.conf")
        XCTAssertEqual(RegistriesConfiguration.standardFiles(environment: ["XDG_CONFIG_HOME": dir, "HOME": dir]).file,
                       "/etc/containers/registries.conf", "no user file: the system's")
        try "[[registry]]\nlocation = \"user.example.com\"\nblocked = true\n".write(toFile: dir + "/containers/registries.conf", atomically: true, encoding: .utf8)
        try "[[registry]]\nlocation = \"dropin.example.com\"\ninsecure = true\n".write(toFile: dir + "/containers/registries.conf.d/10-a.conf", atomically: true, encoding: .utf8)
        let conf = try RegistriesConfiguration.standard(environment: ["XDG_CONFIG_HOME": dir, "HOME": dir])
        XCTAssertEqual(Set(conf.registries.map(\.location)), ["user.example.com", "dropin.example.com"])
        XCTAssertThrowsError(try RegistriesConfiguration.standard(environment: ["CONTAINERS_REGISTRIES_CONF": dir + "/none.conf"]))
    }
}
