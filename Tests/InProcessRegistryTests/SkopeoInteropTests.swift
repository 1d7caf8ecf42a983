import Foundation
import OCIRegistry
import OCISpec
import OCITesting
import XCTest

/// Independent tools against the in-process registry: skopeo (containers/image) copies into and out of it
/// byte-exactly, with auth and TLS, and copies between it and the CNCF distribution registry are byte-exact.
final class SkopeoInteropTests: XCTestCase {
    private func withSkopeo(_ configuration: InProcessRegistry.Configuration = .init(),
                            _ body: (Skopeo, InProcessRegistry, TempDir) async throws -> Void) async throws {
        let skopeo = try Skopeo()
        defer { skopeo.cleanup() }
        let scratch = try TempDir("inproc-skopeo")
        defer { scratch.remove() }
        try await withInProcessRegistry(configuration) { registry in
            try await body(skopeo, registry, scratch)
        }
    }

    private func rawManifest(_ skopeo: Skopeo, _ ref: String, extra: [String] = ["--tls-verify=false"]) async throws -> [UInt8] {
        try await skopeo.ok(["inspect", "--raw"] + extra + ["docker://\(ref)"]).stdout
    }

    func testSkopeoCopiesIntoAndOutOfTheRegistryByteExact() async throws {
        try await withSkopeo { skopeo, registry, scratch in
            let image = TestImage.make(layerSizes: [40_000, 3000, 900_000])
            let source = scratch.file("source")
            try image.writeLayout(source, tag: "src")
            let ref = "\(registry.host)/interop/app:v1"
            try await skopeo.ok(["copy", "--dest-tls-verify=false", "oci:\(source):src", "docker://\(ref)"])

            // What skopeo pushed is stored byte-exactly: the manifest digest is unchanged.
            let raw = try await rawManifest(skopeo, ref)
            XCTAssertEqual(raw, image.manifestBytes)
            try await Clients.with(try Clients.make(for: registry)) { client in
                let repo = client.repository(host: registry.host, name: "interop/app")
                let (descriptor, bytes) = try await repo.fetchManifest("v1")
                XCTAssertEqual(descriptor.digest, image.manifestDescriptor.digest)
                XCTAssertEqual(descriptor.mediaType, MediaType.ociManifest)
                XCTAssertEqual(bytes, image.manifestBytes)
                for (blob, expected) in image.blobs {
                    let fetched = try await repo.fetchBytes(blob)
                    XCTAssertEqual(fetched, expected)
                }
            }
            // skopeo uploads with POST, PATCH and PUT ?digest=.
            XCTAssertGreaterThanOrEqual(registry.requestCount("PATCH", "/v2/interop/app/blobs/uploads/*"), 1)
            XCTAssertTrue(registry.requests().filter { $0.method == "PUT" }.allSatisfy { $0.status == 201 })

            // And out again into a layout: every blob and the manifest are the bytes we started with.
            let out = scratch.file("out")
            try await skopeo.ok(["copy", "--src-tls-verify=false", "docker://\(ref)", "oci:\(out):copied"])
            XCTAssertEqual(layoutBlob(out, image.manifestDescriptor.digest), image.manifestBytes)
            for (blob, expected) in image.blobs {
                XCTAssertEqual(layoutBlob(out, blob.digest), expected)
            }
            let inspect = try await skopeo.ok(["inspect", "--tls-verify=false", "docker://\(ref)"])
            let info = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(inspect.stdout)) as? [String: Any])
            XCTAssertEqual(info["Digest"] as? String, image.manifestDescriptor.digest.description)
            XCTAssertEqual(info["Layers"] as? [String], image.layerDescriptors.map(\.digest.description))

            let tags = try await skopeo.ok(["list-tags", "--tls-verify=false", "docker://\(registry.host)/interop/app"])
            let listed = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(tags.stdout)) as? [String: Any])
            XCTAssertEqual(listed["Tags"] as? [String], ["v1"])

            // Repository to repository on the same registry (skopeo may mount or upload).
            try await skopeo.ok(["copy", "--src-tls-verify=false", "--dest-tls-verify=false", "docker://\(ref)",
                                 "docker://\(registry.host)/interop/copy:v1"])
            let copied = try await rawManifest(skopeo, "\(registry.host)/interop/copy:v1")
            XCTAssertEqual(copied, image.manifestBytes)

            try await skopeo.ok(["delete", "--tls-verify=false", "docker://\(registry.host)/interop/copy:v1"])
            let gone = try await skopeo.run(["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/interop/copy:v1"])
            XCTAssertNotEqual(gone.status, 0)
        }
    }

    func testSkopeoCopiesAMultiPlatformIndex() async throws {
        try await withSkopeo { skopeo, registry, scratch in
            let amd = TestImage.make(layerSizes: [2000])
            let arm = TestImage.make(layerSizes: [3000])
            func entry(_ image: TestImage, _ arch: String) -> String {
                #"{"mediaType":"\#(MediaType.ociManifest)","digest":"\#(image.manifestDescriptor.digest)","size":\#(image.manifestDescriptor.size),"platform":{"architecture":"\#(arch)","os":"linux"}}"#
            }
            let index = Bytes.utf8(#"{"schemaVersion":2,"mediaType":"\#(MediaType.ociIndex)","manifests":[\#(entry(amd, "amd64")),\#(entry(arm, "arm64"))]}"#)
            try await Clients.with(try Clients.make(for: registry)) { client in
                let repo = client.repository(host: registry.host, name: "multi/src", access: .push)
                try await repo.push(amd, tag: nil)
                try await repo.push(arm, tag: nil)
                _ = try await repo.pushManifest(index, mediaType: MediaType.ociIndex, reference: "latest")
            }
            let out = scratch.file("all")
            try await skopeo.ok(["copy", "--all", "--src-tls-verify=false", "docker://\(registry.host)/multi/src:latest", "oci:\(out):multi"])
            XCTAssertEqual(layoutBlob(out, OCIDigest.of(index)), index)
            XCTAssertEqual(layoutBlob(out, amd.manifestDescriptor.digest), amd.manifestBytes)
            XCTAssertEqual(layoutBlob(out, arm.layerDescriptors[0].digest), arm.layers[0])
            // Back in under another name: the index and its children arrive byte-exactly.
            try await skopeo.ok(["copy", "--all", "--dest-tls-verify=false", "oci:\(out):multi", "docker://\(registry.host)/multi/back:latest"])
            let back = try await rawManifest(skopeo, "\(registry.host)/multi/back:latest")
            XCTAssertEqual(back, index)
            let child = try await rawManifest(skopeo, "\(registry.host)/multi/back@\(arm.manifestDescriptor.digest)")
            XCTAssertEqual(child, arm.manifestBytes)
        }
    }

    func testSkopeoDockerSchema2Conversion() async throws {
        try await withSkopeo { skopeo, registry, scratch in
            let image = TestImage.make(layerSizes: [5000])
            let source = scratch.file("source")
            try image.writeLayout(source, tag: "t")
            let ref = "\(registry.host)/interop/docker:v2s2"
            try await skopeo.ok(["copy", "--format", "v2s2", "--dest-tls-verify=false", "oci:\(source):t", "docker://\(ref)"])
            let raw = try await rawManifest(skopeo, ref)
            try await Clients.with(try Clients.make(for: registry)) { client in
                let (descriptor, bytes) = try await client.repository(host: registry.host, name: "interop/docker").fetchManifest("v2s2")
                XCTAssertEqual(descriptor.mediaType, MediaType.dockerManifest, "the media type skopeo PUT is the one served")
                XCTAssertEqual(bytes, raw)
                XCTAssertEqual(descriptor.digest, OCIDigest.of(raw))
            }
        }
    }

    func testSkopeoWithTokenAuthOverTLS() async throws {
        let users = [InProcessRegistry.User("alice", password: "alice-pw"),
                     InProcessRegistry.User("reader", password: "reader-pw", access: [.pull])]
        try await withSkopeo(.init(auth: .token(users), tls: .generated)) { skopeo, registry, scratch in
            let certDir = try XCTUnwrap(registry.certificateDirectory)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: certDir), ["ca.crt"])
            let image = TestImage.make(layerSizes: [7000])
            let source = scratch.file("source")
            try image.writeLayout(source, tag: "t")
            let ref = "\(registry.host)/secure/app:v1"
            try await skopeo.ok(["copy", "--dest-cert-dir", certDir, "--dest-creds", "alice:alice-pw", "oci:\(source):t", "docker://\(ref)"])
            let raw = try await rawManifest(skopeo, ref, extra: ["--cert-dir", certDir, "--creds", "reader:reader-pw"])
            XCTAssertEqual(raw, image.manifestBytes)
            // The reader's token is pull-only: skopeo cannot push.
            let refused = try await skopeo.run(["copy", "--dest-cert-dir", certDir, "--dest-creds", "reader:reader-pw",
                                                "oci:\(source):t", "docker://\(registry.host)/secure/other:v1"])
            XCTAssertNotEqual(refused.status, 0)
            XCTAssertTrue(registry.requests().contains { $0.path == "/token" && $0.status == 200 })
            // Without the CA, skopeo refuses the certificate.
            let untrusted = try await skopeo.run(["inspect", "--raw", "--creds", "reader:reader-pw", "docker://\(ref)"])
            XCTAssertNotEqual(untrusted.status, 0)
        }
    }

    func testCopiesBetweenInProcessAndDistributionAreByteExact() async throws {
        try XCTSkipUnless(TestRegistry.isAvailable(.plain),
                          "docker-registry (Debian package docker-registry) is not installed at \(TestRegistry.defaultBinary)")
        try await withSkopeo { skopeo, registry, scratch in
            try await TestRegistry.withRegistry(.plain) { distribution in
                let image = TestImage.make(layerSizes: [12_000, 300_000])
                let source = scratch.file("source")
                try image.writeLayout(source, tag: "t")
                try await skopeo.ok(["copy", "--dest-tls-verify=false", "oci:\(source):t", "docker://\(registry.host)/x/app:v1"])

                // In-process → distribution → in-process (another repository).
                try await skopeo.ok(["copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                                     "docker://\(registry.host)/x/app:v1", "docker://\(distribution.host)/x/app:v1"])
                try await skopeo.ok(["copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                                     "docker://\(distribution.host)/x/app:v1", "docker://\(registry.host)/x/back:v1"])
                let atDistribution = try await rawManifest(skopeo, "\(distribution.host)/x/app:v1")
                let back = try await rawManifest(skopeo, "\(registry.host)/x/back:v1")
                XCTAssertEqual(atDistribution, image.manifestBytes)
                XCTAssertEqual(back, image.manifestBytes)

                // Every blob is identical on both registries (read with the package's client).
                try await Clients.with(try Clients.make(for: registry)) { client in
                    let ours = client.repository(host: registry.host, name: "x/back")
                    let theirs = client.repository(host: distribution.host, name: "x/app")
                    for (blob, expected) in image.blobs {
                        let a = try await ours.fetchBytes(blob)
                        let b = try await theirs.fetchBytes(blob)
                        XCTAssertEqual(a, expected)
                        XCTAssertEqual(b, expected)
                    }
                    let (d1, _) = try await ours.fetchManifest("v1")
                    let (d2, _) = try await theirs.fetchManifest("v1")
                    XCTAssertEqual(d1, d2)
                }
            }
        }
    }
}
