import Foundation
import NIOHTTP1
import OCIGoCompat
import OCIKit
import OCIContent
import OCICredentials
import OCIReference
@_spi(Parsers) import OCIRegistry
import OCISpec
import OCISync
import OCITesting
import OCITestFixtures
import XCTest

/// Protocol behaviour a real registry cannot be made to show, against InProcessRegistry with faults (FakeHTTPServer
/// where only scripted token endpoints will do).
final class RegistryClientTests: XCTestCase {

    // L1 / F22: the first request is exactly /tags/list?n=1000; relative and absolute Links are followed.
    func testListTagsFollowsRelativeAndAbsoluteLinks() async throws {
        let tags = try await withInProcess { registry, client in
            // Three scripted pages, in order: a relative Link, an absolute one, none.
            let path = "/v2/myproject/repo/myimage/tags/list"
            func page(_ json: String, link: String?) -> InProcessRegistry.Fault {
                var headers = ["Content-Type": "application/json"]
                if let link { headers["Link"] = "<\(link)>; rel=\"next\"" }
                return .init("GET", path, .respond(status: 200, headers: headers, body: Array(json.utf8)), times: 1)
            }
            registry.setFaults([
                page(#"{"tags":["0.0.1","0.0.2"]}"#, link: path + "?last=0.0.2&n=1000"),
                page(#"{"tags":["0.0.3"]}"#, link: registry.baseURL + path + "?last=0.0.3&n=1000"),
                page(#"{"tags":["0.0.4"]}"#, link: nil),
            ])
            let tags = try await client.repository(host: registry.host, name: "myproject/repo/myimage").tags()
            let listRequests = registry.requests().filter { $0.path.hasSuffix("/tags/list") }
            XCTAssertEqual(listRequests.map { $0.queryValue("last") }, [nil, "0.0.2", "0.0.3"])
            XCTAssertEqual(listRequests.first?.uri, "/v2/myproject/repo/myimage/tags/list?n=1000")
            XCTAssertEqual(listRequests.count, 3)
            return tags
        }
        XCTAssertEqual(tags, ["0.0.1", "0.0.2", "0.0.3", "0.0.4"])
    }

    // L2 / F23: catalog request, host-prefixed names, segment-aware prefix, bare host lists all.
    func testListRepositoriesFiltersBySegment() async throws {
        let catalog = #"{"repositories":["myproject/repo/image1","myproject/repo/image2","myproject/repository","other/x"]}"#
        try await withInProcess(faults: [.init("GET", "/v2/_catalog", .respond(status: 200, headers: ["Content-Type": "application/json"],
                                                                              body: Array(catalog.utf8)))]) { server, client in
            let ociClient = try GoClient(options: {
                var o = GoClientOptions(); o.registry = testConfiguration(); o.registry.credentials = Keyring(); return o
            }())
            defer { Task { try? await ociClient.shutdown() } }
            let repos = try await ociClient.listRepositories("\(server.host)/myproject/repo")
            XCTAssertEqual(repos, ["\(server.host)/myproject/repo/image1", "\(server.host)/myproject/repo/image2"])
            XCTAssertEqual(server.requests().first { $0.path == "/v2/_catalog" }?.uri, "/v2/_catalog?n=1000")
            let all = try await client.repositories(host: server.host)
            XCTAssertEqual(all.count, 4)
        }
    }

    // F24: a non-JSON error body keeps its status; a JSON one is decoded.
    func testErrorBodies() async throws {
        let faults: [InProcessRegistry.Fault] = [
            .init(nil, "/v2/a/tags/list", .respond(status: 502, headers: ["Content-Type": "text/plain; charset=utf-8"],
                                                   body: Array("<html>bad gateway</html>".utf8))),
            .init(nil, "/v2/b/tags/list", .respond(status: 404, headers: ["Content-Type": "application/json"],
                                                   body: Array(#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#.utf8))),
        ]
        try await withInProcess(faults: faults) { registry, client in
            do {
                _ = try await client.repository(host: registry.host, name: "a").tags()
                XCTFail("expected an error")
            } catch let error as RegistryError {
                XCTAssertTrue(error.description.contains("status code 502"), error.description)
                XCTAssertTrue(error.description.contains("bad gateway"), error.description)
            }
            do {
                _ = try await client.repository(host: registry.host, name: "b").tags()
                XCTFail("expected an error")
            } catch let error as RegistryError {
                XCTAssertTrue(error.isNotFound)
                XCTAssertEqual(error.codes, ["NAME_UNKNOWN"])
            }
        }
    }

    // F11: no digest header → GET and hash; digest refs fall back to blobs; parameters stripped.
    func testResolveWithoutDigestHeaderHashesTheBody() async throws {
        let manifest = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#.utf8)
        let blob = Array("blob".utf8)
        // The tag answered without Docker-Content-Digest and with a parameter on the type; the blob is the registry's.
        let contentType = "application/vnd.oci.image.manifest.v1+json; charset=utf-8"
        let faults: [InProcessRegistry.Fault] = [
            .init("HEAD", "/v2/r/manifests/v1", .respond(status: 200, headers: ["Content-Type": contentType])),
            .init("GET", "/v2/r/manifests/v1", .respond(status: 200, headers: ["Content-Type": contentType], body: manifest)),
        ]
        try await withInProcess(faults: faults) { registry, client in
            try await registry.seedBlob(blob, in: "r", client: client)
            registry.resetRequests()
            let repo = client.repository(host: registry.host, name: "r")
            let d = try await repo.resolve("v1")
            XCTAssertEqual(d.digest, OCIDigest.of(manifest))
            XCTAssertEqual(d.size, Int64(manifest.count))
            XCTAssertEqual(d.mediaType, MediaType.ociManifest)
            let b = try await repo.resolve(OCIDigest.of(blob).description)
            XCTAssertEqual(b.digest, OCIDigest.of(blob))
            XCTAssertEqual(b.size, 4)
            // The tag: HEAD, then GET for want of a digest. The digest: HEAD on manifests, then HEAD on blobs
            // after the 404, and never a GET.
            XCTAssertEqual(registry.requests().filter { $0.path.hasPrefix("/v2/r/") }.map { "\($0.method) \($0.path)" }, [
                "HEAD /v2/r/manifests/v1", "GET /v2/r/manifests/v1",
                "HEAD /v2/r/manifests/\(OCIDigest.of(blob))", "HEAD /v2/r/blobs/\(OCIDigest.of(blob))",
            ])
            for request in registry.requests() where request.path == "/v2/r/manifests/v1" {
                XCTAssertTrue((request.header("Accept") ?? "").contains(MediaType.ociIndex))
                XCTAssertTrue((request.header("Accept") ?? "").contains(MediaType.dockerManifest))
            }
        }
    }

    // F14: content that does not match its descriptor is a digest mismatch, not a silent success.
    func testFetchDetectsWrongContent() async throws {
        let good = Array("the right bytes".utf8)
        let d = Descriptor.of(good, mediaType: "application/octet-stream")
        try await withInProcess(faults: [.init(nil, "/v2/**/blobs/*", .respond(status: 200, body: Array("the wrong bytes".utf8)))]) { registry, client in
            do {
                _ = try await client.repository(host: registry.host, name: "r").fetchAll(d, limit: 1 << 20)
                XCTFail("expected a digest mismatch")
            } catch ContentError.digestMismatch(let expected, _) {
                XCTAssertEqual(expected, d.digest)
            }
        }
    }

    // A cut stream resumes with Range and the digest is verified over the whole blob.
    func testCutDownloadResumesWithRange() async throws {
        var blob = [UInt8](repeating: 0, count: 300_000)
        for i in blob.indices { blob[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
        let d = Descriptor.of(blob, mediaType: "application/octet-stream")
        let bytesCopy = blob
        let result = try await withInProcess { registry, client in
            try await registry.seedBlob(bytesCopy, in: "r", client: client)
            registry.addFault(.init("GET", "/v2/r/blobs/\(d.digest)", .cutBody(afterBytes: 100_000), times: 1))
            let got = try await client.repository(host: registry.host, name: "r").fetchAll(d, limit: 1 << 20)
            XCTAssertTrue(registry.requests().contains { $0.header("Range") != nil })
            return got
        }
        XCTAssertEqual(result, blob)
    }

    // F48: 503 twice, then success; 429 with Retry-After is honoured.
    func testRetriesServerErrorsAndRateLimits() async throws {
        try await withInProcess { registry, client in
            let config = try await registry.seedBlob(Array("{}".utf8), in: "r", client: client, mediaType: MediaType.ociConfig)
            try await registry.seedManifest(try JSONCoding.encode(Manifest(config: config, layers: [])), mediaType: MediaType.ociManifest,
                                            tag: "ok", in: "r", client: client)
            registry.addFault(.init(nil, "/v2/r/tags/list", .status(429, retryAfter: 0), times: 1))
            registry.addFault(.init(nil, "/v2/r/tags/list", .status(503), times: 2))
            let tags = try await client.repository(host: registry.host, name: "r").tags()
            XCTAssertEqual(tags, ["ok"])
            XCTAssertEqual(registry.requestCount(nil, "/v2/r/tags/list"), 4)
        }
    }

    // F15: an existing blob is not uploaded; relative and absolute Locations are honoured.
    func testPushBlobSkipsExistingAndFollowsLocations() async throws {
        try await withInProcess { registry, client in
            let existing = try await registry.seedBlob(Array("already there".utf8), in: "r", client: client)
            registry.resetRequests()
            let repo = client.repository(host: registry.host, name: "r", access: .push)
            try await repo.push(existing, content: ByteStream(bytes: Array("already there".utf8)))
            XCTAssertFalse(registry.requests().contains { $0.method == "POST" })

            // A relative Location with a query of its own: the registry's session, handed out by a scripted POST.
            let session = try await registry.startUploadSession(in: "r")
            registry.addFault(.init("POST", "/v2/r/blobs/uploads/",
                                    .respond(status: 202, headers: ["Location": session + "?_state=abc", "Range": "0-0"]), times: 1))
            registry.resetRequests()
            let newBytes = Array("new content".utf8)
            let newBlob = Descriptor.of(newBytes, mediaType: "application/octet-stream")
            try await repo.push(newBlob, content: ByteStream(bytes: newBytes))
            let put = registry.requests().first { $0.method == "PUT" }
            XCTAssertEqual(put?.path, session)
            XCTAssertEqual(put?.queryValue("_state"), "abc")
            XCTAssertEqual(put?.queryValue("digest"), newBlob.digest.description)
            XCTAssertEqual(put?.bodyLength, newBytes.count)
            XCTAssertEqual(put?.status, 201)
            let stored = try await repo.fetchAll(newBlob)
            XCTAssertEqual(stored, newBytes)

            // An absolute Location.
            let second = try await registry.startUploadSession(in: "r")
            registry.addFault(.init("POST", "/v2/r/blobs/uploads/",
                                    .respond(status: 202, headers: ["Location": registry.baseURL + second + "?_state=x"]), times: 1))
            let third = Array("third".utf8)
            try await repo.push(Descriptor.of(third, mediaType: "x"), content: ByteStream(bytes: third))
            XCTAssertTrue(registry.requests().contains { $0.method == "PUT" && $0.path == second && $0.status == 201 })
        }
    }

    // F15: a registry that reports another digest after the upload fails the push.
    func testPushBlobRejectsWrongDigestFromRegistry() async throws {
        let other = OCIDigest.of(Array("other".utf8)).description
        try await withInProcess(faults: [.init("PUT", "/v2/r/blobs/uploads/*", .respond(status: 201, headers: ["Docker-Content-Digest": other]))]) { server, client in
            let bytes = Array("mine".utf8)
            do {
                try await client.repository(host: server.host, name: "r", access: .push)
                    .push(Descriptor.of(bytes, mediaType: "x"), content: ByteStream(bytes: bytes))
                XCTFail("expected an error")
            } catch let error as RegistryError {
                XCTAssertTrue(error.description.contains("stored digest"), error.description)
            }
        }
    }

    // F8 / F9: the bearer flow asks for the exact scopes, reads access_token, and one token serves a whole pull.
    func testBearerScopesAndTokenReuse() async throws {
        let keyring = Keyring()
        let users = [InProcessRegistry.User("u", password: "p")]
        try await withInProcess(.init(auth: .token(users)), configuration: testConfiguration(credentials: keyring)) { registry, client in
            _ = keyring.add(address: registry.host, credential: Credential(username: "u", password: "p"))
            // Seeded through another client, so the counters below are the pull's alone.
            let seeder = try RegistryClient(configuration: testConfiguration(credentials: keyring))
            let config = try await registry.seedBlob(Array("{}".utf8), in: "ns/app", client: seeder)
            var layers: [Descriptor] = []
            for i in 1...3 { layers.append(try await registry.seedBlob(Array("layer \(i)".utf8), in: "ns/app", client: seeder)) }
            let manifest = try JSONCoding.encode(Manifest(config: config, layers: layers))
            try await registry.seedManifest(manifest, mediaType: MediaType.ociManifest, tag: "v1", in: "ns/app", client: seeder)
            try? await seeder.shutdown()
            registry.resetRequests()

            let repo = client.repository(host: registry.host, name: "ns/app")
            let (d, bytes) = try await repo.fetchManifest("v1")
            XCTAssertEqual(bytes, manifest)
            for blob in try JSONCoding.decode(Manifest.self, from: bytes).blobs {
                _ = try await repo.fetchAll(blob)
            }
            XCTAssertEqual(d.digest, OCIDigest.of(manifest))
            let counters = await client.requestCounters(host: registry.host)
            XCTAssertEqual(counters.pings, 1)
            XCTAssertEqual(counters.tokens, 1)

            let pushRepo = client.repository(host: registry.host, name: "ns/app", access: .push)
            let extra = Array("pushed".utf8)
            try await pushRepo.push(Descriptor.of(extra, mediaType: "x"), content: ByteStream(bytes: extra))
            _ = try await client.repositories(host: registry.host)
            let tokenRequests = registry.requests().filter { $0.path == "/token" }
            for request in tokenRequests { XCTAssertNotNil(request.header("Authorization")) }
            let scopesSeen = tokenRequests.flatMap { $0.queryValues("scope") }
            XCTAssertEqual(scopesSeen, ["repository:ns/app:pull", "repository:ns/app:pull,push", "registry:catalog:*"])
            XCTAssertTrue(registry.requests().filter { $0.path.hasPrefix("/v2/") && $0.status == 200 }
                .allSatisfy { $0.header("Authorization") == "Bearer <redacted>" }, "served only with a token")
        }
    }

    // A 401 with insufficient_scope gets a token with the added scope first, then one retry.
    func testInsufficientScopeAddsScopeAndRetries() async throws {
        let realm = Locked("")
        let tokenRequests = Locked<[[String]]>([])
        try await withFake({ req in
            if req.path == "/token" {
                let scopes = req.queryValues("scope")
                tokenRequests.withLock { $0.append(scopes) }
                return .json(200, #"{"token":"\#(scopes.contains("repository:other:pull") ? "wide" : "narrow")"}"#)
            }
            let base = "Bearer realm=\"\(realm.withLock { $0 })\",service=\"fake\""
            let auth = req.headers["Authorization"] ?? ""
            if req.path == "/v2/" { return auth.isEmpty ? FakeResponse(status: 401, headers: ["WWW-Authenticate": base]) : .json(200, "{}") }
            if auth == "Bearer wide" { return .json(200, #"{"tags":["t"]}"#) }
            return FakeResponse(status: 401, headers: ["WWW-Authenticate": base + ",scope=\"repository:other:pull\",error=\"insufficient_scope\""])
        }) { server, client in
            realm.withLock { $0 = server.baseURL + "/token" }
            let tags = try await client.repository(host: server.host, name: "r").tags()
            XCTAssertEqual(tags, ["t"])
            XCTAssertEqual(tokenRequests.withLock { $0 }.last, ["repository:other:pull", "repository:r:pull"])
        }
    }

    // An identity token uses the OAuth2 POST; a 404 there falls back to GET.
    func testIdentityTokenPostWithGetFallback() async throws {
        let realm = Locked("")
        let methods = Locked<[String]>([])
        let keyring = Keyring()
        try await withFake(configuration: testConfiguration(credentials: keyring), { req in
            if req.path == "/token" {
                methods.withLock { $0.append(req.method) }
                if req.method == "POST" {
                    XCTAssertTrue(req.bodyText.contains("grant_type=refresh_token"))
                    XCTAssertTrue(req.bodyText.contains("refresh_token=secret-refresh"))
                    return .status(404)
                }
                return .json(200, #"{"token":"t"}"#)
            }
            if req.headers["Authorization"] == "Bearer t" { return .json(200, #"{"tags":[]}"#) }
            return FakeResponse(status: 401, headers: ["WWW-Authenticate": "Bearer realm=\"\(realm.withLock { $0 })\",service=\"s\""])
        }) { server, client in
            realm.withLock { $0 = server.baseURL + "/token" }
            _ = keyring.add(address: server.host, credential: Credential(identityToken: "secret-refresh"))
            _ = try await client.repository(host: server.host, name: "r").tags()
            XCTAssertEqual(methods.withLock { $0 }, ["POST", "GET"])
        }
    }

    // Authorization never follows a redirect to another host; redirect loops fail cleanly.
    func testRedirectsDropCredentialsAndLoopsFail() async throws {
        let blob = Array("stored elsewhere".utf8)
        let d = Descriptor.of(blob, mediaType: "application/octet-stream")
        let keyring = Keyring()
        // Blob GETs of `r` redirect to the registry's blob host (another port: another origin), which stands for
        // object storage; `loop` redirects to itself.
        let faults: [InProcessRegistry.Fault] = [
            .init("GET", "/v2/r/blobs/*", .redirectToBlobHost(status: 307)),
            .init(nil, "/v2/loop/blobs/\(d.digest)", .redirect(to: "/v2/loop/blobs/\(d.digest)")),
        ]
        try await withInProcess(.init(auth: .basic([InProcessRegistry.User("user", password: "pw")]), blobHost: true),
                                configuration: testConfiguration(credentials: keyring)) { server, client in
            _ = keyring.add(address: server.host, credential: Credential(username: "user", password: "pw"))
            try await server.seedBlob(blob, in: "r", client: client)
            server.setFaults(faults)
            server.resetRequests()
            let got = try await client.repository(host: server.host, name: "r").fetchAll(d)
            XCTAssertEqual(got, blob)
            XCTAssertTrue(server.requests().contains { $0.header("Authorization") != nil })
            XCTAssertEqual(server.blobHostRequests().count, 1)
            XCTAssertNil(server.blobHostRequests().first?.header("Authorization"))
            do {
                _ = try await client.repository(host: server.host, name: "loop").fetchAll(d)
                XCTFail("expected a redirect error")
            } catch let error as RegistryError {
                guard case .unsafeRedirect = error else { return XCTFail("\(error)") }
            }
        }
    }

    // Manifests over 4 MiB are refused.
    func testOversizedManifestRefused() async throws {
        let big = [UInt8](repeating: 0x20, count: ContentLimits.maxManifestBytes + 10)
        try await withInProcess(faults: [.init(nil, "/v2/r/manifests/*", .respond(status: 200, headers: ["Content-Type": MediaType.ociManifest],
                                                                                 body: big))]) { server, client in
            do {
                _ = try await client.repository(host: server.host, name: "r").fetchManifest("v1")
                XCTFail("expected an error")
            } catch let error as RegistryError {
                guard case .manifestTooLarge = error else { return XCTFail("\(error)") }
            }
        }
    }

    // F7: a plain-HTTP registry on a public-looking name is refused unless plain HTTP is allowed.
    func testPlainHTTPPolicy() async throws {
        try await withInProcess { server, _ in
            // "localhost" is allowed by default; a public name is not reachable here, so check the policy on the
            // classifier and that .never refuses loopback.
            XCTAssertTrue(HostClassifier.allowsPlainHTTPByDefault(server.host))
            try await assertHTTPSOnlyFails(host: server.host)
        }
    }

    /// A client with `plainHTTP = .never` fails against `host` (a plain-HTTP registry) with a TLS or transport error.
    private func assertHTTPSOnlyFails(host: String) async throws {
        var strict = testConfiguration()
        strict.plainHTTP = .never
        let client = try RegistryClient(configuration: strict)
        do {
            _ = try await client.repository(host: host, name: "r").tags()
            XCTFail("expected a TLS or transport error")
        } catch let error as RegistryError {
            switch error {
            case .tls, .transport: break
            default: XCTFail("\(error)")
            }
        }
        try await client.shutdown()
    }

    // A loopback registry is pinged over plain HTTP first: no TLS handshake reaches a plain-HTTP port, and the one
    // ping serves the session.
    func testLoopbackRegistryIsPingedOverPlainHTTPFirst() async throws {
        try await withFake({ req in
            req.path == "/v2/" ? .json(200, "{}") : .json(200, #"{"name":"r","tags":["a","b"]}"#)
        }) { server, client in
            let repository = client.repository(host: server.host, name: "r")
            let first = try await repository.tags()
            let second = try await repository.tags()
            XCTAssertEqual(first, ["a", "b"])
            XCTAssertEqual(second, ["a", "b"])
            XCTAssertEqual(server.tlsHandshakes(), 0, "no HTTPS attempt on a plain-HTTP loopback port")
            XCTAssertEqual(server.requests().filter { $0.path == "/v2/" }.count, 1)
        }
        // With plain HTTP refused, the same port only ever sees TLS handshakes.
        try await FakeHTTPServer.withServer(handler: { _ in .json(200, "{}") }) { server in
            try await assertHTTPSOnlyFails(host: server.host)
            XCTAssertGreaterThan(server.tlsHandshakes(), 0)
            XCTAssertTrue(server.requests().isEmpty)
        }
    }

    // A loopback port that speaks plain HTTP but is no registry is reported with its own answer, not as a TLS
    // failure of the HTTPS attempt that followed.
    func testLoopbackPortThatIsNoRegistryIsReportedWithItsAnswer() async throws {
        try await withFake({ _ in FakeResponse(status: 404, headers: [:], body: Array("no such page".utf8)) }) { server, client in
            do {
                _ = try await client.repository(host: server.host, name: "r").tags()
                XCTFail("expected an error")
            } catch let error as RegistryError {
                guard case .registry(let operation, let target, let status, _, _) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(operation, "ping")
                XCTAssertEqual(status, 404)
                XCTAssertEqual(target, "http://\(server.host)/v2/")
            }
        }
    }

    // The link parser: relative, absolute, several links, no rel.
    func testLinkHeaderParsing() throws {
        let base = try XCTUnwrap(URL(string: "https://r.example/v2/_catalog?n=2"))
        XCTAssertEqual(LinkHeader.nextURL(#"</v2/_catalog?last=b&n=2>; rel="next""#, relativeTo: base)?.absoluteString,
                       "https://r.example/v2/_catalog?last=b&n=2")
        XCTAssertEqual(LinkHeader.nextURL(#"<https://other.example/p?x=1>; rel="prev", <https://r.example/n>; rel="next""#, relativeTo: base)?.absoluteString,
                       "https://r.example/n")
        XCTAssertNil(LinkHeader.nextURL(#"</x>; rel="prev""#, relativeTo: base))
    }

    // WWW-Authenticate parsing, including several scopes in one quoted value and several challenges.
    func testChallengeParsing() {
        let c = AuthChallenge.parse(#"Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull,push repository:b:pull",error="insufficient_scope""#)
        XCTAssertEqual(c.count, 1)
        XCTAssertEqual(c.first?.scheme, .bearer)
        XCTAssertEqual(c.first?.realm, "https://auth.example/token")
        XCTAssertEqual(c.first?.scopes, ["repository:a:pull,push", "repository:b:pull"])
        XCTAssertEqual(c.first?.error, "insufficient_scope")
        let two = AuthChallenge.parse(#"Basic realm="x", Bearer realm="y",service="z""#)
        XCTAssertEqual(two.map(\.scheme), [.basic, .bearer])
        XCTAssertEqual(AuthChallenge.parse("").count, 0)
        XCTAssertEqual(AuthChallenge.parse("Bearer realm=\"unterminated").first?.realm, "unterminated")
    }

    /// Docker Hub's rate-limit headers, parsed; garbled values left out; none at all is nil.
    func testRateLimitHeadersParse() {
        var headers = HTTPHeaders()
        headers.add(name: "RateLimit-Limit", value: "100;w=21600")
        headers.add(name: "RateLimit-Remaining", value: "76;w=21600")
        headers.add(name: "Docker-RateLimit-Source", value: "203.0.113.7")
        XCTAssertEqual(RateLimit(headers: headers), RateLimit(limit: 100, remaining: 76, windowSeconds: 21600, source: "203.0.113.7"))
        var garbled = HTTPHeaders()
        garbled.add(name: "RateLimit-Limit", value: "lots; w = -5")
        garbled.add(name: "RateLimit-Remaining", value: " 3 ")
        XCTAssertEqual(RateLimit(headers: garbled), RateLimit(limit: nil, remaining: 3, windowSeconds: nil, source: nil))
        XCTAssertNil(RateLimit(headers: HTTPHeaders()))
    }

    /// `rateLimit` reads the headers from one HEAD (never a GET, which would count as a pull), reports a 429's
    /// headers instead of retrying it, and is nil for a registry that reports none.
    func testRateLimitComesFromOneHead() async throws {
        let manifest = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#.utf8)
        for (tag, expected) in [("v1", RateLimit(limit: 100, remaining: 5, windowSeconds: 21600, source: "me")),
                                ("limited", RateLimit(limit: 100, remaining: 0, windowSeconds: 21600, source: nil)),
                                ("plain", nil)] {
            var headers = ["Content-Type": MediaType.ociManifest, "Docker-Content-Digest": OCIDigest.of(manifest).description]
            let behavior: InProcessRegistry.Fault.Behavior
            switch tag {
            case "v1":
                headers.merge(["RateLimit-Limit": "100;w=21600", "RateLimit-Remaining": "5;w=21600", "Docker-RateLimit-Source": "me"]) { $1 }
                behavior = .respond(status: 200, headers: headers, body: manifest)
            case "limited":
                behavior = .respond(status: 429, headers: ["RateLimit-Limit": "100;w=21600", "RateLimit-Remaining": "0;w=21600",
                                                           "Retry-After": "3600"])
            default:
                behavior = .respond(status: 200, headers: headers, body: manifest)
            }
            try await withInProcess(faults: [.init(nil, "/v2/library/alpine/manifests/*", behavior)]) { server, client in
                let limit = try await client.repository(host: server.host, name: "library/alpine").rateLimit(reference: tag)
                XCTAssertEqual(limit, expected, tag)
                let manifestRequests = server.requests().filter { $0.path.contains("/manifests/") }
                XCTAssertEqual(manifestRequests.map(\.method), ["HEAD"], tag)
            }
        }
    }

    /// A credential store that fails (a helper not installed or not logged in) does not block anonymous access:
    /// a public listing succeeds; where the registry refuses anonymous access, the refusal names the failure.
    func testABrokenCredentialStoreFallsBackToAnonymous() async throws {
        struct BrokenStore: CredentialSource {
            struct Failure: Error, CustomStringConvertible {
                var description: String { "docker-credential-desktop: executable not found" }
            }
            func credential(forHost host: String, repository: String) async throws -> Credential? { throw Failure() }
        }
        for isPublic in [true, false] {
            // Token auth; anonymous pulls allowed only on the public registry. `seed` pushes the tag.
            let users = [InProcessRegistry.User("seed", password: "seed-pw")]
            let auth = InProcessRegistry.Auth.token(users, anonymous: isPublic ? [.pull] : [])
            try await withInProcess(.init(auth: auth), configuration: testConfiguration(credentials: BrokenStore())) { server, client in
                let keyring = Keyring()
                _ = keyring.add(address: server.host, credential: Credential(username: "seed", password: "seed-pw"))
                let seeder = try RegistryClient(configuration: testConfiguration(credentials: keyring))
                do {
                    let config = try await server.seedBlob(Array("{}".utf8), in: "app", client: seeder, mediaType: MediaType.ociConfig)
                    try await server.seedManifest(try JSONCoding.encode(Manifest(config: config, layers: [])), mediaType: MediaType.ociManifest,
                                                  tag: "v1", in: "app", client: seeder)
                    try? await seeder.shutdown()
                } catch {
                    try? await seeder.shutdown()
                    throw error
                }
                if !isPublic {
                    // A refusal of the anonymous token as a plain 401 UNAUTHORIZED (distribution's answer names the
                    // missing scope, which reads as denied): the listing after the token is refused so.
                    server.addFault(.init("GET", "/v2/app/tags/list", .respond(status: 401, headers: ["Content-Type": "application/json"],
                                                                              body: Array(#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.utf8)),
                                          skip: 1))
                }
                server.resetRequests()
                let repository = client.repository(host: server.host, name: "app")
                if isPublic {
                    let tags = try await repository.tags()
                    XCTAssertEqual(tags, ["v1"])
                } else {
                    do {
                        _ = try await repository.tags()
                        XCTFail("a refused listing succeeded")
                    } catch let error as RegistryError {
                        XCTAssertTrue(error.isUnauthorized, "\(error)")
                        XCTAssertTrue("\(error)".contains("CREDENTIALS_UNAVAILABLE"), "\(error)")
                        XCTAssertTrue("\(error)".contains("docker-credential-desktop: executable not found"), "\(error)")
                    }
                    let refused = server.requests().filter { $0.path == "/v2/app/tags/list" && $0.faulted }
                    XCTAssertEqual(refused.map { $0.header("Authorization") }, ["Bearer <redacted>"], "refused with the anonymous token")
                }
                XCTAssertTrue(server.requests().contains { $0.path == "/token" && $0.header("Authorization") == nil },
                              "an anonymous token request")
            }
        }
    }
}
