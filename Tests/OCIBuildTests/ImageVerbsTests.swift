import Foundation
import OCIBuild
import OCIContent
import OCISpec
import OCITar
import OCITestFixtures
import XCTest

/// The image verbs over a memory store: append onto scratch and onto an image, mutate, flatten and export with
/// whiteouts, rebase, and indexes made and edited.
final class ImageVerbsTests: XCTestCase {
    var dir: TemporaryDirectory!

    override func setUpWithError() throws { dir = try TemporaryDirectory() }
    override func tearDown() { dir.remove() }

    func write(_ name: String, _ text: String) throws {
        let path = dir.sub(name)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    }

    func config(_ store: MemoryStore, _ reference: String) async throws -> (Manifest, ImageConfiguration, [UInt8]) {
        let (_, bytes) = try await store.manifest(reference)
        let manifest = try JSONCoding.decode(Manifest.self, from: bytes)
        let configBytes = try await store.fetchAll(manifest.config)
        return (manifest, try JSONCoding.decode(ImageConfiguration.self, from: configBytes), configBytes)
    }

    func paths(_ tar: String) throws -> [String] {
        let reader = try TarReader(path: tar)
        var out: [String] = []
        while let header = try reader.next() { out.append(header.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))) }
        return out
    }

    func testAppendMutateFlattenExportAndRebase() async throws {
        let store = MemoryStore()
        try write("l1/a/keep.txt", "keep")
        try write("l1/a/gone.txt", "gone")
        try write("l1/b/old/x.txt", "old")
        var options = AppendOptions(platform: Platform(architecture: "arm64", os: "linux"))
        options.edit.env = ["PATH=/usr/bin"]
        let base = try await OCI.appendLayers(base: .scratch, layers: [[.directory(dir.sub("l1"))]], to: store, tag: "base",
                                              options: options)
        XCTAssertEqual(base.manifest.platform, Platform(architecture: "arm64", os: "linux"))
        var (manifest, image, _) = try await config(store, "base")
        XCTAssertEqual(manifest.layers, base.layers.map(\.descriptor))
        XCTAssertEqual(image.rootfs?.diffIDs, base.layers.map(\.diffID))
        XCTAssertEqual(image.history?.count, 1)
        XCTAssertEqual(image.created, "1970-01-01T00:00:00Z")
        XCTAssertEqual(image.platform, Platform(architecture: "arm64", os: "linux"))

        // Whiteouts in a second layer: a file deleted, a directory made opaque.
        try write("l2/a/.wh.gone.txt", "")
        try write("l2/b/.wh..wh..opq", "")
        try write("l2/b/new.txt", "new")
        let top = try await OCI.appendLayers(base: .image(StoredImage(store, reference: "base")),
                                             layers: [[.directory(dir.sub("l2"))]], to: store, tag: "v2")
        (manifest, image, _) = try await config(store, "v2")
        XCTAssertEqual(manifest.layers.count, 2)
        XCTAssertEqual(image.config?.env, ["PATH=/usr/bin"])
        XCTAssertEqual(image.history?.count, 2)

        let exported = dir.sub("fs.tar")
        try await OCI.export(StoredImage(store, reference: "v2"), toFile: exported)
        let merged = try paths(exported)
        XCTAssertEqual(Set(merged), ["a", "a/keep.txt", "b", "b/new.txt"], "\(merged)")

        let listed = try await OCI.listFiles(StoredImage(store, reference: "v2"), layer: .index(1))
        XCTAssertTrue(listed.contains { $0.path.hasSuffix(".wh.gone.txt") })

        let flat = try await OCI.flatten(StoredImage(store, reference: "v2"), to: store, tag: "flat")
        (manifest, image, _) = try await config(store, "flat")
        XCTAssertEqual(manifest.layers.count, 1)
        XCTAssertEqual(image.rootfs?.diffIDs, flat.layers.map(\.diffID))
        XCTAssertEqual(image.history?.count, 1)
        try await OCI.export(StoredImage(store, reference: "flat"), toFile: dir.sub("flat.tar"))
        XCTAssertEqual(Set(try paths(dir.sub("flat.tar"))), Set(merged))

        // Mutate: config edits, unknown fields kept, layers untouched.
        var edit = ImageEdit(entrypoint: ["/bin/app"], cmd: ["--serve"], env: ["PATH=/bin", "MODE=prod"],
                             workingDir: "/srv", user: "1000:1000", labels: ["org.example.team": "build"],
                             exposedPorts: ["8080", "53/udp"], stopSignal: "SIGINT", annotations: ["note": "mutated"])
        edit.removeEnv = []
        let mutated = try await OCI.mutate(StoredImage(store, reference: "v2"), to: store, tag: "mutated",
                                           options: MutateOptions(edit: edit))
        let (m2, c2, _) = try await config(store, "mutated")
        let v2Layers = try await config(store, "v2").0.layers
        XCTAssertEqual(m2.layers, v2Layers)
        XCTAssertEqual(m2.annotations?["note"], "mutated")
        XCTAssertEqual(c2.config?.entrypoint, ["/bin/app"])
        XCTAssertEqual(c2.config?.cmd, ["--serve"])
        XCTAssertEqual(c2.config?.env, ["PATH=/bin", "MODE=prod"], "an existing key is replaced in place")
        XCTAssertEqual(c2.config?.workingDir, "/srv")
        XCTAssertEqual(c2.config?.user, "1000:1000")
        XCTAssertEqual(c2.config?.labels, ["org.example.team": "build"])
        XCTAssertEqual(c2.config?.exposedPorts.map { $0.keys.sorted() }, ["53/udp", "8080/tcp"])
        XCTAssertEqual(c2.config?.stopSignal, "SIGINT")
        XCTAssertEqual(mutated.manifest.platform, Platform(architecture: "arm64", os: "linux"))

        // Remove again.
        let removed = try await OCI.mutate(StoredImage(store, reference: "mutated"), to: store, tag: "removed",
                                           options: MutateOptions(edit: ImageEdit(removeEnv: ["MODE"], removeLabels: ["org.example.team"])))
        let (_, c3, _) = try await config(store, "removed")
        XCTAssertEqual(c3.config?.env, ["PATH=/bin"])
        XCTAssertNil(c3.config?.labels)
        XCTAssertNotEqual(removed.manifest.digest, mutated.manifest.digest)

        // Rebase v2 (base + l2) onto another base.
        try write("nb/etc/os-release", "NAME=new\n")
        let newBase = try await OCI.appendLayers(base: .scratch, layers: [[.directory(dir.sub("nb"))]], to: store, tag: "newbase",
                                                 options: AppendOptions(platform: Platform(architecture: "arm64", os: "linux")))
        let rebased = try await OCI.rebase(StoredImage(store, reference: "v2"), oldBase: StoredImage(store, reference: "base"),
                                           newBase: StoredImage(store, reference: "newbase"), to: store, tag: "rebased")
        let (m4, c4, _) = try await config(store, "rebased")
        XCTAssertEqual(m4.layers.map(\.digest), [newBase.layers[0].descriptor.digest, top.layers[0].descriptor.digest])
        XCTAssertEqual(c4.rootfs?.diffIDs, [newBase.layers[0].diffID, top.layers[0].diffID])
        XCTAssertEqual(c4.config?.env, ["PATH=/usr/bin"], "the image's own config is kept")
        XCTAssertEqual(c4.history?.count, 2)
        XCTAssertNotEqual(rebased.manifest.digest, top.manifest.digest)
        // Not built on that base: refused.
        let wrong = await asyncError {
            try await OCI.rebase(StoredImage(store, reference: "newbase"), oldBase: StoredImage(store, reference: "base"),
                                 newBase: StoredImage(store, reference: "newbase"), to: store, tag: "x")
        }
        XCTAssertEqual(wrong?.ociErrorKind, .invalidArgument)
    }

    func testMediaTypeFamilyKeptOrConverted() async throws {
        let store = MemoryStore()
        try write("f/hello", "hello")
        let docker = try await OCI.appendLayers(base: .scratch, layers: [[.directory(dir.sub("f"))]], to: store, tag: "docker",
                                                options: AppendOptions(format: .docker))
        XCTAssertEqual(docker.manifest.mediaType, MediaType.dockerManifest)
        XCTAssertEqual(docker.config.mediaType, MediaType.dockerConfig)
        XCTAssertEqual(docker.layers.first?.descriptor.mediaType, MediaType.dockerLayerGzip)
        let kept = try await OCI.mutate(StoredImage(store, reference: "docker"), to: store, tag: "kept",
                                        options: MutateOptions(edit: ImageEdit(user: "app")))
        XCTAssertEqual(kept.manifest.mediaType, MediaType.dockerManifest)
        let converted = try await OCI.mutate(StoredImage(store, reference: "docker"), to: store, tag: "oci",
                                             options: MutateOptions(format: .oci))
        XCTAssertEqual(converted.manifest.mediaType, MediaType.ociManifest)
        let (m, _, _) = try await config(store, "oci")
        XCTAssertEqual(m.layers.first?.mediaType, MediaType.ociLayerGzip)
        XCTAssertEqual(m.config.mediaType, MediaType.ociConfig)
        // zstd has no Docker layer type.
        var zstd = AppendOptions()
        zstd.layer.compression = .zstd
        let refused = await asyncError {
            try await OCI.appendLayers(base: .image(StoredImage(store, reference: "docker")), layers: [[.directory(self.dir.sub("f"))]],
                                       to: store, tag: "z", options: zstd)
        }
        XCTAssertEqual(refused?.ociErrorKind, .unsupported)
    }

    func testIndexesCreatedAndEdited() async throws {
        let store = MemoryStore()
        try write("f/hello", "hello")
        var images: [BuildResult] = []
        for arch in ["amd64", "arm64", "s390x"] {
            images.append(try await OCI.appendLayers(
                base: .scratch, layers: [[.directory(dir.sub("f"))]], to: store, tag: arch,
                options: AppendOptions(platform: Platform(architecture: arch, os: "linux"))))
        }
        let index = try await OCI.createIndex([IndexSource(StoredImage(store, reference: "amd64")),
                                               IndexSource(StoredImage(store, reference: "arm64"))],
                                              to: store, tag: "multi", options: IndexOptions(annotations: ["made": "test"]))
        XCTAssertEqual(index.index.mediaType, MediaType.ociIndex)
        XCTAssertEqual(index.manifests.map { $0.platform?.architecture }, ["amd64", "arm64"])
        let (_, bytes) = try await store.manifest("multi")
        let decoded = try JSONCoding.decode(ImageIndex.self, from: bytes)
        XCTAssertEqual(decoded.annotations, ["made": "test"])
        XCTAssertEqual(decoded.manifests.map(\.digest), [images[0].manifest.digest, images[1].manifest.digest])

        // From the platforms of another index, plus an image.
        let picked = try await OCI.createIndex([IndexSource(StoredImage(store, reference: "multi"),
                                                            platforms: [Platform(architecture: "arm64", os: "linux")]),
                                                IndexSource(StoredImage(store, reference: "s390x"))],
                                               to: store, tag: "picked")
        XCTAssertEqual(picked.index.mediaType, MediaType.ociIndex)
        // A Docker manifest list lists Docker manifests only.
        let mixed = await asyncError {
            try await OCI.createIndex([IndexSource(StoredImage(store, reference: "amd64"))], to: store, tag: "docker",
                                      options: IndexOptions(format: .docker))
        }
        XCTAssertEqual(mixed?.ociErrorKind, .unsupported)
        XCTAssertEqual(picked.manifests.map { $0.platform?.architecture }, ["arm64", "s390x"])

        // Edit: add s390x, replace amd64 with a new build, remove arm64.
        try write("g/other", "other")
        let newAMD = try await OCI.appendLayers(base: .scratch, layers: [[.directory(dir.sub("g"))]], to: store, tag: "amd64-2",
                                                options: AppendOptions(platform: Platform(architecture: "amd64", os: "linux")))
        let edited = try await OCI.editIndex(StoredImage(store, reference: "multi"),
                                             add: [IndexSource(StoredImage(store, reference: "s390x")),
                                                   IndexSource(StoredImage(store, reference: "amd64-2"))],
                                             remove: [.platform(Platform(architecture: "arm64", os: "linux"))],
                                             to: store, tag: "multi")
        XCTAssertEqual(edited.manifests.map(\.digest), [newAMD.manifest.digest, images[2].manifest.digest])
        let gone = await asyncError {
            try await OCI.editIndex(StoredImage(store, reference: "multi"), remove: [.digest(images[1].manifest.digest)],
                                    to: store, tag: "multi")
        }
        XCTAssertEqual(gone?.ociErrorKind, .notFound)
    }

    /// Pushing an index to a store that lacks its images copies them first.
    func testIndexPushCopiesMissingChildrenFirst() async throws {
        let source = MemoryStore()
        let destination = MemoryStore()
        try write("f/hello", "hello")
        let image = try await OCI.appendLayers(base: .scratch, layers: [[.directory(dir.sub("f"))]], to: source, tag: "one")
        let index = try await OCI.createIndex([IndexSource(StoredImage(source, reference: "one"))], to: destination, tag: "i")
        let hasManifest = try await destination.exists(image.manifest)
        let hasConfig = try await destination.exists(image.config)
        let hasLayer = try await destination.exists(image.layers[0].descriptor)
        let tagged = try await destination.resolve("i").digest
        XCTAssertTrue(hasManifest && hasConfig && hasLayer)
        XCTAssertEqual(tagged, index.index.digest)
    }

    /// Fields the package does not model survive an edit, numbers included.
    func testMutateKeepsFieldsItDoesNotKnow() async throws {
        let store = MemoryStore()
        let config = Array("""
            {"architecture":"amd64","os":"linux","config":{"Healthcheck":{"Interval":30000000000,"Test":["CMD","true"]},"Env":["A=1"]},"rootfs":{"type":"layers","diff_ids":[]},"x-extra":{"n":7}}
            """.utf8)
        let configDescriptor = await store.push(bytes: config, mediaType: MediaType.ociConfig)
        let manifest = try JSONCoding.encode(Manifest(config: configDescriptor, layers: []))
        let root = await store.push(bytes: manifest, mediaType: MediaType.ociManifest)
        try await store.tag(root, as: "src")
        _ = try await OCI.mutate(StoredImage(store, reference: "src"), to: store, tag: "out",
                                 options: MutateOptions(edit: ImageEdit(env: ["B=2"])))
        let (_, _, bytes) = try await self.config(store, "out")
        let text = String(decoding: bytes, as: UTF8.self)
        XCTAssertTrue(text.contains(#""Interval":30000000000"#), text)
        XCTAssertTrue(text.contains(#""x-extra":{"n":7}"#), text)
        XCTAssertTrue(text.contains(#""Env":["A=1","B=2"]"#), text)
    }
}
