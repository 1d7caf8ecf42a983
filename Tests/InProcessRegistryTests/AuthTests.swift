import Foundation
import NIOHTTP1
import OCIRegistry
import OCISpec
import OCITesting
import XCTest

/// Basic and token authentication: challenges, scopes, pull-only accounts, TLS.
final class AuthTests: XCTestCase {
    private let users = [
        InProcessRegistry.User("alice", password: "alice-pw"),
        InProcessRegistry.User("reader", password: "reader-pw", access: [.pull]),
        InProcessRegistry.User("teamer", password: "teamer-pw", repositories: ["team/*"]),
    ]

    private func basic(_ user: String, _ password: String) -> (String, String) {
        ("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())
    }

    func testBasicAuth() async throws {
        try await withInProcessRegistry(.init(auth: .basic(users))) { registry in
            try await RawHTTP.with(registry) { raw in
                let anonymous = try await raw.send(.GET, "/v2/")
                XCTAssertEqual(anonymous.status, 401)
                XCTAssertEqual(anonymous.errorCodes, ["UNAUTHORIZED"])
                XCTAssertTrue(anonymous.header("WWW-Authenticate")?.hasPrefix("Basic realm=") ?? false)
                let wrong = try await raw.send(.GET, "/v2/", headers: [basic("alice", "nope")])
                XCTAssertEqual(wrong.status, 401)
                let right = try await raw.send(.GET, "/v2/", headers: [basic("alice", "alice-pw")])
                XCTAssertEqual(right.status, 200)
                let readerPush = try await raw.send(.POST, "/v2/x/blobs/uploads/", headers: [basic("reader", "reader-pw")])
                XCTAssertEqual(readerPush.status, 403)
                XCTAssertEqual(readerPush.errorCodes, ["DENIED"])
                let outside = try await raw.send(.GET, "/v2/other/tags/list", headers: [basic("teamer", "teamer-pw")])
                XCTAssertEqual(outside.errorCodes, ["DENIED"])
                let catalog = try await raw.send(.GET, "/v2/_catalog", headers: [basic("teamer", "teamer-pw")])
                XCTAssertEqual(catalog.status, 403, "only users who see every repository list the catalog")
            }
            let image = TestImage.make(layerSizes: [300])
            try await Clients.with(try Clients.make(for: registry, username: "alice", password: "alice-pw")) { client in
                try await client.repository(host: registry.host, name: "team/app", access: .push).push(image, tag: "v1")
                let catalog = try await client.repositories(host: registry.host)
                XCTAssertEqual(catalog, ["team/app"])
            }
            try await Clients.with(try Clients.make(for: registry, username: "reader", password: "reader-pw")) { client in
                let repo = client.repository(host: registry.host, name: "team/app", access: .push)
                let (_, bytes) = try await repo.fetchManifest("v1")
                XCTAssertEqual(bytes, image.manifestBytes)
                await assertRegistryError("reader pushes", { _ = try await repo.pushBytes(Bytes.random(10)) }) {
                    if case .denied = $0 { return true }
                    return false
                }
            }
            try await Clients.with(try Clients.make(for: registry)) { client in
                await assertRegistryError("anonymous pull", {
                    _ = try await client.repository(host: registry.host, name: "team/app").resolve("v1")
                }) { $0.isUnauthorized }
            }
            try await Clients.with(try Clients.make(for: registry, username: "alice", password: "wrong")) { client in
                await assertRegistryError("wrong password", {
                    _ = try await client.repository(host: registry.host, name: "team/app").resolve("v1")
                }) { $0.isUnauthorized }
            }
        }
    }

    func testTokenAuthChallengesAndScopes() async throws {
        try await withInProcessRegistry(.init(auth: .token(users, anonymous: [.pull], service: "test-service"))) { registry in
            try await RawHTTP.with(registry) { raw in
                let ping = try await raw.send(.GET, "/v2/")
                XCTAssertEqual(ping.status, 401)
                XCTAssertEqual(ping.header("WWW-Authenticate"), #"Bearer realm="\#(registry.baseURL)/token",service="test-service""#)
                let push = try await raw.send(.POST, "/v2/tok/blobs/uploads/")
                XCTAssertEqual(push.header("WWW-Authenticate"),
                               #"Bearer realm="\#(registry.baseURL)/token",service="test-service",scope="repository:tok:pull,push""#)

                // A reader asks for pull and push and gets pull only.
                let tokenResponse = try await raw.send(.GET, "/token?service=test-service&scope=repository:tok:pull,push",
                                                       headers: [basic("reader", "reader-pw")])
                XCTAssertEqual(tokenResponse.status, 200)
                let token = try XCTUnwrap(tokenResponse.json?["token"] as? String)
                XCTAssertEqual(tokenResponse.json?["access_token"] as? String, token)
                XCTAssertEqual(tokenResponse.json?["expires_in"] as? Int, 300)
                let bearer = ("Authorization", "Bearer \(token)")
                let pingWithToken = try await raw.send(.GET, "/v2/", headers: [bearer])
                XCTAssertEqual(pingWithToken.status, 200)
                let pull = try await raw.send(.GET, "/v2/tok/tags/list", headers: [bearer])
                XCTAssertEqual(pull.errorCodes, ["NAME_UNKNOWN"], "authorised: the repository just does not exist")
                let denied = try await raw.send(.POST, "/v2/tok/blobs/uploads/", headers: [bearer])
                XCTAssertEqual(denied.status, 401)
                XCTAssertTrue(denied.header("WWW-Authenticate")?.contains(#"error="insufficient_scope""#) ?? false)
                // Scopes are per repository.
                let otherRepo = try await raw.send(.GET, "/v2/elsewhere/tags/list", headers: [bearer])
                XCTAssertEqual(otherRepo.status, 401)
                let bogus = try await raw.send(.GET, "/v2/tok/tags/list", headers: [("Authorization", "Bearer not-a-token")])
                XCTAssertTrue(bogus.header("WWW-Authenticate")?.contains(#"error="invalid_token""#) ?? false)
                let badLogin = try await raw.send(.GET, "/token?service=test-service&scope=repository:tok:pull",
                                                  headers: [basic("reader", "wrong")])
                XCTAssertEqual(badLogin.status, 401)
                // The OAuth2 form.
                let form = Bytes.utf8("grant_type=password&username=alice&password=alice-pw&service=test-service&scope=repository%3Atok%3Apush")
                let oauth = try await raw.send(.POST, "/token", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: form)
                let oauthToken = try XCTUnwrap(oauth.json?["access_token"] as? String)
                let pushWithOAuth = try await raw.send(.POST, "/v2/tok/blobs/uploads/", headers: [("Authorization", "Bearer \(oauthToken)")])
                XCTAssertEqual(pushWithOAuth.status, 202)
            }

            let image = TestImage.make(layerSizes: [400])
            try await Clients.with(try Clients.make(for: registry, username: "alice", password: "alice-pw")) { client in
                try await client.repository(host: registry.host, name: "tok", access: .push).push(image, tag: "v1")
                let catalog = try await client.repositories(host: registry.host)
                XCTAssertEqual(catalog, ["tok"])
            }
            // Pull-only token: the pull works, the push is refused.
            try await Clients.with(try Clients.make(for: registry, username: "reader", password: "reader-pw")) { client in
                let repo = client.repository(host: registry.host, name: "tok", access: .push)
                let (_, bytes) = try await repo.fetchManifest("v1")
                XCTAssertEqual(bytes, image.manifestBytes)
                await assertRegistryError("push with a pull-only token", {
                    _ = try await repo.pushManifest(image.manifestBytes, mediaType: MediaType.ociManifest, reference: "v2")
                }) { error in
                    switch error {
                    case .denied, .unauthorized: return true
                    default: return false
                    }
                }
            }
            // Anonymous clients get pull tokens.
            try await Clients.with(try Clients.make(for: registry)) { client in
                let repo = client.repository(host: registry.host, name: "tok", access: .push)
                let resolved = try await repo.resolve("v1")
                XCTAssertEqual(resolved.digest, image.manifestDescriptor.digest)
                await assertRegistryError("anonymous push", { _ = try await repo.pushBytes(Bytes.random(5)) }) { error in
                    switch error {
                    case .denied, .unauthorized: return true
                    default: return false
                    }
                }
            }
            let tokenRequests = registry.requests().filter { $0.path == "/token" }
            XCTAssertFalse(tokenRequests.isEmpty)
            XCTAssertTrue(tokenRequests.allSatisfy { $0.header("Authorization").map { $0 == "Basic <redacted>" } ?? true })
            let readerPuts = registry.requests().filter { $0.method == "PUT" && $0.path.hasSuffix("/manifests/v2") }
            XCTAssertFalse(readerPuts.isEmpty)
            XCTAssertTrue(readerPuts.allSatisfy { $0.status == 401 }, "the reader's manifest PUT was refused, not stored")
        }
    }

    /// A mount needs pull on the source repository: a token without it gets an upload session instead.
    func testMountsNeedPullOnTheSource() async throws {
        try await withInProcessRegistry(.init(auth: .token(users))) { registry in
            try await RawHTTP.with(registry) { raw in
                func token(_ user: String, _ password: String, _ scopes: [String]) async throws -> (String, String) {
                    let query = scopes.map { "scope=\($0)" }.joined(separator: "&")
                    let response = try await raw.send(.GET, "/token?service=in-process-registry&\(query)", headers: [basic(user, password)])
                    return ("Authorization", "Bearer \(try XCTUnwrap(response.json?["token"] as? String))")
                }
                let alice = try await token("alice", "alice-pw", ["repository:other:pull,push"])
                let bytes = Bytes.random(100)
                let digest = OCIDigest.of(bytes)
                let put = try await raw.send(.POST, "/v2/other/blobs/uploads/?digest=\(digest)", headers: [alice], body: bytes)
                XCTAssertEqual(put.status, 201)

                let scopes = ["repository:team/dst:pull,push", "repository:other:pull"]
                let teamer = try await token("teamer", "teamer-pw", scopes)
                let refused = try await raw.send(.POST, "/v2/team/dst/blobs/uploads/?mount=\(digest)&from=other", headers: [teamer])
                XCTAssertEqual(refused.status, 202, "teamer cannot read `other`: no mount, an upload session")
                let aliceBoth = try await token("alice", "alice-pw", scopes)
                let mounted = try await raw.send(.POST, "/v2/team/dst/blobs/uploads/?mount=\(digest)&from=other", headers: [aliceBoth])
                XCTAssertEqual(mounted.status, 201)
            }
        }
    }

    func testTokenAuthOverTLS() async throws {
        let configuration = InProcessRegistry.Configuration(auth: .token(users), tls: .generated)
        try await withInProcessRegistry(configuration) { registry in
            try await RawHTTP.with(registry) { raw in
                let ping = try await raw.send(.GET, "/v2/")
                XCTAssertTrue(ping.header("WWW-Authenticate")?.contains("realm=\"https://\(registry.host)/token\"") ?? false)
            }
            let image = TestImage.make(layerSizes: [1000])
            try await Clients.with(try Clients.make(for: registry, username: "alice", password: "alice-pw")) { client in
                let repo = client.repository(host: registry.host, name: "secure/app", access: .push)
                try await repo.push(image, tag: "v1")
                let (_, bytes) = try await repo.fetchManifest("v1")
                XCTAssertEqual(bytes, image.manifestBytes)
            }
        }
    }

    func testUserListParsing() throws {
        let users = try InProcessRegistry.User.parseList("# accounts\nalice:pw:with:colons\n\n bob:x \n", access: [.pull])
        XCTAssertEqual(users.map(\.username), ["alice", "bob"])
        XCTAssertEqual(users.map(\.password), ["pw:with:colons", "x"])
        XCTAssertEqual(users.first?.access, [.pull])
        XCTAssertThrowsError(try InProcessRegistry.User.parseList("no-colon"))
    }
}
