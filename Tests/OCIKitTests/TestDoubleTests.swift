import Foundation
import OCIGoCompat
import OCIKit
import OCISync
import OCITestFixtures
import OCITesting
import XCTest

/// The test doubles users write their unit tests with: no server, no binary.
final class TestDoubleTests: XCTestCase {
    /// Code under test, as a user would write it: it only knows the protocol.
    private func promote(_ client: any OCIClientProtocol, _ repository: String) async throws -> String {
        let candidate = try await client.resolve("\(repository):candidate")
        try await client.tag("\(repository):candidate", as: ["stable"])
        try await client.copy(from: "\(repository):stable", to: "ocidir://backup:stable", options: CopyOptions())
        return candidate.digest.description
    }

    func testFakeOCIClientRecordsServesAndFails() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.sub("notes.txt")
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data("hello".utf8)))
        let fake = FakeOCIClient()
        let pushed = try await fake.push(files: [FileToPush(file)], to: "registry.test/app:candidate", options: PushOptions())
        let digest = try await promote(fake, "registry.test/app")
        XCTAssertEqual(digest, pushed.digest.description)
        XCTAssertEqual(fake.calls.map(\.method), [.push, .resolve, .tag, .copy])
        XCTAssertEqual(fake.calls[3].arguments, ["registry.test/app:stable", "ocidir://backup:stable"])
        let stable = try await fake.store(for: "registry.test/app").resolve("stable")
        XCTAssertEqual(stable.digest, pushed.digest)
        let backedUp = try await fake.store(for: "ocidir://backup").resolve("stable")
        XCTAssertEqual(backedUp.digest, pushed.digest)

        fake.fail(.tag, with: ContentError.unsupported("tags are frozen"), times: 1)
        do {
            _ = try await promote(fake, "registry.test/app")
            XCTFail("the scripted failure must surface")
        } catch {
            XCTAssertEqual(error.ociErrorKind, .unsupported)
        }
        _ = try await promote(fake, "registry.test/app")  // once only
        let missing = await asyncError { try await fake.resolve("registry.test/other:v1") }
        XCTAssertEqual(missing?.ociErrorKind, .notFound)
    }

    func testFakeGoClientImplementsTheNineMethods() async throws {
        let fake = FakeGoClient()
        let layer = Array("layer".utf8)
        let layerDescriptor = Descriptor.of(layer, mediaType: MediaType.ociLayer)
        let blobs = GenericStore { _ in ByteStream(bytes: layer) }
        let manifest = Manifest(config: EmptyJSON.descriptor, layers: [layerDescriptor])
        let emptyConfig = GenericStore { d in ByteStream(bytes: d.digest == EmptyJSON.digest ? EmptyJSON.bytes : layer) }
        try await fake.pushManifest("registry.test/team/app:v1", manifest: manifest, store: emptyConfig)
        try await fake.pushBlob("registry.test/team/app:v1", descriptor: layerDescriptor, store: blobs)
        let (name, resolved) = try await fake.resolve("registry.test/team/app:v1")
        XCTAssertEqual(name, "registry.test/team/app:v1")
        let raw = try await fake.getRawManifest("registry.test/team/app:v1")
        XCTAssertEqual(raw.descriptor.digest, resolved.digest)
        try await fake.pushRawManifest("registry.test/team/app:v2", descriptor: raw.descriptor, bytes: raw.bytes, store: nil)
        let decoded = try await fake.getManifest("registry.test/team/app:v2")
        XCTAssertEqual(decoded.layers, [layerDescriptor])
        let collected = Locked<[UInt8]>([])
        try await fake.fetch("registry.test/team/app:v1", descriptor: layerDescriptor) { chunk in
            collected.withLock { $0 += chunk }
        }
        XCTAssertEqual(collected.current, layer)
        let tags = try await fake.listTags("registry.test/team/app")
        XCTAssertEqual(tags, ["v1", "v2"])
        let repositories = try await fake.listRepositories("registry.test/team")
        XCTAssertEqual(repositories, ["registry.test/team/app"])
        XCTAssertEqual(Set(fake.calls.map(\.method)), Set(FakeGoClient.Method.allCases))

        fake.fail(.getRawManifest, with: ContentError.notFound("scripted"))
        let error = await asyncError { try await fake.getRawManifest("registry.test/team/app:v1") }
        XCTAssertEqual(error?.ociErrorKind, .notFound)
    }
}
