import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
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

/// Starts an in-process registry (`registry`, plus `faults`) and a client with `configuration`, runs `body` with
/// both, and stops them (also when `body` throws).
package func withInProcess<T: Sendable>(
    _ registryConfiguration: InProcessRegistry.Configuration = InProcessRegistry.Configuration(),
    faults: [InProcessRegistry.Fault] = [],
    configuration: RegistryClient.Configuration = testConfiguration(),
    _ body: (InProcessRegistry, RegistryClient) async throws -> T
) async throws -> T {
    var registryConfiguration = registryConfiguration
    registryConfiguration.faults += faults
    let registry = try await InProcessRegistry.start(registryConfiguration)
    let client: RegistryClient
    do { client = try RegistryClient(configuration: configuration) } catch {
        try? await registry.shutdown()
        throw error
    }
    do {
        let result = try await body(registry, client)
        try? await client.shutdown()
        try? await registry.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        try? await registry.shutdown()
        throw error
    }
}

extension InProcessRegistry {
    /// Pushes `bytes` as a blob into `repository` through `client` (a test's setup; the requests are recorded,
    /// so tests that count requests call ``resetRequests()`` afterwards).
    @discardableResult
    package func seedBlob(_ bytes: [UInt8], in repository: String, client: RegistryClient,
                          mediaType: String = "application/octet-stream") async throws -> Descriptor {
        let d = Descriptor.of(bytes, mediaType: mediaType)
        try await client.repository(host: host, name: repository, access: .push).push(d, content: ByteStream(bytes: bytes))
        return d
    }

    /// Starts an upload session in `repository` with a plain `POST` (no client involved) and returns its
    /// `Location` (a path), for tests that hand a client a session through a scripted answer.
    package func startUploadSession(in repository: String) async throws -> String {
        guard let url = URL(string: baseURL + "/v2/\(repository)/blobs/uploads/") else { throw URLError(.badURL) }
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        let (_, response) = try await URLSession.shared.data(for: request)
        guard let http = response as? HTTPURLResponse, http.statusCode == 202,
              let location = http.value(forHTTPHeaderField: "Location") else { throw URLError(.badServerResponse) }
        return location
    }

    /// Pushes a manifest (by digest, and as `tag` when given) into `repository` through `client`.
    @discardableResult
    package func seedManifest(_ bytes: [UInt8], mediaType: String, tag: String? = nil, in repository: String,
                              client: RegistryClient) async throws -> Descriptor {
        try await client.repository(host: host, name: repository, access: .push)
            .pushManifest(bytes, mediaType: mediaType, reference: tag)
    }
}

extension InProcessRegistry.RecordedRequest {
    /// The first value of query parameter `name` (percent-decoded).
    package func queryValue(_ name: String) -> String? {
        queryValues(name).first
    }

    /// Every value of query parameter `name` (percent-decoded), in order.
    package func queryValues(_ name: String) -> [String] {
        (query ?? "").split(separator: "&").compactMap { item -> String? in
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.first.flatMap({ String($0).removingPercentEncoding }) == name else { return nil }
            return parts.count > 1 ? String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding : ""
        }
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
