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

/// Interoperability with skopeo (containers/image): what we push, skopeo reads byte-identically; what skopeo
/// pushes, we resolve and pull byte-exactly. Every case runs against the distribution registry and again
/// (`…OnInProcess`) against the in-process one, with the same outcomes.
final class SkopeoInteropTests: XCTestCase {
    private func withSkopeo(_ kind: RegistryUnderTest.Kind, _ mode: TestRegistry.Mode = .plain,
                            _ body: (Skopeo, RegistryUnderTest, TempDir) async throws -> Void) async throws {
        let skopeo = try Skopeo()
        defer { skopeo.cleanup() }
        try Requirements.registry(kind, mode)
        let scratch = try TempDir(prefix: "it-skopeo")
        defer { scratch.remove() }
        try await RegistryUnderTest.withRegistry(kind: kind, mode: mode) { registry in
            try await body(skopeo, registry, scratch)
        }
    }

    /// Reads an OCI layout blob written by skopeo.
    private func layoutBlob(_ layout: String, _ digest: OCIDigest) -> [UInt8]? {
        FileManager.default.contents(atPath: "\(layout)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded)").map { [UInt8]($0) }
    }

    // MARK: we push, skopeo reads

    func testLibraryPushIsReadBySkopeo() async throws { try await libraryPushIsReadBySkopeo(.distribution) }
    func testLibraryPushIsReadBySkopeoOnInProcess() async throws { try await libraryPushIsReadBySkopeo(.inProcess) }

    private func libraryPushIsReadBySkopeo(_ kind: RegistryUnderTest.Kind) async throws {
        try await withSkopeo(kind) { skopeo, registry, scratch in
            let image = try RealImage.make(layerSizes: [10_000, 300_000])
            let ref = "\(registry.host)/interop/ours:v1"
            try await Clients.with(try Clients.make()) { client in
                try await client.pushRawManifest(ref, descriptor: image.manifestDescriptor, bytes: image.manifestBytes,
                                                 store: image.store)
            }

            // inspect --raw returns our bytes exactly.
            let raw = try await skopeo.rawManifest(ref)
            XCTAssertEqual(raw, image.manifestBytes)
            let rawByDigest = try await skopeo.rawManifest("\(registry.host)/interop/ours@\(image.manifestDescriptor.digest)")
            XCTAssertEqual(rawByDigest, image.manifestBytes)

            // inspect (parsed) sees the digest, the platform and the layers.
            let inspect = try await skopeo.ok(["inspect", "--tls-verify=false", "docker://\(ref)"])
            let info = try XCTUnwrap(parseJSON(inspect.stdout) as? [String: Any], inspect.stdoutText)
            XCTAssertEqual(info["Digest"] as? String, image.manifestDescriptor.digest.description)
            XCTAssertEqual(info["Architecture"] as? String, "amd64")
            XCTAssertEqual(info["Os"] as? String, "linux")
            XCTAssertEqual(info["Layers"] as? [String], image.layerDescriptors.map(\.digest.description))

            // copy to an OCI layout: the manifest and every blob arrive unchanged.
            let layout = scratch.file("copied")
            try await skopeo.ok(["copy", "--src-tls-verify=false", "docker://\(ref)", "oci:\(layout):copied"])
            XCTAssertEqual(layoutBlob(layout, image.manifestDescriptor.digest), image.manifestBytes)
            XCTAssertEqual(layoutBlob(layout, image.configDescriptor.digest), image.config)
            for (descriptor, bytes) in zip(image.layerDescriptors, image.layers) {
                XCTAssertEqual(layoutBlob(layout, descriptor.digest), bytes)
            }
            let indexJSON = try XCTUnwrap(FileManager.default.contents(atPath: layout + "/index.json"))
            let index = try JSONCoding.decode(ImageIndex.self, from: [UInt8](indexJSON))
            XCTAssertEqual(index.manifests.first?.digest, image.manifestDescriptor.digest)
            XCTAssertEqual(index.manifests.first?.annotations?[Annotation.refName], "copied")
        }
    }

    /// An index we push (two platforms) is read by skopeo; `--all` copies every child.
    func testLibraryIndexIsReadBySkopeo() async throws { try await libraryIndexIsReadBySkopeo(.distribution) }
    func testLibraryIndexIsReadBySkopeoOnInProcess() async throws { try await libraryIndexIsReadBySkopeo(.inProcess) }

    private func libraryIndexIsReadBySkopeo(_ kind: RegistryUnderTest.Kind) async throws {
        try await withSkopeo(kind) { skopeo, registry, scratch in
            let amd = try RealImage.make(layerSizes: [2000])
            let arm = try RealImage.make(layerSizes: [3000])
            let repo = "\(registry.host)/interop/index"
            var amdDesc = amd.manifestDescriptor
            amdDesc.platform = Platform(architecture: "amd64", os: "linux")
            var armDesc = arm.manifestDescriptor
            armDesc.platform = Platform(architecture: "arm64", os: "linux", variant: "v8")
            let index = try TestIndex.make([amdDesc, armDesc], embedMediaType: true)
            try await Clients.with(try Clients.make()) { client in
                for image in [amd, arm] {
                    try await client.pushRawManifest("\(repo)@\(image.manifestDescriptor.digest)",
                                                     descriptor: image.manifestDescriptor, bytes: image.manifestBytes,
                                                     store: image.store)
                }
                try await Upload.index(client, "\(repo):multi", index)
            }
            let raw = try await skopeo.rawManifest("\(repo):multi")
            XCTAssertEqual(raw, index.bytes)
            let layout = scratch.file("all")
            try await skopeo.ok(["copy", "--all", "--src-tls-verify=false", "docker://\(repo):multi", "oci:\(layout):multi"])
            XCTAssertEqual(layoutBlob(layout, index.descriptor.digest), index.bytes)
            XCTAssertEqual(layoutBlob(layout, amd.manifestDescriptor.digest), amd.manifestBytes)
            XCTAssertEqual(layoutBlob(layout, arm.manifestDescriptor.digest), arm.manifestBytes)
            XCTAssertEqual(layoutBlob(layout, arm.layerDescriptors[0].digest), arm.layers[0])
        }
    }

    // MARK: skopeo pushes, we read

    func testSkopeoPushIsPulledByTheLibrary() async throws { try await skopeoPushIsPulledByTheLibrary(.distribution) }
    func testSkopeoPushIsPulledByTheLibraryOnInProcess() async throws { try await skopeoPushIsPulledByTheLibrary(.inProcess) }

    private func skopeoPushIsPulledByTheLibrary(_ kind: RegistryUnderTest.Kind) async throws {
        try await withSkopeo(kind) { skopeo, registry, scratch in
            let image = try RealImage.make(layerSizes: [50_000, 4096, 700_000])
            let layout = try image.writeLayout(to: scratch, subdirectory: "layout", tag: "src")
            let ref = "\(registry.host)/interop/theirs:v1"
            try await skopeo.ok(["copy", "--dest-tls-verify=false", "oci:\(layout):src", "docker://\(ref)"])

            let raw = try await skopeo.rawManifest(ref)
            XCTAssertEqual(raw, image.manifestBytes, "skopeo keeps an OCI manifest from an OCI layout unchanged")
            try await Clients.with(try Clients.make()) { client in
                let (_, resolved) = try await client.resolve(ref)
                XCTAssertEqual(resolved.digest, OCIDigest.of(raw), "our resolve digest == sha256 of skopeo's raw bytes")
                XCTAssertEqual(resolved.size, Int64(raw.count))
                XCTAssertEqual(resolved.mediaType, MediaType.ociManifest)
                let (descriptor, bytes) = try await client.getRawManifest(ref)
                XCTAssertEqual(bytes, raw)
                XCTAssertEqual(descriptor, resolved)
                let manifest = try await client.getManifest(ref)
                for blob in manifest.blobs {
                    let fetched = try await client.fetchBytes(ref, blob)  // verified while streaming
                    XCTAssertEqual(OCIDigest.of(fetched), blob.digest)
                    XCTAssertEqual(fetched, image.blobs[blob.digest])
                }
                // Copy what skopeo pushed with our client; skopeo reads the copy byte-identically.
                try await client.copy(from: ref, to: "\(registry.host)/interop/theirs-copy:v1")
            }
            let copied = try await skopeo.rawManifest("\(registry.host)/interop/theirs-copy:v1")
            XCTAssertEqual(copied, raw)
        }
    }

    /// skopeo converts to Docker v2 schema2 (`--format v2s2`); we resolve it with the Docker media type and pull
    /// every blob verified.
    func testSkopeoDockerSchema2IsResolvedWithDockerMediaType() async throws { try await skopeoDockerSchema2(.distribution) }
    func testSkopeoDockerSchema2IsResolvedWithDockerMediaTypeOnInProcess() async throws { try await skopeoDockerSchema2(.inProcess) }

    private func skopeoDockerSchema2(_ kind: RegistryUnderTest.Kind) async throws {
        try await withSkopeo(kind) { skopeo, registry, scratch in
            let image = try RealImage.make(layerSizes: [20_000])
            let layout = try image.writeLayout(to: scratch, subdirectory: "layout", tag: "v2")
            let ref = "\(registry.host)/interop/docker:v2s2"
            try await skopeo.ok(["copy", "--format", "v2s2", "--dest-tls-verify=false", "oci:\(layout):v2", "docker://\(ref)"])

            let raw = try await skopeo.rawManifest(ref)
            try await Clients.with(try Clients.make()) { client in
                let (_, resolved) = try await client.resolve(ref)
                XCTAssertEqual(resolved.mediaType, MediaType.dockerManifest)
                XCTAssertEqual(resolved.digest, OCIDigest.of(raw))
                XCTAssertEqual(resolved.size, Int64(raw.count))
                let (descriptor, bytes) = try await client.getRawManifest(ref)
                XCTAssertEqual(descriptor, resolved)
                XCTAssertEqual(bytes, raw)
                let manifest = try await client.getManifest(ref)
                XCTAssertEqual(manifest.mediaType, MediaType.dockerManifest)
                XCTAssertEqual(manifest.config.mediaType, MediaType.dockerConfig)
                let config = try await client.fetchBytes(ref, manifest.config)
                XCTAssertEqual(config, image.config, "the config bytes are kept, only its media type changes")
                for layer in manifest.layers {
                    let fetched = try await client.fetchBytes(ref, layer)
                    XCTAssertEqual(OCIDigest.of(fetched), layer.digest)
                    XCTAssertEqual(Int64(fetched.count), layer.size)
                }
                // A Docker manifest copies byte-exactly too.
                try await client.copy(from: ref, to: "\(registry.host)/interop/docker-copy:v1")
                let (copiedDesc, copiedBytes) = try await client.getRawManifest("\(registry.host)/interop/docker-copy:v1")
                XCTAssertEqual(copiedDesc, resolved)
                XCTAssertEqual(copiedBytes, raw)
            }
        }
    }

    // MARK: auth and TLS with skopeo

    /// skopeo pushes with credentials to the htpasswd registry; we read with a keyring and push back; skopeo
    /// reads ours with `--creds`.
    func testSkopeoWithBasicAuth() async throws { try await skopeoWithBasicAuth(.distribution) }
    func testSkopeoWithBasicAuthOnInProcess() async throws { try await skopeoWithBasicAuth(.inProcess) }

    private func skopeoWithBasicAuth(_ kind: RegistryUnderTest.Kind) async throws {
        try await withSkopeo(kind, .htpasswd) { skopeo, registry, scratch in
            let creds = "\(registry.username ?? ""):\(registry.password ?? "")"
            let image = try RealImage.make(layerSizes: [8000])
            let layout = try image.writeLayout(to: scratch, subdirectory: "layout", tag: "t")
            let ref = "\(registry.host)/interop/auth:v1"
            try await skopeo.ok(["copy", "--dest-tls-verify=false", "--dest-creds", creds, "oci:\(layout):t", "docker://\(ref)"])
            try await Clients.with(try Clients.make(keyring: Clients.fullUser(registry))) { client in
                let (_, resolved) = try await client.resolve(ref)
                XCTAssertEqual(resolved, image.manifestDescriptor)
                try await client.copy(from: ref, to: "\(registry.host)/interop/auth-copy:v1")
            }
            let raw = try await skopeo.rawManifest("\(registry.host)/interop/auth-copy:v1", creds: creds)
            XCTAssertEqual(raw, image.manifestBytes)
        }
    }

    /// Over TLS: skopeo trusts the test CA through `--cert-dir` (only `ca.crt` inside), we through `caFiles`.
    func testSkopeoOverTLS() async throws { try await skopeoOverTLS(.distribution) }
    func testSkopeoOverTLSOnInProcess() async throws { try await skopeoOverTLS(.inProcess) }

    private func skopeoOverTLS(_ kind: RegistryUnderTest.Kind) async throws {
        try await withSkopeo(kind, .tls) { skopeo, registry, scratch in
            let ca = try XCTUnwrap(registry.caCertificatePath)
            let certDir = try XCTUnwrap(registry.certificateDirectory)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: certDir), ["ca.crt"])
            let image = try RealImage.make(layerSizes: [12_000])
            let ref = "\(registry.host)/interop/tls:v1"
            try await Clients.with(try Clients.make(tls: RegistryClient.Configuration.TLS(caFiles: [ca]))) { client in
                try await client.pushRawManifest(ref, descriptor: image.manifestDescriptor, bytes: image.manifestBytes,
                                                 store: image.store)
            }
            let raw = try await skopeo.rawManifest(ref, certDir: certDir)
            XCTAssertEqual(raw, image.manifestBytes)
            let layout = scratch.file("out")
            try await skopeo.ok(["copy", "--src-cert-dir", certDir, "docker://\(ref)", "oci:\(layout):x"])
            XCTAssertEqual(layoutBlob(layout, image.layerDescriptors[0].digest), image.layers[0])
        }
    }

    /// The Go package's envtest setup (TLS and basic auth together): skopeo pushes with `--dest-cert-dir` and the
    /// random password, we copy with the CA and a keyring, skopeo pulls our copy byte-exactly; without
    /// credentials skopeo is refused.
    func testSkopeoOverTLSWithBasicAuth() async throws { try await skopeoOverTLSWithBasicAuth(.distribution) }
    func testSkopeoOverTLSWithBasicAuthOnInProcess() async throws { try await skopeoOverTLSWithBasicAuth(.inProcess) }

    private func skopeoOverTLSWithBasicAuth(_ kind: RegistryUnderTest.Kind) async throws {
        try await withSkopeo(kind, .tlsHtpasswd) { skopeo, registry, scratch in
            let certDir = try XCTUnwrap(registry.certificateDirectory)
            let creds = "\(try XCTUnwrap(registry.username)):\(try XCTUnwrap(registry.password))"
            let image = try RealImage.make(layerSizes: [9000, 60_000])
            let layout = try image.writeLayout(to: scratch, subdirectory: "layout", tag: "t")
            let ref = "\(registry.host)/interop/secure:v1"
            try await skopeo.ok(["copy", "--dest-cert-dir", certDir, "--dest-creds", creds, "oci:\(layout):t", "docker://\(ref)"])
            let copy = "\(registry.host)/interop/secure-copy:v1"
            try await Clients.with(try Clients.standard(for: registry)) { client in
                let (_, resolved) = try await client.resolve(ref)
                XCTAssertEqual(resolved, image.manifestDescriptor)
                try await client.copy(from: ref, to: copy)
            }
            let raw = try await skopeo.rawManifest(copy, certDir: certDir, creds: creds)
            XCTAssertEqual(raw, image.manifestBytes)
            let out = scratch.file("out")
            try await skopeo.ok(["copy", "--src-cert-dir", certDir, "--src-creds", creds, "docker://\(copy)", "oci:\(out):x"])
            XCTAssertEqual(layoutBlob(out, image.manifestDescriptor.digest), image.manifestBytes)
            XCTAssertEqual(layoutBlob(out, image.configDescriptor.digest), image.config)
            for (descriptor, bytes) in zip(image.layerDescriptors, image.layers) {
                XCTAssertEqual(layoutBlob(out, descriptor.digest), bytes)
            }
            let anonymous = try await skopeo.run(["inspect", "--raw", "--cert-dir", certDir, "docker://\(copy)"])
            XCTAssertNotEqual(anonymous.status, 0, "anonymous skopeo must be refused")
        }
    }
}
