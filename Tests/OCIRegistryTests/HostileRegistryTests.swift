import Foundation
import OCICache
import OCIGoCompat
import OCIKit
import OCIContent
import OCICredentials
import OCILayout
import OCIReference
@_spi(Parsers) @testable import OCIRegistry
import OCISpec
import OCISync
import OCITesting
import OCITestFixtures
import XCTest

/// A registry the user does not control, played by an in-process fake: wrong bytes, cut, endless and dripping
/// bodies, lying headers, malformed and deeply nested JSON, redirect loops, hostile Locations and realms, and a
/// connection closed mid-upload. Every case must end in a typed error (or a successful retry) within a bounded
/// time, send credentials only to the registry's own origin, and leave no partial file in a layout, a cache or an
/// output directory. See docs/security.md.
final class HostileRegistryTests: XCTestCase {

    // MARK: wrong bytes

    // A registry that serves other bytes under a digest: a typed digest mismatch everywhere, and nothing kept in
    // a layout, a cache or an output file.
    func testWrongBytesForADigestAreRefusedAndLeaveNothing() async throws {
        let image = HostileImage.make(layers: [Array(repeating: 0x61, count: 3000)])
        let layer = image.layerDescriptors[0]
        // The manifest by digest, with other bytes behind it.
        let manifestDigest = image.manifestDescriptor.digest
        let dirs = try HostileDirs()
        defer { dirs.remove() }
        try await withInProcess { registry, client in
            try await image.install(in: registry, client: client, tag: "v1")
            // The layer's bytes altered (same size) on every GET.
            registry.addFault(.init("GET", "/v2/app/blobs/\(layer.digest)", .corruptBody))
            registry.addFault(.init(nil, "/v2/app/manifests/\(manifestDigest)",
                                    .respond(status: 200, headers: ["Content-Type": MediaType.ociManifest], body: image.manifestBytes + [0x20])))
            let repo = client.repository(host: registry.host, name: "app")
            await assertThrows("fetchAll", { _ = try await repo.fetchAll(layer) }) { isDigestMismatch($0) }
            await assertThrows("manifest by digest", { _ = try await repo.fetchManifest(manifestDigest.description) }) {
                isDigestMismatch($0)
            }

            // Into an OCI layout: the whole pull fails on the bad layer; no blob, no temp file, no index entry.
            let layout = try OCILayoutStore(path: dirs.layout)
            await assertThrows("copy to layout", {
                _ = try await OCI.copy(from: repo, reference: "v1", to: layout, tag: "v1")
            }) { isDigestMismatch($0) }
            let layerKept = try await layout.exists(layer)
            XCTAssertFalse(layerKept)
            let tagsLeft = try await layout.tags()
            XCTAssertEqual(tagsLeft, [])
            assertNoPartialFiles(dirs.layout, allowed: ["oci-layout", "index.json"] + image.goodBlobPaths(except: layer))

            // Through the cache: the download streams to the caller and is not committed.
            let cache = try ContentCache(options: CacheOptions(directory: dirs.cache))
            defer { cache.close() }
            await assertThrows("cached fetch", {
                _ = try await CachingFetcher(upstream: repo, cache: cache).fetch(layer).collect(upTo: 1 << 20)
            }) { isDigestMismatch($0) }
            let cached = try await cache.exists(layer)
            XCTAssertFalse(cached)
            assertNoPartialFiles(dirs.cache + "/blobs", allowed: [])

            // To an output file (ocictl blob get -o): nothing at the destination, no temporary beside it.
            await assertThrows("atomic write", {
                try await AtomicFileWriter.write(try await repo.fetch(layer), to: dirs.output + "/layer.bin")
            }) { isDigestMismatch($0) }
            assertNoPartialFiles(dirs.output, allowed: [])
        }
    }

    // MARK: truncated bodies

    // A body cut short (Content-Length larger than what arrives, then the connection closes) is resumed with a
    // Range request and the result is byte-exact.
    func testTruncatedBlobIsResumedWithRange() async throws {
        let image = HostileImage.make(layers: [HostileImage.pattern(200_000)])
        let layer = image.layerDescriptors[0]
        let dirs = try HostileDirs()
        defer { dirs.remove() }
        try await withInProcess { registry, client in
            try await image.install(in: registry, client: client, tag: "v1")
            // The first GET is cut; the registry answers the resume's Range with a 206.
            registry.addFault(.init("GET", "/v2/app/blobs/\(layer.digest)", .cutBody(afterBytes: 70_000), times: 1))
            registry.resetRequests()
            let repo = client.repository(host: registry.host, name: "app")
            let layout = try OCILayoutStore(path: dirs.layout)
            _ = try await OCI.copy(from: repo, reference: "v1", to: layout, tag: "v1")
            let stored = try await layout.fetchAll(layer, limit: 1 << 20)
            XCTAssertTrue(stored == image.layers[0], "the resumed blob differs")
            let ranges = registry.requests().compactMap { $0.header("Range") }
            XCTAssertEqual(ranges.count, 1, "one resume: \(ranges)")
            XCTAssertTrue(ranges.allSatisfy { $0.hasPrefix("bytes=") && $0 != "bytes=0-" }, "\(ranges)")
            assertNoPartialFiles(dirs.layout, allowed: ["oci-layout", "index.json", image.manifestPath] + image.goodBlobPaths(except: nil))
        }
    }

    // A registry that cuts every body and cannot resume (it ignores Range): a typed error, nothing in the layout.
    func testTruncatedBlobWithoutRangeSupportIsATypedErrorAndLeavesNothing() async throws {
        let image = HostileImage.make(layers: [HostileImage.pattern(100_000)])
        let layer = image.layerDescriptors[0]
        let dirs = try HostileDirs()
        defer { dirs.remove() }
        // FakeHTTPServer: the in-process registry honours Range, and one fault per request cannot also cut its 206s.
        try await withFake({ req in
            guard req.method == "GET", req.path.hasSuffix("/blobs/\(layer.digest)") else { return image.serve(req, tag: "v1") }
            return FakeResponse(status: 200, body: image.layers[0], behavior: .cutAfter(bytes: 40_000))
        }) { server, client in
            let layout = try OCILayoutStore(path: dirs.layout)
            await assertThrows("copy", {
                _ = try await OCI.copy(from: client.repository(host: server.host, name: "app"), reference: "v1",
                                              to: layout, tag: "v1")
            }) { error in
                if case RegistryError.invalidResponse = error { return true }
                return isTransport(error)
            }
            let layerKept = try await layout.exists(layer)
            XCTAssertFalse(layerKept)
            let tagsLeft = try await layout.tags()
            XCTAssertEqual(tagsLeft, [])
            assertNoPartialFiles(dirs.layout, allowed: ["oci-layout", "index.json"] + image.goodBlobPaths(except: layer))
        }
    }

    // MARK: endless bodies

    // A blob of declared size whose body never ends: the size overrun fails the stream at once (memory stays
    // at one chunk), and nothing is written.
    func testEndlessBlobOfDeclaredSizeFailsWithASizeOverrun() async throws {
        let declared = Descriptor(mediaType: "application/octet-stream", digest: OCIDigest.of([1, 2, 3]), size: 1000)
        let dirs = try HostileDirs()
        defer { dirs.remove() }
        try await withFake({ req in
            if req.path == "/v2/" { return .json(200, "{}") }
            return FakeResponse(status: 200, body: [UInt8](repeating: 7, count: 16 * 1024), behavior: .endless)
        }) { server, client in
            let repo = client.repository(host: server.host, name: "app")
            let outcome = await withDeadline(.seconds(15), onTimeout: { await server.stop() }) {
                try await AtomicFileWriter.write(try await repo.fetch(declared), to: dirs.output + "/blob")
            }
            assertFinished(outcome, "an endless blob of declared size") { error in
                if case ContentError.sizeMismatch(_, let expected, let actual) = error {
                    return expected == 1000 && actual > 1000 && actual <= 1000 + 1 << 20
                }
                return false
            }
            assertNoPartialFiles(dirs.output, allowed: [])
        }
    }

    // A blob of unknown size (`ocictl blob get REPO@DIGEST` without a cache asks with size -1) whose body never
    // ends must still end in a typed error: the client must bound what it reads by the response's
    // Content-Length (absent here: chunked) or the blob's size from a HEAD, not stream forever to disk.
    func testEndlessBlobOfUnknownSizeIsBounded() async throws {
        let unknown = Descriptor(mediaType: "application/octet-stream", digest: OCIDigest.of([1, 2, 3]), size: -1)
        let limit = 64 << 20
        try await withFake({ req in
            if req.path == "/v2/" { return .json(200, "{}") }
            if req.method == "HEAD" { return .status(404) }
            return FakeResponse(status: 200, body: [UInt8](repeating: 7, count: 64 * 1024), behavior: .endless)
        }) { server, client in
            let repo = client.repository(host: server.host, name: "app")
            let consumed = Locked(0)
            let outcome = await withDeadline(.seconds(20), onTimeout: { await server.stop() }) { () -> Int in
                for try await chunk in try await repo.fetch(unknown) {
                    let total = consumed.withLock { $0 += chunk.count; return $0 }
                    if total > limit { return total }
                }
                return consumed.withLock { $0 }
            }
            switch outcome {
            case .finished(.success(let total)):
                XCTFail("an endless body of unknown size streamed \(total) bytes without an error (the client reads it forever)")
            case .finished(.failure(let error)):
                XCTAssertTrue(error is RegistryError || error is ContentError, "untyped error \(type(of: error)): \(error)")
            case .timedOut:
                XCTFail("an endless body of unknown size did not fail within 20 s")
            }
        }
    }

    // A manifest whose body never ends (chunked, no Content-Length) is refused at 4 MiB, promptly: the client
    // must stop reading at the limit instead of draining the rest.
    func testEndlessManifestIsRefusedAtTheLimit() async throws {
        try await withFake({ req in
            if req.path == "/v2/" { return .json(200, "{}") }
            return FakeResponse(status: 200, headers: ["Content-Type": MediaType.ociManifest],
                                body: Array(repeating: 0x20, count: 64 * 1024), behavior: .endless)
        }) { server, client in
            let repo = client.repository(host: server.host, name: "app")
            let outcome = await withDeadline(.seconds(10), onTimeout: { await server.stop() }) {
                _ = try await repo.fetchManifest("v1")
            }
            assertFinished(outcome, "an endless manifest") { error in
                if case RegistryError.manifestTooLarge = error { return true }
                return false
            }
        }
    }

    // An error answer whose body never ends (a 404 and a retried 503) is still a typed error, promptly.
    func testEndlessErrorBodiesAreTypedErrors() async throws {
        for status in [404, 503] {
            try await withFake({ req in
                if req.path == "/v2/" { return .json(200, "{}") }
                return FakeResponse(status: status, headers: ["Content-Type": "application/json"],
                                    body: Array(repeating: 0x20, count: 64 * 1024), behavior: .endless)
            }) { server, client in
                let repo = client.repository(host: server.host, name: "app")
                let outcome = await withDeadline(.seconds(10), onTimeout: { await server.stop() }) {
                    _ = try await repo.tags()
                }
                assertFinished(outcome, "an endless \(status) body") { error in
                    switch error as? RegistryError {
                    case .notFound?: return status == 404
                    case .registry(_, _, let code, _, _)?: return code == status
                    default: return false
                    }
                }
            }
        }
    }

    // MARK: slow drip

    // A manifest body that arrives slower than the read timeout: a typed transport error after about one
    // timeout, not a hang and not an untyped HTTP client error.
    func testSlowDripManifestTimesOutWithATypedError() async throws {
        var config = testConfiguration()
        config.readTimeout = .milliseconds(500)
        config.retry = .none
        let image = HostileImage.make(layers: [])
        try await withInProcess(configuration: config) { server, client in
            try await image.install(in: server, client: client, tag: "v1")
            server.addFault(.init("GET", "/v2/app/manifests/*", .slowBody(chunkSize: 8, interval: .seconds(3))))
            let repo = client.repository(host: server.host, name: "app")
            let outcome = await withDeadline(.seconds(10), onTimeout: { try? await server.shutdown() }) {
                _ = try await repo.fetchManifest("v1")
            }
            assertFinished(outcome, "a dripping manifest") { isTransport($0) }
        }
    }

    // A blob body that drips: each resume drips too; after the resumes, a typed transport error, and nothing
    // is left in the output directory.
    func testSlowDripBlobTimesOutWithATypedErrorAndLeavesNothing() async throws {
        var config = testConfiguration()
        config.readTimeout = .milliseconds(300)
        config.retry = .none
        let bytes = HostileImage.pattern(4096)
        let d = Descriptor.of(bytes, mediaType: "application/octet-stream")
        let dirs = try HostileDirs()
        defer { dirs.remove() }
        try await withInProcess(configuration: config) { server, client in
            try await server.seedBlob(bytes, in: "app", client: client)
            // Every GET drips, the resumes' 206s too.
            server.addFault(.init("GET", "/v2/app/blobs/*", .slowBody(chunkSize: 512, interval: .seconds(2))))
            let repo = client.repository(host: server.host, name: "app")
            let outcome = await withDeadline(.seconds(20), onTimeout: { try? await server.shutdown() }) {
                try await AtomicFileWriter.write(try await repo.fetch(d), to: dirs.output + "/blob")
            }
            assertFinished(outcome, "a dripping blob") { isTransport($0) }
            assertNoPartialFiles(dirs.output, allowed: [])
        }
    }

    // MARK: malformed and hostile JSON

    // A manifest that is not JSON, and one nested 100 deep: typed errors, and nothing in the layout.
    func testMalformedAndDeeplyNestedManifestsAreTypedErrorsAndLeaveNothing() async throws {
        let image = HostileImage.make(layers: [HostileImage.pattern(100)])
        let deep = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","x":"#
            + String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
            + #","config":{"mediaType":"a","digest":"\#(image.configDescriptor.digest)","size":2},"layers":[]}"#
        let documents: [(String, [UInt8])] = [
            ("truncated", Array(image.manifestBytes.prefix(image.manifestBytes.count / 2))),
            ("not JSON", Array("<html>503 Service Unavailable</html>".utf8)),
            ("wrong types", Array(#"{"schemaVersion":"2","config":7,"layers":{}}"#.utf8)),
            ("bad digest", Array(#"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:../../../etc/passwd","size":1},"layers":[]}"#.utf8)),
            ("nested 100 deep", Array(deep.utf8)),
        ]
        for (name, bytes) in documents {
            let dirs = try HostileDirs()
            defer { dirs.remove() }
            try await withInProcess { registry, client in
                try await image.install(in: registry, client: client, tag: nil)
                // The registry refuses such manifests, so they are scripted answers, by tag and by digest.
                let served = InProcessRegistry.Fault.Behavior.respond(
                    status: 200, headers: ["Content-Type": MediaType.ociManifest, "Docker-Content-Digest": OCIDigest.of(bytes).description],
                    body: bytes)
                registry.addFault(.init(nil, "/v2/app/manifests/v1", served))
                registry.addFault(.init(nil, "/v2/app/manifests/\(OCIDigest.of(bytes))", served))
                let layout = try OCILayoutStore(path: dirs.layout)
                await assertThrows(name, {
                    _ = try await OCI.copy(from: client.repository(host: registry.host, name: "app"), reference: "v1",
                                                  to: layout, tag: "v1")
                }) { error in
                    guard case SpecError.invalidJSON(let why) = error else { return false }
                    return name != "nested 100 deep" || why.contains("nesting")
                }
                let tagsLeft = try await layout.tags()
                XCTAssertEqual(tagsLeft, [], name)
                assertNoPartialFiles(dirs.layout, allowed: ["oci-layout", "index.json"])
            }
        }
        // The decoder itself: 100 levels refused, 64 accepted.
        XCTAssertThrowsError(try JSONCoding.decode(JSONValue.self, from: Array((String(repeating: "[", count: 100) + String(repeating: "]", count: 100)).utf8)))
        XCTAssertNoThrow(try JSONCoding.decode(JSONValue.self, from: Array((String(repeating: "[", count: 64) + String(repeating: "]", count: 64)).utf8)))
    }

    // Arrays are bounded by the 4 MiB document limit: an index of ~20,000 entries under the limit decodes; the
    // same sent without Content-Length and over the limit is refused.
    func testHugeArraysAreBoundedByTheDocumentLimit() async throws {
        let entry = #"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(OCIDigest.of([1]))","size":1}"#
        func index(_ count: Int) -> [UInt8] {
            Array((#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":["#
                + Array(repeating: entry, count: count).joined(separator: ",") + "]}").utf8)
        }
        let perEntry = entry.utf8.count + 1
        let under = index((ContentLimits.maxManifestBytes - 200) / perEntry)
        let over = index(ContentLimits.maxManifestBytes / perEntry + 10)
        XCTAssertLessThanOrEqual(under.count, ContentLimits.maxManifestBytes)
        XCTAssertGreaterThan(over.count, ContentLimits.maxManifestBytes)
        guard case .index(let decoded) = try ManifestDocument.decode(under, mediaType: MediaType.ociIndex) else {
            return XCTFail("not an index")
        }
        XCTAssertEqual(decoded.manifests.count, (ContentLimits.maxManifestBytes - 200) / perEntry)
        XCTAssertThrowsError(try ManifestDocument.decode(over, mediaType: MediaType.ociIndex)) { error in
            guard case SpecError.tooLarge = error else { return XCTFail("\(error)") }
        }
        _ = try await withFake({ req in
            if req.path == "/v2/" { return .json(200, "{}") }
            // Chunked: no Content-Length to refuse early on; the body itself must be cut off at the limit.
            return FakeResponse(status: 200, headers: ["Content-Type": MediaType.ociIndex, "Transfer-Encoding": "chunked"], body: over)
        }) { server, client in
            await assertThrows("over-limit index", {
                _ = try await client.repository(host: server.host, name: "app").fetchManifest("v1")
            }) { error in
                if case RegistryError.manifestTooLarge = error { return true }
                return false
            }
        }
    }

    // A 200 that carries an error document (or an HTML page) instead of a tag list is a typed error, not an
    // empty list.
    func testA200WithAnErrorBodyIsATypedError() async throws {
        let bodies = [
            #"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#,
            "<html><body>Please log in</body></html>",
            String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
        ]
        for body in bodies {
            let ok = InProcessRegistry.Fault.Behavior.respond(status: 200, headers: ["Content-Type": "application/json"], body: Array(body.utf8))
            try await withInProcess(faults: [.init(nil, "/v2/app/tags/list", ok), .init(nil, "/v2/_catalog", ok)]) { server, client in
                await assertThrows("tags with 200 \(body.prefix(30))", {
                    let tags = try await client.repository(host: server.host, name: "app").tags()
                    XCTFail("a 200 with \(body.prefix(40)) listed \(tags)")
                }) { $0 is RegistryError }
                await assertThrows("catalog with 200 \(body.prefix(30))", {
                    let repos = try await client.repositories(host: server.host)
                    XCTFail("a 200 with \(body.prefix(40)) listed \(repos)")
                }) { $0 is RegistryError }
            }
        }
    }

    // MARK: redirects and locations

    // Redirect loops, long chains and non-HTTP targets end in `unsafeRedirect`; the URLs in the error carry no
    // query (signed-URL secrets) and no user info.
    func testRedirectLoopsChainsAndOtherSchemesAreUnsafeRedirects() async throws {
        let faults: [InProcessRegistry.Fault] = [
            .init(nil, "/v2/pingpong/manifests/a", .redirect(to: "/v2/pingpong/manifests/b?X-Amz-Signature=SECRET-SIG")),
            .init(nil, "/v2/pingpong/manifests/b", .redirect(to: "/v2/pingpong/manifests/a?X-Amz-Signature=SECRET-SIG")),
            .init(nil, "/v2/file/**", .redirect(to: "file:///etc/passwd")),
            .init(nil, "/v2/ftp/**", .redirect(to: "ftp://user:SECRET-PW@127.0.0.1/x")),
        ] + (0..<30).map { n in .init(nil, "/v2/chain/manifests/\(n)", .redirect(to: "/v2/chain/manifests/\(n + 1)", status: 307)) }
        try await withInProcess(faults: faults) { server, client in
            for (name, reference) in [("pingpong", "a"), ("chain", "0"), ("file", "v1"), ("ftp", "v1")] {
                let error = await assertThrows(name, {
                    _ = try await client.repository(host: server.host, name: name).fetchManifest(reference)
                }) { error in
                    if case RegistryError.unsafeRedirect = error { return true }
                    return false
                }
                XCTAssertFalse("\(String(describing: error))".contains("SECRET"), "\(name): \(String(describing: error))")
            }
            let chain = server.requestCount(nil, "/v2/chain/**")
            XCTAssertLessThanOrEqual(chain, 11, "a redirect chain is followed at most 10 times")
        }
    }

    // An upload Location may not move from HTTPS to HTTP (a downgrade of the blob and of the upload session);
    // HTTP to HTTP, HTTPS anywhere and relative Locations are kept. (A redirect from HTTPS to HTTP is refused by
    // the same rule in `RegistryClient.perform`; the fake has no TLS, so that path is exercised only here, on
    // the Location rule.)
    func testUploadLocationThatLeavesHTTPSIsRefused() throws {
        let client = try RegistryClient(configuration: testConfiguration())
        defer { Task { try? await client.shutdown() } }
        let repo = client.repository(host: "registry.example.com", name: "app", access: .push)
        let https = try XCTUnwrap(URL(string: "https://registry.example.com/v2/app/blobs/uploads/"))
        for location in ["http://registry.example.com/v2/app/blobs/uploads/1", "http://registry.example.com:8080/up",
                         "http://other.example.com/up", "ftp://registry.example.com/up"] {
            XCTAssertThrowsError(try repo.uploadURL(location, base: https, digest: nil, target: "t"), location) { error in
                guard case RegistryError.unsafeRedirect = error else { return XCTFail("\(location): \(error)") }
            }
        }
        XCTAssertEqual(try repo.uploadURL("/v2/app/blobs/uploads/1?_state=x", base: https, digest: nil, target: "t").scheme, "https")
        XCTAssertEqual(try repo.uploadURL("https://storage.example.net/up?sig=1", base: https, digest: nil, target: "t").host,
                       "storage.example.net")
        let http = try XCTUnwrap(URL(string: "http://127.0.0.1:5000/v2/app/blobs/uploads/"))
        XCTAssertEqual(try repo.uploadURL("http://127.0.0.1:5000/up/1", base: http, digest: nil, target: "t").scheme, "http")
        XCTAssertThrowsError(try repo.uploadURL(nil, base: https, digest: nil, target: "t"))
    }

    // A `Link` to the next page stays on the registry's origin: a next page on another host (an SSRF the
    // registry could aim anywhere, e.g. at internal hosts) or another scheme is refused with a typed error, and
    // that host gets no request. (ggcr validates the next page's host the same way.)
    func testPaginationLinkToAnotherOriginIsRefused() async throws {
        let elsewhere = try await InProcessRegistry.start()
        defer { Task { try? await elsewhere.shutdown() } }
        for next in ["http://localhost:\(elsewhere.port)/v2/app/tags/list?last=a", "file:///etc/passwd", "ftp://127.0.0.1/x"] {
            elsewhere.resetRequests()
            let page = InProcessRegistry.Fault.Behavior.respond(status: 200, headers: ["Content-Type": "application/json", "Link": "<\(next)>; rel=\"next\""],
                                                                body: Array(#"{"tags":["a"]}"#.utf8))
            _ = try await withInProcess(faults: [.init(nil, "/v2/app/tags/list", page)]) { server, client in
                await assertThrows("Link to \(next)", {
                    let tags = try await client.repository(host: server.host, name: "app").tags()
                    XCTFail("followed a Link to \(next): \(tags)")
                }) { error in
                    if case RegistryError.invalidResponse = error { return true }
                    if case RegistryError.unsafeRedirect = error { return true }
                    return false
                }
            }
            XCTAssertEqual(elsewhere.requests().count, 0, "a next page on another origin was requested: \(next)")
        }
    }

    // MARK: connection closed mid-upload

    // The connection closes instead of answering the blob PUT: a reopenable source is retried as a chunked
    // upload on a fresh session and the blob arrives whole; a one-shot stream fails with a typed error and the
    // registry keeps nothing.
    func testConnectionClosedDuringUploadRetriesOrFailsTyped() async throws {
        let bytes = HostileImage.pattern(50_000)
        let d = Descriptor.of(bytes, mediaType: "application/octet-stream")
        for reopenable in [true, false] {
            let fake = ChunkedFakeRegistry()
            try await withFake({ req in
                if req.method == "PUT", req.path.hasPrefix("/v2/up/"), !req.body.isEmpty {
                    return FakeResponse(behavior: .closeWithoutResponse)
                }
                return fake.handle(req)
            }) { server, client in
                let repo = client.repository(host: server.host, name: "app", access: .push)
                if reopenable {
                    try await repo.push(d, source: .bytes(bytes))
                    XCTAssertTrue(fake.state.withLock { $0.blobs[d.digest.description] } == bytes)
                } else {
                    await assertThrows("one-shot source", { try await repo.push(d, content: ByteStream(bytes: bytes)) }) { error in
                        isTransport(error) || error is ContentError
                    }
                    XCTAssertNil(fake.state.withLock { $0.blobs[d.digest.description] })
                }
            }
        }
    }

    // MARK: credentials stay with their registry

    // A blob redirect to another host (storage): the credentials and the registry's bearer token are not sent
    // there, and a 401 challenge from that host is not answered with them.
    func testCredentialsNeverFollowARedirectToAnotherHost() async throws {
        let blob = Array("stored elsewhere".utf8)
        let d = Descriptor.of(blob, mediaType: "application/octet-stream")
        for storageAnswers401 in [false, true] {
            let storage = try await FakeHTTPServer.start { req in
                if storageAnswers401, req.headers["Authorization"] == nil {
                    return FakeResponse(status: 401, headers: ["WWW-Authenticate": #"Basic realm="storage""#])
                }
                return FakeResponse(status: 200, body: blob)
            }
            let keyring = Keyring()
            let tokenRealm = Locked("")
            do {
                try await withFake(configuration: testConfiguration(credentials: keyring), { req in
                    if req.path == "/token" {
                        return req.headers["Authorization"] == nil ? .status(401) : .json(200, #"{"token":"REGISTRY-TOKEN"}"#)
                    }
                    guard req.headers["Authorization"] == "Bearer REGISTRY-TOKEN" else {
                        return FakeResponse(status: 401, headers: ["WWW-Authenticate": #"Bearer realm="\#(tokenRealm.withLock { $0 })",service="s""#])
                    }
                    if req.path == "/v2/" { return .json(200, "{}") }
                    // "localhost" is another origin than "127.0.0.1", though both are this machine.
                    return .redirect(to: "http://localhost:\(storage.port)/bucket/\(d.digest.encoded)?X-Amz-Signature=s", status: 307)
                }) { server, client in
                    tokenRealm.withLock { $0 = server.baseURL + "/token" }
                    keyring.add(address: server.host, credential: Credential(username: "user", password: "SECRET-PW"))
                    let repo = client.repository(host: server.host, name: "app")
                    if storageAnswers401 {
                        await assertThrows("storage 401", { _ = try await repo.fetchAll(d) }) { $0 is RegistryError }
                    } else {
                        let sameBytes = try await repo.fetchAll(d) == blob
                        XCTAssertTrue(sameBytes)
                    }
                    XCTAssertTrue(server.requests().contains { $0.headers["Authorization"] == "Bearer REGISTRY-TOKEN" })
                }
                let requests = storage.requests()
                XCTAssertEqual(requests.count, 1, "the storage host's challenge must not be answered")
                for request in requests {
                    XCTAssertNil(request.headers["Authorization"], "credentials were sent to the redirect target")
                }
            } catch {
                await storage.stop()
                throw error
            }
            await storage.stop()
        }
    }

    // An upload Location on another host gets the blob but not the credentials.
    func testCredentialsNeverFollowAnUploadLocationToAnotherHost() async throws {
        let bytes = HostileImage.pattern(5000)
        let d = Descriptor.of(bytes, mediaType: "application/octet-stream")
        // The other host is a second registry, reached as "localhost" (another origin than "127.0.0.1"), whose
        // upload session the first one hands out from a scripted POST.
        let storage = try await InProcessRegistry.start()
        let keyring = Keyring()
        do {
            let session = try await storage.startUploadSession(in: "app")
            storage.resetRequests()
            let users = [InProcessRegistry.User("user", password: "SECRET-PW")]
            let location = "http://localhost:\(storage.port)\(session)?_state=abc"
            try await withInProcess(.init(auth: .basic(users)),
                                    faults: [.init("POST", "/v2/app/blobs/uploads/", .respond(status: 202, headers: ["Location": location]))],
                                    configuration: testConfiguration(credentials: keyring)) { server, client in
                keyring.add(address: server.host, credential: Credential(username: "user", password: "SECRET-PW"))
                try await client.repository(host: server.host, name: "app", access: .push).push(d, source: .bytes(bytes))
                XCTAssertTrue(server.requests().contains { $0.method == "POST" && $0.header("Authorization") != nil })
            }
            let requests = storage.requests()
            let stored = try await withInProcessClient(storage) { client in
                try await client.repository(host: storage.host, name: "app").fetchAll(d)
            }
            XCTAssertTrue(stored == bytes)
            XCTAssertFalse(requests.isEmpty)
            XCTAssertTrue(requests.contains { $0.method == "PUT" && $0.path == session && $0.status == 201 })
            for request in requests {
                XCTAssertNil(request.header("Authorization"), "credentials were sent to an upload Location on another host")
            }
        } catch {
            try? await storage.shutdown()
            throw error
        }
        try await storage.shutdown()
    }

    // A layer's foreign `urls` (a manifest names where else the blob lives) are not followed by default: the
    // registry is asked and the foreign server sees nothing. With `followsForeignURLs` they are requested without
    // credentials, and what comes from there is verified like anything else: wrong bytes are a digest mismatch.
    // Schemes other than http(s), and plain HTTP to a public host under the default policy, are never followed.
    func testForeignLayerURLsAreOptInGetNoCredentialsAndAreVerified() async throws {
        let bytes = HostileImage.pattern(3000)
        // The foreign host is a second registry without auth holding the layer, reached as "localhost".
        let foreign = try await InProcessRegistry.start()
        defer { Task { try? await foreign.shutdown() } }
        var layer = Descriptor.of(bytes, mediaType: MediaType.dockerForeignLayerGzip)
        try await withInProcessClient(foreign) { client in
            try await foreign.seedBlob(bytes, in: "app", client: client, mediaType: layer.mediaType)
        }
        foreign.resetRequests()
        layer.urls = ["file:///etc/passwd", "http://192.0.2.1:9/unroutable-public-host",
                      "http://localhost:\(foreign.port)/v2/app/blobs/\(layer.digest)"]
        // The registry asks for Basic credentials and lacks the blob (404 BLOB_UNKNOWN).
        let registry = InProcessRegistry.Configuration(auth: .basic([InProcessRegistry.User("user", password: "SECRET-PW")]))

        let keyring = Keyring()
        try await withInProcess(registry, configuration: testConfiguration(credentials: keyring)) { server, client in
            keyring.add(address: server.host, credential: Credential(username: "user", password: "SECRET-PW"))
            let repo = client.repository(host: server.host, name: "app")
            await assertThrows("foreign URLs off: the registry is asked", { _ = try await repo.fetchAll(layer) }) { error in
                if case RegistryError.notFound = error { return true }
                return false
            }
        }
        XCTAssertEqual(foreign.requests().count, 0, "a foreign URL was followed without the user's leave")

        var config = testConfiguration(credentials: keyring)
        config.followsForeignURLs = true
        try await withInProcess(registry, configuration: config) { server, client in
            keyring.add(address: server.host, credential: Credential(username: "user", password: "SECRET-PW"))
            let repo = client.repository(host: server.host, name: "app")
            let fetched = try await repo.fetchAll(layer)
            XCTAssertTrue(fetched == bytes)
            foreign.addFault(.init("GET", "/v2/app/blobs/*", .corruptBody))
            await assertThrows("wrong bytes at the foreign URL", { _ = try await repo.fetchAll(layer) }) { isDigestMismatch($0) }
        }
        XCTAssertEqual(foreign.requests().count, 2)
        for request in foreign.requests() {
            XCTAssertNil(request.header("Authorization"), "credentials were sent to a foreign layer URL")
        }
    }

    // The realm rule as a table: an HTTPS registry never sends a secret to a plain-HTTP realm, not to its own
    // host and not to a private address, unless the user allows plain HTTP; a plain-HTTP registry may send it to
    // its own host and to hosts the policy allows. (End to end against the real registry:
    // TokenAuthTests.testPlainHTTPRealmOfAnHTTPSRegistryGetsNoCredentials.)
    func testRealmCredentialRuleTable() throws {
        let cases: [(realm: String, registry: String, scheme: String, policy: PlainHTTPPolicy, allowed: Bool)] = [
            ("https://auth.example.com/token", "registry.example.com", "https", .privateHostsOnly, true),
            ("https://auth.example.com/token", "registry.example.com", "https", .never, true),
            ("http://10.0.0.5/token", "registry.example.com", "https", .privateHostsOnly, false),
            ("http://registry.example.com/token", "registry.example.com", "https", .privateHostsOnly, false),
            ("http://127.0.0.1:5001/token", "127.0.0.1:5000", "https", .privateHostsOnly, false),
            ("http://10.0.0.5/token", "registry.example.com", "https", .allowed, true),
            ("http://127.0.0.1:5001/token", "127.0.0.1:5000", "http", .privateHostsOnly, true),
            ("http://10.0.0.5/token", "10.0.0.4:5000", "http", .privateHostsOnly, true),
            ("http://auth.example.com/token", "10.0.0.4:5000", "http", .privateHostsOnly, false),
            ("http://registry.example.com:8080/token", "registry.example.com", "http", .privateHostsOnly, true),
            ("http://127.0.0.1:5001/token", "127.0.0.1:5000", "http", .never, false),
            ("HTTPS://auth.example.com/token", "registry.example.com", "https", .privateHostsOnly, true),
        ]
        for c in cases {
            let realm = try XCTUnwrap(URL(string: c.realm))
            XCTAssertEqual(RegistryHost.realmMayReceiveCredentials(realm: realm, registryHost: c.registry,
                                                                   registryScheme: c.scheme, policy: c.policy),
                           c.allowed, "\(c.realm) for \(c.scheme)://\(c.registry) under \(c.policy)")
        }
    }

    // A Bearer challenge whose realm is plain HTTP on another host that is not private (the v4-mapped form
    // `[::ffff:127.0.0.1]`, which the classifier does not treat as loopback, yet reaches this machine) gets
    // an anonymous token request: no password, no identity (refresh) token. With the user's leave
    // (`plainHTTP: .allowed`) it gets them; the registry's own host over HTTP always does. Realms that are not
    // HTTP(S) are refused without a request.
    func testTokenRealmGetsCredentialsOnlyWhereTheRuleAllows() async throws {
        let tokenServer = try await FakeHTTPServer.start { req in
            req.path == "/token" ? .json(200, #"{"token":"T"}"#) : .status(404)
        }
        defer { Task { await tokenServer.stop() } }
        let cases: [(realm: String, policy: PlainHTTPPolicy, getsCredentials: Bool)] = [
            ("http://[::ffff:127.0.0.1]:\(tokenServer.port)/token", .privateHostsOnly, false),
            ("http://[::ffff:127.0.0.1]:\(tokenServer.port)/token", .allowed, true),
            ("http://127.0.0.1:\(tokenServer.port)/token", .privateHostsOnly, true),  // the registry's own host
        ]
        for identity in [false, true] {
            for c in cases {
                tokenServer.resetRequests()
                let keyring = Keyring()
                var config = testConfiguration(credentials: keyring)
                config.plainHTTP = c.policy
                try await withFake(configuration: config, { req in
                    if req.headers["Authorization"] == "Bearer T" { return .json(200, #"{"tags":["a"]}"#) }
                    return FakeResponse(status: 401, headers: ["WWW-Authenticate": #"Bearer realm="\#(c.realm)",service="s""#])
                }) { server, client in
                    keyring.add(address: server.host, credential: identity
                                ? Credential(identityToken: "SECRET-REFRESH") : Credential(username: "user", password: "SECRET-PW"))
                    let tags = try await client.repository(host: server.host, name: "app").tags()
                    XCTAssertEqual(tags, ["a"], c.realm)
                }
                let requests = tokenServer.requests()
                XCTAssertFalse(requests.isEmpty, "\(c.realm): no token request")
                let sent = requests.contains { $0.headers["Authorization"] != nil || $0.bodyText.contains("SECRET") }
                XCTAssertEqual(sent, c.getsCredentials,
                               "\(c.realm) with \(c.policy), identity token \(identity): credentials sent \(sent)")
            }
        }
        for realm in ["file:///etc/passwd", "ftp://127.0.0.1:\(tokenServer.port)/token", "/token", ""] {
            tokenServer.resetRequests()
            let keyring = Keyring()
            try await withFake(configuration: testConfiguration(credentials: keyring), { _ in
                FakeResponse(status: 401, headers: ["WWW-Authenticate": #"Bearer realm="\#(realm)",service="s""#])
            }) { server, client in
                keyring.add(address: server.host, credential: Credential(username: "user", password: "SECRET-PW"))
                await assertThrows("realm \(realm)", { _ = try await client.repository(host: server.host, name: "app").tags() }) { error in
                    if case RegistryError.tokenService = error { return true }
                    return false
                }
            }
            XCTAssertTrue(tokenServer.requests().isEmpty, realm)
        }
    }

    // MARK: lying headers

    // A Content-Length that lies, in either direction, is caught: on HEAD (too large → refused; too small →
    // the fetch sees the size differ), on a manifest GET (shorter → digest mismatch) and on a blob GET
    // (shorter → size mismatch; longer, then closed → resumed, then a typed error).
    func testLyingContentLengthIsCaught() async throws {
        let image = HostileImage.make(layers: [HostileImage.pattern(2000)])
        let layer = image.layerDescriptors[0]
        let manifest = image.manifestDescriptor
        // FakeHTTPServer: Content-Length that lies about the bytes on the socket; the in-process registry frames
        // every body correctly.
        try await withFake({ req in
            let path = req.path
            if path.hasSuffix("/manifests/huge") {
                return FakeResponse(status: 200, headers: ["Content-Type": MediaType.ociManifest, "Content-Length": "\(5 << 20)",
                                                           "Docker-Content-Digest": manifest.digest.description, "Connection": "close"])
            }
            if path.hasSuffix("/manifests/small"), req.method == "HEAD" {
                return FakeResponse(status: 200, headers: ["Content-Type": MediaType.ociManifest, "Content-Length": "10",
                                                           "Docker-Content-Digest": manifest.digest.description, "Connection": "close"])
            }
            if path.hasSuffix("/manifests/small") || path.hasSuffix("/manifests/\(manifest.digest)") && req.method == "GET" {
                return FakeResponse(status: 200, headers: ["Content-Type": MediaType.ociManifest, "Content-Length": "\(manifest.size - 5)",
                                                           "Connection": "close"], body: image.manifestBytes)
            }
            if path.hasSuffix("/blobs/\(layer.digest)"), req.method == "GET" {
                return FakeResponse(status: 200, headers: ["Content-Length": "\(layer.size - 100)", "Connection": "close"], body: image.layers[0])
            }
            return image.serve(req, tag: "v1")
        }) { server, client in
            let repo = client.repository(host: server.host, name: "app")
            await assertThrows("HEAD too large", { _ = try await repo.resolve("huge") }) { error in
                if case RegistryError.manifestTooLarge = error { return true }
                return false
            }
            let small = try await repo.resolve("small")
            XCTAssertEqual(small.size, 10)
            await assertThrows("HEAD too small, then GET", { _ = try await repo.fetchAll(small) }) { error in
                if case ContentError.sizeMismatch = error { return true }
                return isDigestMismatch(error)
            }
            await assertThrows("manifest GET shorter", { _ = try await repo.fetchManifest(manifest.digest.description) }) {
                isDigestMismatch($0)
            }
            await assertThrows("blob GET shorter", { _ = try await repo.fetchAll(layer) }) { error in
                if case ContentError.sizeMismatch(_, let expected, let actual) = error { return expected == layer.size && actual == layer.size - 100 }
                return false
            }
        }
        // Longer than the body, then the connection closes: the resume is refused (416) → a typed error.
        try await withFake({ req in
            if req.path == "/v2/" { return .json(200, "{}") }
            if req.headers["Range"] != nil { return .status(416) }
            return FakeResponse(status: 200, headers: ["Content-Length": "\(layer.size + 100)"], body: image.layers[0],
                                behavior: .cutAfter(bytes: Int(layer.size)))
        }) { server, client in
            let unknownSize = Descriptor(mediaType: layer.mediaType, digest: layer.digest, size: -1)
            await assertThrows("blob GET longer", { _ = try await client.repository(host: server.host, name: "app").fetchAll(unknownSize) }) {
                $0 is RegistryError || $0 is ContentError
            }
        }
    }

    // MARK: paths

    // Tags and digests never become paths outside the layout: hostile tags are refused for writing and are only
    // strings for reading; a digest must be valid before a blob path is built from it; an index.json naming a
    // traversing digest is refused as a whole.
    func testTagsAndDigestsCannotEscapeTheLayout() async throws {
        let dirs = try HostileDirs()
        defer { dirs.remove() }
        let layout = try OCILayoutStore(path: dirs.layout)
        let bytes = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.utf8)
        let d = Descriptor.of(bytes, mediaType: MediaType.ociIndex)
        try await layout.push(d, content: ByteStream(bytes: bytes))
        for tag in ["../x", "..", ".", "a/b", "/etc/passwd", "../../evil", "x\u{0}y", "", ".hidden", "-x", String(repeating: "a", count: 129)] {
            await assertThrows("tag \(tag.debugDescription)", { try await layout.tag(d, as: tag) }) { error in
                if case OCILayoutError.invalidTag = error { return true }
                return false
            }
        }
        for reference in ["../x", "../../etc/passwd", "blobs/sha256/\(d.digest.encoded)"] {
            await assertThrows("resolve \(reference)", { _ = try await layout.resolve(reference) }) { error in
                if case ContentError.notFound = error { return true }
                return false
            }
        }
        for reference in ["sha256:../../../etc/passwd", "sha256:" + String(repeating: "A", count: 64), "sha512:abc"] {
            await assertThrows("resolve \(reference)", { _ = try await layout.resolve(reference) }) { error in
                if case OCILayoutError.invalidDigest = error { return true }
                return false
            }
        }
        let tagsLeft = try await layout.tags()
        XCTAssertEqual(tagsLeft, [])
        assertNoPartialFiles(dirs.layout, allowed: ["oci-layout", "index.json", "blobs/sha256/\(d.digest.encoded)"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dirs.root + "/evil"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dirs.root + "/x"))

        // A ref.name another tool wrote is a name, never a path.
        let other = dirs.root + "/other"
        try FileManager.default.createDirectory(atPath: other + "/blobs/sha256", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: other + "/oci-layout", contents: Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        _ = FileManager.default.createFile(atPath: other + "/blobs/sha256/" + d.digest.encoded, contents: Data(bytes))
        let named = #"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"\#(d.digest)","size":\#(d.size),"annotations":{"org.opencontainers.image.ref.name":"../../evil"}}]}"#
        _ = FileManager.default.createFile(atPath: other + "/index.json", contents: Data(named.utf8))
        let otherStore = try OCILayoutStore(path: other, create: false)
        let resolved = try await otherStore.resolve("../../evil").digest
        XCTAssertEqual(resolved, d.digest)

        // An index.json naming a digest that would leave blobs/ is refused when the layout is opened.
        let evil = #"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../../etc/passwd","size":1}]}"#
        _ = FileManager.default.createFile(atPath: other + "/index.json", contents: Data(evil.utf8))
        XCTAssertThrowsError(try OCILayoutStore(path: other, create: false)) { error in
            guard case OCILayoutError.invalidIndex = error else { return XCTFail("\(error)") }
        }
    }

    // Tags and digests are validated before they become registry URLs: a reference with "..", "/", "?" or
    // "#" is an invalid argument, and no request is sent with it.
    func testRemoteReferencesAreValidatedBeforeTheyBecomeURLs() async throws {
        try await withInProcess { registry, client in
            let repo = client.repository(host: registry.host, name: "app", access: .push)
            for reference in ["../../x", "..", "a/b", "v1?n=1", "v1#x", "sha256:../../x", "x y"] {
                await assertThrows("resolve \(reference)", { _ = try await repo.resolve(reference) }) { error in
                    if case RegistryError.invalidArgument = error { return true }
                    return false
                }
                await assertThrows("fetchManifest \(reference)", { _ = try await repo.fetchManifest(reference) }) { error in
                    if case RegistryError.invalidArgument = error { return true }
                    return false
                }
                await assertThrows("pushManifest \(reference)", {
                    _ = try await repo.pushManifest(Array("{}".utf8), mediaType: MediaType.ociManifest, reference: reference)
                }) { error in
                    if case RegistryError.invalidArgument = error { return true }
                    return false
                }
            }
            let sent = registry.requests().filter { $0.path.contains("/manifests/") }
            XCTAssertEqual(sent.map(\.uri), [], "requests were sent with invalid references")
        }
    }
}

// MARK: - Fuzz corpora as regression tests

extension HostileRegistryTests {
    // Every input in fuzz/corpus/<target>/ — the seeds, and any crash input found by scripts/fuzz.sh once it is
    // minimised and copied there — goes through the same parsers as the fuzz target, in the normal test run
    // (without sanitizers): none may crash or hang, and what they accept keeps the targets' invariants.
    func testFuzzCorporaReplayWithoutCrashing() throws {
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fuzz/corpus").path
        func inputs(_ target: String) -> [(String, [UInt8])] {
            let dir = corpus + "/" + target
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            return names.sorted().compactMap { name in
                FileManager.default.contents(atPath: dir + "/" + name).map { (name, [UInt8]($0)) }
            }
        }
        let counts = ["FuzzReference", "FuzzManifest", "FuzzChallenge", "FuzzLink", "FuzzDockerConfig"].map { inputs($0).count }
        try XCTSkipIf(counts.allSatisfy { $0 == 0 }, "no fuzz corpora at \(corpus)")

        for (name, bytes) in inputs("FuzzReference") {
            let text = String(decoding: bytes, as: UTF8.self)
            if let reference = try? Reference(parsing: text) {
                XCTAssertEqual(try? Reference(parsing: reference.description, defaultTag: nil), reference, name)
                if let tag = reference.tag { XCTAssertTrue(Reference.isValidTag(tag), name) }
            }
            if let digest = OCIDigest(text) { XCTAssertEqual(digest.description, text, name) }
        }
        for (name, bytes) in inputs("FuzzManifest") {
            for mediaType in [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerSchema1SignedManifest, ""] {
                guard let document = try? ManifestDocument.decode(bytes, mediaType: mediaType) else { continue }
                XCTAssertLessThanOrEqual(JSONCoding.nestingDepth(bytes), JSONCoding.maxDepth, name)
                for child in document.children {
                    XCTAssertEqual(child.digest.encoded.utf8.count, child.digest.algorithm.hexLength, name)
                }
            }
            _ = Schema1.payload(of: bytes)
        }
        for (name, bytes) in inputs("FuzzChallenge") {
            for challenge in AuthChallenge.parse(String(decoding: bytes, as: UTF8.self)) {
                XCTAssertTrue(challenge.parameters.keys.allSatisfy { !$0.isEmpty && $0 == $0.lowercased() }, name)
            }
            let text = String(decoding: bytes, as: UTF8.self)
            if let limit = RateLimit(limitHeader: text, remainingHeader: text, sourceHeader: nil) {
                XCTAssertTrue((limit.limit ?? 0) >= 0 && (limit.remaining ?? 0) >= 0 && (limit.windowSeconds ?? 1) > 0, name)
            }
        }
        let base = try XCTUnwrap(URL(string: "https://registry.example.com/v2/team/app/tags/list?n=1000"))
        for (name, bytes) in inputs("FuzzLink") {
            if let next = LinkHeader.nextURL(String(decoding: bytes, as: UTF8.self), relativeTo: base) {
                XCTAssertNotNil(next.scheme, name)
            }
        }
        for (name, bytes) in inputs("FuzzDockerConfig") {
            guard let config = try? DockerConfig(data: Data(bytes), origin: name) else { continue }
            for address in config.auths.keys {
                if let normalized = try? RegistryAddress(normalizing: address) { XCTAssertFalse(normalized.host.isEmpty, name) }
            }
        }
    }
}

// MARK: - Helpers

/// A small image with its blobs, for fakes.
private struct HostileImage {
    var config: [UInt8]
    var layers: [[UInt8]]
    var manifestBytes: [UInt8]
    var manifestDescriptor: Descriptor
    var configDescriptor: Descriptor
    var layerDescriptors: [Descriptor]

    static func make(layers: [[UInt8]]) -> HostileImage {
        let config = Array(#"{"architecture":"amd64","os":"linux"}"#.utf8)
        let configDescriptor = Descriptor.of(config, mediaType: MediaType.ociConfig)
        let layerDescriptors = layers.map { Descriptor.of($0, mediaType: MediaType.ociLayerGzip) }
        let manifest = Manifest(config: configDescriptor, layers: layerDescriptors)
        let bytes = (try? JSONCoding.encode(manifest)) ?? []
        return HostileImage(config: config, layers: layers, manifestBytes: bytes,
                            manifestDescriptor: Descriptor.of(bytes, mediaType: MediaType.ociManifest),
                            configDescriptor: configDescriptor, layerDescriptors: layerDescriptors)
    }

    /// Deterministic, incompressible-looking bytes.
    static func pattern(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) }
    }

    /// Pushes the blobs into `app`, and the manifest as `tag` when given.
    func install(in registry: InProcessRegistry, client: RegistryClient, tag: String?) async throws {
        try await registry.seedBlob(config, in: "app", client: client, mediaType: MediaType.ociConfig)
        for layer in layers { try await registry.seedBlob(layer, in: "app", client: client, mediaType: MediaType.ociLayerGzip) }
        if let tag { try await registry.seedManifest(manifestBytes, mediaType: MediaType.ociManifest, tag: tag, in: "app", client: client) }
    }

    /// The image as a FakeHTTPServer answer (for the tests a registry cannot serve): `/v2/`, the manifest by
    /// `tag` and digest, the blobs by digest; HEAD answered as a registry does, the GET's headers and the body's
    /// length as Content-Length, without the body.
    func serve(_ req: FakeRequest, tag: String) -> FakeResponse {
        let path = req.path
        if path == "/v2/" || path == "/v2" { return .json(200, "{}") }
        var response: FakeResponse
        if path == "/v2/app/manifests/\(tag)" || path == "/v2/app/manifests/\(manifestDescriptor.digest)" {
            response = FakeResponse(status: 200, headers: ["Content-Type": MediaType.ociManifest,
                                                           "Docker-Content-Digest": manifestDescriptor.digest.description],
                                    body: manifestBytes)
        } else if let blob = zip([configDescriptor] + layerDescriptors, [config] + layers)
            .first(where: { path == "/v2/app/blobs/\($0.0.digest)" }) {
            response = FakeResponse(status: 200, headers: ["Docker-Content-Digest": blob.0.digest.description,
                                                           "Content-Type": "application/octet-stream"], body: blob.1)
        } else {
            return .registryError(404, code: path.contains("/manifests/") ? "MANIFEST_UNKNOWN" : "BLOB_UNKNOWN")
        }
        if req.method == "HEAD" {
            response.headers["Content-Length"] = "\(response.body.count)"
            response.body = []
        }
        return response
    }

    /// The layout path of the manifest.
    var manifestPath: String { "blobs/sha256/\(manifestDescriptor.digest.encoded)" }

    /// The layout paths of the blobs a failed pull may legitimately have stored already (all but `except`).
    func goodBlobPaths(except: Descriptor?) -> [String] {
        ([configDescriptor] + layerDescriptors).filter { $0.digest != except?.digest }
            .map { "blobs/\($0.digest.algorithm.rawValue)/\($0.digest.encoded)" }
    }
}

/// Runs `body` with a fresh client for `registry` (fast retries), shut down afterwards.
private func withInProcessClient<T: Sendable>(_ registry: InProcessRegistry, _ body: (RegistryClient) async throws -> T) async throws -> T {
    let client = try RegistryClient(configuration: testConfiguration())
    do {
        let result = try await body(client)
        try? await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

/// A temporary root with a layout, a cache and an output directory.
private struct HostileDirs {
    let root: String
    var layout: String { root + "/layout" }
    var cache: String { root + "/cache" }
    var output: String { root + "/out" }

    init() throws {
        root = NSTemporaryDirectory() + "hostile-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

/// Every regular file below `directory` (relative paths, hidden files included) must be in `allowed`: no partial
/// download, no temporary file.
private func assertNoPartialFiles(_ directory: String, allowed: [String], file: StaticString = #filePath, line: UInt = #line) {
    guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return }
    var unexpected: [String] = []
    while let relative = enumerator.nextObject() as? String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue
        else { continue }
        if !allowed.contains(relative) { unexpected.append(relative) }
    }
    XCTAssertEqual(unexpected, [], "partial or unexpected files in \(directory)", file: file, line: line)
}

private func isDigestMismatch(_ error: any Error) -> Bool {
    if case ContentError.digestMismatch = error { return true }
    return false
}

private func isTransport(_ error: any Error) -> Bool {
    if case RegistryError.transport = error { return true }
    return false
}

/// Asserts that `body` throws an error `matches` accepts; returns the error.
@discardableResult
private func assertThrows(_ what: String, file: StaticString = #filePath, line: UInt = #line,
                          isolation: isolated (any Actor)? = #isolation,
                          _ body: () async throws -> Void, matches: (any Error) -> Bool) async -> (any Error)? {
    do {
        try await body()
        XCTFail("\(what): expected an error, got success", file: file, line: line)
        return nil
    } catch {
        XCTAssertTrue(matches(error), "\(what): unexpected error \(type(of: error)): \(String(reflecting: error))", file: file, line: line)
        return error
    }
}

private enum DeadlineOutcome<T: Sendable>: Sendable {
    case finished(Result<T, any Error>)
    case timedOut
}

/// Runs `body` with a deadline. When the deadline passes first, `onTimeout` runs (stop the fake, so that the
/// body's connection closes), the body is cancelled, and the outcome is `.timedOut`.
private func withDeadline<T: Sendable>(_ limit: Duration, onTimeout: @escaping @Sendable () async -> Void,
                                       _ body: @escaping @Sendable () async throws -> T) async -> DeadlineOutcome<T> {
    await withTaskGroup(of: DeadlineOutcome<T>.self) { group in
        group.addTask {
            do { return .finished(.success(try await body())) } catch { return .finished(.failure(error)) }
        }
        group.addTask {
            try? await Task.sleep(for: limit)
            return .timedOut
        }
        let first = await group.next() ?? .timedOut
        if case .timedOut = first { await onTimeout() }
        group.cancelAll()
        return first
    }
}

/// Asserts that the outcome is an error `matches` accepts (not a success, not a timeout).
private func assertFinished<T>(_ outcome: DeadlineOutcome<T>, _ what: String, file: StaticString = #filePath, line: UInt = #line,
                               matches: (any Error) -> Bool) {
    switch outcome {
    case .finished(.success):
        XCTFail("\(what): expected an error, got success", file: file, line: line)
    case .finished(.failure(let error)):
        XCTAssertTrue(matches(error), "\(what): unexpected error \(type(of: error)): \(String(reflecting: error))", file: file, line: line)
    case .timedOut:
        XCTFail("\(what): no answer before the deadline (the client hangs)", file: file, line: line)
    }
}
