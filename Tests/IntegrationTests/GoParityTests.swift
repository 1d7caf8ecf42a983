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

/// The Go `ociclient` suite's cases C1–C6 (inventory §5.2) against the real distribution registry and the
/// in-process one.
///
/// The Go suite ran one registry with TLS *and* basic auth (envtest, F45) for all its cases. `testGoSuite…` do the
/// same: one registry per kind and mode (`.tlsHtpasswd`: HTTPS trusting the test CA through
/// `RegistryClient.Configuration.TLS(caFiles:)`, basic auth from a `Keyring` holding the random password; and
/// `.plain`), every case in turn on it. Each case also runs alone against the distribution registry over `.tls`
/// (no auth) and `.htpasswd` (plain HTTP, basic auth).
final class GoParityTests: XCTestCase {
    /// Starts a registry of `kind` in `mode`, gives `body` the standard client for it and the registry, stops both.
    private func withParity(_ kind: RegistryUnderTest.Kind = .distribution, _ mode: TestRegistry.Mode,
                            _ body: (GoClient, RegistryUnderTest) async throws -> Void) async throws {
        try Requirements.registry(kind, mode)
        try await RegistryUnderTest.withRegistry(kind: kind, mode: mode) { registry in
            try await Clients.with(try Clients.standard(for: registry)) { client in
                try await body(client, registry)
            }
        }
    }

    private func withParity(_ mode: TestRegistry.Mode, _ body: (GoClient, String) async throws -> Void) async throws {
        try await withParity(.distribution, mode) { client, registry in try await body(client, registry.host) }
    }

    // MARK: The whole suite on one registry (the Go BeforeSuite)

    /// C1–C6 in order on one registry and one client, as the Go suite runs them; a failing case is reported and the
    /// others still run. With users, an anonymous client is refused and (over TLS) a client without the CA too.
    private func goSuite(_ kind: RegistryUnderTest.Kind, _ mode: TestRegistry.Mode) async throws {
        try await withParity(kind, mode) { client, registry in
            let cases: [(String, (GoClient, String) async throws -> Void)] = [
                ("C1", c1), ("C2", c2), ("C3", c3), ("C4", c4), ("C5", c5), ("C6", c6),
            ]
            for (name, run) in cases {
                do {
                    try await run(client, registry.host)
                } catch {
                    XCTFail("\(name) against \(registry): \(error)")
                }
            }
            let ref = "\(registry.host)/single-arch-tests/0/artifact:v0.0.1"
            if mode.hasUsers {
                XCTAssertNotEqual(registry.password, "testpass", "the password is random")
                try await Clients.with(try Clients.make(tls: Clients.trust(registry.caCertificatePath))) { anonymous in
                    _ = await assertRegistryError("anonymous resolve against \(registry)", {
                        _ = try await anonymous.resolve(ref)
                    }, matches: { $0.isUnauthorized })
                }
                let wrong = Clients.keyring(for: registry, user: registry.username, password: "wrong-password")
                let tls = Clients.trust(registry.caCertificatePath)
                try await Clients.with(try Clients.make(keyring: wrong, tls: tls)) { client in
                    _ = await assertRegistryError("resolve with a wrong password against \(registry)", {
                        _ = try await client.resolve(ref)
                    }, matches: { $0.isUnauthorized })
                }
            }
            if mode.usesTLS {
                let untrustingClient = try Clients.make(keyring: Clients.fullUser(registry), plainHTTP: .never)
                try await Clients.with(untrustingClient) { untrusting in
                    _ = await assertRegistryError("resolve without the CA against \(registry)", {
                        _ = try await untrusting.resolve(ref)
                    }, matches: { $0.isTLS })
                }
            }
        }
    }

    /// F45: the Go package's envtest registry (distribution, TLS with a generated CA, htpasswd with a random password).
    func testGoSuiteOnDistributionOverTLSWithBasicAuth() async throws { try await goSuite(.distribution, .tlsHtpasswd) }
    func testGoSuiteOnDistributionPlain() async throws { try await goSuite(.distribution, .plain) }
    func testGoSuiteOnInProcessOverTLSWithBasicAuth() async throws { try await goSuite(.inProcess, .tlsHtpasswd) }
    func testGoSuiteOnInProcessPlain() async throws { try await goSuite(.inProcess, .plain) }

    // MARK: C1 single-arch image

    private func c1(_ client: GoClient, _ host: String) async throws {
        let image = try TestImage.make(config: Bytes.utf8("config-data"),
                                       layers: [Bytes.utf8("layer-1-data"), Bytes.utf8("layer-2-data")])
        let ref = "\(host)/single-arch-tests/0/artifact:v0.0.1"
        try await Upload.image(client, ref, image)
        try await compareRemoteManifest(client, ref, image)

        // Resolve gives the same descriptor; the image is reachable by digest too.
        let (name, resolved) = try await client.resolve(ref)
        XCTAssertEqual(name, ref)
        XCTAssertEqual(resolved, image.descriptor)
        try await compareRemoteManifest(client, "\(host)/single-arch-tests/0/artifact@\(image.descriptor.digest)", image)

        // GetManifest decodes it.
        let manifest = try await client.getManifest(ref)
        XCTAssertEqual(manifest.config, image.configDescriptor)
        XCTAssertEqual(manifest.layers, image.layerDescriptors)
    }

    func testC1SingleArchImageOverTLS() async throws { try await withParity(.tls, c1) }
    func testC1SingleArchImageWithBasicAuth() async throws { try await withParity(.htpasswd, c1) }

    // MARK: C2 multi-arch index

    private func pushTwoChildren(_ client: GoClient, repo: String) async throws -> [TestImage] {
        let amd = try TestImage.make(config: Bytes.utf8("config-data-linux"),
                                     layers: [Bytes.utf8("layer-1-data-linux"), Bytes.utf8("layer-2-data")])
        let win = try TestImage.make(config: Bytes.utf8("config-data-windows"),
                                     layers: [Bytes.utf8("layer-1-data-windows"), Bytes.utf8("layer-2-data")])
        for image in [amd, win] {
            try await Upload.image(client, "\(repo)@\(image.descriptor.digest)", image)
        }
        return [amd, win]
    }

    private func c2(_ client: GoClient, _ host: String) async throws {
        let repo = "\(host)/multi-arch-tests/0/artifact"
        let children = try await pushTwoChildren(client, repo: repo)
        var amdDesc = children[0].descriptor
        amdDesc.platform = Platform(architecture: "amd64", os: "linux")
        var winDesc = children[1].descriptor
        winDesc.platform = Platform(architecture: "amd64", os: "windows")
        let index = try TestIndex.make([amdDesc, winDesc], annotations: ["test": "test"])
        let ref = "\(repo):v0.1.0"
        try await Upload.index(client, ref, index)

        let (descriptor, bytes) = try await client.getRawManifest(ref)
        XCTAssertEqual(descriptor, index.descriptor)
        XCTAssertEqual(bytes, index.bytes)
        let decoded = try JSONCoding.decode(ImageIndex.self, from: bytes)
        XCTAssertEqual(decoded.manifests.map(\.platform), [amdDesc.platform, winDesc.platform])
        XCTAssertEqual(decoded.annotations, ["test": "test"])
        for child in children {
            try await compareRemoteManifest(client, "\(repo)@\(child.descriptor.digest)", child)
        }
        // Indexes are not manifests for GetManifest (F13).
        do {
            _ = try await client.getManifest(ref)
            XCTFail("getManifest of an index must fail")
        } catch let error as OCIClientError {
            XCTAssertTrue("\(error)".contains("media type is not an image manifest"), "\(error)")
        }
    }

    func testC2MultiArchIndexOverTLS() async throws { try await withParity(.tls, c2) }
    func testC2MultiArchIndexWithBasicAuth() async throws { try await withParity(.htpasswd, c2) }

    // MARK: C3 empty index

    private func c3(_ client: GoClient, _ host: String) async throws {
        let index = try TestIndex.make([], annotations: ["test": "test"])
        let ref = "\(host)/multi-arch-tests/1/artifact:v0.1.0"
        try await Upload.index(client, ref, index)
        let (descriptor, bytes) = try await client.getRawManifest(ref)
        XCTAssertEqual(descriptor, index.descriptor)
        XCTAssertEqual(bytes, index.bytes)
        XCTAssertEqual(try JSONCoding.decode(ImageIndex.self, from: bytes).manifests, [])
    }

    func testC3EmptyIndexOverTLS() async throws { try await withParity(.tls, c3) }
    func testC3EmptyIndexWithBasicAuth() async throws { try await withParity(.htpasswd, c3) }

    // MARK: C4 index with one manifest and no platform

    private func c4(_ client: GoClient, _ host: String) async throws {
        let repo = "\(host)/multi-arch-tests/2/artifact"
        let image = try TestImage.make(config: Bytes.utf8("config-data"),
                                       layers: [Bytes.utf8("layer-1-data"), Bytes.utf8("layer-2-data")])
        try await Upload.image(client, "\(repo)@\(image.descriptor.digest)", image)
        let index = try TestIndex.make([image.descriptor])
        XCTAssertNil(index.index.manifests[0].platform)
        let ref = "\(repo):v0.1.0"
        try await Upload.index(client, ref, index)
        let (descriptor, bytes) = try await client.getRawManifest(ref)
        XCTAssertEqual(descriptor, index.descriptor)
        XCTAssertEqual(bytes, index.bytes)
        XCTAssertFalse(Bytes.text(bytes).contains("platform"))
        try await compareRemoteManifest(client, "\(repo)@\(image.descriptor.digest)", image)
    }

    func testC4SingleManifestIndexWithoutPlatformOverTLS() async throws { try await withParity(.tls, c4) }
    func testC4SingleManifestIndexWithoutPlatformWithBasicAuth() async throws { try await withParity(.htpasswd, c4) }

    // MARK: C5 copy an image

    private func c5(_ client: GoClient, _ host: String) async throws {
        let image = try TestImage.make(config: Bytes.utf8("config-data"),
                                       layers: [Bytes.utf8("layer-1-data"), Bytes.random(64 * 1024)])
        let src = "\(host)/copy/0/src:v0.0.1"
        let tgt = "\(host)/copy/0/tgt:v0.0.1"
        try await Upload.image(client, src, image)
        try await client.copy(from: src, to: tgt)
        try await compareRemoteManifest(client, tgt, image)
        // Copying again finds everything in place and changes nothing.
        try await client.copy(from: src, to: tgt)
        try await compareRemoteManifest(client, tgt, image)
    }

    func testC5CopyImageOverTLS() async throws { try await withParity(.tls, c5) }
    func testC5CopyImageWithBasicAuth() async throws { try await withParity(.htpasswd, c5) }

    // MARK: C6 copy an index

    private func c6(_ client: GoClient, _ host: String) async throws {
        let srcRepo = "\(host)/copy/1/src"
        let tgtRepo = "\(host)/copy/1/tgt"
        let children = try await pushTwoChildren(client, repo: srcRepo)
        var amdDesc = children[0].descriptor
        amdDesc.platform = Platform(architecture: "amd64", os: "linux")
        var winDesc = children[1].descriptor
        winDesc.platform = Platform(architecture: "amd64", os: "windows")
        let index = try TestIndex.make([amdDesc, winDesc], annotations: ["test": "test"])
        try await Upload.index(client, "\(srcRepo):v0.1.0", index)

        try await client.copy(from: "\(srcRepo):v0.1.0", to: "\(tgtRepo):v0.0.1")
        let (srcDesc, srcBytes) = try await client.getRawManifest("\(srcRepo):v0.1.0")
        let (tgtDesc, tgtBytes) = try await client.getRawManifest("\(tgtRepo):v0.0.1")
        XCTAssertEqual(tgtDesc, srcDesc)
        XCTAssertEqual(tgtBytes, srcBytes)
        XCTAssertEqual(tgtBytes, index.bytes)
        for child in children {
            try await compareRemoteManifest(client, "\(tgtRepo)@\(child.descriptor.digest)", child)
        }
    }

    func testC6CopyIndexOverTLS() async throws { try await withParity(.tls, c6) }
    func testC6CopyIndexWithBasicAuth() async throws { try await withParity(.htpasswd, c6) }

    // MARK: Docker media types (the Go suite's commented-out C2b/C2c)

    /// A Docker v2 schema2 manifest and a Docker manifest list round-trip byte-exactly too (registry 2.8 accepts
    /// them when the Accept header is complete).
    func testDockerMediaTypesRoundTrip() async throws {
        try await dockerMediaTypesRoundTrip(.distribution)
    }

    func testDockerMediaTypesRoundTripOnInProcess() async throws {
        try await dockerMediaTypesRoundTrip(.inProcess)
    }

    private func dockerMediaTypesRoundTrip(_ kind: RegistryUnderTest.Kind) async throws {
        try await withParity(kind, .htpasswd) { client, registry in
            let host = registry.host
            let repo = "\(host)/docker-types/artifact"
            let image = try TestImage.make(mediaType: MediaType.dockerManifest, config: Bytes.utf8("{\"docker\":true}"),
                                           layers: [Bytes.random(2048)], configMediaType: MediaType.dockerConfig,
                                           layerMediaType: MediaType.dockerLayerGzip, embedMediaType: true)
            try await Upload.image(client, "\(repo)@\(image.descriptor.digest)", image)
            try await compareRemoteManifest(client, "\(repo)@\(image.descriptor.digest)", image)
            var child = image.descriptor
            child.platform = Platform(architecture: "arm64", os: "linux", variant: "v8")
            let list = try TestIndex.make([child], mediaType: MediaType.dockerManifestList, embedMediaType: true)
            try await Upload.index(client, "\(repo):list", list)
            let (descriptor, bytes) = try await client.getRawManifest("\(repo):list")
            XCTAssertEqual(descriptor, list.descriptor)
            XCTAssertEqual(bytes, list.bytes)
        }
    }
}

/// F17: manifests whose config is the empty descriptor, or has size 0. The raw push uploads the declared blob as
/// it is; both forms are accepted by registry 2.8 and pull back byte-exactly.
final class EmptyConfigTests: XCTestCase {
    func testEmptyJSONConfigDescriptorPushesAndPullsBack() async throws {
        try Requirements.registry(.plain)
        try await TestRegistry.withRegistry(.plain) { registry in
            try await Clients.with(try Clients.make()) { client in
                let layer = Bytes.random(4096)
                var layerDesc = Descriptor.of(layer, mediaType: "application/octet-stream")
                layerDesc.annotations = [Annotation.title: "data.bin"]
                let manifest = Manifest(artifactType: "application/vnd.example.test", config: EmptyJSON.descriptor,
                                        layers: [layerDesc])
                let bytes = try JSONCoding.encode(manifest)
                let descriptor = Descriptor.of(bytes, mediaType: MediaType.ociManifest)
                let blobs: [OCIDigest: [UInt8]] = [EmptyJSON.digest: EmptyJSON.bytes, layerDesc.digest: layer]
                let store = GenericStore { d in
                    guard let b = blobs[d.digest] else { throw ContentError.notFound(d.digest.description) }
                    return ByteStream(bytes: b)
                }
                let ref = "\(registry.host)/f17/empty-json:v1"
                try await client.pushRawManifest(ref, descriptor: descriptor, bytes: bytes, store: store)

                let (got, gotBytes) = try await client.getRawManifest(ref)
                XCTAssertEqual(got, descriptor)
                XCTAssertEqual(gotBytes, bytes)
                XCTAssertEqual(EmptyJSON.descriptor.size, 2)
                XCTAssertEqual(EmptyJSON.digest.description,
                               "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
                let config = try await client.fetchBytes(ref, EmptyJSON.descriptor)
                XCTAssertEqual(config, Array("{}".utf8))
                let fetchedLayer = try await client.fetchBytes(ref, layerDesc)
                XCTAssertEqual(fetchedLayer, layer)
                let decoded = try await client.getManifest(ref)
                XCTAssertEqual(decoded.config, EmptyJSON.descriptor)
                XCTAssertEqual(decoded.artifactType, "application/vnd.example.test")
            }
        }
    }

    func testZeroSizeConfigIsPushedAsDeclared() async throws {
        try Requirements.registry(.plain)
        try await TestRegistry.withRegistry(.plain) { registry in
            try await Clients.with(try Clients.make()) { client in
                let empty: [UInt8] = []
                let configDesc = Descriptor.of(empty, mediaType: "application/json")
                XCTAssertEqual(configDesc.size, 0)
                XCTAssertEqual(configDesc.digest.description,
                               "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
                let layer = Bytes.random(1000)
                let layerDesc = Descriptor.of(layer, mediaType: "text/plain")
                let manifest = Manifest(config: configDesc, layers: [layerDesc])
                let bytes = try JSONCoding.encode(manifest)
                let descriptor = Descriptor.of(bytes, mediaType: MediaType.ociManifest)
                let blobs: [OCIDigest: [UInt8]] = [configDesc.digest: empty, layerDesc.digest: layer]
                let store = GenericStore { d in
                    guard let b = blobs[d.digest] else { throw ContentError.notFound(d.digest.description) }
                    return ByteStream(bytes: b)
                }
                let ref = "\(registry.host)/f17/zero-size:v1"
                try await client.pushRawManifest(ref, descriptor: descriptor, bytes: bytes, store: store)
                let (got, gotBytes) = try await client.getRawManifest(ref)
                XCTAssertEqual(got, descriptor)
                XCTAssertEqual(gotBytes, bytes, "the manifest is pushed unchanged (no rewrite to the {} config)")
                let config = try await client.fetchBytes(ref, configDesc)
                XCTAssertEqual(config, [])
                let fetchedLayer = try await client.fetchBytes(ref, layerDesc)
                XCTAssertEqual(fetchedLayer, layer)
            }
        }
    }
}

/// Listing against the real registry (the Go suite's L1/L2 ran against mocks only).
final class ListingTests: XCTestCase {
    func testRepositoriesAndPrefixFilter() async throws {
        try Requirements.registry(.plain)
        try await TestRegistry.withRegistry(.plain) { registry in
            try await Clients.with(try Clients.make()) { client in
                let host = registry.host
                let repos = ["team/a", "team/b", "team/sub/c", "teamx/d", "other/e"]
                let image = try TestImage.make(config: Bytes.utf8("cfg"), layers: [Bytes.random(512)])
                for repo in repos {
                    try await Upload.image(client, "\(host)/\(repo):v1", image)
                }
                let all = try await client.registry.repositories(host: host)
                XCTAssertEqual(all.sorted(), repos.sorted())
                let team = try await client.registry.repositories(host: host, prefix: "team")
                XCTAssertEqual(team.sorted(), ["team/a", "team/b", "team/sub/c"], "prefix matches whole segments")
                let sub = try await client.registry.repositories(host: host, prefix: "team/sub/")
                XCTAssertEqual(sub, ["team/sub/c"])

                // The Go-style API prefixes the host; a bare host lists everything.
                let listed = try await client.listRepositories(host)
                XCTAssertEqual(listed.sorted(), repos.map { "\(host)/\($0)" }.sorted())
                let prefixed = try await client.listRepositories("\(host)/team")
                XCTAssertEqual(prefixed.sorted(), ["team/a", "team/b", "team/sub/c"].map { "\(host)/\($0)" })
                let none = try await client.listRepositories("\(host)/nothing")
                XCTAssertEqual(none, [])
            }
        }
    }

    func testTagsOfARepository() async throws {
        try Requirements.registry(.plain)
        try await TestRegistry.withRegistry(.plain) { registry in
            try await Clients.with(try Clients.make()) { client in
                let repo = "\(registry.host)/tags/repo"
                let image = try TestImage.make(config: Bytes.utf8("cfg"), layers: [Bytes.random(256)])
                let tags = ["v1", "v1.1", "v2", "latest", "Z", "0.0.1", "t_07"]
                try await Upload.image(client, "\(repo):\(tags[0])", image)
                let remote = client.registry.repository(try Reference(parsing: "\(repo):v1"), access: .push)
                for tag in tags.dropFirst() {
                    try await remote.tag(image.descriptor, as: tag)
                }
                // Registry 2.8 returns tags unsorted and unpaginated: compare as sets.
                let listed = try await client.listTags(repo)
                XCTAssertEqual(listed.sorted(), tags.sorted())
                let remoteTags = try await remote.tags()
                XCTAssertEqual(Set(remoteTags), Set(tags))

                // Tags of a repository that does not exist: not found.
                await assertRegistryError("tags of a missing repository", {
                    _ = try await client.listTags("\(registry.host)/no/such/repo")
                }, matches: { $0.isNotFound })
            }
        }
    }
}

/// A copy between two registries with different auth (plain anonymous → htpasswd) in one client: each host
/// gets its own scheme, challenge and credentials.
final class CrossRegistryTests: XCTestCase {
    func testCopyBetweenRegistries() async throws {
        try Requirements.registry(.plain)
        try Requirements.registry(.htpasswd)
        try await TestRegistry.withRegistry(.plain) { source in
            try await TestRegistry.withRegistry(.htpasswd) { target in
                try await Clients.with(try Clients.make(keyring: Clients.fullUser(target))) { client in
                    let image = try TestImage.make(config: Bytes.utf8("cross-config"),
                                                   layers: [Bytes.random(100_000), Bytes.random(1000)])
                    let amd = image.descriptor
                    var child = amd
                    child.platform = Platform(architecture: "amd64", os: "linux")
                    let index = try TestIndex.make([child], annotations: ["cross": "registry"])
                    try await Upload.image(client, "\(source.host)/cross/src@\(amd.digest)", image)
                    try await Upload.index(client, "\(source.host)/cross/src:v1", index)

                    try await client.copy(from: "\(source.host)/cross/src:v1", to: "\(target.host)/cross/dst:v1")
                    let (descriptor, bytes) = try await client.getRawManifest("\(target.host)/cross/dst:v1")
                    XCTAssertEqual(descriptor, index.descriptor)
                    XCTAssertEqual(bytes, index.bytes)
                    try await compareRemoteManifest(client, "\(target.host)/cross/dst@\(amd.digest)", image)
                    // By digest only: no tag is created at the target.
                    try await client.copy(from: "\(source.host)/cross/src@\(amd.digest)",
                                          to: "\(target.host)/cross/bydigest@\(amd.digest)")
                    try await compareRemoteManifest(client, "\(target.host)/cross/bydigest@\(amd.digest)", image)
                    // Registry 2.8 answers a repository without tags with 404 NAME_UNKNOWN; either way, no tag.
                    do {
                        let tags = try await client.listTags("\(target.host)/cross/bydigest")
                        XCTAssertEqual(tags, [])
                    } catch let error as RegistryError where error.isNotFound {}
                }
            }
        }
    }
}
