import Foundation
import OCISync

/// An in-process HTTP/1.1 server on 127.0.0.1 (kernel-chosen port) whose every answer a test scripts.
///
/// Registry behaviour belongs on ``InProcessRegistry``: scripted statuses and `Retry-After`, cut, slow and corrupt
/// bodies, redirects, non-JSON error bodies and missing headers are its ``InProcessRegistry/Fault``s. This server
/// remains only for what a registry cannot be made to do:
/// - bodies that never end (of a declared size, of no size, for manifests and for error answers);
/// - a `Content-Length` that lies about the bytes on the socket, in either direction;
/// - a registry that ignores `Range` while cutting every body (a fault applies once per request);
/// - upload sessions that misbehave inside the protocol: a PATCH that keeps half its body and answers 500, ECR's
///   201 on PATCH, only the monolithic PUT failing (`ChunkedFakeRegistry` in UploadTests);
/// - scripted authentication flows beyond the registry's token server: `insufficient_scope` challenges,
///   identity-token POST with GET fallback and refresh tokens, chosen token and refresh-token values (the secrets
///   tests look for them in logs), token realms on other hosts, challenges from a
///   redirect target (object storage) that must not be answered;
/// - schema1 manifests (InProcessRegistry refuses them);
/// - self-tests of this server (HarnessTests).
///
/// ```swift
/// let fake = try await FakeHTTPServer.start { request in
///     request.path == "/v2/" ? .json(200, "{}") : FakeResponse(status: 200, body: blob, behavior: .cutAfter(bytes: 10))
/// }
/// // … exercise the client against fake.baseURL …
/// await fake.stop()
/// ```
/// Every request is recorded (see ``requests()``); connections are kept alive unless the client or the response
/// asks otherwise.
public final class FakeHTTPServer: Sendable {
    /// The listening port.
    public let port: Int
    /// `127.0.0.1:PORT`.
    public let host: String
    /// `http://127.0.0.1:PORT` (no trailing slash).
    public let baseURL: String
    /// ``baseURL`` as a `URL`.
    public let url: URL

    private let server: LoopbackHTTPServer
    private let recorded: Locked<[FakeRequest]>

    private init(server: LoopbackHTTPServer, recorded: Locked<[FakeRequest]>) {
        self.server = server
        self.recorded = recorded
        self.port = server.port
        self.host = "127.0.0.1:\(server.port)"
        self.baseURL = "http://127.0.0.1:\(server.port)"
        self.url = URL(string: "http://127.0.0.1:\(server.port)") ?? URL(fileURLWithPath: "/")
    }

    /// Starts a server that answers every request with `handler`'s response.
    public static func start(handler: @escaping @Sendable (FakeRequest) async -> FakeResponse) async throws -> FakeHTTPServer {
        let recorded = Locked<[FakeRequest]>([])
        let server = try await LoopbackHTTPServer.start(handler: handler, recorder: { request in
            recorded.withLock { $0.append(request) }
        })
        return FakeHTTPServer(server: server, recorded: recorded)
    }

    /// Starts a server, runs `body` with it and stops it afterwards (also when `body` throws).
    public static func withServer<T>(isolation: isolated (any Actor)? = #isolation,
                                     handler: @escaping @Sendable (FakeRequest) async -> FakeResponse,
                                     _ body: (FakeHTTPServer) async throws -> T) async throws -> T {
        let server = try await start(handler: handler)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// `baseURL + path`, e.g. `fake.url(for: "/v2/")`.
    public func urlString(_ path: String) -> String {
        baseURL + path
    }

    /// Every request received so far, in arrival order.
    public func requests() -> [FakeRequest] {
        recorded.current
    }

    /// How many connections began with a TLS handshake (a client trying HTTPS on this plain-HTTP port); each
    /// was closed at once.
    public func tlsHandshakes() -> Int {
        server.tlsHandshakes
    }

    /// Forgets the recorded requests.
    public func resetRequests() {
        recorded.withLock { $0.removeAll() }
    }

    /// Stops listening, closes all connections and waits for running handlers. Idempotent.
    public func stop() async {
        await server.stop()
    }
}
