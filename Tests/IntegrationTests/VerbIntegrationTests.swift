import Foundation
import OCIKit
import OCITesting
import XCTest

/// The OCIKit verbs against the real distribution registry: copies within and across registries and
/// layouts, referrers, tags, error kinds, and ocictl's global options before the subcommand.
final class VerbIntegrationTests: XCTestCase {
    private func client() -> OCIClient.Configuration {
        var configuration = OCIClient.Configuration()
        configuration.registry.credentials = Keyring()
        configuration.registry.retry = .init(maxAttempts: 3, initialBackoff: .milliseconds(20), maxBackoff: .milliseconds(200))
        return configuration
    }

    func testCopyWithinARegistryMountsAndAcrossLayoutsIsByteExact() async throws {
        try await copyWithinARegistryMountsAndAcrossLayoutsIsByteExact(.distribution)
    }

    /// The same outcomes from the in-process registry: mounts within it, byte-exact layouts, referrers (through the
    /// referrers API there, the tag fallback on distribution 2.8).
    func testCopyWithinARegistryMountsAndAcrossLayoutsIsByteExactOnInProcess() async throws {
        try await copyWithinARegistryMountsAndAcrossLayoutsIsByteExact(.inProcess)
    }

    private func copyWithinARegistryMountsAndAcrossLayoutsIsByteExact(_ kind: RegistryUnderTest.Kind) async throws {
        try Requirements.registry(kind, .plain)
        let scratch = try TempDir(prefix: "it-verbs")
        defer { scratch.remove() }
        let a = try scratch.write("a.bin", Bytes.random(400_000))
        let b = try scratch.write("b.txt", Bytes.random(2_000))
        try await RegistryUnderTest.withRegistry(kind: kind, mode: .plain) { registry in
            // Blob GETs from the source repository (the access log on distribution, the record in process).
            func sourceBlobGETs() -> Int { registry.requestCount("GET", "/v2/verbs/src/blobs/**") }
            try await OCIClient.withClient(configuration: client()) { client in
                let source = "\(registry.host)/verbs/src:v1"
                let pushed = try await client.push(files: [FileToPush(a), FileToPush(b)], to: source,
                                                   options: PushOptions(artifactType: "application/vnd.test"))
                let (_, manifestBytes) = try await client.manifest(source)

                let blobGETs = sourceBlobGETs()
                let within = try await client.copy(from: source, to: "\(registry.host)/verbs/dst:v1")
                XCTAssertEqual(within.mounted, 3, "config and both layers mounted")
                XCTAssertEqual(sourceBlobGETs(), blobGETs, "a mount moves no blob")
                let mounts = registry.requests().filter { request in
                    request.method == "POST" && (request.query ?? "").contains("from=")
                }
                let mountStatuses: [Int?] = mounts.map(\.status)
                XCTAssertEqual(mountStatuses, [201, 201, 201], "three mounts, each answered 201 Created")
                let (_, copiedBytes) = try await client.manifest("\(registry.host)/verbs/dst:v1")
                XCTAssertEqual(copiedBytes, manifestBytes)

                let layout = "ocidir://\(scratch.file("layout")):kept"
                try await client.copy(from: source, to: layout)
                let back = try await client.copy(from: layout, to: "\(registry.host)/verbs/back:v2")
                XCTAssertEqual(back.root.digest, pushed.digest)
                let (_, backBytes) = try await client.manifest("\(registry.host)/verbs/back:v2")
                XCTAssertEqual(backBytes, manifestBytes)

                // A second copy moves nothing: the manifest is there, with its whole graph.
                let again = try await client.copy(from: source, to: "\(registry.host)/verbs/dst:v1")
                XCTAssertEqual(again.copied, 0)
                XCTAssertEqual(again.skipped, 1)

                // Referrers travel with --referrers.
                let signature = try scratch.write("sig.txt", Bytes.random(64))
                try await client.push(files: [FileToPush(signature)], to: "\(registry.host)/verbs/src:sig",
                                      options: PushOptions(artifactType: "application/vnd.test.sig", subject: pushed))
                let withReferrers = try await client.copy(from: source, to: "ocidir://\(scratch.file("with-referrers")):v1",
                                                          options: CopyOptions(referrers: true))
                XCTAssertEqual(withReferrers.referrers, 1)

                // Several tags, one manifest.
                try await client.tag(source, as: ["a", "b"])
                let tags = try await client.tags("\(registry.host)/verbs/src")
                XCTAssertTrue(Set(tags).isSuperset(of: ["v1", "a", "b"]), "\(tags)")
                let inspection = try await client.inspect("\(registry.host)/verbs/src:a")
                XCTAssertEqual(inspection.manifest?.artifactType, "application/vnd.test")
                XCTAssertEqual(inspection.manifest?.layers.map(\.title), ["a.bin", "b.txt"])
            }
        }
    }

    func testErrorKindsFromTheRegistry() async throws {
        try Requirements.registry(.htpasswd)
        try await TestRegistry.withRegistry(.htpasswd) { registry in
            try await OCIClient.withClient(configuration: client()) { client in
                do {
                    _ = try await client.resolve("\(registry.host)/nothing/here:v1")
                    XCTFail("an anonymous resolve on an htpasswd registry must fail")
                } catch {
                    XCTAssertEqual(error.ociErrorKind, .unauthorized, "\(error)")
                }
            }
            var configuration = client()
            let keyring = Keyring()
            _ = keyring.add(address: registry.host, credential: Credential(username: registry.username ?? "",
                                                                           password: registry.password ?? ""))
            configuration.registry.credentials = keyring
            try await OCIClient.withClient(configuration: configuration) { client in
                do {
                    _ = try await client.resolve("\(registry.host)/nothing/here:v1")
                    XCTFail("a missing tag must fail")
                } catch {
                    XCTAssertEqual(error.ociErrorKind, .notFound, "\(error)")
                }
            }
        }
    }

    func testOcictlTakesGlobalOptionsBeforeTheSubcommand() async throws {
        try Requirements.registry(.plain)
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let scratch = try TempDir(prefix: "it-order")
        defer { scratch.remove() }
        let file = try scratch.write("f.txt", Bytes.random(100))
        try await TestRegistry.withRegistry(.plain) { registry in
            let ref = "\(registry.host)/order/app:v1"
            try await ocictl.ok(["--concurrency", "2", "push", ref, file])
            let before = try await ocictl.ok(["--json", "-v", "resolve", ref])
            let after = try await ocictl.ok(["resolve", ref, "--json"])
            XCTAssertEqual(before.stdoutText, after.stdoutText)
            XCTAssertTrue(before.stdoutText.contains("\"digest\""), before.stdoutText)
            XCTAssertFalse(before.stderrText.isEmpty, "-v before the subcommand logs requests")
            try await ocictl.ok(["--json", "copy", ref, "ocidir://\(scratch.file("l")):v1"])
            try await ocictl.ok(["-v", "manifest", "get", ref])
        }
    }
}

extension VerbIntegrationTests {
    /// `cache info` reports the cache pull uses, and none when pull would use none.
    func testCacheInfoAgreesWithPull() async throws {
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let none = try await ocictl.ok(["cache", "info", "--json"])
        XCTAssertTrue(none.stdoutText.contains("\"configured\" : false"), none.stdoutText)
        let scratch = try TempDir(prefix: "it-cacheinfo")
        defer { scratch.remove() }
        let named = try await ocictl.ok(["cache", "info", "--cache-dir", scratch.file("c"), "--json"])
        XCTAssertTrue(named.stdoutText.contains(scratch.file("c")), named.stdoutText)
    }
}
