import Foundation
import NIOHTTP1
import OCIContent
import OCIRegistry
import OCISpec
import OCITesting
import XCTest

/// Every fault kind, seen through raw HTTP (what the wire carries) and through the package's client (what a
/// user's code survives or reports). Outcomes only, never timings.
final class FaultInjectionTests: XCTestCase {
    private func pushedBlob(_ registry: InProcessRegistry, repo: String, size: Int) async throws -> (Descriptor, [UInt8]) {
        let bytes = Bytes.random(size)
        let descriptor = try await Clients.with(try Clients.make(for: registry)) { client in
            try await client.repository(host: registry.host, name: repo, access: .push).pushBytes(bytes)
        }
        registry.resetRequests()
        return (descriptor, bytes)
    }

    func testScriptedStatusesWithRetryAfter() async throws {
        try await withInProcessRegistry { registry in
            let (blob, bytes) = try await pushedBlob(registry, repo: "faults", size: 2000)
            registry.addFault(.init("GET", "/v2/faults/blobs/*", .status(503, retryAfter: 0), times: 1))
            try await RawHTTP.with(registry) { raw in
                let first = try await raw.send(.GET, "/v2/faults/blobs/\(blob.digest)")
                XCTAssertEqual(first.status, 503)
                XCTAssertEqual(first.header("Retry-After"), "0")
                XCTAssertEqual(first.errorCodes, ["UNAVAILABLE"])
                let second = try await raw.send(.GET, "/v2/faults/blobs/\(blob.digest)")
                XCTAssertEqual(second.status, 200, "times: 1 — the next request is served normally")
                XCTAssertEqual(second.body, bytes)
            }
            // 429 twice, then the blob: the client's retries get through.
            registry.setFaults([.init("GET", "/v2/faults/blobs/*", .status(429, retryAfter: 0), times: 2)])
            registry.resetRequests()
            try await Clients.with(try Clients.make(for: registry)) { client in
                let fetched = try await client.repository(host: registry.host, name: "faults").fetchBytes(blob)
                XCTAssertEqual(fetched, bytes)
            }
            let gets = registry.requests().filter { $0.method == "GET" && $0.path.hasSuffix(blob.digest.description) }
            XCTAssertEqual(gets.map(\.status), [429, 429, 200])
            XCTAssertEqual(gets.map(\.faulted), [true, true, false])
            // A scripted answer with its own headers and body; `skip` lets the first match through.
            registry.setFaults([.init("HEAD", "/v2/**", .respond(status: 418, headers: ["X-Test": "yes"]), skip: 1)])
            try await RawHTTP.with(registry) { raw in
                let passed = try await raw.send(.HEAD, "/v2/faults/blobs/\(blob.digest)")
                XCTAssertEqual(passed.status, 200)
                let scripted = try await raw.send(.HEAD, "/v2/faults/blobs/\(blob.digest)")
                XCTAssertEqual(scripted.status, 418)
                XCTAssertEqual(scripted.header("X-Test"), "yes")
            }
        }
    }

    func testCutBodyIsSurvivedByResumingClient() async throws {
        try await withInProcessRegistry { registry in
            let (blob, bytes) = try await pushedBlob(registry, repo: "cut", size: 300_000)
            registry.addFault(.init("GET", "/v2/cut/blobs/*", .cutBody(afterBytes: 1000), times: 1))
            try await RawHTTP.with(registry) { raw in
                do {
                    let response = try await raw.send(.GET, "/v2/cut/blobs/\(blob.digest)")
                    XCTFail("a cut body must not arrive whole: got \(response.status) with \(response.body.count) bytes")
                } catch {
                    // The connection closed before Content-Length bytes arrived.
                }
            }
            registry.addFault(.init("GET", "/v2/cut/blobs/*", .cutBody(afterBytes: 100_000), times: 1))
            try await Clients.with(try Clients.make(for: registry)) { client in
                let fetched = try await client.repository(host: registry.host, name: "cut").fetchBytes(blob)
                XCTAssertEqual(fetched, bytes)
            }
            let gets = registry.requests().filter { $0.method == "GET" }
            XCTAssertEqual(gets.first?.faulted, true)
            XCTAssertEqual(gets.last?.faulted, false)
            XCTAssertGreaterThanOrEqual(gets.count, 3)
        }
    }

    func testSlowBodyArrivesWhole() async throws {
        try await withInProcessRegistry { registry in
            let (blob, bytes) = try await pushedBlob(registry, repo: "slow", size: 20_000)
            registry.addFault(.init("GET", "/v2/slow/blobs/*", .slowBody(chunkSize: 4096, interval: .milliseconds(2))))
            try await Clients.with(try Clients.make(for: registry)) { client in
                let fetched = try await client.repository(host: registry.host, name: "slow").fetchBytes(blob)
                XCTAssertEqual(fetched, bytes)
            }
            XCTAssertEqual(registry.requests().filter { $0.method == "GET" && $0.path.contains("/blobs/") }.map(\.faulted), [true])
        }
    }

    func testCorruptBodiesAreDetectedByTheClient() async throws {
        try await withInProcessRegistry { registry in
            let (blob, bytes) = try await pushedBlob(registry, repo: "corrupt", size: 5000)
            registry.addFault(.init("GET", "/v2/corrupt/**", .corruptBody))
            try await RawHTTP.with(registry) { raw in
                let response = try await raw.send(.GET, "/v2/corrupt/blobs/\(blob.digest)")
                XCTAssertEqual(response.status, 200)
                XCTAssertEqual(response.header("Docker-Content-Digest"), blob.digest.description)
                XCTAssertEqual(response.body.count, bytes.count)
                XCTAssertEqual(zip(response.body, bytes).filter { $0 != $1 }.count, 1, "exactly one byte altered")
            }
            try await Clients.with(try Clients.make(for: registry, retry: RegistryClient.Configuration.Retry.none)) { client in
                let repo = client.repository(host: registry.host, name: "corrupt", access: .push)
                do {
                    _ = try await repo.fetchBytes(blob)
                    XCTFail("altered bytes must not verify")
                } catch {
                    XCTAssertTrue("\(error)".lowercased().contains("digest"), "\(error)")
                }
                let image = TestImage.make(layerSizes: [10])
                try await repo.push(image, tag: "v1")
                do {
                    _ = try await repo.fetchManifest(image.manifestDescriptor.digest.description)
                    XCTFail("an altered manifest must not verify")
                } catch {
                    XCTAssertTrue("\(error)".lowercased().contains("digest"), "\(error)")
                }
            }
        }
    }

    func testBlobRedirectsToTheBlobHostWithoutCredentials() async throws {
        let users = [InProcessRegistry.User("alice", password: "secret")]
        let configuration = InProcessRegistry.Configuration(auth: .basic(users), blobHost: true)
        try await withInProcessRegistry(configuration) { registry in
            let blobHost = try XCTUnwrap(registry.blobHost)
            XCTAssertNotEqual(blobHost, registry.host)
            let bytes = Bytes.random(50_000)
            let blob = try await Clients.with(try Clients.make(for: registry, username: "alice", password: "secret")) { client in
                try await client.repository(host: registry.host, name: "redirected", access: .push).pushBytes(bytes)
            }
            registry.addFault(.init("GET", "/v2/**/blobs/*", .redirectToBlobHost()))
            try await Clients.with(try Clients.make(for: registry, username: "alice", password: "secret")) { client in
                let fetched = try await client.repository(host: registry.host, name: "redirected").fetchBytes(blob)
                XCTAssertEqual(fetched, bytes)
            }
            let redirected = try XCTUnwrap(registry.requests().last { $0.method == "GET" && $0.path.contains("/blobs/") })
            XCTAssertEqual(redirected.status, 307)
            XCTAssertEqual(redirected.header("Authorization"), "Basic <redacted>")
            let served = try XCTUnwrap(registry.blobHostRequests().last)
            XCTAssertEqual(served.method, "GET")
            XCTAssertEqual(served.path, "/blobs/\(blob.digest)")
            XCTAssertEqual(served.status, 200)
            XCTAssertNil(served.header("Authorization"), "credentials must not follow the redirect to another host")

            try await RawHTTP.with(registry) { raw in
                // The redirect is answered only after authentication …
                let anonymous = try await raw.send(.GET, "/v2/redirected/blobs/\(blob.digest)")
                XCTAssertEqual(anonymous.status, 401)
                let auth = ("Authorization", "Basic " + Data("alice:secret".utf8).base64EncodedString())
                let response = try await raw.send(.GET, "/v2/redirected/blobs/\(blob.digest)", headers: [auth])
                XCTAssertEqual(response.status, 307)
                let location = try XCTUnwrap(response.header("Location"))
                XCTAssertTrue(location.hasPrefix("http://\(blobHost)/blobs/\(blob.digest)?signature="))
                // … and the blob host serves only signed URLs.
                let signed = try await raw.send(.GET, location, headers: [("Range", "bytes=0-9")])
                XCTAssertEqual(signed.status, 206)
                XCTAssertEqual(signed.body, Array(bytes[0..<10]))
                let unsigned = try await raw.send(.GET, "http://\(blobHost)/blobs/\(blob.digest)")
                XCTAssertEqual(unsigned.status, 403)
            }
        }
    }

    func testClosedConnectionsAndPlainRedirects() async throws {
        try await withInProcessRegistry { registry in
            let (blob, bytes) = try await pushedBlob(registry, repo: "closing", size: 1000)
            registry.addFault(.init("GET", "/v2/closing/blobs/*", .closeConnection, times: 1))
            try await RawHTTP.with(registry) { raw in
                do {
                    _ = try await raw.send(.GET, "/v2/closing/blobs/\(blob.digest)")
                    XCTFail("the connection should close without an answer")
                } catch {}
                let after = try await raw.send(.GET, "/v2/closing/blobs/\(blob.digest)")
                XCTAssertEqual(after.body, bytes)

                registry.addFault(.init("GET", "/v2/moved/blobs/*", .redirect(to: "/v2/closing/blobs/\(blob.digest)")))
                let moved = try await raw.send(.GET, "/v2/moved/blobs/\(blob.digest)")
                XCTAssertEqual(moved.status, 307)
                XCTAssertEqual(moved.header("Location"), "/v2/closing/blobs/\(blob.digest)")
            }
            let closed = registry.requests().first { $0.method == "GET" }
            XCTAssertNil(closed?.status, "recorded without a status: no answer was sent")
            // The client retries a dropped connection and follows the redirect.
            try await Clients.with(try Clients.make(for: registry)) { client in
                registry.addFault(.init("GET", "/v2/closing/blobs/*", .closeConnection, times: 1))
                let fetched = try await client.repository(host: registry.host, name: "moved").fetchBytes(blob)
                XCTAssertEqual(fetched, bytes)
            }
        }
    }

    func testAFaultCanRequireAQueryParameter() async throws {
        try await withInProcessRegistry { registry in
            registry.addFault(.init("POST", "/v2/q/blobs/uploads/", .status(404), query: "mount"))
            try await RawHTTP.with(registry) { raw in
                let mount = try await raw.send(.POST, "/v2/q/blobs/uploads/?mount=sha256:\(String(repeating: "0", count: 64))&from=src")
                XCTAssertEqual(mount.status, 404)
                let plain = try await raw.send(.POST, "/v2/q/blobs/uploads/")
                XCTAssertEqual(plain.status, 202)
                let other = try await raw.send(.POST, "/v2/q/blobs/uploads/?mounted=1")
                XCTAssertEqual(other.status, 202)
            }
            XCTAssertEqual(registry.requests().map(\.faulted), [true, false, false])
        }
    }

    func testRequestRecording() async throws {
        let users = [InProcessRegistry.User("alice", password: "secret")]
        try await withInProcessRegistry(.init(auth: .token(users))) { registry in
            try await Clients.with(try Clients.make(for: registry, username: "alice", password: "secret")) { client in
                _ = try await client.repository(host: registry.host, name: "rec", access: .push).pushBytes(Bytes.random(100))
            }
            let requests = registry.requests()
            let token = try XCTUnwrap(requests.first { $0.path == "/token" })
            XCTAssertEqual(token.header("Authorization"), "Basic <redacted>")
            XCTAssertTrue(token.query?.contains("scope=repository") ?? false)
            let put = try XCTUnwrap(requests.last { $0.method == "PUT" })
            XCTAssertEqual(put.header("Authorization"), "Bearer <redacted>")
            XCTAssertEqual(put.status, 201)
            XCTAssertTrue(requests.allSatisfy { r in r.headers.allSatisfy { !$0.value.contains("secret") } })
            XCTAssertEqual(registry.requestCount("PUT", "/v2/rec/blobs/uploads/*"), 1)
            XCTAssertGreaterThanOrEqual(registry.requestCount(nil, "/v2/**"), 3)
            XCTAssertEqual(registry.requestCount("GET", "/token"), requests.filter { $0.path == "/token" }.count)
            registry.resetRequests()
            XCTAssertEqual(registry.requests().count, 0)
        }
    }
}
