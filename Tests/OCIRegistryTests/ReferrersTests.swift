import Foundation
import OCIContent
import OCIRegistry
import OCISpec
import OCITesting
import OCITestFixtures
import XCTest

/// OCI 1.1 subject and referrers, and deletion, against the real registry 2.8 (no referrers API there, so the
/// `sha256-HEX` tag schema runs for real).
final class ReferrersTests: XCTestCase {
    private func withRegistry(_ body: (TestRegistry, RegistryClient) async throws -> Void) async throws {
        try XCTSkipUnless(TestRegistry.isAvailable(.plain), "docker-registry is not installed")
        try await TestRegistry.withRegistry(.plain) { registry in
            let client = try RegistryClient(configuration: testConfiguration())
            do {
                try await body(registry, client)
                try await client.shutdown()
            } catch {
                try? await client.shutdown()
                throw error
            }
        }
    }

    private func pushArtifact(_ repo: RemoteRepository, content: String, artifactType: String, subject: Descriptor?,
                              tag: String?) async throws -> Descriptor {
        let bytes = Array(content.utf8)
        let layer = Descriptor.of(bytes, mediaType: "text/plain")
        try await repo.push(EmptyJSON.descriptor, source: .bytes(EmptyJSON.bytes))
        try await repo.push(layer, source: .bytes(bytes))
        let manifest = Manifest(artifactType: artifactType, config: EmptyJSON.descriptor, layers: [layer], subject: subject,
                                annotations: ["k": content])
        return try await repo.pushManifest(try JSONCoding.encode(manifest), mediaType: MediaType.ociManifest, reference: tag)
    }

    func testReferrersFallbackTagIsMaintainedOnPushAndDelete() async throws {
        try await withRegistry { registry, client in
            let repo = client.repository(host: registry.host, name: "app/x", access: .delete)
            let subject = try await pushArtifact(repo, content: "image", artifactType: "application/vnd.example.image", subject: nil, tag: "v1")
            let sig = try await pushArtifact(repo, content: "sig", artifactType: "application/vnd.example.sig", subject: subject.basic, tag: nil)
            let sbom = try await pushArtifact(repo, content: "sbom", artifactType: "application/vnd.example.sbom", subject: subject.basic, tag: nil)

            let all = try await repo.referrers(of: subject.digest)
            XCTAssertEqual(Set(all.map(\.digest)), [sig.digest, sbom.digest])
            XCTAssertEqual(all.first { $0.digest == sig.digest }?.artifactType, "application/vnd.example.sig")
            XCTAssertEqual(all.first { $0.digest == sig.digest }?.annotations?["k"], "sig")
            let onlySig = try await repo.referrers(of: subject.digest, artifactType: "application/vnd.example.sig")
            XCTAssertEqual(onlySig.map(\.digest), [sig.digest])
            let tags = try await repo.tags()
            XCTAssertTrue(tags.contains(RemoteRepository.referrersTag(for: subject.digest)))

            _ = try await repo.deleteManifest(sig.digest.description)
            let remaining = try await repo.referrers(of: subject.digest)
            XCTAssertEqual(remaining.map(\.digest), [sbom.digest])
        }
    }

    func testUntagKeepsTheManifestAndDeleteRemovesIt() async throws {
        try await withRegistry { registry, client in
            let repo = client.repository(host: registry.host, name: "app/y", access: .delete)
            let d = try await pushArtifact(repo, content: "keep me", artifactType: "application/vnd.example", subject: nil, tag: "v1")
            try await repo.tag(d, as: "extra")
            try await repo.untag("extra")
            let tags = try await repo.tags()
            XCTAssertEqual(tags, ["v1"])
            let kept = try await repo.resolve(d.digest.description)
            XCTAssertEqual(kept.digest, d.digest)

            _ = try await repo.deleteManifest("v1")
            do {
                _ = try await repo.resolve("v1")
                XCTFail("the tag should be gone with its manifest")
            } catch let error as RegistryError {
                XCTAssertTrue(error.isNotFound, "\(error)")
            }
        }
    }

    func testDeleteForbiddenIsAClearError() async throws {
        try XCTSkipUnless(TestRegistry.isAvailable(.plain), "docker-registry is not installed")
        var options = TestRegistry.Options()
        options.deleteEnabled = false
        try await TestRegistry.withRegistry(.plain, options: options) { registry in
            let client = try RegistryClient(configuration: testConfiguration())
            let repo = client.repository(host: registry.host, name: "app/z", access: .delete)
            let d = try await pushArtifact(repo, content: "x", artifactType: "application/vnd.example", subject: nil, tag: "v1")
            do {
                _ = try await repo.deleteManifest(d.digest.description)
                XCTFail("expected an error")
            } catch let error as RegistryError {
                XCTAssertTrue(error.description.contains("405"), error.description)
                XCTAssertEqual(error.codes, ["UNSUPPORTED"])
            }
            try await client.shutdown()
        }
    }

    /// Registries that deviate (fakes, as the real registry cannot be made to): GitLab resolves the `sha256-HEX`
    /// tag to the subject itself (here an index, whose children are not referrers), and Harbor 2.7 answers the
    /// referrers API it lacks with 401 and no challenge while the tag schema works.
    func testReferrersFromRegistriesThatDeviate() async throws {
        let childBytes = try JSONCoding.encode(Manifest(config: EmptyJSON.descriptor, layers: []))
        let child = Descriptor.of(childBytes, mediaType: MediaType.ociManifest)
        let subjectBytes = try JSONCoding.encode(ImageIndex(manifests: [child]))
        let subject = Descriptor.of(subjectBytes, mediaType: MediaType.ociIndex)
        let fallbackTag = RemoteRepository.referrersTag(for: subject.digest)
        var referrer = child
        referrer.artifactType = "application/vnd.example.sig"
        let fallbackIndex = try JSONCoding.encode(ImageIndex(manifests: [referrer]))
        /// The child and the subject in `app`, and `fallback` under the referrers tag.
        func seed(_ registry: InProcessRegistry, _ client: RegistryClient, fallback: [UInt8]) async throws {
            let empty = try await registry.seedBlob(Array("{}".utf8), in: "app", client: client, mediaType: MediaType.ociEmpty)
            XCTAssertEqual(empty, EmptyJSON.descriptor)
            try await registry.seedManifest(childBytes, mediaType: MediaType.ociManifest, in: "app", client: client)
            try await registry.seedManifest(subjectBytes, mediaType: MediaType.ociIndex, in: "app", client: client)
            try await registry.seedManifest(fallback, mediaType: MediaType.ociIndex, tag: fallbackTag, in: "app", client: client)
        }
        let unauthorized = Array(#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.utf8)

        // GitLab: the tag is the subject.
        try await withInProcess { registry, client in
            try await seed(registry, client, fallback: subjectBytes)
            registry.addFault(.init(nil, "/v2/app/referrers/*",
                                    .respond(status: 404, headers: ["Content-Type": "application/json"],
                                             body: Array(#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#.utf8))))
            let found = try await client.repository(host: registry.host, name: "app").referrers(of: subject.digest)
            XCTAssertEqual(found, [], "the subject's own children were taken for referrers")
        }

        // Harbor 2.7: 401 without a challenge from the referrers API; the tag schema answers.
        try await withInProcess { registry, client in
            try await seed(registry, client, fallback: fallbackIndex)
            registry.addFault(.init(nil, "/v2/app/referrers/*", .respond(status: 401, body: unauthorized)))
            let found = try await client.repository(host: registry.host, name: "app").referrers(of: subject.digest)
            XCTAssertEqual(found.map(\.digest), [child.digest])
            XCTAssertEqual(found.first?.artifactType, "application/vnd.example.sig")
        }

        // A 401 from both is the error.
        try await withInProcess(faults: [.init(nil, "/v2/**", .respond(status: 401, body: unauthorized))]) { registry, client in
            do {
                _ = try await client.repository(host: registry.host, name: "app").referrers(of: subject.digest)
                XCTFail("referrers without access succeeded")
            } catch let error as RegistryError {
                XCTAssertTrue(error.isUnauthorized, "\(error)")
            }
        }
    }
}
