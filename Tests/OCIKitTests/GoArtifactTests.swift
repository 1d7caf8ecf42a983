import Foundation
import OCIGoCompat
import OCIKit
import OCIContent
import OCICredentials
import OCIReference
import OCIRegistry
import OCISpec
import OCISync
import OCITesting
import OCITestFixtures
import XCTest

/// F19 and F17: the legacy artifact model and `getOCIArtifact`/`pushOCIArtifact` (Go bugs 12, 13, 14, 18 fixed).
final class ArtifactTests: XCTestCase {

    // MARK: model

    func testConstructorsAndSettersUseGoErrors() throws {
        let m = OCIArtifactManifest(descriptor: EmptyJSON.descriptor, data: Manifest(config: EmptyJSON.descriptor, layers: []))
        XCTAssertThrowsError(try OCIArtifact(manifest: nil)) { XCTAssertEqual("\($0)", "manifest must not be nil") }
        XCTAssertThrowsError(try OCIArtifact(index: nil)) { XCTAssertEqual("\($0)", "index must not be nil") }

        var manifestArtifact = try OCIArtifact(manifest: m)
        XCTAssertTrue(manifestArtifact.isManifest)
        XCTAssertFalse(manifestArtifact.isIndex)
        XCTAssertEqual(manifestArtifact.manifest, m)
        XCTAssertNil(manifestArtifact.index)
        XCTAssertThrowsError(try manifestArtifact.setIndex(OCIArtifactIndex(manifests: []))) {
            XCTAssertEqual("\($0)", "unable to set index on manifest artifact")
        }
        XCTAssertThrowsError(try manifestArtifact.setManifest(nil)) { XCTAssertEqual("\($0)", "manifest must not be nil") }
        var other = m
        other.data.annotations = ["a": "b"]
        try manifestArtifact.setManifest(other)
        XCTAssertEqual(manifestArtifact.manifest, other)

        var indexArtifact = try OCIArtifact(index: OCIArtifactIndex(manifests: [m]))
        XCTAssertTrue(indexArtifact.isIndex)
        XCTAssertThrowsError(try indexArtifact.setManifest(m)) {
            XCTAssertEqual("\($0)", "unable to set manifest on index artifact")
        }
        XCTAssertThrowsError(try indexArtifact.setIndex(nil)) { XCTAssertEqual("\($0)", "index must not be nil") }
        try indexArtifact.setIndex(OCIArtifactIndex(manifests: [], annotations: ["x": "y"]))
        XCTAssertEqual(indexArtifact.index?.annotations, ["x": "y"])
    }

    func testJSONHasGoShape() throws {
        let d = Descriptor.of(Array("m".utf8), mediaType: MediaType.ociManifest,
                              annotations: nil)
        let m = OCIArtifactManifest(descriptor: d, data: Manifest(config: EmptyJSON.descriptor, layers: []))
        let manifestJSON = try artifactJSON(.manifest(m))
        XCTAssertEqual(manifestJSON["index"], .null)
        guard case .object(let manifest)? = manifestJSON["manifest"] else { return XCTFail("\(manifestJSON)") }
        XCTAssertEqual(Set(manifest.keys), ["Descriptor", "Data"])
        guard case .object(let descriptor)? = manifest["Descriptor"] else { return XCTFail("\(manifest)") }
        XCTAssertEqual(descriptor["digest"], .string(d.digest.description))

        let indexJSON = try artifactJSON(.index(OCIArtifactIndex(manifests: [m])))
        XCTAssertEqual(indexJSON["manifest"], .null)
        guard case .object(let index)? = indexJSON["index"] else { return XCTFail("\(indexJSON)") }
        XCTAssertEqual(Set(index.keys), ["Manifests", "Annotations"])
        XCTAssertEqual(index["Annotations"], .null)
        guard case .array(let children)? = index["Manifests"] else { return XCTFail("\(index)") }
        XCTAssertEqual(children.count, 1)

        // Round trip, and exactly one of the two is required.
        let artifact = OCIArtifact.index(OCIArtifactIndex(manifests: [m], annotations: ["k": "v"]))
        XCTAssertEqual(try JSONDecoder().decode(OCIArtifact.self, from: Data(try JSONCoding.encode(artifact))), artifact)
        XCTAssertThrowsError(try JSONDecoder().decode(OCIArtifact.self, from: Data(#"{"manifest":null,"index":null}"#.utf8)))
    }

    // MARK: push order (bug 13), against an in-process registry that records requests

    func testIndexChildrenArePushedByDigestAndTheTagOnce() async throws {
        try await withInProcess { registry, registryClient in
            let client = try artifactClient()
            defer { Task { try? await client.shutdown() } }
            let store = MemoryStore()
            let amd = try await artifactImage(config: "config-amd64", layers: ["layer-amd64"], in: store)
            let win = try await artifactImage(config: "config-windows", layers: ["layer-windows"], in: store)
            let artifact = OCIArtifact.index(OCIArtifactIndex(manifests: [
                OCIArtifactManifest(descriptor: artifactEntry(platform: "linux/amd64", annotations: ["test": "test"]), data: amd),
                OCIArtifactManifest(descriptor: artifactEntry(platform: "windows/amd64"), data: win),
            ], annotations: ["index": "yes"]))
            try await client.pushOCIArtifact("\(registry.host)/repo/image:v1", artifact: artifact, store: FetcherStore(store))

            let manifestPuts = registry.requests().filter { $0.method == "PUT" && $0.path.contains("/manifests/") }.map(\.path)
            XCTAssertEqual(manifestPuts.count, 3, "\(manifestPuts)")
            XCTAssertEqual(manifestPuts.last, "/v2/repo/image/manifests/v1")
            XCTAssertEqual(manifestPuts.filter { $0.hasSuffix("/manifests/v1") }.count, 1, "the tag is written once")
            for put in manifestPuts.dropLast() { XCTAssertTrue(put.contains("/manifests/sha256:"), put) }

            let tagged = try await registryClient.repository(host: registry.host, name: "repo/image").fetchManifest("v1").bytes
            let index = try JSONCoding.decode(ImageIndex.self, from: tagged)
            XCTAssertEqual(index.mediaType, MediaType.ociIndex)
            XCTAssertEqual(index.annotations, ["index": "yes"])
            XCTAssertEqual(index.manifests.map(\.platform), [Platform(architecture: "amd64", os: "linux"),
                                                              Platform(architecture: "amd64", os: "windows")])
            XCTAssertEqual(index.manifests.map(\.annotations), [["test": "test"], nil])
            XCTAssertEqual(index.manifests.map(\.mediaType), [MediaType.ociManifest, MediaType.ociManifest])
            XCTAssertEqual(Set(manifestPuts.dropLast()), Set(index.manifests.map { "/v2/repo/image/manifests/\($0.digest)" }))
        }
    }

    func testReferenceDigestMustMatch() async throws {
        let client = try artifactClient()
        defer { Task { try? await client.shutdown() } }
        let manifest = Manifest(config: EmptyJSON.descriptor, layers: [])
        let wrong = OCIDigest.of(Array("something else".utf8))
        do {
            try await client.pushOCIArtifact("127.0.0.1:9/repo@\(wrong)",
                                             artifact: .manifest(OCIArtifactManifest(descriptor: EmptyJSON.descriptor, data: manifest)),
                                             store: nil)
            XCTFail("a digest reference that does not match the content must fail")
        } catch let error as OCIArtifactError {
            guard case .referenceDigestMismatch(wrong, _) = error else { return XCTFail("\(error)") }
        }
    }

    // MARK: real registry

    func testManifestArtifactRoundTrip() async throws {
        try requireArtifactRegistry()
        try await TestRegistry.withRegistry(.plain) { registry in
            let client = try artifactClient()
            defer { Task { try? await client.shutdown() } }
            let store = MemoryStore()
            let manifest = try await artifactImage(config: "config-data", layers: ["layer-1-data", "layer-2-data"], in: store,
                                                   annotations: ["org.opencontainers.image.title": "one"])
            let ref = "\(registry.host)/single-arch-tests/0/artifact:v0.0.1"
            try await client.pushOCIArtifact(ref, artifact: .manifest(OCIArtifactManifest(
                descriptor: Descriptor(mediaType: MediaType.ociManifest, digest: EmptyJSON.digest, size: 0), data: manifest)),
                store: FetcherStore(store))

            let artifact = try await client.getOCIArtifact(ref)
            let got = try XCTUnwrap(artifact.manifest)
            XCTAssertEqual(got.data, manifest)
            let (descriptor, bytes) = try await client.getRawManifest(ref)
            XCTAssertEqual(got.descriptor, descriptor)
            XCTAssertEqual(descriptor, Descriptor.of(try JSONCoding.encode(manifest), mediaType: MediaType.ociManifest))
            XCTAssertEqual(bytes, try JSONCoding.encode(manifest))
            for blob in manifest.blobs {
                let stored = await store.bytes(for: blob.digest)
                let fetched = try await artifactFetch(client, ref, blob)
                XCTAssertEqual(fetched, stored)
            }
            try assertSkopeoRaw(registry: registry, repository: "single-arch-tests/0/artifact", tag: "v0.0.1", equals: bytes)
        }
    }

    func testIndexArtifactRoundTrip() async throws {
        try requireArtifactRegistry()
        try await TestRegistry.withRegistry(.plain) { registry in
            let client = try artifactClient()
            defer { Task { try? await client.shutdown() } }
            let store = MemoryStore()
            let amd = try await artifactImage(config: "config-amd64", layers: ["layer-amd64"], in: store)
            let win = try await artifactImage(config: "config-windows", layers: ["layer-windows-1", "layer-windows-2"], in: store)
            let ref = "\(registry.host)/multi-arch-tests/0/artifact:v0.1.0"
            let pushed = OCIArtifactIndex(manifests: [
                OCIArtifactManifest(descriptor: artifactEntry(platform: "linux/amd64", annotations: ["test": "test"]), data: amd),
                OCIArtifactManifest(descriptor: artifactEntry(platform: "windows/amd64"), data: win),
            ], annotations: ["test": "test"])
            try await client.pushOCIArtifact(ref, artifact: .index(pushed), store: FetcherStore(store))

            let fetched = try await client.getOCIArtifact(ref)
            let got = try XCTUnwrap(fetched.index)
            XCTAssertEqual(got.annotations, ["test": "test"])
            XCTAssertEqual(got.manifests.map(\.data), [amd, win])
            XCTAssertEqual(got.manifests.map(\.descriptor.platform), pushed.manifests.map(\.descriptor.platform))
            XCTAssertEqual(got.manifests.map(\.descriptor.annotations), [["test": "test"], nil])
            for child in got.manifests {
                XCTAssertEqual(child.descriptor.mediaType, MediaType.ociManifest)
                // Each child lives under its digest, with exactly the bytes its descriptor names.
                let (d, bytes) = try await client.getRawManifest("\(registry.host)/multi-arch-tests/0/artifact@\(child.descriptor.digest)")
                XCTAssertEqual(d.digest, child.descriptor.digest)
                XCTAssertEqual(Int64(bytes.count), child.descriptor.size)
                XCTAssertEqual(try JSONCoding.decode(Manifest.self, from: bytes), child.data)
            }
            let tags = try await client.listTags(ref)
            XCTAssertEqual(tags, ["v0.1.0"])
            let (descriptor, bytes) = try await client.getRawManifest(ref)
            XCTAssertEqual(descriptor.mediaType, MediaType.ociIndex)
            try assertSkopeoRaw(registry: registry, repository: "multi-arch-tests/0/artifact", tag: "v0.1.0", equals: bytes)

            // Pushing what was fetched gives the same index again.
            try await client.pushOCIArtifact("\(registry.host)/multi-arch-tests/0/artifact:again", artifact: .index(got), store: nil)
            let (copied, _) = try await client.getRawManifest("\(registry.host)/multi-arch-tests/0/artifact:again")
            XCTAssertEqual(copied.digest, descriptor.digest)
        }
    }

    // F17 / bug 12: a zero-size config becomes the OCI empty config, which is pushed, and the image pulls back.
    func testZeroSizeConfigGetsTheEmptyConfig() async throws {
        try requireArtifactRegistry()
        try await TestRegistry.withRegistry(.plain) { registry in
            let client = try artifactClient()
            defer { Task { try? await client.shutdown() } }
            let store = MemoryStore()
            let layer = await store.push(bytes: Array("only a layer".utf8), mediaType: "text/plain")
            let manifest = Manifest(config: Descriptor(mediaType: "application/vnd.acme.config", digest: OCIDigest.of([UInt8]()), size: 0),
                                    layers: [layer])
            let ref = "\(registry.host)/empty-config/artifact:v1"
            try await client.pushOCIArtifact(ref, artifact: .manifest(OCIArtifactManifest(descriptor: EmptyJSON.descriptor, data: manifest)),
                                             store: FetcherStore(store))
            let fetched = try await client.getOCIArtifact(ref)
            let got = try XCTUnwrap(fetched.manifest)
            XCTAssertEqual(got.data.config, EmptyJSON.descriptor)
            XCTAssertEqual(got.data.layers, [layer])
            let config = try await artifactFetch(client, ref, EmptyJSON.descriptor)
            XCTAssertEqual(config, EmptyJSON.bytes)
            let (_, bytes) = try await client.getRawManifest(ref)
            try assertSkopeoRaw(registry: registry, repository: "empty-config/artifact", tag: "v1", equals: bytes)
        }
    }

    // Bug 18: a nested index is reported, not decoded as an empty manifest.
    func testNestedIndexIsAnError() async throws {
        try requireArtifactRegistry()
        try await TestRegistry.withRegistry(.plain) { registry in
            let client = try artifactClient()
            defer { Task { try? await client.shutdown() } }
            let store = MemoryStore()
            let image = try await artifactImage(config: "c", layers: ["l"], in: store)
            let repo = "\(registry.host)/nested/artifact"
            try await client.pushOCIArtifact("\(repo):inner", artifact: .index(OCIArtifactIndex(manifests: [
                OCIArtifactManifest(descriptor: artifactEntry(platform: "linux/arm64"), data: image),
            ])), store: FetcherStore(store))
            let (inner, _) = try await client.getRawManifest("\(repo):inner")
            let outer = try JSONCoding.encode(ImageIndex(manifests: [inner]))
            let outerDescriptor = Descriptor.of(outer, mediaType: MediaType.ociIndex)
            try await client.pushRawManifest("\(repo):outer", descriptor: outerDescriptor, bytes: outer, store: nil)
            do {
                _ = try await client.getOCIArtifact("\(repo):outer")
                XCTFail("a nested index must not become an artifact manifest")
            } catch let error as OCIArtifactError {
                guard case .nestedIndex(inner.digest, MediaType.ociIndex) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(error.description.contains("itself an index"), error.description)
            }
        }
    }
}

// MARK: - helpers

private func requireArtifactRegistry() throws {
    try XCTSkipUnless(TestRegistry.isAvailable(.plain), "registry binary \(TestRegistry.defaultBinary) is missing")
}

private func artifactClient() throws -> GoClient {
    var options = GoClientOptions()
    options.registry = testConfiguration()
    options.registry.credentials = Keyring()
    return try GoClient(options: options)
}

/// An OCI image whose config and layers are in `store`.
private func artifactImage(config: String, layers: [String], in store: MemoryStore,
                           annotations: [String: String]? = nil) async throws -> Manifest {
    let configDescriptor = await store.push(bytes: Array(config.utf8), mediaType: MediaType.ociConfig)
    var layerDescriptors: [Descriptor] = []
    for layer in layers { layerDescriptors.append(await store.push(bytes: Array(layer.utf8), mediaType: "text/plain")) }
    return Manifest(config: configDescriptor, layers: layerDescriptors, annotations: annotations)
}

/// An index entry template: only platform and annotations matter for a push.
private func artifactEntry(platform: String, annotations: [String: String]? = nil) -> Descriptor {
    Descriptor(mediaType: MediaType.ociManifest, digest: EmptyJSON.digest, size: 0, annotations: annotations,
               platform: Platform(parsing: platform))
}

private func artifactJSON(_ artifact: OCIArtifact) throws -> [String: JSONValue] {
    try JSONCoding.decode([String: JSONValue].self, from: try JSONCoding.encode(artifact))
}

private func artifactFetch(_ client: GoClient, _ ref: String, _ descriptor: Descriptor) async throws -> [UInt8] {
    let sink = Locked<[UInt8]>([])
    try await client.fetch(ref, descriptor: descriptor) { chunk in sink.withLock { $0 += chunk } }
    return sink.current
}

/// `skopeo inspect --raw` of a tag must return exactly `bytes` (skipped when skopeo is not installed).
private func assertSkopeoRaw(registry: TestRegistry, repository: String, tag: String, equals bytes: [UInt8],
                             file: StaticString = #filePath, line: UInt = #line) throws {
    let skopeo = "/usr/bin/skopeo"
    guard FileManager.default.isExecutableFile(atPath: skopeo) else { return }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: skopeo)
    process.arguments = ["inspect", "--raw", "--tls-verify=false", "docker://\(registry.host)/\(repository):\(tag)"]
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errors = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 0, String(decoding: errors, as: UTF8.self), file: file, line: line)
    XCTAssertEqual(Array(data), bytes, "skopeo sees other bytes", file: file, line: line)
}
