import Foundation
import OCIGoCompat
import OCIKit
import OCITestFixtures
import OCITesting
import XCTest

/// Requests per blob and per manifest, counted by the in-process registry (F15, F16): one existence check per
/// blob, no upload of what the registry has, no manifest PUT when the tag already names the digest.
final class RequestCountTests: XCTestCase {
    private func configuration() -> RegistryClient.Configuration {
        var configuration = testConfiguration()
        configuration.credentials = Keyring()
        return configuration
    }

    func testPushRawManifestChecksEachBlobOnceAndSkipsWhatExists() async throws {
        try await withInProcessRegistry { registry in
            let image = try TestImage.make()
            let manifest = image.manifests[0]
            let bytes = image.bytes(manifest)
            let blobs = try JSONCoding.decode(Manifest.self, from: bytes).blobs
            var options = GoClientOptions()
            options.registry = configuration()
            let client = try GoClient(options: options)
            let store = GenericStore { d in ByteStream(bytes: image.bytes(d)) }
            let ref = "\(registry.host)/counted/app:v1"
            try await client.pushRawManifest(ref, descriptor: manifest.basic, bytes: bytes, store: store)
            XCTAssertEqual(registry.requestCount("HEAD", "/v2/counted/app/blobs/*"), blobs.count, "one check per blob")
            XCTAssertEqual(registry.requestCount("POST", "/v2/counted/app/blobs/uploads/"), blobs.count)
            XCTAssertEqual(registry.requestCount("PUT", "/v2/counted/app/manifests/v1"), 1)

            registry.resetRequests()
            try await client.pushRawManifest(ref, descriptor: manifest.basic, bytes: bytes, store: store)
            XCTAssertEqual(registry.requestCount("HEAD", "/v2/counted/app/blobs/*"), blobs.count)
            XCTAssertEqual(registry.requestCount("POST", "**"), 0, "nothing uploaded again")
            XCTAssertEqual(registry.requestCount("PUT", "**"), 0, "the tag already names the digest: no PUT")
            try await client.shutdown()
        }
    }

    func testCopyPushesSmallBlobsWithoutACheck() async throws {
        try await withInProcessRegistry { registry in
            let image = try TestImage.make()
            let source = await image.memoryStore()
            try await source.tag(image.index, as: "v1")
            let client = try RegistryClient(configuration: configuration())
            let destination = client.repository(host: registry.host, name: "copied/app", access: .push)
            let result = try await OCI.copy(from: source, reference: "v1", to: destination, tag: "v1")
            let blobCount = image.blobs.count - 3  // two manifests and the index are not blobs
            XCTAssertEqual(result.copied, image.blobs.count)
            XCTAssertEqual(registry.requestCount("HEAD", "/v2/copied/app/blobs/*"), 0, "no check before a small blob")
            let anonymousMounts = registry.requests().filter {
                $0.method == "POST" && ($0.query ?? "").hasPrefix("mount=sha256:") && !($0.query ?? "").contains("from=")
            }
            XCTAssertEqual(anonymousMounts.count, blobCount, "each upload starts with an anonymous mount")
            XCTAssertEqual(registry.requestCount("PUT", "/v2/copied/app/manifests/v1"), 1, "the index goes up under its tag")
            XCTAssertEqual(registry.requestCount("PUT", "/v2/copied/app/manifests/sha256:*"), 2, "the platform manifests by digest")
            try await client.shutdown()
        }
    }

    func testCopyChecksEachBlobAboveTheUncheckedLimitOnce() async throws {
        try await withInProcessRegistry { registry in
            let image = try TestImage.make()
            let source = await image.memoryStore()
            try await source.tag(image.index, as: "v1")
            var settings = configuration()
            settings.upload.uncheckedPushLimit = 0
            let client = try RegistryClient(configuration: settings)
            let destination = client.repository(host: registry.host, name: "copied/app", access: .push)
            let result = try await OCI.copy(from: source, reference: "v1", to: destination, tag: "v1")
            let blobCount = image.blobs.count - 3  // two manifests and the index are not blobs
            XCTAssertEqual(result.copied, image.blobs.count)
            XCTAssertEqual(registry.requestCount("HEAD", "/v2/copied/app/blobs/*"), blobCount, "one check per blob")
            XCTAssertEqual(registry.requestCount("PUT", "/v2/copied/app/manifests/v1"), 1, "the index goes up under its tag")
            XCTAssertEqual(registry.requestCount("PUT", "/v2/copied/app/manifests/sha256:*"), 2, "the platform manifests by digest")
            try await client.shutdown()
        }
    }
}
