import Foundation
import XCTest
@testable import OCICredentials

/// F35: docker config parsing.
final class DockerConfigTests: XCTestCase {
    func parse(_ json: String) throws -> DockerConfig {
        try DockerConfig(data: Data(json.utf8), origin: "test.json")
    }

    func b64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    func pair(_ auth: String) -> [String]? {
        DockerConfig.decodeAuth(auth).map { [$0.username, $0.password] }
    }

    func testAuthDecoding() throws {
        XCTAssertEqual(pair(b64("user:pa:ss")), ["user", "pa:ss"], "split at the first colon")
        XCTAssertEqual(pair(b64("user:pass\0\0")), ["user", "pass"], "NULs trimmed")
        XCTAssertEqual(pair(b64("user:\0pass")), ["user", "pass"], "NULs trimmed at both ends")
        XCTAssertEqual(pair(b64("user: pass \n")), ["user", " pass \n"], "other whitespace kept")
        XCTAssertEqual(pair(b64("user:")), ["user", ""])
        XCTAssertEqual(pair("dXNlcjpwYXM"), ["user", "pas"], "unpadded is tolerated")
        XCTAssertNil(DockerConfig.decodeAuth(b64("no-colon")))
        XCTAssertNil(DockerConfig.decodeAuth("!!!"))
        XCTAssertEqual(DockerConfig.encodeAuth(username: "user", password: "pass"), "dXNlcjpwYXNz")
    }

    func testAllEntryFields() throws {
        let config = try parse("""
        {
          "auths": {
            "a.example.com": {"auth": "\(b64("alice:pw1"))", "email": "a@example.com"},
            "b.example.com": {"username": "bob", "password": "pw2"},
            "c.example.com": {"auth": "\(b64("carol:pw3"))", "username": "ignored", "password": "ignored"},
            "d.example.com": {"identitytoken": "idt"},
            "e.example.com": {"registrytoken": "rgt"},
            "f.example.com": {},
            "g.example.com": null
          },
          "credsStore": "desktop",
          "credHelpers": {"gcr.io": "gcloud", "123.dkr.ecr.us-east-1.amazonaws.com": "ecr-login"},
          "psFormat": "table",
          "proxies": {"default": {"httpProxy": "http://proxy"}}
        }
        """)
        XCTAssertEqual(config.auths["a.example.com"], Credential(username: "alice", password: "pw1"))
        XCTAssertEqual(config.auths["b.example.com"], Credential(username: "bob", password: "pw2"))
        XCTAssertEqual(config.auths["c.example.com"], Credential(username: "carol", password: "pw3"), "auth overrides username/password")
        XCTAssertEqual(config.auths["d.example.com"], Credential(identityToken: "idt"))
        XCTAssertEqual(config.auths["e.example.com"], Credential(registryToken: "rgt"))
        XCTAssertEqual(config.auths["f.example.com"]?.isAnonymous, true)
        XCTAssertNil(config.auths["g.example.com"])
        XCTAssertEqual(config.credsStore, "desktop")
        XCTAssertEqual(config.credHelpers, ["gcr.io": "gcloud", "123.dkr.ecr.us-east-1.amazonaws.com": "ecr-login"])
        XCTAssertEqual(config.auths["a.example.com"]?.source, "config:test.json")
    }

    func testLegacyFlatFormatYieldsNothingInAConfigFile() throws {
        let config = try parse(#"{"https://index.docker.io/v1/": {"auth": "\#(b64("old:pw"))", "email": "x@y"}}"#)
        XCTAssertTrue(config.auths.isEmpty)
        // …but is read as a legacy .dockercfg when asked to.
        let legacy = try DockerConfig(legacyData: Data(#"{"https://index.docker.io/v1/": {"auth": "\#(b64("old:pw"))", "email": "x@y"}}"#.utf8), origin: "dockercfg")
        XCTAssertEqual(legacy.auths["https://index.docker.io/v1/"], Credential(username: "old", password: "pw"))
    }

    func testEmptyFileIsAnEmptyConfig() throws {
        XCTAssertEqual(try parse(""), DockerConfig())
        XCTAssertEqual(try parse("  \n"), DockerConfig())
        XCTAssertEqual(try parse("{}"), DockerConfig())
    }

    func testInvalidConfigs() {
        for json in ["[1,2]", "{", #"{"auths": []}"#, #"{"auths": {"h": "x"}}"#, #"{"auths": {"h": {"auth": 5}}}"#,
                     #"{"auths": {"h": {"auth": "%%%"}}}"#, #"{"credHelpers": {"h": 1}}"#, #"{"credsStore": 1}"#] {
            XCTAssertThrowsError(try parse(json), json) { error in
                guard case CredentialsError.invalidConfig(let origin, _) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(origin, "test.json")
            }
        }
    }
}
