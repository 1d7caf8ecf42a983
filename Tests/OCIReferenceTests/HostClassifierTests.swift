import XCTest
import OCIReference

/// Hosts that may use plain HTTP without the user's explicit leave (ggcr's insecure-by-default set).
final class HostClassifierTests: XCTestCase {
    func testAllowsPlainHTTPByDefault() {
        let rows: [(String, Bool)] = [
            ("127.0.0.1:5000", true),
            ("127.0.0.1", true),
            ("127.1.2.3", true),
            ("localhost", true),
            ("localhost:5000", true),
            ("LOCALHOST:5000", true),
            ("registry.localhost", true),
            ("foo.local", true),
            ("foo.local:5000", true),
            ("10.1.2.3", true),
            ("10.0.0.1:443", true),
            ("172.16.0.1", true),
            ("172.31.255.255:5000", true),
            ("172.15.0.1", false),
            ("172.32.0.1", false),
            ("192.168.1.1", true),
            ("192.168.1.1:5000", true),
            ("192.169.1.1", false),
            ("[::1]:5000", true),
            ("[::1]", true),
            ("::1", true),
            ("[0:0:0:0:0:0:0:1]:5000", true),
            ("example.com", false),
            ("example.com:5000", false),
            ("8.8.8.8", false),
            ("8.8.8.8:5000", false),
            ("index.docker.io", false),
            ("[fe80::1]:5000", false),
            ("local", false),
            ("notlocal", false),
            ("foo.local.example.com", false),
            ("10.1.2.3.example.com", false),
            ("10.1.2", false),
            ("10.1.2.300", false),
            ("10.1.2.", false),
            ("", false),
        ]
        for (host, expected) in rows {
            XCTAssertEqual(HostClassifier.allowsPlainHTTPByDefault(host), expected, host.debugDescription)
        }
    }

    func testHostOnly() {
        let rows: [(String, String)] = [
            ("example.com:5000", "example.com"),
            ("example.com", "example.com"),
            ("[::1]:5000", "::1"),
            ("[::1]", "::1"),
            ("::1", "::1"),
            ("127.0.0.1:80", "127.0.0.1"),
        ]
        for (input, expected) in rows {
            XCTAssertEqual(HostClassifier.hostOnly(input), expected, input)
        }
    }

    func testReferenceHostsClassify() throws {
        XCTAssertTrue(HostClassifier.allowsPlainHTTPByDefault(try parse("localhost:5000/a:1").host))
        XCTAssertTrue(HostClassifier.allowsPlainHTTPByDefault(try parse("[::1]:5000/a:1").host))
        XCTAssertFalse(HostClassifier.allowsPlainHTTPByDefault(try parse("test").host))
    }
}
