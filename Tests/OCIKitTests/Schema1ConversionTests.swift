import Crypto
import Foundation
import OCIGoCompat
import OCIKit
import OCISchema1
import OCIContent
import OCILayout
import OCICredentials
import OCIReference
import OCIRegistry
import OCISpec
import OCISync
import OCITesting
import OCITestFixtures
import XCTest

/// swift-crypto has a `OCIDigest` protocol too.

/// F25: Docker schema1 → OCI conversion (Go tests V1 and V2, the Go bugs 21–26, and a real schema1 registry).
final class Schema1ConversionTests: XCTestCase {
    private typealias History = Schema1Converter.History
    private let zeroTime = "0001-01-01T00:00:00Z"

    // MARK: Go V1: "should create oci config"

    func testCreateConfigV1() throws {
        let layer0 = s1Digest("v1_layer_0"), layer1 = s1Digest("v1_layer_1")
        let diffIDs = [layer1, layer0]
        let manifest = V1Manifest(fsLayers: [.init(blobSum: layer0), .init(blobSum: layer1)], history: [
            .init(v1Compatibility: """

            {
            \t"id": "v1_layer_0",
            \t"container_config": {
            \t\t"Env": ["MY_ENV=test-val"],
            \t\t"Cmd": ["echo", "v1_layer_0"],
            \t\t"Entrypoint": ["/my-entrypoint"]
            \t},
            \t"architecture": "amd64",
            \t"os": "linux"
            }

            """),
            .init(v1Compatibility: #"{"id": "v1_layer_1", "container_config": {"Cmd": ["echo", "v1_layer_1"]}}"#),
        ])
        // Go's test builds the history by marshalling schema1 History items into OCI History: two empty entries.
        let history = [History(), History()]
        let (descriptor, bytes) = try Schema1Converter.makeConfig(manifest, diffIDs: diffIDs, history: history)
        XCTAssertEqual(descriptor.mediaType, MediaType.ociConfig)
        XCTAssertEqual(descriptor.digest, OCIDigest.of(bytes))
        XCTAssertEqual(descriptor.size, Int64(bytes.count))

        let config = try JSONDecoder().decode(S1Image.self, from: Data(bytes))
        XCTAssertEqual(config, S1Image(architecture: "amd64", os: "linux", config: nil,
                                       rootfs: .init(type: "layers", diffIDs: diffIDs.map(\.description)),
                                       history: [History(), History()]))
        // The v1 keys are gone; everything else stays, values compacted; keys are sorted.
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), """
            {"architecture":"amd64","container_config":{"Env":["MY_ENV=test-val"],"Cmd":["echo","v1_layer_0"],\
            "Entrypoint":["/my-entrypoint"]},"history":[{},{}],"os":"linux","rootfs":{"diff_ids":["\(layer1)",\
            "\(layer0)"],"type":"layers"}}
            """)
    }

    // MARK: Go V2: "should parse V1 manifest"

    func testParseV1ManifestV2() async throws {
        let layer0 = Array("v1_layer_0".utf8), layer1 = Array("v1_layer_1".utf8), layer2 = Array("v1_layer_2".utf8)
        let compressed0 = try s1Gzip(layer0, level: 9)
        let blobs: [String: [UInt8]] = [
            "/v2/my-repo/blobs/\(OCIDigest.of(compressed0))": compressed0,
            "/v2/my-repo/blobs/\(OCIDigest.of(layer1))": layer1,
            "/v2/my-repo/blobs/\(OCIDigest.of(layer2))": layer2,
        ]
        let manifest = V1Manifest(fsLayers: [
            .init(blobSum: OCIDigest.of(compressed0)), .init(blobSum: OCIDigest.of(layer1)),
            .init(blobSum: OCIDigest.of(layer2)), .init(blobSum: OCIDigest.of([UInt8]())),
        ], history: [
            .init(v1Compatibility: #"{"id": "v1_layer_0", "container_config": {"Env": ["MY_ENV=test-val"], "Cmd": ["echo", "v1_layer_0"], "Entrypoint": ["/my-entrypoint"]}, "architecture": "amd64", "os": "linux"}"#),
            .init(v1Compatibility: #"{"id": "v1_layer_1", "container_config": {"Cmd": ["echo", "v1_layer_1"]}, "throwAway": true}"#),
            .init(v1Compatibility: #"{"id": "v1_layer_2", "container_config": {"Cmd": ["echo", "v1_layer_2"]}}"#),
            .init(v1Compatibility: #"{"id": "v1_layer_3", "container_config": {"Cmd": []}, "Size": 0}"#),
        ])
        // FakeHTTPServer: InProcessRegistry refuses schema1 manifests, and these serve them with their blobs.
        try await withFake({ req in
            if req.path == "/v2/" { return .json(200, "{}") }
            if let bytes = blobs[req.path] { return FakeResponse(status: 200, body: bytes) }
            return .registryError(404, code: "BLOB_UNKNOWN")
        }) { server, client in
            let repository = client.repository(host: server.host, name: "my-repo")
            let (layers, diffIDs, history) = try await Schema1Converter(fetcher: repository).parse(manifest)
            XCTAssertEqual(layers, [
                Descriptor(mediaType: MediaType.ociLayer, digest: OCIDigest.of(layer2), size: 10),
                Descriptor(mediaType: MediaType.ociLayerGzip, digest: OCIDigest.of(compressed0), size: Int64(compressed0.count)),
            ])
            XCTAssertEqual(diffIDs, [OCIDigest.of(layer2), OCIDigest.of(layer0)])
            XCTAssertEqual(history, [
                History(created: zeroTime, emptyLayer: true),
                History(created: zeroTime, createdBy: "echo v1_layer_2"),
                History(created: zeroTime, createdBy: "echo v1_layer_1", emptyLayer: true),
                History(created: zeroTime, createdBy: "echo v1_layer_0"),
            ])
            XCTAssertEqual(String(decoding: try JSONCoding.encode(history), as: UTF8.self),
                           #"[{"created":"0001-01-01T00:00:00Z","empty_layer":true},{"created":"0001-01-01T00:00:00Z","created_by":"echo v1_layer_2"},"#
                           + #"{"created":"0001-01-01T00:00:00Z","created_by":"echo v1_layer_1","empty_layer":true},{"created":"0001-01-01T00:00:00Z","created_by":"echo v1_layer_0"}]"#)
            // Empty layers are never fetched.
            let fetched = registryRequests(server).map(\.path).filter { $0.contains("/blobs/") }
            XCTAssertEqual(Set(fetched), [
                "/v2/my-repo/blobs/\(OCIDigest.of(compressed0))", "/v2/my-repo/blobs/\(OCIDigest.of(layer2))",
            ])

            // The whole conversion, with the results kept in a store.
            let cache = MemoryStore()
            let payload = try JSONCoding.encode(manifest)
            let result = try await Schema1Converter(fetcher: repository).convert(payload, into: cache)
            XCTAssertEqual(result.layers, layers)
            XCTAssertEqual(result.diffIDs, diffIDs)
            XCTAssertEqual(result.manifest.mediaType, MediaType.ociManifest)
            XCTAssertEqual(result.manifest.digest, OCIDigest.of(result.manifestBytes))
            XCTAssertEqual(result.manifest.annotations?[Schema1Converter.sourceDigestAnnotation], OCIDigest.of(payload).description)
            let decoded = try JSONCoding.decode(Manifest.self, from: result.manifestBytes)
            XCTAssertEqual(decoded, Manifest(schemaVersion: 2, mediaType: MediaType.ociManifest, config: result.config, layers: layers))
            let storedManifest = await cache.bytes(for: result.manifest.digest)
            let storedConfig = await cache.bytes(for: result.config.digest)
            XCTAssertEqual(storedManifest, result.manifestBytes)
            XCTAssertEqual(storedConfig, result.configBytes)
            let config = try JSONDecoder().decode(S1Image.self, from: Data(result.configBytes))
            XCTAssertEqual(config.history, history)
            XCTAssertEqual(config.rootfs.diffIDs, diffIDs.map(\.description))
            // Deterministic: converting again gives the same bytes.
            let again = try await Schema1Converter(fetcher: repository).convert(payload)
            XCTAssertEqual(again.manifestBytes, result.manifestBytes)
            XCTAssertEqual(again.configBytes, result.configBytes)
        }
    }

    // MARK: history parsing

    func testHistoryKeysAreCaseInsensitive() throws {
        for (json, empty) in [
            (#"{"throwaway": true}"#, true), (#"{"throwAway": true}"#, true), (#"{"ThrowAway": true}"#, true),
            (#"{"THROWAWAY": false, "Size": 0}"#, false), (#"{"Size": 0}"#, true), (#"{"size": 0}"#, true),
            (#"{"SIZE": 12}"#, false), (#"{}"#, false), (#"{"throwaway": null, "Size": 0}"#, true),
            (#"{"throwaway": true, "ThrowAway": false}"#, false), // the last matching key wins, as in Go
        ] {
            XCTAssertEqual(try V1History(v1Compatibility: json).isEmptyLayer, empty, json)
        }
        let h = try V1History(v1Compatibility: #"{"Author":"me","COMMENT":"c","Container_Config":{"cmd":["a","b"]},"Size":7}"#)
        XCTAssertEqual(h.author, "me")
        XCTAssertEqual(h.comment, "c")
        XCTAssertEqual(h.containerConfigCmd, ["a", "b"])
        XCTAssertEqual(h.size, 7)
        XCTAssertNil(h.throwAway)
        XCTAssertNil(h.created)
    }

    func testCreatedIsFormattedAsGoDoes() async throws {
        for (input, expected) in [
            ("2016-06-08T02:29:31.064236564Z", "2016-06-08T02:29:31.064236564Z"),
            ("2016-06-08T02:29:31.064236500Z", "2016-06-08T02:29:31.0642365Z"),
            ("2016-06-08T02:29:31.000Z", "2016-06-08T02:29:31Z"),
            ("2016-06-08T02:29:31+00:00", "2016-06-08T02:29:31Z"),
            ("2016-06-08T04:29:31.5+02:00", "2016-06-08T04:29:31.5+02:00"),
        ] {
            let v1 = V1Manifest(fsLayers: [.init(blobSum: OCIDigest.of([UInt8]()))],
                                history: [.init(v1Compatibility: #"{"created":"\#(input)","throwaway":true}"#)])
            let (_, _, history) = try await Schema1Converter(fetcher: MemoryStore()).parse(v1)
            XCTAssertEqual(history.first?.created, expected, input)
        }
        let created = try V1History(v1Compatibility: #"{"created":"2016-06-08T02:29:31.5Z"}"#).created
        XCTAssertEqual(created.map { $0.timeIntervalSince1970 }, 1_465_352_971.5)
        for bad in ["yesterday", "2016-13-08T02:29:31Z", "2016-02-30T02:29:31Z", "2016-06-08 02:29:31Z", "2016-06-08T02:29:31"] {
            XCTAssertThrowsError(try V1History(v1Compatibility: #"{"created":"\#(bad)"}"#), bad) { error in
                guard case Schema1ConversionError.invalidHistory(_, let why) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(why.contains("RFC 3339"), why)
            }
        }
    }

    func testInvalidHistoryValuesAreErrors() {
        for json in [#"{"throwaway":"yes"}"#, #"{"Size":1.5}"#, #"{"container_config":{"Cmd":"ls"}}"#, #"[1]"#, "nope",
                     #"{"author":1}"#] {
            XCTAssertThrowsError(try V1History(v1Compatibility: json), json) { error in
                guard case Schema1ConversionError.invalidHistory = error else { return XCTFail("\(error)") }
            }
        }
    }

    // MARK: bugs 24 and 25

    func testMismatchedHistoryIsAnErrorNotACrash() async throws {
        let repository = MemoryStore()
        let d = OCIDigest.of(Array("x".utf8))
        for (layers, history) in [(2, 1), (1, 0), (0, 0), (1, 2)] {
            let v1 = V1Manifest(fsLayers: Array(repeating: .init(blobSum: d), count: layers),
                                history: Array(repeating: .init(v1Compatibility: #"{"throwaway":true}"#), count: history))
            do {
                _ = try await Schema1Converter(fetcher: repository).convert(try JSONCoding.encode(v1))
                XCTFail("\(layers) layers, \(history) history entries must fail")
            } catch let error as Schema1ConversionError {
                guard case .historyMismatch(layers, history) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(error.description.contains("fsLayers"), error.description)
            }
        }
        XCTAssertThrowsError(try Schema1Converter.makeConfig(V1Manifest(fsLayers: [], history: []), diffIDs: [], history: []))
        do {
            _ = try await Schema1Converter(fetcher: repository).convert(Array("{\"fsLayers\": 3}".utf8))
            XCTFail("invalid JSON must fail")
        } catch let error as Schema1ConversionError {
            guard case .invalidManifest = error else { return XCTFail("\(error)") }
        }
    }

    func testConfigDropsV1KeysInAnyCase() throws {
        let v1 = V1Manifest(fsLayers: [.init(blobSum: OCIDigest.of([UInt8]()))], history: [.init(v1Compatibility: """
            {"ID":"x","Parent":"p","size":3,"Parent_ID":"q","LAYER_ID":"r","throwAway":true,"History":[1],"RootFS":{},
             "os":"linux","big":12345678901234567890,"f":1.50,"s":"a<b>&c é","config":{"Cmd":["sh"],"Labels":null}}
            """)])
        let (_, bytes) = try Schema1Converter.makeConfig(v1, diffIDs: [], history: [History(created: zeroTime)])
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), """
            {"big":12345678901234567890,"config":{"Cmd":["sh"],"Labels":null},"f":1.50,\
            "history":[{"created":"0001-01-01T00:00:00Z"}],"os":"linux","rootfs":{"diff_ids":[],"type":"layers"},\
            "s":"a<b>&c é"}
            """)
    }

    // MARK: streaming layer inspection (bug 21)

    func testInspectLayerGzipStreams() async throws {
        var compressible: [UInt8] = []
        for i in 0..<20_000 { compressible += Array("line \(i % 977) of a tar-ish layer\n".utf8) }
        var generator = S1Random(seed: 42)
        let random = (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let mixed = Array(compressible.prefix(100_000)) + Array(random.prefix(70_000)) + compressible
        for (name, content) in [("empty", [UInt8]()), ("short", Array("v1_layer_0".utf8)), ("compressible", compressible),
                                ("random", random), ("mixed", mixed)] {
            for level in [1, 6, 9] {
                let gz = try s1Gzip(content, level: level)
                for chunkSize in [1 << 16, 7] where chunkSize > 7 || gz.count < 200_000 {
                    let info = try await Schema1Converter.inspectLayer(ByteStream(bytes: gz, chunkSize: chunkSize),
                                                                      blobSum: OCIDigest.of(gz))
                    XCTAssertEqual(info, Schema1LayerInfo(mediaType: MediaType.ociLayerGzip, size: Int64(gz.count),
                                                          diffID: OCIDigest.of(content)), "\(name) -\(level) /\(chunkSize)")
                }
            }
        }
        // Several gzip members (pigz, concatenated files) decode as one stream.
        let a = Array("first member\n".utf8), b = compressible
        let members = try s1Gzip(a, level: 6) + s1Gzip(b, level: 1)
        let info = try await Schema1Converter.inspectLayer(ByteStream(bytes: members, chunkSize: 1000), blobSum: OCIDigest.of(members))
        XCTAssertEqual(info.diffID, OCIDigest.of(a + b))
        // Uncompressed and zstd.
        let plain = try await Schema1Converter.inspectLayer(ByteStream(bytes: random, chunkSize: 3), blobSum: OCIDigest.of(random))
        XCTAssertEqual(plain, Schema1LayerInfo(mediaType: MediaType.ociLayer, size: Int64(random.count), diffID: OCIDigest.of(random)))
        // zstd is decompressed (Schema1ZstdTests); a bare frame header is a truncated layer, not unsupported.
        let zstd: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD, 0, 0, 0]
        do {
            _ = try await Schema1Converter.inspectLayer(ByteStream(bytes: zstd), blobSum: OCIDigest.of(zstd))
            XCTFail("a truncated zstd layer must fail")
        } catch let error as Schema1ConversionError {
            guard case .corruptLayer(_, let why) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(why.hasPrefix("zstd: "), why)
        }
        XCTAssertEqual(Schema1Converter.Compression.detect([0x28, 0xB5, 0x2F, 0xFD]).layerMediaType, MediaType.ociLayerZstd)
    }

    func testCorruptGzipIsAnError() async throws {
        var content: [UInt8] = []
        for i in 0..<5_000 { content += Array("row \(i)\n".utf8) }
        let gz = try s1Gzip(content, level: 6)
        var flipped = gz
        flipped[gz.count / 2] ^= 0x55
        var badCRC = gz
        badCRC[gz.count - 6] ^= 0x01
        let truncated = Array(gz.dropLast(20))
        let trailing = gz + [0, 0, 0]
        for (name, bytes) in [("flipped", flipped), ("crc", badCRC), ("truncated", truncated), ("trailing", trailing)] {
            do {
                _ = try await Schema1Converter.inspectLayer(ByteStream(bytes: bytes, chunkSize: 333), blobSum: OCIDigest.of(bytes))
                XCTFail("\(name) must fail")
            } catch let error as Schema1ConversionError {
                guard case .corruptLayer = error else { return XCTFail("\(name): \(error)") }
            }
        }
    }

    func testLayerDigestIsVerified() async throws {
        let layer = Array("layer".utf8), other = Array("other".utf8)
        // FakeHTTPServer: InProcessRegistry refuses schema1 manifests, and these serve them with their blobs.
        try await withFake({ req in
            if req.path == "/v2/" { return .json(200, "{}") }
            return FakeResponse(status: 200, body: other)  // wrong content for every blob
        }) { server, client in
            let v1 = V1Manifest(fsLayers: [.init(blobSum: OCIDigest.of(layer))], history: [.init(v1Compatibility: "{}")])
            do {
                _ = try await Schema1Converter(fetcher: client.repository(host: server.host, name: "r")).parse(v1)
                XCTFail("a blob with the wrong content must fail")
            } catch let error as Schema1ConversionError {
                guard case .layerFetchFailed(let blobSum, let underlying) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(blobSum, OCIDigest.of(layer))
                XCTAssertTrue("\(underlying)".contains("digest mismatch"), "\(underlying)")
            }
        }
    }

    // MARK: real registry with schema1 enabled

    func testConvertsSignedSchema1FromRegistry() async throws {
        try XCTSkipUnless(TestRegistry.isAvailable(.plain), "registry binary \(TestRegistry.defaultBinary) is missing")
        var options = TestRegistry.Options()
        options.schema1Enabled = true
        try await TestRegistry.withRegistry(.plain, options: options) { registry in
            let client = try s1Client()
            defer { Task { try? await client.shutdown() } }
            let name = "s1/test"
            let ref = "\(registry.host)/\(name):v1"
            let (tarA, gzA) = try s1TarLayer(files: ["a.txt": "alpha\n", "dir/b.txt": String(repeating: "bravo ", count: 5000)])
            let (tarB, _) = try s1TarLayer(files: ["c.txt": "charlie\n"])
            let repository = client.registry.repository(try Reference(parsing: ref), access: .push)
            for blob in [gzA, tarB] {
                try await repository.push(Descriptor.of(blob, mediaType: "application/octet-stream"), content: ByteStream(bytes: blob))
            }
            let dA = OCIDigest.of(gzA), dB = OCIDigest.of(tarB)
            // Top first: B (newest, carries the config), A thrown away, B again (a duplicate), A (the base).
            let history: [String] = [
                ##"{"id":"4","parent":"3","created":"2016-06-08T02:29:31.064236500Z","author":"someone","architecture":"amd64","os":"linux","config":{"Cmd":["sh"],"Env":["PATH=/bin"]},"container_config":{"Cmd":["/bin/sh","-c","#(nop) CMD [\"sh\"]"]},"throwaway":false}"##,
                #"{"id":"3","parent":"2","created":"2016-06-08T02:29:30Z","container_config":{"Cmd":["/bin/sh","-c","true"]},"throwaway":true}"#,
                #"{"id":"2","parent":"1","created":"2016-06-08T02:29:29Z","container_config":{"Cmd":["/bin/sh","-c","add c"]},"Size":12}"#,
                #"{"id":"1","created":"2016-06-08T02:29:28Z","container_config":{"Cmd":["/bin/sh","-c","add a"]},"comment":"base"}"#,
            ]
            let (signed, payload) = try S1Signer().sign(name: name, tag: "v1", blobSums: [dB, dA, dB, dA], history: history)
            try await repository.pushManifest(signed, mediaType: MediaType.dockerSchema1SignedManifest, reference: "v1")

            // The registry re-signs on every GET: bytes differ, the payload digest does not.
            let (first, firstBytes) = try await repository.fetchManifest("v1")
            let (second, secondBytes) = try await repository.fetchManifest("v1")
            XCTAssertEqual(first.mediaType, MediaType.dockerSchema1SignedManifest)
            XCTAssertNotEqual(firstBytes, secondBytes)
            XCTAssertEqual(first.digest, OCIDigest.of(payload))
            XCTAssertEqual(second.digest, first.digest)
            XCTAssertEqual(Schema1.payload(of: secondBytes), payload)
            let byDigest = try await repository.fetchManifest(first.digest.description)
            XCTAssertEqual(byDigest.descriptor.digest, first.digest)

            let cache = MemoryStore()
            let result = try await client.convertSchema1(ref, descriptor: first, bytes: secondBytes, cache: cache)
            XCTAssertEqual(result.source?.digest, first.digest)
            XCTAssertEqual(result.manifest.annotations?[Schema1Converter.sourceDigestAnnotation], first.digest.description)
            XCTAssertEqual(result.layers, [
                Descriptor(mediaType: MediaType.ociLayerGzip, digest: dA, size: Int64(gzA.count)),
                Descriptor(mediaType: MediaType.ociLayer, digest: dB, size: Int64(tarB.count)),
                Descriptor(mediaType: MediaType.ociLayer, digest: dB, size: Int64(tarB.count)),
            ])
            XCTAssertEqual(result.diffIDs, [OCIDigest.of(tarA), dB, dB])
            XCTAssertEqual(result.history, [
                History(created: "2016-06-08T02:29:28Z", createdBy: "/bin/sh -c add a", comment: "base"),
                History(created: "2016-06-08T02:29:29Z", createdBy: "/bin/sh -c add c"),
                History(created: "2016-06-08T02:29:30Z", createdBy: "/bin/sh -c true", emptyLayer: true),
                History(created: "2016-06-08T02:29:31.0642365Z", createdBy: "/bin/sh -c #(nop) CMD [\"sh\"]", author: "someone"),
            ])
            let config = try JSONDecoder().decode(S1Image.self, from: Data(result.configBytes))
            XCTAssertEqual(config.architecture, "amd64")
            XCTAssertEqual(config.os, "linux")
            XCTAssertEqual(config.config, S1Image.Config(Cmd: ["sh"], Env: ["PATH=/bin"]))
            XCTAssertEqual(config.rootfs.diffIDs, [OCIDigest.of(tarA), dB, dB].map(\.description))
            let keys = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.configBytes)) as? [String: Any]).keys
            XCTAssertEqual(Set(keys), ["architecture", "author", "config", "container_config", "created", "history", "os", "rootfs"])
            let cachedManifest = await cache.bytes(for: result.manifest.digest)
            XCTAssertEqual(cachedManifest, result.manifestBytes)

            // The legacy artifact API converts too.
            let artifact = try await client.getOCIArtifact(ref)
            XCTAssertEqual(artifact.manifest?.data.layers, result.layers)
            XCTAssertEqual(artifact.manifest?.descriptor.digest, result.manifest.digest)
        }
    }

    /// getRawManifest converts schema1: it returns the OCI manifest (never the schema1 one), and fetch serves the
    /// converted documents.
    func testGetRawManifestConvertsSchema1() async throws {
        try XCTSkipUnless(TestRegistry.isAvailable(.plain), "registry binary \(TestRegistry.defaultBinary) is missing")
        var options = TestRegistry.Options()
        options.schema1Enabled = true
        try await TestRegistry.withRegistry(.plain, options: options) { registry in
            let client = try s1Client()
            defer { Task { try? await client.shutdown() } }
            let name = "s1/raw"
            let ref = "\(registry.host)/\(name):v1"
            let layer = Array("plain layer".utf8)
            let repository = client.registry.repository(try Reference(parsing: ref), access: .push)
            try await repository.push(Descriptor.of(layer, mediaType: "application/octet-stream"), content: ByteStream(bytes: layer))
            let (signed, payload) = try S1Signer().sign(name: name, tag: "v1", blobSums: [OCIDigest.of(layer)],
                                                         history: [#"{"id":"1","os":"linux","architecture":"arm64"}"#])
            try await repository.pushManifest(signed, mediaType: MediaType.dockerSchema1SignedManifest, reference: "v1")
            let (descriptor, bytes) = try await client.getRawManifest(ref)
            guard !MediaType.isSchema1(descriptor.mediaType) else {
                return XCTFail("getRawManifest returned the schema1 manifest unconverted (\(descriptor.mediaType))")
            }
            XCTAssertEqual(descriptor.mediaType, MediaType.ociManifest)
            XCTAssertEqual(descriptor.digest, OCIDigest.of(bytes))
            XCTAssertEqual(descriptor.annotations?[Schema1Converter.sourceDigestAnnotation], OCIDigest.of(payload).description)
            let manifest = try JSONCoding.decode(Manifest.self, from: bytes)
            XCTAssertEqual(manifest.layers, [Descriptor(mediaType: MediaType.ociLayer, digest: OCIDigest.of(layer), size: Int64(layer.count))])
            let fetchedManifest = Locked<[UInt8]>([])
            try await client.fetch(ref, descriptor: descriptor) { chunk in fetchedManifest.withLock { $0 += chunk } }
            XCTAssertEqual(fetchedManifest.current, bytes)
            let fetchedConfig = Locked<[UInt8]>([])
            try await client.fetch(ref, descriptor: manifest.config) { chunk in fetchedConfig.withLock { $0 += chunk } }
            XCTAssertEqual(OCIDigest.of(fetchedConfig.current), manifest.config.digest)
            let converted = try await client.getManifest(ref)
            XCTAssertEqual(converted, manifest)
        }
    }
}

// MARK: copying schema1

extension Schema1ConversionTests {
    /// A registry with schema1 enabled holds a signed schema1 image; a default registry (schema1 disabled, as
    /// distribution 2.8 ships) refuses it. `copy` (policy `.auto`) converts on refusal, `.keep` fails with the
    /// registry's error, within the schema1 registry nothing is converted, and an OCI layout gets the converted
    /// image. skopeo reads what arrived byte for byte.
    func testCopyConvertsSchema1WhenTheDestinationRefusesIt() async throws {
        try XCTSkipUnless(TestRegistry.isAvailable(.plain), "registry binary \(TestRegistry.defaultBinary) is missing")
        var options = TestRegistry.Options()
        options.schema1Enabled = true
        try await TestRegistry.withRegistry(.plain, options: options) { legacy in
            try await TestRegistry.withRegistry(.plain) { modern in
                let client = try s1Client()
                defer { Task { try? await client.shutdown() } }
                let name = "s1/copy"
                let ref = "\(legacy.host)/\(name):v1"
                let (_, gz) = try s1TarLayer(files: ["a.txt": "alpha\n"])
                let plain = Array("second layer".utf8)
                let repository = client.registry.repository(try Reference(parsing: ref), access: .push)
                for blob in [gz, plain] {
                    try await repository.push(Descriptor.of(blob, mediaType: "application/octet-stream"), content: ByteStream(bytes: blob))
                }
                let (signed, payload) = try S1Signer().sign(
                    name: name, tag: "v1", blobSums: [OCIDigest.of(plain), OCIDigest.of(gz)],
                    history: [#"{"id":"2","parent":"1","os":"linux","architecture":"amd64","config":{"Cmd":["sh"]}}"#,
                              #"{"id":"1","os":"linux","architecture":"amd64"}"#])
                try await repository.pushManifest(signed, mediaType: MediaType.dockerSchema1SignedManifest, reference: "v1")
                let schema1Digest = OCIDigest.of(payload)

                // Refused and not converted: the registry's own error.
                do {
                    try await client.copy(from: ref, to: "\(modern.host)/s1/keep:v1", schema1: .keep)
                    XCTFail("a schema1 push to a registry without schema1 succeeded")
                } catch {
                    XCTAssertTrue(GoClient.isSchema1Refusal(error), "\(error)")
                }

                // Converted on refusal.
                let result = try await client.copy(from: ref, to: "\(modern.host)/s1/auto:v1")
                XCTAssertEqual(result.root.mediaType, MediaType.ociManifest)
                XCTAssertEqual(result.root.annotations?[Schema1Converter.sourceDigestAnnotation], schema1Digest.description)
                let target = client.registry.repository(try Reference(parsing: "\(modern.host)/s1/auto:v1"))
                let (stored, storedBytes) = try await target.fetchManifest("v1")
                XCTAssertEqual(stored.digest, result.root.digest)
                XCTAssertEqual(stored.mediaType, MediaType.ociManifest)
                let manifest = try JSONCoding.decode(Manifest.self, from: storedBytes)
                XCTAssertEqual(manifest.layers.map(\.digest), [OCIDigest.of(gz), OCIDigest.of(plain)])
                for blob in manifest.blobs {
                    let exists = try await target.exists(blob)
                    XCTAssertTrue(exists, "\(blob.digest) missing at the destination")
                }
                let config = try await target.fetchAll(manifest.config)
                XCTAssertEqual(OCIDigest.of(config), manifest.config.digest)
                if FileManager.default.isExecutableFile(atPath: "/usr/bin/skopeo") {
                    let raw = try s1Run("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(modern.host)/s1/auto:v1"])
                    XCTAssertEqual(raw, storedBytes, "skopeo reads other bytes")
                }

                // Always converted on request, and never when the destination takes schema1.
                let converted = try await client.copy(from: ref, to: "\(legacy.host)/s1/converted:v1", schema1: .convert)
                XCTAssertEqual(converted.root.digest, result.root.digest, "conversion is deterministic")
                let kept = try await client.copy(from: ref, to: "\(legacy.host)/s1/kept:v1")
                XCTAssertEqual(kept.root.digest, schema1Digest)
                XCTAssertTrue(MediaType.isSchema1(kept.root.mediaType))
                XCTAssertEqual(kept.mounted, 2, "blobs within one registry are mounted")

                // To another registry that takes schema1: the layers (sizes unknown in schema1) are uploaded with
                // the size the source tells, and the manifest keeps its digest.
                try await TestRegistry.withRegistry(.plain, options: options) { other in
                    let moved = try await client.copy(from: ref, to: "\(other.host)/s1/moved:v1")
                    XCTAssertEqual(moved.root.digest, schema1Digest)
                    XCTAssertEqual(moved.copied, 3, "two layers and the manifest")
                    XCTAssertEqual(moved.bytes, Int64(gz.count + plain.count))
                    let there = client.registry.repository(try Reference(parsing: "\(other.host)/s1/moved:v1"))
                    let (descriptor, _) = try await there.fetchManifest("v1")
                    XCTAssertEqual(descriptor.digest, schema1Digest)
                    let layer = try await there.fetchAll(Descriptor(mediaType: MediaType.dockerLayerGzip, digest: OCIDigest.of(gz),
                                                                    size: Int64(gz.count)), limit: 1 << 20)
                    XCTAssertEqual(layer, gz)
                }

                // Into an OCI layout: the converted image, readable by skopeo.
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("s1-layout-\(UUID().uuidString)").path
                defer { try? FileManager.default.removeItem(atPath: dir) }
                let layout = try OCILayoutStore(path: dir, create: true)
                let root = try await client.registry.repository(try Reference(parsing: ref)).resolve("v1")
                let intoLayout = try await client.copyConvertingSchema1(from: ref, root: root, to: layout, tag: "v1")
                XCTAssertEqual(intoLayout.root.digest, result.root.digest)
                let resolved = try await layout.resolve("v1")
                XCTAssertEqual(resolved.digest, result.root.digest)
                if FileManager.default.isExecutableFile(atPath: "/usr/bin/skopeo") {
                    let raw = try s1Run("skopeo", ["inspect", "--raw", "oci:\(dir):v1"])
                    XCTAssertEqual(raw, storedBytes)
                }

                // ocictl copy into a layout converts by default.
                let ocictl = URL(fileURLWithPath: CommandLine.arguments.first ?? "").deletingLastPathComponent()
                    .appendingPathComponent("ocictl").path
                if FileManager.default.isExecutableFile(atPath: ocictl) {
                    let cliDir = dir + "-cli"
                    defer { try? FileManager.default.removeItem(atPath: cliDir) }
                    _ = try s1Run(ocictl, ["copy", ref, "ocidir://\(cliDir):v1"])
                    let cliRoot = try await OCILayoutStore(path: cliDir).resolve("v1")
                    XCTAssertEqual(cliRoot.digest, result.root.digest)
                    XCTAssertThrowsError(try s1Run(ocictl, ["copy", "--schema1", "keep", ref, "ocidir://\(cliDir)-keep:v1"]),
                                         "a signed schema1 manifest cannot go into a layout as it is")
                    try? FileManager.default.removeItem(atPath: cliDir + "-keep")

                    // ocictl pull of the schema1 image writes the converted OCI image.
                    let pullDir = dir + "-pull"
                    defer { try? FileManager.default.removeItem(atPath: pullDir) }
                    _ = try s1Run(ocictl, ["pull", ref, "-o", pullDir])
                    let pulledManifest = try XCTUnwrap(FileManager.default.contents(atPath: pullDir + "/manifest.json"))
                    XCTAssertEqual(OCIDigest.of([UInt8](pulledManifest)), result.root.digest, "pull converts as copy does")
                    let converted = try JSONCoding.decode(Manifest.self, from: [UInt8](pulledManifest))
                    let config = try XCTUnwrap(FileManager.default.contents(atPath: pullDir + "/config.json"))
                    XCTAssertEqual(OCIDigest.of([UInt8](config)), converted.config.digest)
                    for layer in converted.layers {
                        let path = pullDir + "/blobs/\(layer.digest.algorithm.rawValue)/\(layer.digest.encoded)"
                        XCTAssertTrue(FileManager.default.fileExists(atPath: path), "layer \(layer.digest) pulled")
                    }
                }
            }
        }
    }
}

// MARK: - helpers

/// The parts of an OCI image config the tests check.
private struct S1Image: Codable, Equatable {
    struct RootFS: Codable, Equatable {
        var type: String
        var diffIDs: [String]
        enum CodingKeys: String, CodingKey { case type; case diffIDs = "diff_ids" }
    }
    struct Config: Codable, Equatable {
        var Cmd: [String]?
        var Env: [String]?
    }
    var architecture: String?
    var os: String?
    var config: Config?
    var rootfs: RootFS
    var history: [Schema1Converter.History]?
}

/// A deterministic generator for test data.
private struct S1Random: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private func s1Digest(_ s: String) -> OCIDigest { OCIDigest.of(Array(s.utf8)) }

private func s1Client() throws -> GoClient {
    var options = GoClientOptions()
    options.registry = testConfiguration()
    options.registry.credentials = Keyring()
    return try GoClient(options: options)
}

/// Runs a command line tool; returns its standard output. Input and output go through files.
private func s1Run(_ tool: String, _ arguments: [String], input: [UInt8]? = nil) throws -> [UInt8] {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("s1-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [tool] + arguments
    process.currentDirectoryURL = dir
    if let input {
        let inURL = dir.appendingPathComponent("in")
        try Data(input).write(to: inURL)
        process.standardInput = try FileHandle(forReadingFrom: inURL)
    }
    let outURL = dir.appendingPathComponent("out")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: outURL)
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw OCITestingError("\(tool) \(arguments) failed: \(process.terminationStatus)") }
    return Array(try Data(contentsOf: outURL))
}

/// gzip with the CLI (`-n`: no name or time, so the output is deterministic).
private func s1Gzip(_ bytes: [UInt8], level: Int) throws -> [UInt8] {
    try s1Run("gzip", ["-c", "-n", "-\(level)"], input: bytes)
}

/// A tar of `files` made with the tar CLI, and its gzip.
private func s1TarLayer(files: [String: String]) throws -> (tar: [UInt8], gzip: [UInt8]) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("s1tar-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    for (path, content) in files {
        let url = dir.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(content.utf8).write(to: url)
    }
    let tar = try s1Run("tar", ["-cf", "-", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-C", dir.path, "."])
    return (tar, try s1Gzip(tar, level: 6))
}

/// Builds libtrust-signed schema1 manifests (JWS, ES256 raw r‖s, embedded JWK with the libtrust key id), as
/// docker and distribution 2.8 expect them.
private struct S1Signer {
    let key = P256.Signing.PrivateKey()

    /// Returns the signed manifest and its payload. `blobSums` and `history` are top (newest) first.
    func sign(name: String, tag: String, blobSums: [OCIDigest], history: [String]) throws -> (signed: [UInt8], payload: [UInt8]) {
        let document: [String: Any] = [
            "schemaVersion": 1, "name": name, "tag": tag, "architecture": "amd64",
            "fsLayers": blobSums.map { ["blobSum": $0.description] },
            "history": history.map { ["v1Compatibility": $0] },
        ]
        let payload = Array(try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys]))
        guard let close = payload.lastIndex(of: 0x7D) else { throw OCITestingError("no closing brace") }
        var formatLength = close
        while formatLength > 0, [0x20, 0x0A, 0x0D, 0x09].contains(payload[formatLength - 1]) { formatLength -= 1 }
        let protectedJSON = #"{"formatLength":\#(formatLength),"formatTail":"\#(b64url(payload[formatLength...]))","time":"2024-01-02T03:04:05Z"}"#
        let protected = b64url(Array(protectedJSON.utf8)[...])
        let signingInput = Array((protected + "." + b64url(payload[...])).utf8)
        let signature = try key.signature(for: Data(signingInput)).rawRepresentation
        let point = Array(key.publicKey.x963Representation)  // 04 || x || y
        let jwk = #"{"crv":"P-256","kid":"\#(libtrustKeyID())","kty":"EC","x":"\#(b64url(point[1..<33]))","y":"\#(b64url(point[33..<65]))"}"#
        let signatures = #"[{"header":{"jwk":\#(jwk),"alg":"ES256"},"signature":"\#(b64url(Array(signature)[...]))","protected":"\#(protected)"}]"#
        let signed = Array(payload[..<formatLength]) + Array(",\n   \"signatures\": \(signatures)\n}".utf8)
        return (signed, payload)
    }

    /// base32(sha256(DER SubjectPublicKeyInfo)[:30]) in groups of 4 joined by ':'.
    func libtrustKeyID() -> String {
        let hash = Array(SHA256.hash(data: key.publicKey.derRepresentation)).prefix(30)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var out: [Character] = []
        var buffer = 0, bits = 0
        for byte in hash {
            buffer = buffer << 8 | Int(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        return stride(from: 0, to: out.count, by: 4).map { String(out[$0..<min($0 + 4, out.count)]) }.joined(separator: ":")
    }

    private func b64url(_ bytes: ArraySlice<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
