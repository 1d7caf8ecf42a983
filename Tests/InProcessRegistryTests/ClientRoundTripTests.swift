import Foundation
import NIOHTTP1
import OCIContent
import OCIRegistry
import OCISpec
import OCITesting
import XCTest

/// The package's own client against the in-process registry: every distribution operation it has.
final class ClientRoundTripTests: XCTestCase {
    func testImagePushResolveAndFetchAreByteExact() async throws {
        try await withInProcessRegistry { registry in
            try await Clients.with(try Clients.make(for: registry)) { client in
                let repo = client.repository(host: registry.host, name: "apps/hello", access: .push)
                let image = TestImage.make(layerSizes: [1000, 250_000])
                try await repo.push(image, tag: "v1")

                let resolved = try await repo.resolve("v1")
                XCTAssertEqual(resolved.digest, image.manifestDescriptor.digest)
                XCTAssertEqual(resolved.size, image.manifestDescriptor.size)
                XCTAssertEqual(resolved.mediaType, MediaType.ociManifest)

                let (byTag, bytes) = try await repo.fetchManifest("v1")
                XCTAssertEqual(bytes, image.manifestBytes)
                XCTAssertEqual(byTag.digest, image.manifestDescriptor.digest)
                let (_, byDigest) = try await repo.fetchManifest(image.manifestDescriptor.digest.description)
                XCTAssertEqual(byDigest, image.manifestBytes)

                for (descriptor, expected) in image.blobs {
                    let exists = try await repo.exists(descriptor)
                    XCTAssertTrue(exists)
                    let fetched = try await repo.fetchBytes(descriptor)
                    XCTAssertEqual(fetched, expected)
                }
                // A ranged read (resumed download) returns the tail.
                let layer = image.layerDescriptors[1]
                var tail: [UInt8] = []
                for try await chunk in try await repo.fetch(layer, offset: 100_000) { tail.append(contentsOf: chunk) }
                XCTAssertEqual(tail, Array(image.layers[1].dropFirst(100_000)))
            }
            // The client sent every blob through POST + PUT (monolithic) and the manifest by tag.
            XCTAssertEqual(registry.requestCount("PUT", "/v2/apps/hello/manifests/v1"), 1)
            XCTAssertGreaterThanOrEqual(registry.requestCount("POST", "/v2/apps/hello/blobs/uploads/"), 3)
        }
    }

    func testChunkedUploadsFollowTheRegistryAndItsMinimumChunk() async throws {
        let configuration = InProcessRegistry.Configuration(chunkMinLength: 16 * 1024)
        try await withInProcessRegistry(configuration) { registry in
            let upload = RegistryClient.Configuration.Upload(chunkedThreshold: 1024, chunkSize: 4096)
            try await Clients.with(try Clients.make(for: registry, upload: upload)) { client in
                let repo = client.repository(host: registry.host, name: "chunked", access: .push)
                let blob = Bytes.random(100_000)
                let descriptor = try await repo.pushBytes(blob)
                let fetched = try await repo.fetchBytes(descriptor)
                XCTAssertEqual(fetched, blob)
            }
            let patches = registry.requests().filter { $0.method == "PATCH" }
            // 100 000 bytes in chunks of at least OCI-Chunk-Min-Length (16 KiB), not the client's 4 KiB.
            XCTAssertGreaterThanOrEqual(patches.count, 2)
            XCTAssertLessThanOrEqual(patches.count, 7)
            for patch in patches.dropLast() { XCTAssertGreaterThanOrEqual(patch.bodyLength, 16 * 1024) }
            XCTAssertEqual(patches.map(\.bodyLength).reduce(0, +), 100_000)
            XCTAssertTrue(patches.allSatisfy { $0.status == 202 })
            let put = try XCTUnwrap(registry.requests().last { $0.method == "PUT" })
            XCTAssertEqual(put.status, 201)
            XCTAssertTrue(put.query?.contains("digest=sha256") ?? false)
        }
    }

    func testCrossRepositoryMount() async throws {
        try await withInProcessRegistry { registry in
            try await Clients.with(try Clients.make(for: registry)) { client in
                let source = client.repository(host: registry.host, name: "team/source", access: .push)
                let target = client.repository(host: registry.host, name: "team/target", access: .push)
                let blob = try await source.pushBytes(Bytes.random(5000))
                let mounted = try await target.mount(blob, fromRepository: "team/source")
                XCTAssertTrue(mounted)
                let exists = try await target.exists(blob)
                XCTAssertTrue(exists)
                // A blob the source does not have: an upload session instead (the client cancels it).
                let absent = Descriptor.of(Bytes.random(10), mediaType: "application/octet-stream")
                let mountedAbsent = try await target.mount(absent, fromRepository: "team/source")
                XCTAssertFalse(mountedAbsent)
            }
            let mounts = registry.requests().filter { $0.method == "POST" && ($0.query ?? "").contains("mount=") }
            XCTAssertEqual(mounts.map(\.status), [201, 202])
            XCTAssertEqual(registry.requestCount("DELETE", "/v2/team/target/blobs/uploads/*"), 1, "the unused session is cancelled")
        }
    }

    func testTagListingAcrossPagesAndCatalog() async throws {
        try await withInProcessRegistry { registry in
            let repoName = "many/tags"
            try await Clients.with(try Clients.make(for: registry)) { client in
                let repo = client.repository(host: registry.host, name: repoName, access: .push)
                let image = TestImage.make(layerSizes: [10])
                try await repo.push(image, tag: "base")
                // 1 005 tags: more than the client's page size of 1000, so it must follow the Link header.
                try await RawHTTP.with(registry) { raw in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for worker in 0..<8 {
                            group.addTask {
                                for i in stride(from: worker, to: 1004, by: 8) {
                                    let response = try await raw.send(.PUT, "/v2/\(repoName)/manifests/t\(String(format: "%04d", i))",
                                                                      headers: [("Content-Type", MediaType.ociManifest)],
                                                                      body: image.manifestBytes)
                                    XCTAssertEqual(response.status, 201)
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                }
                let tags = try await repo.tags()
                XCTAssertEqual(tags.count, 1005)
                XCTAssertEqual(tags, tags.sorted())
                XCTAssertEqual(tags.first, "base")
                XCTAssertEqual(registry.requests().filter { $0.path == "/v2/\(repoName)/tags/list" }.count, 2)

                for name in ["zeta", "alpha/one", "alpha/two"] {
                    _ = try await client.repository(host: registry.host, name: name, access: .push).pushBytes(Bytes.random(3))
                }
                let repositories = try await client.repositories(host: registry.host)
                XCTAssertEqual(repositories, ["alpha/one", "alpha/two", repoName, "zeta"])
                let alpha = try await client.repositories(host: registry.host, prefix: "alpha")
                XCTAssertEqual(alpha, ["alpha/one", "alpha/two"])
            }
        }
    }

    func testReferrersAPI() async throws {
        try await withInProcessRegistry { registry in
            try await Clients.with(try Clients.make(for: registry)) { client in
                let repo = client.repository(host: registry.host, name: "signed", access: .push)
                let subject = TestImage.make(layerSizes: [100])
                try await repo.push(subject, tag: "v1")
                let signature = TestImage.make(layerSizes: [20], artifactType: "application/vnd.example.signature",
                                               subject: subject.manifestDescriptor, annotations: ["kind": "sig"])
                let sbom = TestImage.make(layerSizes: [30], artifactType: "application/vnd.example.sbom",
                                          subject: subject.manifestDescriptor)
                try await repo.push(signature, tag: nil)
                try await repo.push(sbom, tag: nil)

                let all = try await repo.referrers(of: subject.manifestDescriptor.digest)
                XCTAssertEqual(Set(all.map(\.digest)), [signature.manifestDescriptor.digest, sbom.manifestDescriptor.digest])
                let sig = try XCTUnwrap(all.first { $0.digest == signature.manifestDescriptor.digest })
                XCTAssertEqual(sig.artifactType, "application/vnd.example.signature")
                XCTAssertEqual(sig.annotations, ["kind": "sig"])
                XCTAssertEqual(sig.size, signature.manifestDescriptor.size)
                XCTAssertEqual(sig.mediaType, MediaType.ociManifest)

                let onlySBOM = try await repo.referrers(of: subject.manifestDescriptor.digest, artifactType: "application/vnd.example.sbom")
                XCTAssertEqual(onlySBOM.map(\.digest), [sbom.manifestDescriptor.digest])

                // The registry answered OCI-Subject, so the client kept no referrers fallback tag.
                let tags = try await repo.tags()
                XCTAssertEqual(tags, ["v1"])

                // Deleting a referrer removes it from the list.
                _ = try await repo.deleteManifest(signature.manifestDescriptor.digest.description)
                let after = try await repo.referrers(of: subject.manifestDescriptor.digest)
                XCTAssertEqual(after.map(\.digest), [sbom.manifestDescriptor.digest])
            }
            let filtered = registry.requests().filter { $0.path.contains("/referrers/") && ($0.query ?? "").contains("artifactType=") }
            XCTAssertEqual(filtered.count, 1)
        }
    }

    func testDeletesOfManifestsTagsAndBlobs() async throws {
        try await withInProcessRegistry { registry in
            try await Clients.with(try Clients.make(for: registry)) { client in
                let repo = client.repository(host: registry.host, name: "deletes", access: .delete)
                let image = TestImage.make(layerSizes: [500])
                try await repo.push(image, tag: "v1")
                _ = try await repo.pushManifest(image.manifestBytes, mediaType: MediaType.ociManifest, reference: "v2")

                try await repo.untag("v2")
                let tags = try await repo.tags()
                XCTAssertEqual(tags, ["v1"])
                let stillThere = try await repo.resolve(image.manifestDescriptor.digest.description)
                XCTAssertEqual(stillThere.digest, image.manifestDescriptor.digest)

                _ = try await repo.deleteManifest("v1")
                await assertRegistryError("resolve after delete", { _ = try await repo.resolve("v1") }) { $0.isNotFound }
                await assertRegistryError("fetch by digest after delete", {
                    _ = try await repo.fetchManifest(image.manifestDescriptor.digest.description)
                }) { $0.isNotFound }

                let layer = image.layerDescriptors[0]
                try await repo.delete(layer)
                let exists = try await repo.exists(layer)
                XCTAssertFalse(exists)
                await assertRegistryError("fetch a deleted blob", { _ = try await repo.fetchBytes(layer) }) { $0.isNotFound }
            }
        }
    }

    func testDirectoryStorageSurvivesARestart() async throws {
        let dir = try TempDir("inproc-storage")
        defer { dir.remove() }
        let image = TestImage.make(layerSizes: [4000, 9000])
        let configuration = InProcessRegistry.Configuration(storage: .directory(dir.path))
        try await withInProcessRegistry(configuration) { registry in
            try await Clients.with(try Clients.make(for: registry, upload: RegistryClient.Configuration.Upload(chunkedThreshold: 5000, chunkSize: 2048))) { client in
                try await client.repository(host: registry.host, name: "kept", access: .push).push(image, tag: "stable")
            }
        }
        // Blobs are files named by their digest; no upload or temporary file is left behind.
        for (descriptor, bytes) in image.blobs {
            let path = dir.path + "/blobs/sha256/" + descriptor.digest.encoded
            XCTAssertEqual(FileManager.default.contents(atPath: path).map { Array($0) }, bytes)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/tmp"), [])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/uploads"), [])

        try await withInProcessRegistry(configuration) { registry in
            try await Clients.with(try Clients.make(for: registry)) { client in
                let repo = client.repository(host: registry.host, name: "kept")
                let (descriptor, bytes) = try await repo.fetchManifest("stable")
                XCTAssertEqual(bytes, image.manifestBytes)
                XCTAssertEqual(descriptor.mediaType, MediaType.ociManifest)
                for (blob, expected) in image.blobs {
                    let fetched = try await repo.fetchBytes(blob)
                    XCTAssertEqual(fetched, expected)
                }
            }
        }
    }

    func testTLSWithTheGeneratedCA() async throws {
        try await withInProcessRegistry(.init(tls: .generated)) { registry in
            XCTAssertEqual(registry.scheme, "https")
            let pem = try XCTUnwrap(registry.caCertificatePEM)
            XCTAssertTrue(pem.hasPrefix("-----BEGIN CERTIFICATE-----"))
            let caPath = try XCTUnwrap(registry.caCertificatePath)
            XCTAssertEqual(FileManager.default.contents(atPath: caPath).map { String(decoding: $0, as: UTF8.self) }, pem)
            try await Clients.with(try Clients.make(for: registry)) { client in
                let repo = client.repository(host: registry.host, name: "secure", access: .push)
                let image = TestImage.make(layerSizes: [2000])
                try await repo.push(image, tag: "v1")
                let (_, bytes) = try await repo.fetchManifest("v1")
                XCTAssertEqual(bytes, image.manifestBytes)
            }
            // Without the CA the client refuses the certificate.
            let untrusting = try RegistryClient(configuration: RegistryClient.Configuration(retry: .none))
            try await Clients.with(untrusting) { client in
                await assertRegistryError("untrusted CA", {
                    _ = try await client.repository(host: registry.host, name: "secure").resolve("v1")
                }) { if case .tls = $0 { return true }; return false }
            }
        }
    }

    /// A certificate and key of the user's own (here made with the openssl CLI), as `registry serve --tls` takes.
    func testTLSWithGivenCertificateFiles() async throws {
        let openssl = "/usr/bin/openssl"
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: openssl), "openssl is not installed at \(openssl)")
        let scratch = try TempDir("inproc-pem")
        defer { scratch.remove() }
        let made = try await Subprocess.run(openssl, [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", scratch.file("key.pem"), "-out", scratch.file("cert.pem"),
        ])
        XCTAssertEqual(made.status, 0, made.summary)
        let tls = try InProcessRegistry.TLS.pemFiles(certificateChain: scratch.file("cert.pem"), privateKey: scratch.file("key.pem"))
        try await withInProcessRegistry(.init(tls: tls)) { registry in
            XCTAssertNil(registry.caCertificatePEM, "no CA of ours: the certificate was given")
            let client = try RegistryClient(configuration: RegistryClient.Configuration(
                tls: RegistryClient.Configuration.TLS(caFiles: [scratch.file("cert.pem")]), retry: .none))
            try await Clients.with(client) { client in
                let repo = client.repository(host: registry.host, name: "given", access: .push)
                let blob = try await repo.pushBytes(Bytes.random(100))
                let fetched = try await repo.exists(blob)
                XCTAssertTrue(fetched)
            }
        }
        XCTAssertThrowsError(try InProcessRegistry.TLS.pemFiles(certificateChain: scratch.file("missing"), privateKey: scratch.file("key.pem")))
    }

    /// Large blobs stream through back-pressure both ways (reads of the socket pause while storage lags), into
    /// memory and into a directory, monolithic and chunked.
    func testLargeBlobsStreamBothWays() async throws {
        let dir = try TempDir("inproc-large")
        defer { dir.remove() }
        let blob = Bytes.random(24 << 20)
        for storage in [InProcessRegistry.Storage.memory, .directory(dir.path)] {
            try await withInProcessRegistry(.init(storage: storage)) { registry in
                for upload in [RegistryClient.Configuration.Upload(), RegistryClient.Configuration.Upload(chunkedThreshold: 1 << 20, chunkSize: 5 << 20)] {
                    try await Clients.with(try Clients.make(for: registry, upload: upload)) { client in
                        let repo = client.repository(host: registry.host, name: "large/\(upload.chunkSize)", access: .push)
                        let descriptor = try await repo.pushBytes(blob)
                        let fetched = try await repo.fetchBytes(descriptor)
                        XCTAssertEqual(fetched, blob)
                    }
                }
                XCTAssertEqual(registry.requests().filter { $0.method == "PATCH" }.map(\.bodyLength).reduce(0, +), blob.count)
            }
        }
    }
}
