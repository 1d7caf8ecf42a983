import Foundation
import OCIKit
import OCISync
import OCITestFixtures
import XCTest

/// The verbs over in-process targets (memory, layout, file store); the same verbs against the real registry are
/// in IntegrationTests (VerbIntegrationTests, ReadmeExampleTests).
final class VerbTests: XCTestCase {
    func testCopyMemoryToLayoutAndBackIsByteExact() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let image = try TestImage.make()
        let source = await image.memoryStore()
        try await source.tag(image.index, as: "v1")
        let layout = try OCILayoutStore(path: dir.sub("layout"))
        let result = try await OCI.copy(from: source, reference: "v1", to: layout, tag: "v1")
        XCTAssertEqual(result.root, image.index)
        XCTAssertEqual(result.copied, image.blobs.count)
        let resolved = try await layout.resolve("v1")
        XCTAssertEqual(resolved.digest, image.index.digest)

        let back = MemoryStore()
        let second = try await OCI.copy(from: layout, reference: "v1", to: back, tag: "again")
        XCTAssertEqual(second.copied, image.blobs.count)
        for (digest, bytes) in image.blobs { let stored = await back.bytes(for: digest); XCTAssertEqual(stored, bytes) }
        // A second copy into the same place moves nothing.
        let third = try await OCI.copy(from: layout, reference: "v1", to: back, tag: "again")
        XCTAssertEqual(third.copied, 0)
        XCTAssertEqual(third.skipped, 1)
    }

    func testPlatformSelection() async throws {
        let image = try TestImage.make()
        let source = await image.memoryStore()
        try await source.tag(image.index, as: "v1")

        let one = MemoryStore()
        let single = try await OCI.copy(from: source, reference: "v1", to: one, tag: "arm",
                                        options: CopyOptions(platforms: .one(Platform(architecture: "arm64", os: "linux"))))
        XCTAssertEqual(single.root.digest, image.manifests[1].digest)
        let armExists = try await one.exists(image.manifests[1])
        let amdExists = try await one.exists(image.manifests[0])
        XCTAssertTrue(armExists)
        XCTAssertFalse(amdExists)

        let some = MemoryStore()
        let both = try await OCI.copy(from: source, reference: "v1", to: some, tag: "both",
                                      options: CopyOptions(platforms: .some([Platform(architecture: "arm64", os: "linux"),
                                                                             Platform(architecture: "amd64", os: "linux")])))
        // Both platforms: a new index with both entries, in the source's order.
        let stored = await some.bytes(for: both.root.digest)
        let bytes = try XCTUnwrap(stored)
        let index = try JSONCoding.decode(ImageIndex.self, from: bytes)
        XCTAssertEqual(index.manifests.map(\.digest), image.manifests.map(\.digest))

        let missing = await asyncError {
            try await OCI.copy(from: source, reference: "v1", to: MemoryStore(), tag: nil,
                               options: CopyOptions(platforms: .one(Platform(architecture: "s390x", os: "linux"))))
        }
        XCTAssertEqual(missing?.ociErrorKind, .notFound)
        XCTAssertTrue(String(describing: missing).contains("linux/amd64"), String(describing: missing))

        XCTAssertEqual(PlatformSelection(parsing: "all"), .all)
        XCTAssertEqual(PlatformSelection(parsing: "linux/arm64"), .one(Platform(architecture: "arm64", os: "linux")))
        XCTAssertEqual(PlatformSelection(parsing: "linux/arm64,linux/amd64"),
                       .some([Platform(architecture: "arm64", os: "linux"), Platform(architecture: "amd64", os: "linux")]))
        XCTAssertNil(PlatformSelection(parsing: "linux/arm64,nonsense"))
    }

    func testPushFilesThenPullIntoADirectory() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let notes = pseudoRandomBytes(count: 5000, seed: 1)
        let data = pseudoRandomBytes(count: 2_500_000, seed: 2)
        XCTAssertTrue(FileManager.default.createFile(atPath: dir.sub("notes.txt"), contents: Data(notes)))
        XCTAssertTrue(FileManager.default.createFile(atPath: dir.sub("data.bin"), contents: Data(data)))
        let store = MemoryStore()
        let events = Locked<[CopyEvent]>([])
        let pushed = try await OCI.push(files: [FileToPush(dir.sub("notes.txt")), FileToPush(dir.sub("data.bin"), mediaType: "application/x-data")],
                                        to: store, tag: "v1",
                                        options: PushOptions(artifactType: "application/vnd.example", annotations: ["k": "v"],
                                                             onEvent: { e in events.withLock { $0.append(e) } }))
        let storedManifest = await store.bytes(for: pushed.digest)
        let manifestBytes = try XCTUnwrap(storedManifest)
        let manifest = try JSONCoding.decode(Manifest.self, from: manifestBytes)
        XCTAssertEqual(manifest.artifactType, "application/vnd.example")
        XCTAssertEqual(manifest.annotations, ["k": "v"])
        XCTAssertEqual(manifest.config, EmptyJSON.descriptor)
        XCTAssertEqual(manifest.layers.map(\.title), ["notes.txt", "data.bin"])
        XCTAssertEqual(manifest.layers.map(\.digest), [OCIDigest.of(notes), OCIDigest.of(data)])
        XCTAssertEqual(manifest.layers[1].mediaType, "application/x-data")
        XCTAssertEqual(events.current.filter { if case .copied = $0 { return true }; return false }.count, 4)

        let out = dir.sub("out")
        let pulled = try await OCI.pull(from: store, reference: "v1", into: out)
        XCTAssertEqual(pulled.descriptor.digest, pushed.digest)
        XCTAssertEqual(pulled.files, ["manifest.json", "config.json", "notes.txt", "data.bin"])
        XCTAssertEqual(fileBytes(out + "/manifest.json"), manifestBytes)
        XCTAssertEqual(fileBytes(out + "/config.json"), EmptyJSON.bytes)
        XCTAssertEqual(fileBytes(out + "/notes.txt"), notes)
        XCTAssertEqual(fileBytes(out + "/data.bin"), data)
        XCTAssertEqual(listing(out).filter { $0.hasPrefix(".") }, [], "no temporary files left")
    }

    func testPullOfAnIndexTakesThePlatform() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let image = try TestImage.make()
        let source = await image.memoryStore()
        try await source.tag(image.index, as: "v1")
        let defaulted = try await OCI.pull(from: source, reference: "v1", into: dir.sub("a"))
        XCTAssertEqual(defaulted.descriptor.digest, image.manifests[0].digest, "linux/amd64 by default")
        XCTAssertEqual(fileBytes(dir.sub("a/index.json")), image.indexBytes)
        let arm = try await OCI.pull(from: source, reference: "v1", into: dir.sub("b"),
                                     options: PullOptions(platform: Platform(architecture: "arm64", os: "linux")))
        XCTAssertEqual(arm.descriptor.digest, image.manifests[1].digest)
        // Layers without a title go under their digest.
        XCTAssertTrue(arm.files.contains { $0.hasPrefix("blobs/sha256/") }, "\(arm.files)")
    }

    func testInspectReadsManifestsAndConfigWithoutLayers() async throws {
        let image = try TestImage.make()
        let source = await image.memoryStore()
        try await source.tag(image.index, as: "v1")
        let counting = CountingTarget(base: source)
        let inspection = try await OCI.inspect(counting, reference: "v1", platform: Platform(architecture: "arm64", os: "linux"))
        XCTAssertEqual(inspection.descriptor.digest, image.index.digest)
        XCTAssertEqual(inspection.bytes, image.indexBytes)
        XCTAssertEqual(inspection.platforms.map(\.description), ["linux/amd64", "linux/arm64"])
        XCTAssertEqual(inspection.manifestDescriptor?.digest, image.manifests[1].digest)
        XCTAssertEqual(inspection.config?.architecture, "arm64")
        XCTAssertEqual(inspection.config?.rootfs?.diffIDs.count, 2)
        let layerDigests = Set(inspection.manifest?.layers.map(\.digest) ?? [])
        XCTAssertFalse(layerDigests.isEmpty)
        XCTAssertTrue(counting.fetched.current.isDisjoint(with: layerDigests), "no layer is downloaded")
    }

    func testTagPointsSeveralTagsAtOneManifest() async throws {
        let image = try TestImage.make()
        let store = await image.memoryStore()
        try await store.tag(image.index, as: "v1")
        let tagged = try await OCI.tag(store, reference: "v1", as: ["stable", "latest"])
        XCTAssertEqual(tagged.digest, image.index.digest)
        let tags = try await store.tags()
        XCTAssertEqual(tags, ["latest", "stable", "v1"])
        let stable = try await store.resolve("stable")
        XCTAssertEqual(stable.digest, image.index.digest)
    }

    func testTransferOffersEventsAsAnAsyncSequence() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let image = try TestImage.make()
        let source = await image.memoryStore()
        try await source.tag(image.index, as: "v1")
        let transfer = Transfer<CopyResult> { onEvent in
            try await OCI.copy(from: source, reference: "v1", to: try OCILayoutStore(path: dir.sub("l")), tag: "v1",
                               options: CopyOptions(onEvent: onEvent))
        }
        var copied: Set<OCIDigest> = []
        for await event in transfer.events {
            if case .copied(let d) = event { copied.insert(d.digest) }
        }
        let result = try await transfer.result
        XCTAssertEqual(copied, Set(image.blobs.keys))
        XCTAssertEqual(result.copied, image.blobs.count)
    }

    func testSchema1KeepIntoALayoutIsRefusedClearly() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = MemoryStore()
        let bytes = Array(#"{"schemaVersion":1,"name":"a","tag":"v1","fsLayers":[],"history":[]}"#.utf8)
        let d = await store.push(bytes: bytes, mediaType: MediaType.dockerSchema1Manifest)
        try await store.tag(d, as: "v1")
        let error = await asyncError {
            try await OCI.copy(from: store, reference: "v1", to: try OCILayoutStore(path: dir.sub("l")), tag: "v1",
                               options: CopyOptions(schema1: .keep))
        }
        XCTAssertEqual(error?.ociErrorKind, .unsupported, String(describing: error))
    }

    func testLocations() throws {
        XCTAssertEqual(try OCILocation(parsing: "ocidir:///tmp/x:v1"), .layout(path: "/tmp/x", reference: "v1"))
        XCTAssertEqual(try OCILocation(parsing: "ocidir:///tmp/x").tag, "latest")
        let registry = try OCILocation(parsing: "alpine")
        XCTAssertEqual(registry.description, "index.docker.io/library/alpine:latest")
        XCTAssertEqual(registry.reference, "latest")
        XCTAssertThrowsError(try OCILocation(parsing: "ocidir://"))
    }
}

/// Counts the digests fetched through it.
struct CountingTarget: ReadOnlyTarget {
    let base: any ReadOnlyTarget
    let fetched = Locked<Set<OCIDigest>>([])

    func fetch(_ descriptor: Descriptor) async throws -> ByteStream {
        fetched.withLock { _ = $0.insert(descriptor.digest) }
        return try await base.fetch(descriptor)
    }
    func fetch(_ descriptor: Descriptor, offset: Int64) async throws -> ByteStream {
        fetched.withLock { _ = $0.insert(descriptor.digest) }
        return try await base.fetch(descriptor, offset: offset)
    }
    func exists(_ descriptor: Descriptor) async throws -> Bool { try await base.exists(descriptor) }
    func resolve(_ reference: String) async throws -> Descriptor { try await base.resolve(reference) }
}
