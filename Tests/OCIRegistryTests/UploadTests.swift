import Foundation
import OCIContent
import OCIRegistry
import OCISpec
import OCISync
import OCITesting
import OCITestFixtures
import XCTest

/// A fake registry with chunked upload sessions and switchable faults, for what InProcessRegistry's faults cannot
/// express: a PATCH that keeps half its body and answers 500, ECR's 201 on PATCH, only the monolithic PUT failing
/// (with a 500, or a closed connection in HostileRegistryTests), where a fault on the path would hit the final PUT too.
final class ChunkedFakeRegistry: Sendable {
    struct State {
        var sessions: [Int: [UInt8]] = [:]
        var blobs: [String: [UInt8]] = [:]
        var next = 0
        var patchCount = 0
        var failPatchNumber: Int? = nil     // this PATCH stores half its body, then answers 500
        var patchStatus = 202               // ECR answers 201
        var failMonolithicPut = false
        var minChunk: Int? = nil
        var contentRanges: [String] = []
        var sessionsOpened = 0
    }
    let state = Locked(State())

    func handle(_ req: FakeRequest) -> FakeResponse {
        if req.path == "/v2/" { return .json(200, "{}") }
        if req.method == "HEAD", req.path.contains("/blobs/") { return .status(404) }
        if req.method == "POST", req.path.hasSuffix("/blobs/uploads/") {
            return state.withLock { s in
                s.next += 1; s.sessionsOpened += 1
                s.sessions[s.next] = []
                var h: FakeHeaders = ["Location": "/v2/up/\(s.next)?_state=0", "Range": "0-0"]
                if let m = s.minChunk { h["OCI-Chunk-Min-Length"] = "\(m)" }
                return FakeResponse(status: 202, headers: h)
            }
        }
        guard req.path.hasPrefix("/v2/up/"), let id = Int(req.path.dropFirst(7)) else { return .status(404) }
        return state.withLock { s in
            guard var data = s.sessions[id] else { return .registryError(404, code: "BLOB_UPLOAD_UNKNOWN") }
            let rangeHeader: FakeHeaders = ["Range": "0-\(max(0, data.count - 1))", "Location": "/v2/up/\(id)?_state=\(data.count)"]
            switch req.method {
            case "PATCH":
                s.patchCount += 1
                s.contentRanges.append(req.headers["Content-Range"] ?? "")
                if s.failPatchNumber == s.patchCount {
                    data.append(contentsOf: req.body.prefix(req.body.count / 2))
                    s.sessions[id] = data
                    return .status(500)
                }
                data.append(contentsOf: req.body)
                s.sessions[id] = data
                return FakeResponse(status: s.patchStatus, headers: ["Range": "0-\(data.count - 1)", "Location": "/v2/up/\(id)?_state=\(data.count)"])
            case "GET":
                return FakeResponse(status: 204, headers: rangeHeader)
            case "PUT":
                if s.failMonolithicPut && !req.body.isEmpty { return .status(500) }
                data.append(contentsOf: req.body)
                let digest = OCIDigest.of(data).description
                guard digest == req.queryValue("digest") else { return .registryError(400, code: "DIGEST_INVALID") }
                s.blobs[digest] = data
                s.sessions[id] = nil
                return FakeResponse(status: 201, headers: ["Docker-Content-Digest": digest])
            default:
                return .status(405)
            }
        }
    }
}

final class UploadTests: XCTestCase {
    private func blob(_ size: Int) -> [UInt8] {
        (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) }
    }

    private func chunkedConfig(threshold: Int64, chunk: Int64) -> RegistryClient.Configuration {
        var c = testConfiguration()
        c.upload = RegistryClient.Configuration.Upload(chunkedThreshold: threshold, chunkSize: chunk)
        return c
    }

    // Above the threshold, blobs go up in PATCH chunks; ECR's 201 on PATCH is accepted.
    func testChunkedUploadAboveThresholdAcceptsECRStatus() async throws {
        let fake = ChunkedFakeRegistry()
        fake.state.withLock { $0.patchStatus = 201 }
        let bytes = blob(10_000)
        let d = Descriptor.of(bytes, mediaType: "application/octet-stream")
        try await withFake(configuration: chunkedConfig(threshold: 1000, chunk: 4000), fake.handle) { server, client in
            try await client.repository(host: server.host, name: "r", access: .push).push(d, source: .bytes(bytes))
        }
        let s = fake.state.withLock { $0 }
        XCTAssertEqual(s.blobs[d.digest.description], bytes)
        XCTAssertEqual(s.contentRanges, ["0-3999", "4000-7999", "8000-9999"])
    }

    // The registry's OCI-Chunk-Min-Length raises the chunk size.
    func testChunkMinLengthHonoured() async throws {
        let bytes = blob(10_000)
        let d = Descriptor.of(bytes, mediaType: "application/octet-stream")
        try await withInProcess(.init(chunkMinLength: 6000), configuration: chunkedConfig(threshold: 1000, chunk: 1000)) { registry, client in
            let repo = client.repository(host: registry.host, name: "r", access: .push)
            try await repo.push(d, source: .bytes(bytes))
            let contentRanges = registry.requests().filter { $0.method == "PATCH" }.map { $0.header("Content-Range") ?? "" }
            XCTAssertEqual(contentRanges, ["0-5999", "6000-9999"])
            let stored = try await repo.fetchAll(d, limit: 1 << 20)
            XCTAssertEqual(stored, bytes)
        }
    }

    // A failed PATCH resumes from the registry's Range on the same session, never from byte 0.
    func testFailedChunkResumesFromRange() async throws {
        let fake = ChunkedFakeRegistry()
        fake.state.withLock { $0.failPatchNumber = 2 }
        let bytes = blob(12_000)
        let d = Descriptor.of(bytes, mediaType: "application/octet-stream")
        try await withFake(configuration: chunkedConfig(threshold: 1000, chunk: 4000), fake.handle) { server, client in
            try await client.repository(host: server.host, name: "r", access: .push).push(d, source: .bytes(bytes))
        }
        let s = fake.state.withLock { $0 }
        XCTAssertEqual(s.blobs[d.digest.description], bytes)
        XCTAssertEqual(s.sessionsOpened, 1)
        XCTAssertEqual(s.contentRanges.first, "0-3999")
        XCTAssertEqual(s.contentRanges.filter { $0.hasPrefix("0-") }.count, 1, "\(s.contentRanges)")
        XCTAssertEqual(s.contentRanges[2], "6000-9999")
    }

    // A failed monolithic PUT falls back to a chunked upload on a fresh session.
    func testFailedPutFallsBackToChunks() async throws {
        let fake = ChunkedFakeRegistry()
        fake.state.withLock { $0.failMonolithicPut = true }
        let bytes = blob(5_000)
        let d = Descriptor.of(bytes, mediaType: "application/octet-stream")
        try await withFake(configuration: chunkedConfig(threshold: 1 << 30, chunk: 2048), fake.handle) { server, client in
            try await client.repository(host: server.host, name: "r", access: .push).push(d, source: .bytes(bytes))
        }
        let s = fake.state.withLock { $0 }
        XCTAssertEqual(s.blobs[d.digest.description], bytes)
        XCTAssertEqual(s.sessionsOpened, 2)
        XCTAssertEqual(s.contentRanges, ["0-2047", "2048-4095", "4096-4999"])
    }

    // Content that does not match its descriptor never completes an upload.
    func testWrongContentIsNotCommitted() async throws {
        let bytes = blob(3_000)
        let d = Descriptor.of(bytes, mediaType: "application/octet-stream")
        var wrong = bytes
        wrong[10] ^= 0xFF
        try await withInProcess { registry, client in
            let repo = client.repository(host: registry.host, name: "r", access: .push)
            do {
                try await repo.push(d, content: ByteStream(bytes: wrong))
                XCTFail("expected an error")
            } catch {}
            let stored = try await repo.exists(d)
            XCTAssertFalse(stored)
            let wrongStored = try await repo.exists(Descriptor.of(wrong, mediaType: d.mediaType))
            XCTAssertFalse(wrongStored, "the wrong bytes were kept")
        }
    }
}
