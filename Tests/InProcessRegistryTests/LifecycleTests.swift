import Foundation
import NIOHTTP1
import OCISpec
import OCITesting
import XCTest

/// Start, shutdown and the scoped helper: ports chosen at run time, idempotent shutdown, nothing left serving.
final class LifecycleTests: XCTestCase {
    func testShutdownIsIdempotentAndStopsServing() async throws {
        let registry = try await InProcessRegistry.start()
        let other = try await InProcessRegistry.start()
        XCTAssertNotEqual(registry.port, other.port, "each registry gets its own free port")
        let raw = try RawHTTP(registry)
        let ping = try await raw.send(.GET, "/v2/")
        XCTAssertEqual(ping.status, 200)
        XCTAssertTrue(acceptsConnections(port: registry.port))
        try await registry.shutdown()
        try await registry.shutdown()
        XCTAssertFalse(acceptsConnections(port: registry.port), "a stopped registry must not accept connections")
        await raw.shutdown()
        try await other.shutdown()
    }

    func testShutdownEndsResponsesInProgress() async throws {
        let registry = try await InProcessRegistry.start()
        let raw = try RawHTTP(registry)
        let bytes = Bytes.random(10_000)
        let digest = try await raw.send(.POST, "/v2/slow/blobs/uploads/?digest=\(OCIDigest.of(bytes))", body: bytes)
        XCTAssertEqual(digest.status, 201)
        // 1 byte every 50 ms: the body would take minutes.
        registry.addFault(.init("GET", "/v2/slow/blobs/*", .slowBody(chunkSize: 1, interval: .milliseconds(50))))
        let download = Task { try await raw.send(.GET, "/v2/slow/blobs/\(OCIDigest.of(bytes))") }
        // Wait (bounded) until the registry has the request.
        for _ in 0..<500 where registry.requestCount("GET", "/v2/slow/blobs/*") == 0 {
            try await Task.sleep(for: .milliseconds(10))
        }
        XCTAssertEqual(registry.requestCount("GET", "/v2/slow/blobs/*"), 1)
        try await registry.shutdown()
        do {
            let response = try await download.value
            XCTAssertNotEqual(response.body, bytes, "the download cannot have completed")
        } catch {
            // The connection was closed under it.
        }
        await raw.shutdown()
    }

    func testScopedHelperShutsDownWhenTheBodyThrows() async throws {
        struct Expected: Error {}
        var port: Int?
        do {
            try await withInProcessRegistry { registry in
                port = registry.port
                XCTAssertTrue(acceptsConnections(port: registry.port))
                throw Expected()
            }
            XCTFail("the error must pass through")
        } catch is Expected {}
        XCTAssertFalse(acceptsConnections(port: try XCTUnwrap(port)), "the registry of the finished scope must be gone")
    }

    func testAddressesAndIPv6() async throws {
        do {
            _ = try await InProcessRegistry.start(.init(address: "127.0.0.1"))
            XCTFail("an address without a port is refused")
        } catch is InProcessRegistryError {}
        let registry: InProcessRegistry
        do {
            registry = try await InProcessRegistry.start(.init(address: "[::1]:0"))
        } catch {
            throw XCTSkip("no IPv6 loopback here: \(error)")
        }
        XCTAssertEqual(registry.bindHost, "::1")
        XCTAssertEqual(registry.host, "[::1]:\(registry.port)")
        let raw = try RawHTTP(registry)
        let ping = try await raw.send(.GET, "/v2/")
        XCTAssertEqual(ping.status, 200)
        await raw.shutdown()
        try await registry.shutdown()
    }
}
