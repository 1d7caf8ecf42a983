import Foundation
import OCIGoCompat
import OCIKit
import OCIContent
import OCICredentials
import OCIReference
import OCIRegistry
import OCISpec
import OCITesting
import XCTest

/// Token auth (Docker Hub style) against the real registry and the in-process token server: token reuse (F9),
/// rights of the pull-only reader, anonymous pull.
final class TokenAuthTests: XCTestCase {
    /// Starts a `.token` registry with an image of three blobs (config + two layers) at `token/pull:v1`.
    private func withTokenRegistry(_ body: (TestRegistry, TokenServer, TestImage, String) async throws -> Void) async throws {
        try Requirements.registry(.token)
        try await TestRegistry.withRegistry(.token) { registry in
            let tokenServer = try XCTUnwrap(registry.tokenServer)
            let image = try TestImage.make(config: Bytes.utf8("{\"token\":\"config\"}"),
                                           layers: [Bytes.random(64 * 1024), Bytes.random(200 * 1024)])
            XCTAssertEqual(image.blobs.count, 3)
            let ref = "\(registry.host)/token/pull:v1"
            try await Clients.with(try Clients.make(keyring: Clients.fullUser(registry))) { client in
                try await Upload.image(client, ref, image)
            }
            try await body(registry, tokenServer, image, ref)
        }
    }

    /// F9: resolve + manifest + three blobs with one fresh client cost exactly one token request and one ping.
    func testOnePullCostsOneToken() async throws {
        try await withTokenRegistry { registry, tokenServer, image, ref in
            for (label, keyring) in [("reader", Clients.keyring(for: registry, user: registry.readerUsername,
                                                                 password: registry.readerPassword)),
                                     ("full user", Clients.fullUser(registry))] {
                try await Clients.with(try Clients.make(keyring: keyring)) { client in
                    tokenServer.resetStats()
                    let (_, resolved) = try await client.resolve(ref)
                    XCTAssertEqual(resolved, image.descriptor)
                    let (_, bytes) = try await client.getRawManifest(ref)
                    XCTAssertEqual(bytes, image.bytes)
                    for blob in image.manifest.blobs {
                        let fetched = try await client.fetchBytes(ref, blob)
                        XCTAssertEqual(fetched, image.blobs[blob.digest])
                    }
                    let stats = tokenServer.stats()
                    XCTAssertEqual(stats.tokenRequests, 1, "\(label): token requests for one pull; scopes \(stats.scopes)")
                    XCTAssertEqual(stats.scopes, ["repository:token/pull:pull"], label)
                    let counters = await client.registry.requestCounters(host: registry.host)
                    XCTAssertEqual(counters.pings, 1, label)
                    XCTAssertEqual(counters.tokens, 1, label)
                }
            }
        }
    }

    /// The same pull through `RemoteRepository` directly, three blobs fetched concurrently: still one token.
    func testConcurrentBlobFetchesShareOneToken() async throws {
        try await withTokenRegistry { registry, tokenServer, image, ref in
            try await Clients.with(try Clients.make(keyring: Clients.fullUser(registry))) { client in
                tokenServer.resetStats()
                let repo = client.registry.repository(try Reference(parsing: ref))
                let (descriptor, _) = try await repo.fetchManifest("v1")
                XCTAssertEqual(descriptor, image.descriptor)
                try await withThrowingTaskGroup(of: (OCIDigest, [UInt8]).self) { group in
                    for blob in image.manifest.blobs {
                        group.addTask { (blob.digest, try await repo.fetchAll(blob, limit: 1 << 20)) }
                    }
                    for try await (digest, bytes) in group {
                        XCTAssertEqual(bytes, image.blobs[digest])
                    }
                }
                XCTAssertEqual(tokenServer.stats().tokenRequests, 1)
            }
        }
    }

    /// A copy between two repositories of the same registry costs at most two tokens (source pull, target push).
    func testCopyWithinRegistryCostsAtMostTwoTokens() async throws {
        try await withTokenRegistry { registry, tokenServer, image, ref in
            try await Clients.with(try Clients.make(keyring: Clients.fullUser(registry))) { client in
                tokenServer.resetStats()
                let target = "\(registry.host)/token/copy-target:v2"
                try await client.copy(from: ref, to: target)
                let stats = tokenServer.stats()
                XCTAssertLessThanOrEqual(stats.tokenRequests, 2, "scopes: \(stats.scopes)")
                XCTAssertGreaterThanOrEqual(stats.tokenRequests, 1)
                try await compareRemoteManifest(client, target, image)
            }
        }
    }

    /// The pull-only reader cannot push: `RegistryError.denied`, and nothing is left behind.
    func testReaderPushIsDeniedAndLeavesNothing() async throws {
        try await withTokenRegistry { registry, tokenServer, _, _ in
            let readerKeyring = Clients.keyring(for: registry, user: registry.readerUsername, password: registry.readerPassword)
            let image = try TestImage.make(config: Bytes.utf8("denied-config"), layers: [Bytes.random(4096)])
            let target = "\(registry.host)/token/denied:v1"
            try await Clients.with(try Clients.make(keyring: readerKeyring)) { client in
                let error = await assertRegistryError("reader push", {
                    try await Upload.image(client, target, image)
                }, matches: { $0.isDenied })
                if let error { XCTAssertTrue("\(error)".contains("denied"), "\(error)") }

                // Pushing only the manifest (blobs exist elsewhere or not) is denied as well.
                await assertRegistryError("reader manifest push", {
                    let repo = client.registry.repository(try Reference(parsing: target), access: .push)
                    _ = try await repo.pushManifest(image.bytes, mediaType: MediaType.ociManifest, reference: "v1")
                }, matches: { $0.isDenied })
            }
            XCTAssertGreaterThan(tokenServer.stats().byUser[registry.readerUsername ?? "", default: 0], 0)

            try await Clients.with(try Clients.make(keyring: Clients.fullUser(registry))) { client in
                await assertRegistryError("the denied tag must not exist", {
                    _ = try await client.resolve(target)
                }, matches: { $0.isNotFound })
                await assertRegistryError("the denied repository has no tags", {
                    _ = try await client.listTags("\(registry.host)/token/denied")
                }, matches: { $0.isNotFound })
                let repos = try await client.registry.repositories(host: registry.host)
                XCTAssertEqual(repos, ["token/pull"], "the catalog must not list the denied repository")
                for blob in image.manifest.blobs {
                    let repo = client.registry.repository(try Reference(parsing: target))
                    let exists = try await repo.exists(blob)
                    XCTAssertFalse(exists, "blob \(blob.digest) must not exist in the denied repository")
                }
            }
        }
    }

    /// An HTTPS registry whose token realm is plain HTTP (here on the registry's own loopback host) does not get
    /// the user's password sent in clear: the token request goes anonymously, so a push is denied and the token
    /// server never sees the user. With the user's leave for plain HTTP the same push succeeds.
    func testPlainHTTPRealmOfAnHTTPSRegistryGetsNoCredentials() async throws {
        try Requirements.registry(.tlsToken)
        try await TestRegistry.withRegistry(.tlsToken) { registry in
            let tokenServer = try XCTUnwrap(registry.tokenServer)
            XCTAssertTrue(tokenServer.realm.hasPrefix("http://"), tokenServer.realm)
            let tls = RegistryClient.Configuration.TLS(caFiles: [registry.caCertificatePath ?? ""])
            let user = try XCTUnwrap(registry.username)
            let image = try TestImage.make(config: Bytes.utf8("{\"realm\":\"http\"}"), layers: [Bytes.random(4096)])
            let target = "\(registry.host)/tls/realm:v1"

            try await Clients.with(try Clients.make(keyring: Clients.fullUser(registry), tls: tls)) { client in
                await assertRegistryError("push through a plain-HTTP realm", {
                    try await Upload.image(client, target, image)
                }, matches: { $0.isDenied || $0.isUnauthorized })
            }
            XCTAssertEqual(tokenServer.stats().byUser[user, default: 0], 0, "the password reached a plain-HTTP realm")
            XCTAssertEqual(tokenServer.stats().authFailures, 0)
            XCTAssertGreaterThan(tokenServer.stats().byUser["", default: 0], 0, "no anonymous token request")

            try await Clients.with(try Clients.make(keyring: Clients.fullUser(registry), tls: tls, plainHTTP: .allowed)) { client in
                try await Upload.image(client, target, image)
                let (_, bytes) = try await client.getRawManifest(target)
                XCTAssertEqual(bytes, image.bytes)
            }
            XCTAssertGreaterThan(tokenServer.stats().byUser[user, default: 0], 0)
        }
    }

    /// Anonymous requests get pull rights: an anonymous client pulls; it cannot push or list the catalog.
    func testAnonymousPull() async throws {
        try await withTokenRegistry { registry, tokenServer, image, ref in
            try await Clients.with(try Clients.make()) { client in
                tokenServer.resetStats()
                try await compareRemoteManifest(client, ref, image)
                let stats = tokenServer.stats()
                XCTAssertEqual(stats.tokenRequests, 1)
                XCTAssertEqual(stats.byUser, ["": 1], "anonymous tokens")

                await assertRegistryError("anonymous push", {
                    try await Upload.image(client, "\(registry.host)/token/anon-push:v1",
                                           try TestImage.make(config: Bytes.utf8("anon"), layers: [Bytes.random(10)]))
                }, matches: { $0.isDenied || $0.isUnauthorized })
                await assertRegistryError("anonymous catalog", {
                    _ = try await client.registry.repositories(host: registry.host)
                }, matches: { $0.isDenied || $0.isUnauthorized })
            }
        }
    }

    /// The catalog needs `registry:catalog:*`: the full user lists, the reader is refused.
    func testCatalogNeedsTheCatalogScope() async throws {
        try await withTokenRegistry { registry, tokenServer, image, _ in
            try await Clients.with(try Clients.make(keyring: Clients.fullUser(registry))) { client in
                try await Upload.image(client, "\(registry.host)/token/second:v1", image)
                tokenServer.resetStats()
                let repos = try await client.listRepositories(registry.host)
                XCTAssertEqual(repos.sorted(), ["\(registry.host)/token/pull", "\(registry.host)/token/second"])
                XCTAssertEqual(tokenServer.stats().scopes, ["registry:catalog:*"])
                let tags = try await client.listTags("\(registry.host)/token/pull")
                XCTAssertEqual(tags, ["v1"])
            }
            let reader = Clients.keyring(for: registry, user: registry.readerUsername, password: registry.readerPassword)
            try await Clients.with(try Clients.make(keyring: reader)) { client in
                await assertRegistryError("reader catalog", {
                    _ = try await client.listRepositories(registry.host)
                }, matches: { $0.isDenied || $0.isUnauthorized })
                // Tags need only pull.
                let tags = try await client.listTags("\(registry.host)/token/pull")
                XCTAssertEqual(tags, ["v1"])
            }
        }
    }

    /// Wrong credentials at the token server: unauthorized (or a token service error naming 401), never a hang.
    func testWrongPasswordAtTheTokenServer() async throws {
        try await withTokenRegistry { registry, _, _, ref in
            let wrong = Clients.keyring(for: registry, user: registry.username, password: "not-the-password")
            try await Clients.with(try Clients.make(keyring: wrong)) { client in
                await assertRegistryError("resolve with a wrong password", {
                    _ = try await client.resolve(ref)
                }, matches: { error in
                    switch error {
                    case .unauthorized: return true
                    case .tokenService(_, let status, _): return status == 401
                    default: return false
                    }
                })
            }
        }
    }
}
