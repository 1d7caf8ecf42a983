import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import OCIContent
import OCISync

/// The body of a request: bytes (replayable on retry) or a stream of known length.
enum RequestBody: Sendable {
    case bytes([UInt8])
    case stream(ByteStream, length: Int64)

    var isReplayable: Bool {
        if case .bytes = self { return true }
        return false
    }

    var ahcBody: HTTPClientRequest.Body {
        switch self {
        case .bytes(let b): return .bytes(ByteBuffer(bytes: b))
        case .stream(let s, let length): return .stream(ByteBufferSequence(stream: s), length: .known(length))
        }
    }
}

/// Adapts a `ByteStream` to the `ByteBuffer` sequence AsyncHTTPClient streams from.
struct ByteBufferSequence: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let stream: ByteStream

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: ByteStream.AsyncIterator
        mutating func next() async throws -> ByteBuffer? {
            guard let chunk = try await base.next() else { return nil }
            return ByteBuffer(bytes: chunk)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: stream.makeAsyncIterator()) }
}

/// One AsyncHTTPClient per registry client, with that client's TLS settings. Redirects are not followed here:
/// the request layer follows them itself so that credentials never leave their host and HTTPS is never downgraded.
final class HTTPTransport: Sendable {
    let client: HTTPClient
    private let isShutDown = Locked(false)

    init(configuration: RegistryClient.Configuration) throws(RegistryError) {
        var tls = TLSConfiguration.makeClientConfiguration()
        if configuration.tls.insecureSkipVerify {
            tls.certificateVerification = .none
        }
        if !configuration.tls.caFiles.isEmpty {
            var roots: [NIOSSLCertificate] = []
            for file in configuration.tls.caFiles {
                do {
                    roots.append(contentsOf: try NIOSSLCertificate.fromPEMFile(file))
                } catch {
                    throw .invalidArgument("cannot read CA certificates from \(file): \(error); give a PEM file")
                }
            }
            tls.additionalTrustRoots = [.certificates(roots)]
        }
        var config = HTTPClient.Configuration(
            tlsConfiguration: tls,
            redirectConfiguration: .disallow,
            timeout: .init(connect: .init(configuration.connectTimeout), read: .init(configuration.readTimeout)),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 16),
            decompression: .disabled
        )
        config.httpVersion = .automatic
        // Fail connection attempts at once (a TLS probe of a plain-HTTP registry must not wait for the connect
        // timeout); the request layer retries with its own backoff.
        config.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    deinit {
        let needsShutdown = isShutDown.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        if needsShutdown {
            client.shutdown(queue: .global()) { _ in }
        }
    }

    func shutdown() async throws {
        let needsShutdown = isShutDown.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        if needsShutdown { try await client.shutdown() }
    }

    /// Sends one request, without redirects, retries or auth. Maps transport failures to `RegistryError`.
    func execute(method: HTTPMethod, url: URL, headers: HTTPHeaders, body: RequestBody?) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        request.headers = headers
        if let body { request.body = body.ahcBody }
        do {
            return try await client.execute(request, deadline: .distantFuture)
        } catch let error as HTTPClientError where error == .cancelled {
            throw CancellationError()
        } catch {
            throw Self.classify(error, host: url.hostWithPort)
        }
    }

    static func classify(_ error: any Error, host: String) -> RegistryError {
        if let e = error as? RegistryError { return e }
        let text = String(describing: error)
        if error is NIOSSLError || text.contains("SSL") || text.contains("handshake") || text.contains("certificate") {
            return .tls(host: host, underlying: text)
        }
        return .transport(host: host, underlying: text)
    }
}

extension Duration {
    var timeAmount: TimeAmount {
        let (s, atto) = components
        return .nanoseconds(s * 1_000_000_000 + atto / 1_000_000_000)
    }
}

extension TimeAmount {
    init(_ duration: Duration) { self = duration.timeAmount }
}

extension URL {
    /// `host:port` as written in references, IPv6 hosts in brackets; the port only when explicit.
    var hostWithPort: String {
        var h = host ?? ""
        if h.contains(":") && !h.hasPrefix("[") { h = "[\(h)]" }
        if let port { return "\(h):\(port)" }
        return h
    }

    /// Host and port with the scheme's default port filled in, for same-origin comparisons.
    var canonicalOrigin: String {
        let h = (host ?? "").lowercased()
        let p = port ?? (scheme?.lowercased() == "http" ? 80 : 443)
        return "\(h):\(p)"
    }
}
