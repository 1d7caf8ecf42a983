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

/// F10 (per-client TLS settings), F7 (plain HTTP policy) and basic auth against the real registry.
final class TLSAndAuthTests: XCTestCase {
    // MARK: F10

    /// A client trusting the test CA works while a second client in the same process without the CA fails with a
    /// TLS error; neither changes the other (no process-wide trust state).
    func testPerClientTrust() async throws {
        try Requirements.registry(.tls)
        try await TestRegistry.withRegistry(.tls) { registry in
            let ca = try XCTUnwrap(registry.caCertificatePath)
            let image = try TestImage.make(config: Bytes.utf8("tls-config"), layers: [Bytes.random(10_000)])
            let ref = "\(registry.host)/tls/trust:v1"

            let trusting = try Clients.make(tls: RegistryClient.Configuration.TLS(caFiles: [ca]))
            let untrustingStrict = try Clients.make(plainHTTP: .never)
            let untrustingDefault = try Clients.make()
            do {
                try await Upload.image(trusting, ref, image)

                // HTTPS only: the handshake fails on the unknown issuer.
                await assertRegistryError("resolve without the CA (HTTPS only)", {
                    _ = try await untrustingStrict.resolve(ref)
                }, matches: { $0.isTLS })

                // Default policy: 127.0.0.1 may fall back to plain HTTP, which the TLS port answers with 400; the
                // error that explains the failure is still the TLS one.
                await assertRegistryError("resolve without the CA (default policy)", {
                    _ = try await untrustingDefault.resolve(ref)
                }, matches: { $0.isTLS })

                // The trusting client is unaffected, before and after the failures.
                try await compareRemoteManifest(trusting, ref, image)
            } catch {
                try? await trusting.shutdown()
                try? await untrustingStrict.shutdown()
                try? await untrustingDefault.shutdown()
                throw error
            }
            try await trusting.shutdown()
            try await untrustingStrict.shutdown()
            try await untrustingDefault.shutdown()

            // A fresh client created after the trusting one still does not trust the CA.
            try await Clients.with(try Clients.make(plainHTTP: .never)) { client in
                await assertRegistryError("a later client without the CA", {
                    _ = try await client.resolve(ref)
                }, matches: { $0.isTLS })
            }
        }
    }

    func testInsecureSkipVerify() async throws {
        try Requirements.registry(.tls)
        try await TestRegistry.withRegistry(.tls) { registry in
            let ca = try XCTUnwrap(registry.caCertificatePath)
            let image = try TestImage.make(config: Bytes.utf8("insecure-config"), layers: [Bytes.random(3000)])
            let ref = "\(registry.host)/tls/insecure:v1"
            try await Clients.with(try Clients.make(tls: RegistryClient.Configuration.TLS(insecureSkipVerify: true), plainHTTP: .never)) { client in
                try await Upload.image(client, ref, image)
                try await compareRemoteManifest(client, ref, image)
            }
            try await Clients.with(try Clients.make(tls: RegistryClient.Configuration.TLS(caFiles: [ca]), plainHTTP: .never)) { client in
                try await compareRemoteManifest(client, ref, image)
            }
        }
    }

    func testUnreadableCAFileIsAnInvalidArgument() throws {
        XCTAssertThrowsError(try Clients.make(tls: RegistryClient.Configuration.TLS(caFiles: ["/nonexistent/ca.pem"]))) { error in
            guard case RegistryError.invalidArgument(let why)? = error as? RegistryError else {
                return XCTFail("expected RegistryError.invalidArgument, got \(error)")
            }
            XCTAssertTrue(why.contains("/nonexistent/ca.pem"), why)
        }
    }

    // MARK: F7

    /// Plain HTTP on 127.0.0.1 works without any flag; with `.never` the same registry is refused.
    func testPlainHTTPOnLoopbackByDefaultButNotWithNever() async throws {
        try Requirements.registry(.plain)
        try await TestRegistry.withRegistry(.plain) { registry in
            let image = try TestImage.make(config: Bytes.utf8("plain-config"), layers: [Bytes.random(2000)])
            let ref = "\(registry.host)/plain/policy:v1"
            try await Clients.with(try Clients.make()) { client in
                try await Upload.image(client, ref, image)
                try await compareRemoteManifest(client, ref, image)
                let counters = await client.registry.requestCounters(host: registry.host)
                XCTAssertEqual(counters.pings, 1, "one ping per host for the whole session")
            }
            try await Clients.with(try Clients.make(plainHTTP: .allowed)) { client in
                try await compareRemoteManifest(client, ref, image)
            }
            try await Clients.with(try Clients.make(plainHTTP: .never)) { client in
                await assertRegistryError("plain HTTP registry with .never", {
                    _ = try await client.resolve(ref)
                }, matches: { error in
                    switch error {
                    case .tls, .transport, .plainHTTPNotAllowed: return true
                    default: return false
                    }
                })
            }
        }
    }

    // MARK: htpasswd

    func testBasicAuthAnonymousWrongAndRightCredentials() async throws {
        try Requirements.registry(.htpasswd)
        try await TestRegistry.withRegistry(.htpasswd) { registry in
            let user = try XCTUnwrap(registry.username)
            let password = try XCTUnwrap(registry.password)
            let image = try TestImage.make(config: Bytes.utf8("basic-config"), layers: [Bytes.random(5000)])
            let ref = "\(registry.host)/basic/auth:v1"

            // Anonymous: push and pull are refused as unauthorized.
            try await Clients.with(try Clients.make()) { client in
                await assertRegistryError("anonymous push", {
                    try await Upload.image(client, ref, image)
                }, matches: { $0.isUnauthorized })
            }
            // Wrong password: unauthorized as well.
            let wrong = Clients.keyring(for: registry, user: user, password: password + "-wrong")
            try await Clients.with(try Clients.make(keyring: wrong)) { client in
                await assertRegistryError("push with a wrong password", {
                    try await Upload.image(client, ref, image)
                }, matches: { $0.isUnauthorized })
            }
            // The right password works.
            try await Clients.with(try Clients.make(keyring: Clients.fullUser(registry))) { client in
                try await Upload.image(client, ref, image)
                try await compareRemoteManifest(client, ref, image)
                try await client.registry.checkLogin(host: registry.host)
            }
            // Reads need credentials too.
            try await Clients.with(try Clients.make()) { client in
                await assertRegistryError("anonymous resolve", {
                    _ = try await client.resolve(ref)
                }, matches: { $0.isUnauthorized })
                await assertRegistryError("anonymous login check", {
                    try await client.registry.checkLogin(host: registry.host)
                }, matches: { $0.isUnauthorized })
            }
            try await Clients.with(try Clients.make(keyring: wrong)) { client in
                await assertRegistryError("resolve with a wrong password", {
                    _ = try await client.resolve(ref)
                }, matches: { $0.isUnauthorized })
                await assertRegistryError("login check with a wrong password", {
                    try await client.registry.checkLogin(host: registry.host)
                }, matches: { $0.isUnauthorized })
            }
            // The second htpasswd user reads too (htpasswd has no per-repository rights).
            let second = Clients.keyring(for: registry, user: registry.readerUsername, password: registry.readerPassword)
            try await Clients.with(try Clients.make(keyring: second)) { client in
                try await compareRemoteManifest(client, ref, image)
            }
        }
    }

    /// Credentials from a keyring keyed by `host/repository` apply to that repository only.
    func testRepositoryScopedKeyringEntry() async throws {
        try Requirements.registry(.htpasswd)
        try await TestRegistry.withRegistry(.htpasswd) { registry in
            let user = try XCTUnwrap(registry.username)
            let password = try XCTUnwrap(registry.password)
            let keyring = Keyring()
            keyring.add(address: "\(registry.host)/scoped/repo", credential: Credential(username: user, password: password))
            let image = try TestImage.make(config: Bytes.utf8("scoped"), layers: [Bytes.random(100)])
            try await Clients.with(try Clients.make(keyring: keyring)) { client in
                try await Upload.image(client, "\(registry.host)/scoped/repo:v1", image)
                try await compareRemoteManifest(client, "\(registry.host)/scoped/repo:v1", image)
                await assertRegistryError("another repository without credentials", {
                    try await Upload.image(client, "\(registry.host)/other/repo:v1", image)
                }, matches: { $0.isUnauthorized })
            }
        }
    }
}
