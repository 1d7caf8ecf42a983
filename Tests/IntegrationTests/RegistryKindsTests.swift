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

/// `RegistryUnderTest` itself: both kinds in every mode show the same surface and the same behaviour to the
/// client, and our copies between the two kinds are byte-exact.
final class RegistryKindsTests: XCTestCase {
    // MARK: One surface over both kinds

    /// Every kind in every mode: scheme, CA, users and random passwords; the standard client pushes and resolves;
    /// anonymous clients are refused where there are users (pull is open in the token modes); requests are counted
    /// and reset the same way.
    func testEveryKindAndModeLooksAndBehavesAlike() async throws {
        for mode in TestRegistry.Mode.allCases {
            for kind in RegistryUnderTest.Kind.allCases where RegistryUnderTest.isAvailable(kind, mode) {
                try await RegistryUnderTest.withRegistry(kind: kind, mode: mode) { registry in
                    try await checkSurface(registry)
                }
            }
        }
    }

    private func checkSurface(_ registry: RegistryUnderTest) async throws {
        let mode = registry.mode
        let label = "\(registry)"
        XCTAssertEqual(registry.kind == .distribution, registry.distribution != nil, label)
        XCTAssertEqual(registry.kind == .inProcess, registry.inProcess != nil, label)
        XCTAssertEqual(registry.scheme, mode.usesTLS ? "https" : "http", label)
        XCTAssertEqual(registry.usesPlainHTTP, !mode.usesTLS, label)
        XCTAssertTrue(registry.host.hasPrefix("127.0.0.1:"), label)
        XCTAssertEqual(registry.baseURL, "\(registry.scheme)://\(registry.host)", label)
        if mode.usesTLS {
            let pem = Bytes.text(try XCTUnwrap(registry.caCertificatePEM, label))
            XCTAssertTrue(pem.contains("BEGIN CERTIFICATE"), label)
            let path = try XCTUnwrap(registry.caCertificatePath, label)
            XCTAssertEqual(FileManager.default.contents(atPath: path).map { [UInt8]($0) }, registry.caCertificatePEM, label)
            let directory = try XCTUnwrap(registry.certificateDirectory, label)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["ca.crt"], label)
        } else {
            XCTAssertNil(registry.caCertificatePEM, label)
            XCTAssertNil(registry.certificateDirectory, label)
        }
        if mode.hasUsers {
            XCTAssertEqual(registry.username, "testuser", label)
            let password = try XCTUnwrap(registry.password, label)
            let readerPassword = try XCTUnwrap(registry.readerPassword, label)
            XCTAssertNotEqual(password, readerPassword, label)
            XCTAssertGreaterThanOrEqual(password.count, 16, label)
            let config = try XCTUnwrap(parseJSON(registry.dockerConfigJSON()) as? [String: Any], label)
            let auths = try XCTUnwrap(config["auths"] as? [String: [String: String]], label)
            XCTAssertEqual(auths[registry.host]?["auth"], Data("testuser:\(password)".utf8).base64EncodedString(), label)
        } else {
            XCTAssertNil(registry.username, label)
            XCTAssertNil(registry.password, label)
            XCTAssertEqual(Bytes.text(registry.dockerConfigJSON()), #"{"auths":{}}"#, label)
        }

        let image = try TestImage.make(config: Bytes.utf8("surface-\(mode)"), layers: [Bytes.random(3000)])
        let ref = "\(registry.host)/surface/app:v1"
        registry.resetRequests()
        try await Clients.with(try Clients.standard(for: registry)) { client in
            try await Upload.image(client, ref, image)
            try await compareRemoteManifest(client, ref, image)
        }
        XCTAssertEqual(registry.requestCount("PUT", "/v2/surface/app/manifests/*"), 1, "\(label): \(registry.requests())")
        XCTAssertEqual(registry.requestCount("PUT", "/v2/surface/app/manifests/v1"), 1, label)
        XCTAssertGreaterThanOrEqual(registry.requestCount("GET", "/v2/surface/app/blobs/*"), 2, label)
        XCTAssertTrue(registry.requests().allSatisfy { $0.status != nil }, label)
        registry.resetRequests()
        XCTAssertEqual(registry.requestCount(), 0, label)

        // Anonymous (but trusting the CA): refused with htpasswd; the token modes grant anonymous pull.
        try await Clients.with(try Clients.make(tls: Clients.trust(registry.caCertificatePath))) { anonymous in
            if mode.usesHtpasswd {
                await assertRegistryError("anonymous resolve against \(label)", {
                    _ = try await anonymous.resolve(ref)
                }, matches: { $0.isUnauthorized })
            } else {
                let (_, resolved) = try await anonymous.resolve(ref)
                XCTAssertEqual(resolved, image.descriptor, label)
            }
        }
        XCTAssertGreaterThanOrEqual(registry.requestCount(nil, "/v2/**"), 1, label)
    }

    /// Passwords are new at every start; the options still set them where a test wants its own.
    func testPasswordsAreRandomPerStartUnlessSet() async throws {
        for kind in RegistryUnderTest.Kind.allCases where RegistryUnderTest.isAvailable(kind, .htpasswd) {
            let first = try await RegistryUnderTest.withRegistry(kind: kind, mode: .htpasswd) { $0.password }
            let second = try await RegistryUnderTest.withRegistry(kind: kind, mode: .htpasswd) { $0.password }
            XCTAssertNotNil(first)
            XCTAssertNotEqual(first, second, "\(kind)")

            var options = TestRegistry.Options()
            options.username = "own-user"
            options.password = "own-password"
            try await RegistryUnderTest.withRegistry(kind: kind, mode: .htpasswd, options: options) { registry in
                XCTAssertEqual(registry.username, "own-user")
                XCTAssertEqual(registry.password, "own-password")
                XCTAssertNotNil(registry.readerPassword)
                let image = try TestImage.make(config: Bytes.utf8("own"), layers: [Bytes.random(100)])
                try await Clients.with(try Clients.standard(for: registry)) { client in
                    try await Upload.image(client, "\(registry.host)/own/app:v1", image)
                }
            }
        }
    }

    // MARK: Our copies between the kinds

    func testOurCopyInProcessToDistributionAndBackIsByteExact() async throws {
        try await copyAcrossKinds(.plain)
    }

    /// The same with both registries over TLS with basic auth: one client trusts both CAs and holds both random
    /// passwords, each for its own host.
    func testOurCopyInProcessToDistributionAndBackOverTLSWithBasicAuthIsByteExact() async throws {
        try await copyAcrossKinds(.tlsHtpasswd)
    }

    private func copyAcrossKinds(_ mode: TestRegistry.Mode) async throws {
        try Requirements.registry(.distribution, mode)
        try await RegistryUnderTest.withRegistry(kind: .inProcess, mode: mode) { inProcess in
            try await RegistryUnderTest.withRegistry(kind: .distribution, mode: mode) { distribution in
                let amd = try RealImage.make(layerSizes: [30_000, 200_000])
                let arm = try RealImage.make(layerSizes: [5000])
                var amdDesc = amd.manifestDescriptor
                amdDesc.platform = Platform(architecture: "amd64", os: "linux")
                var armDesc = arm.manifestDescriptor
                armDesc.platform = Platform(architecture: "arm64", os: "linux", variant: "v8")
                let index = try TestIndex.make([amdDesc, armDesc], annotations: ["kinds": "both"], embedMediaType: true)
                let docker = try TestImage.make(mediaType: MediaType.dockerManifest, config: Bytes.utf8("{\"docker\":1}"),
                                                layers: [Bytes.random(4000)], configMediaType: MediaType.dockerConfig,
                                                layerMediaType: MediaType.dockerLayerGzip, embedMediaType: true)
                let keyring = Clients.keyring(hosts: [(inProcess.host, inProcess.username, inProcess.password),
                                                      (distribution.host, distribution.username, distribution.password)])
                let tls = Clients.trust(inProcess.caCertificatePath, distribution.caCertificatePath)
                try await Clients.with(try Clients.make(keyring: keyring, tls: tls)) { client in
                    let source = "\(inProcess.host)/kinds/src"
                    for image in [amd, arm] {
                        try await client.pushRawManifest("\(source)@\(image.manifestDescriptor.digest)",
                                                         descriptor: image.manifestDescriptor, bytes: image.manifestBytes,
                                                         store: image.store)
                    }
                    try await Upload.index(client, "\(source):multi", index)
                    try await Upload.image(client, "\(source):docker", docker)
                }
                inProcess.resetRequests()
                distribution.resetRequests()

                try await OCIClient.withClient(configuration: Clients.ociConfiguration(for: inProcess, distribution)) { ours in
                    let there = try await ours.copy(from: "\(inProcess.host)/kinds/src:multi",
                                                    to: "\(distribution.host)/kinds/dst:multi")
                    XCTAssertEqual(there.mounted, 0, "no mount across registries")
                    let back = try await ours.copy(from: "\(distribution.host)/kinds/dst:multi",
                                                   to: "\(inProcess.host)/kinds/back:multi")
                    XCTAssertEqual(back.root.digest, index.descriptor.digest)
                    XCTAssertEqual(back.mounted, 0, "no mount across registries")
                    _ = try await ours.copy(from: "\(inProcess.host)/kinds/src:docker", to: "\(distribution.host)/kinds/dst:docker")
                    _ = try await ours.copy(from: "\(distribution.host)/kinds/dst:docker", to: "\(inProcess.host)/kinds/back:docker")
                }
                for registry in [inProcess, distribution] {
                    // Small blobs start their upload with an anonymous mount (no `from`); none names a repository.
                    XCTAssertFalse(registry.requests().contains { ($0.query ?? "").contains("from=") }, "\(registry)")
                }

                try await Clients.with(try Clients.make(keyring: keyring, tls: tls)) { client in
                    for repo in ["\(inProcess.host)/kinds/src", "\(distribution.host)/kinds/dst", "\(inProcess.host)/kinds/back"] {
                        let (descriptor, bytes) = try await client.getRawManifest("\(repo):multi")
                        XCTAssertEqual(descriptor, index.descriptor, repo)
                        XCTAssertEqual(bytes, index.bytes, repo)
                        for image in [amd, arm] {
                            let ref = "\(repo)@\(image.manifestDescriptor.digest)"
                            let (childDescriptor, childBytes) = try await client.getRawManifest(ref)
                            XCTAssertEqual(childDescriptor, image.manifestDescriptor, ref)
                            XCTAssertEqual(childBytes, image.manifestBytes, ref)
                            for (digest, expected) in image.blobs {
                                let blob = Descriptor(mediaType: "application/octet-stream", digest: digest,
                                                      size: Int64(expected.count))
                                let fetched = try await client.fetchBytes(ref, blob)
                                XCTAssertEqual(fetched, expected, "\(ref) blob \(digest)")
                            }
                        }
                        try await compareRemoteManifest(client, "\(repo):docker", docker)
                    }
                }
            }
        }
    }

    // MARK: Where the kinds differ

    /// The protocol differences between distribution 2.8 and the in-process registry, as facts: the same requests
    /// (plain HTTP, no auth), the status each kind answers. Where they agree the row says so; a change on either
    /// side shows up here first. Tests that run against both kinds depend on none of the differing rows.
    func testKnownProtocolDifferences() async throws {
        var answers: [RegistryUnderTest.Kind: [String: Int]] = [:]
        var bodies: [RegistryUnderTest.Kind: [String: String]] = [:]
        var links: [RegistryUnderTest.Kind: String?] = [:]
        for kind in RegistryUnderTest.Kind.allCases {
            try Requirements.registry(kind, .plain)
            try await RegistryUnderTest.withRegistry(kind: kind, mode: .plain) { registry in
                let probe = try await ProtocolProbe.run(registry)
                answers[kind] = probe.statuses
                bodies[kind] = probe.bodies
                links[kind] = probe.tagsLink
            }
        }
        let distribution = answers[.distribution] ?? [:]
        let inProcess = answers[.inProcess] ?? [:]
        // label: (distribution, in-process)
        let expected: [String: (Int, Int)] = [
            "ping": (200, 200),
            "blob upload by PATCH and PUT": (201, 201),
            "blob HEAD": (200, 200),
            "blob range": (206, 206),
            "mount from another repository": (201, 201),
            "mount without from": (202, 202),
            "manifest PUT": (201, 201),
            "manifest PUT with a wrong Content-Type": (400, 400),
            "manifest PUT with a missing blob": (400, 400),
            "manifest GET with an OCI Accept": (200, 200),
            "tag list": (200, 200),
            "delete manifest by digest": (202, 202),
            // distribution 2.8 opens a session and ignores the body; the in-process registry stores the blob.
            "monolithic POST ?digest=": (202, 201),
            // distribution needs the Content-Type; the in-process registry takes the body's mediaType.
            "manifest PUT without Content-Type": (400, 201),
            // distribution hides OCI manifests from clients that do not accept them.
            "manifest GET without Accept": (404, 200),
            // distribution looks the text up as a tag and fails in storage.
            "manifest GET by a malformed digest": (500, 400),
            // distribution 2.8 has no referrers API (the client falls back to the sha256-HEX tag).
            "referrers": (404, 200),
            // distribution caps n at 1000.
            "catalog n=5000": (400, 200),
            // distribution's router does not match upper case (plain-text 404); in process: NAME_INVALID.
            "upper-case repository": (404, 400),
            // distribution deletes manifests by digest only.
            "delete manifest by tag": (400, 202),
        ]
        for (label, (d, i)) in expected {
            XCTAssertEqual(distribution[label], d, "distribution: \(label) \(bodies[.distribution]?[label] ?? "")")
            XCTAssertEqual(inProcess[label], i, "inProcess: \(label) \(bodies[.inProcess]?[label] ?? "")")
        }
        XCTAssertEqual(Set(distribution.keys), Set(expected.keys))

        // Tag lists: distribution ignores n/last (no Link, unsorted); the in-process registry pages in lexical order.
        XCTAssertEqual(links[.distribution] ?? "missing", nil)
        XCTAssertEqual(links[.inProcess] ?? nil, #"</v2/probe/a/tags/list?n=2&last=b>; rel="next""#)
        XCTAssertEqual(bodies[.inProcess]?["tag list"], #"{"name":"probe/a","tags":["a","b"]}"#)
        XCTAssertEqual(bodies[.distribution]?["tag list"].map { $0.contains(#""c""#) }, true, "all tags in one page")
        // An OCI-Subject answer: the in-process registry has the referrers API, distribution 2.8 does not.
        XCTAssertNil(bodies[.distribution]?["OCI-Subject"])
        XCTAssertNotNil(bodies[.inProcess]?["OCI-Subject"])
    }
}

/// Raw requests for ``RegistryKindsTests/testKnownProtocolDifferences()`` (plain HTTP through `TestHTTP`).
private struct ProtocolProbe {
    var statuses: [String: Int] = [:]
    var bodies: [String: String] = [:]
    var tagsLink: String?

    static func run(_ registry: RegistryUnderTest) async throws -> ProtocolProbe {
        var probe = ProtocolProbe()
        let base = registry.baseURL
        func send(_ label: String?, _ method: String, _ target: String, headers: FakeHeaders = [:],
                  body: [UInt8] = []) async throws -> TestHTTP.Response {
            let url = target.hasPrefix("http") ? target : base + target
            let response = try await TestHTTP.request(method, url, headers: headers, body: body)
            if let label {
                probe.statuses[label] = response.status
                probe.bodies[label] = String(response.bodyText.prefix(300))
            }
            return response
        }
        func absolute(_ location: String?) -> String {
            guard let location else { return base + "/missing-location" }
            return location.hasPrefix("http") ? location : base + location
        }
        func upload(_ bytes: [UInt8], to repository: String, label: String? = nil) async throws {
            let start = try await send(nil, "POST", "/v2/\(repository)/blobs/uploads/")
            let patch = try await send(nil, "PATCH", absolute(start.headers["Location"]),
                                       headers: ["Content-Type": "application/octet-stream"], body: bytes)
            let location = absolute(patch.headers["Location"])
            let separator = location.contains("?") ? "&" : "?"
            _ = try await send(label, "PUT", location + separator + "digest=\(OCIDigest.of(bytes))",
                               headers: ["Content-Type": "application/octet-stream"])
        }
        let octets: FakeHeaders = ["Content-Type": "application/octet-stream"]
        let oci: FakeHeaders = ["Content-Type": MediaType.ociManifest]
        let layer = Bytes.random(64)
        let digest = OCIDigest.of(layer)

        _ = try await send("ping", "GET", "/v2/")
        try await upload(layer, to: "probe/a", label: "blob upload by PATCH and PUT")
        try await upload(EmptyJSON.bytes, to: "probe/a")
        _ = try await send("blob HEAD", "HEAD", "/v2/probe/a/blobs/\(digest)")
        _ = try await send("blob range", "GET", "/v2/probe/a/blobs/\(digest)", headers: ["Range": "bytes=1-2"])
        let small = Bytes.random(8)
        _ = try await send("monolithic POST ?digest=", "POST", "/v2/probe/mono/blobs/uploads/?digest=\(OCIDigest.of(small))",
                           headers: octets, body: small)
        _ = try await send("mount from another repository", "POST", "/v2/probe/b/blobs/uploads/?mount=\(digest)&from=probe/a")
        _ = try await send("mount without from", "POST", "/v2/probe/c/blobs/uploads/?mount=\(digest)")

        /// An OCI manifest with the empty config and one `text/plain` layer, `extra` fields appended.
        func manifestJSON(layer: OCIDigest, size: Int, extra: String = "") -> [UInt8] {
            let config = #"{"mediaType":"\#(MediaType.ociEmpty)","digest":"\#(EmptyJSON.digest)","size":2}"#
            let layers = #"[{"mediaType":"text/plain","digest":"\#(layer)","size":\#(size)}]"#
            return Bytes.utf8(#"{"schemaVersion":2,"mediaType":"\#(MediaType.ociManifest)",\#(extra)"config":\#(config),"layers":\#(layers)}"#)
        }
        let manifest = manifestJSON(layer: digest, size: layer.count)
        let manifestDigest = OCIDigest.of(manifest)
        _ = try await send("manifest PUT", "PUT", "/v2/probe/a/manifests/a", headers: oci, body: manifest)
        for tag in ["c", "b"] {
            _ = try await send(nil, "PUT", "/v2/probe/a/manifests/\(tag)", headers: oci, body: manifest)
        }
        _ = try await send("manifest PUT with a wrong Content-Type", "PUT", "/v2/probe/a/manifests/wrong",
                           headers: ["Content-Type": "application/json"], body: manifest)
        _ = try await send("manifest PUT without Content-Type", "PUT", "/v2/probe/a/manifests/untyped", body: manifest)
        let dangling = manifestJSON(layer: OCIDigest.of(Bytes.random(5)), size: 5)
        _ = try await send("manifest PUT with a missing blob", "PUT", "/v2/probe/a/manifests/dangling", headers: oci,
                           body: dangling)
        _ = try await send("manifest GET without Accept", "GET", "/v2/probe/a/manifests/a")
        _ = try await send("manifest GET with an OCI Accept", "GET", "/v2/probe/a/manifests/a",
                           headers: ["Accept": MediaType.ociManifest])
        _ = try await send("manifest GET by a malformed digest", "GET", "/v2/probe/a/manifests/sha256:zz")

        let subject = #"{"mediaType":"\#(MediaType.ociManifest)","digest":"\#(manifestDigest)","size":\#(manifest.count)}"#
        let referrer = manifestJSON(layer: digest, size: layer.count,
                                    extra: #""artifactType":"application/x-probe","subject":\#(subject),"#)
        let withSubject = try await send(nil, "PUT", "/v2/probe/a/manifests/\(OCIDigest.of(referrer))", headers: oci,
                                         body: referrer)
        probe.bodies["OCI-Subject"] = withSubject.headers["OCI-Subject"]
        _ = try await send("referrers", "GET", "/v2/probe/a/referrers/\(manifestDigest)")

        let tags = try await send("tag list", "GET", "/v2/probe/a/tags/list?n=2")
        probe.tagsLink = tags.headers["Link"]
        _ = try await send("catalog n=5000", "GET", "/v2/_catalog?n=5000")
        _ = try await send("upper-case repository", "GET", "/v2/Probe/A/manifests/a")
        _ = try await send("delete manifest by tag", "DELETE", "/v2/probe/a/manifests/c")
        _ = try await send("delete manifest by digest", "DELETE", "/v2/probe/a/manifests/\(manifestDigest)")
        return probe
    }
}
