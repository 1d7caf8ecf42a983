import Foundation
import OCIContent
import OCICredentials
import OCIRegistry
import OCISpec
import OCISync
import OCITesting

/// Settings for tests: fast retries, plain HTTP to the loopback fake.
package func testConfiguration(credentials: (any CredentialSource)? = nil) -> RegistryClient.Configuration {
    RegistryClient.Configuration(credentials: credentials,
                                retry: RegistryClient.Configuration.Retry(maxAttempts: 4, initialBackoff: .milliseconds(5), maxBackoff: .milliseconds(50)),
                                readTimeout: .seconds(5))
}

/// A minimal in-memory registry behind a FakeHTTPServer handler: /v2/, manifests and blobs by digest or tag,
/// and monolithic uploads. Tests wrap it to inject faults.
package final class FakeRegistry: Sendable {
    package struct State {
        package var blobs: [String: [UInt8]] = [:]
        package var manifests: [String: (mediaType: String, bytes: [UInt8])] = [:]
        package var uploads: [String: [UInt8]] = [:]
        package var nextUpload = 0
    }
    package let state = Locked(State())

    package init() {}

    package func addBlob(_ bytes: [UInt8]) -> Descriptor {
        let d = Descriptor.of(bytes, mediaType: "application/octet-stream")
        state.withLock { $0.blobs[d.digest.description] = bytes }
        return d
    }

    package func addManifest(_ bytes: [UInt8], mediaType: String, tag: String? = nil) -> Descriptor {
        let d = Descriptor.of(bytes, mediaType: mediaType)
        state.withLock {
            $0.manifests[d.digest.description] = (mediaType, bytes)
            if let tag { $0.manifests[tag] = (mediaType, bytes) }
        }
        return d
    }

    /// Handles the standard routes; returns nil for paths it does not know.
    package func handle(_ req: FakeRequest) -> FakeResponse? {
        let path = req.path
        if path == "/v2/" || path == "/v2" { return .json(200, "{}") }
        guard path.hasPrefix("/v2/") else { return nil }
        let rest = String(path.dropFirst(4))
        if let r = rest.range(of: "/manifests/") {
            let ref = String(rest[r.upperBound...])
            if req.method == "PUT" {
                let mt = req.headers["Content-Type"] ?? ""
                let d = addManifest(req.body, mediaType: mt, tag: OCIDigest(ref) == nil ? ref : nil)
                return FakeResponse(status: 201, headers: ["Docker-Content-Digest": d.digest.description])
            }
            guard let m = state.withLock({ $0.manifests[ref] }) else { return .registryError(404, code: "MANIFEST_UNKNOWN") }
            let d = OCIDigest.of(m.bytes)
            return FakeResponse(status: 200, headers: ["Content-Type": m.mediaType, "Docker-Content-Digest": d.description],
                                body: req.method == "HEAD" ? [] : m.bytes)
        }
        if rest.hasSuffix("/blobs/uploads/") && req.method == "POST" {
            let id = state.withLock { s -> Int in s.nextUpload += 1; return s.nextUpload }
            return FakeResponse(status: 202, headers: ["Location": "/v2/upload/\(id)?_state=abc", "Range": "0-0"])
        }
        if let r = rest.range(of: "/blobs/") {
            let digest = String(rest[r.upperBound...])
            guard let bytes = state.withLock({ $0.blobs[digest] }) else { return .registryError(404, code: "BLOB_UNKNOWN") }
            return FakeResponse(status: 200, headers: ["Docker-Content-Digest": digest, "Content-Type": "application/octet-stream"],
                                body: req.method == "HEAD" ? [] : bytes)
        }
        if rest.hasPrefix("upload/"), req.method == "PUT", let digest = req.queryValue("digest") {
            state.withLock { $0.blobs[digest] = req.body }
            return FakeResponse(status: 201, headers: ["Docker-Content-Digest": digest])
        }
        return nil
    }
}

/// Starts a fake server whose handler is `handler`, runs `body` with a client for it, and stops both.
package func withFake<T: Sendable>(
    configuration: RegistryClient.Configuration = testConfiguration(),
    _ handler: @escaping @Sendable (FakeRequest) async -> FakeResponse,
    _ body: (FakeHTTPServer, RegistryClient) async throws -> T
) async throws -> T {
    let server = try await FakeHTTPServer.start(handler: handler)
    let client = try RegistryClient(configuration: configuration)
    do {
        let result = try await body(server, client)
        try? await client.shutdown()
        await server.stop()
        return result
    } catch {
        try? await client.shutdown()
        await server.stop()
        throw error
    }
}

/// The requests that reached the fake over plain HTTP (the client's first HTTPS probe is not a request).
package func registryRequests(_ server: FakeHTTPServer) -> [FakeRequest] {
    server.requests().filter { $0.path.hasPrefix("/") }
}
