import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import OCIContent
import OCIReference
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

/// The HTTP layer of one registry client: an AsyncHTTPClient per proxy route (direct, the HTTPS proxy, the HTTP
/// proxy), made when first needed, and a TLS configuration per registry host passed with each request.
///
/// AsyncHTTPClient takes its proxy per `HTTPClient`, so requests are routed by URL to the client of their route
/// (``RegistryClient/Configuration/Proxy`` decides, `NO_PROXY` included). TLS is per request
/// (`HTTPClientRequest.tlsConfiguration`): AsyncHTTPClient keys its connection pool by it, so client certificates
/// and CA files of one registry are never offered to another, without a client per host. Redirects are not followed
/// here: the request layer follows them itself so that credentials never leave their host and HTTPS is never
/// downgraded.
final class HTTPTransport: Sendable {
    private let configuration: RegistryClient.Configuration
    private let proxies: (https: ProxyServer?, http: ProxyServer?)
    private let clients = Locked<[ProxyServer?: HTTPClient]>([:])
    private let tlsByHost = Locked<[String: TLSConfiguration]>([:])
    private let isShutDown = Locked(false)

    /// The direct client (also the one tests and diagnostics reach for).
    let client: HTTPClient

    init(configuration: RegistryClient.Configuration) throws(RegistryError) {
        self.configuration = configuration
        self.proxies = try configuration.proxy.servers()
        // Client-wide files are read now, so that a wrong path fails at creation.
        _ = try Self.makeTLS(configuration: configuration, hostWithPort: nil)
        client = Self.makeClient(configuration: configuration, proxy: nil)
        clients.withLock { $0[nil] = client }
    }

    private static func makeClient(configuration: RegistryClient.Configuration, proxy: ProxyServer?) -> HTTPClient {
        var config = HTTPClient.Configuration(
            tlsConfiguration: TLSConfiguration.makeClientConfiguration(),
            redirectConfiguration: .disallow,
            timeout: .init(connect: .init(configuration.connectTimeout), read: .init(configuration.readTimeout)),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 16),
            decompression: .disabled
        )
        config.httpVersion = .automatic
        // Fail connection attempts at once (a TLS probe of a plain-HTTP registry must not wait for the connect
        // timeout); the request layer retries with its own backoff.
        config.connectionPool.retryConnectionEstablishment = false
        if let proxy {
            switch proxy.kind {
            case .http:
                let authorization = proxy.username.map { HTTPClient.Authorization.basic(username: $0, password: proxy.password ?? "") }
                config.proxy = .server(host: proxy.host, port: proxy.port, authorization: authorization)
            case .socks:
                config.proxy = .socksServer(host: proxy.host, port: proxy.port)
            }
        }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    /// The proxy a request to `url` goes through, if any.
    func proxy(for url: URL) -> ProxyServer? {
        guard configuration.proxy.rawProxy(for: url) != nil else { return nil }
        return url.scheme?.lowercased() == "http" ? proxies.http : proxies.https
    }

    private func client(for proxy: ProxyServer?) throws -> HTTPClient {
        try clients.withLock { map in
            if let existing = map[proxy] { return existing }
            guard !isShutDown.current else { throw HTTPClientError.alreadyShutdown }
            let made = Self.makeClient(configuration: configuration, proxy: proxy)
            map[proxy] = made
            return made
        }
    }

    /// The TLS configuration for HTTPS requests to `hostWithPort` (see ``RegistryClient/Configuration/TLS``).
    func tlsConfiguration(for hostWithPort: String) throws(RegistryError) -> TLSConfiguration {
        if let cached = tlsByHost.withLock({ $0[hostWithPort] }) { return cached }
        let made = try Self.makeTLS(configuration: configuration, hostWithPort: hostWithPort)
        tlsByHost.withLock { $0[hostWithPort] = made }
        return made
    }

    static func makeTLS(configuration: RegistryClient.Configuration, hostWithPort: String?) throws(RegistryError) -> TLSConfiguration {
        let settings = configuration.tls
        var caFiles = settings.caFiles
        var clientCertificate = settings.clientCertificate
        var insecure = settings.insecureSkipVerify
        if let hostWithPort {
            let names = Self.lookupNames(hostWithPort)
            if let found = CertificateDirectory.find(names: names, in: settings.certificateDirectories) {
                caFiles += found.caFiles
                if let certificate = found.clientCertificate { clientCertificate = certificate }
            }
            if let name = names.first(where: { settings.hosts[$0] != nil }), let host = settings.hosts[name] {
                caFiles += host.caFiles
                if let certificate = host.clientCertificate { clientCertificate = certificate }
                insecure = insecure || host.insecureSkipVerify
            }
            insecure = insecure || configuration.registries.hostSettings(hostWithPort).insecure
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        if insecure { tls.certificateVerification = .none }
        if !caFiles.isEmpty {
            var roots: [NIOSSLCertificate] = []
            for file in caFiles {
                do {
                    roots.append(contentsOf: try NIOSSLCertificate.fromPEMFile(file))
                } catch {
                    throw .invalidArgument("cannot read CA certificates from \(file): \(error); give a PEM file")
                }
            }
            tls.additionalTrustRoots = [.certificates(roots)]
        }
        if let clientCertificate {
            let chain: [NIOSSLCertificate]
            do { chain = try NIOSSLCertificate.fromPEMFile(clientCertificate.certificateFile) } catch {
                throw .invalidArgument("cannot read the client certificate \(clientCertificate.certificateFile): \(error); give a PEM file")
            }
            guard !chain.isEmpty else {
                throw .invalidArgument("the client certificate file \(clientCertificate.certificateFile) holds no certificate")
            }
            let key: NIOSSLPrivateKey
            do { key = try NIOSSLPrivateKey(file: clientCertificate.keyFile, format: .pem) } catch {
                throw .invalidArgument("cannot read the client key \(clientCertificate.keyFile): \(error); give an unencrypted PEM key")
            }
            tls.certificateChain = chain.map { .certificate($0) }
            tls.privateKey = .privateKey(key)
        }
        return tls
    }

    /// `HOST:PORT` then `HOST` (the names a certs.d directory or a hosts entry may have).
    static func lookupNames(_ hostWithPort: String) -> [String] {
        let lower = hostWithPort.lowercased()
        let bare = HostClassifier.hostOnly(lower)
        let unbracketed = bare.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        var names = [lower]
        for name in [bare, unbracketed] where !names.contains(name) { names.append(name) }
        return names
    }

    deinit {
        let needsShutdown = isShutDown.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        if needsShutdown {
            for client in clients.withLock({ Array($0.values) }) { client.shutdown(queue: .global()) { _ in } }
        }
    }

    func shutdown() async throws {
        let needsShutdown = isShutDown.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard needsShutdown else { return }
        var firstError: (any Error)?
        for client in clients.withLock({ Array($0.values) }) {
            do { try await client.shutdown() } catch { if firstError == nil { firstError = error } }
        }
        if let firstError { throw firstError }
    }

    /// Sends one request, without redirects, retries or auth. Maps transport failures to `RegistryError`.
    func execute(method: HTTPMethod, url: URL, headers: HTTPHeaders, body: RequestBody?) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        request.headers = headers
        if let body { request.body = body.ahcBody }
        var offersClientCertificate = false
        if url.scheme?.lowercased() == "https" {
            let tls = try tlsConfiguration(for: url.hostWithPort)
            offersClientCertificate = !tls.certificateChain.isEmpty
            request.tlsConfiguration = tls
        }
        let proxy = proxy(for: url)
        if let proxy, proxy.kind == .http, url.scheme?.lowercased() == "http" {
            return try await AbsoluteFormForwarding.execute(proxy: proxy, method: method, url: url, headers: headers, body: body,
                                                            connectTimeout: configuration.connectTimeout,
                                                            readTimeout: configuration.readTimeout)
        }
        do {
            return try await client(for: proxy).execute(request, deadline: .distantFuture)
        } catch let error as HTTPClientError where error == .cancelled {
            throw CancellationError()
        } catch let error as HTTPClientError where error == .remoteConnectionClosed && request.tlsConfiguration != nil && !offersClientCertificate {
            // A registry that demands a client certificate closes a TLS 1.3 connection without one right after the
            // handshake, which is all the client sees: say what may be missing.
            throw RegistryError.transport(host: url.hostWithPort, underlying: "\(error)"
                + (proxy.map { " (through the proxy \($0.redacted))" } ?? "")
                + "; if the registry demands a client certificate (mutual TLS), give one (TLS.clientCertificate, TLS.hosts or a certs.d client.cert)")
        } catch {
            throw Self.classify(error, host: url.hostWithPort, proxy: proxy)
        }
    }

    static func classify(_ error: any Error, host: String, proxy: ProxyServer? = nil) -> RegistryError {
        if let e = error as? RegistryError { return e }
        let text = String(describing: error)
        if let proxy, let httpError = error as? HTTPClientError {
            switch httpError {
            case .proxyAuthenticationRequired:
                return .proxy(proxy: proxy.redacted, target: host, why: proxy.username == nil
                    ? "it asks for credentials (407); give them in the proxy URL, http://USER:PASSWORD@HOST:PORT"
                    : "it refused the credentials of the proxy URL (407)")
            case .invalidProxyResponse, .httpProxyHandshakeTimeout, .socksHandshakeTimeout:
                return .proxy(proxy: proxy.redacted, target: host, why: "\(httpError)")
            default: break
            }
        }
        let via = proxy.map { " (through the proxy \($0.redacted))" } ?? ""
        if error is NIOSSLError || text.contains("SSL") || text.contains("handshake") || text.contains("certificate") {
            return .tls(host: host, underlying: text + via)
        }
        return .transport(host: host, underlying: text + via)
    }
}

/// A `certs.d` directory of one registry: `*.crt` CA files, a `NAME.cert` client certificate with its `NAME.key`.
struct CertificateDirectory: Sendable {
    var caFiles: [String] = []
    var clientCertificate: RegistryClient.Configuration.ClientCertificate?

    /// The first root that has a directory for one of `names` (in that order), read.
    static func find(names: [String], in roots: [String]) -> CertificateDirectory? {
        for root in roots {
            for name in names {
                let directory = (root as NSString).appendingPathComponent(name)
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
                return read(directory)
            }
        }
        return nil
    }

    static func read(_ directory: String) -> CertificateDirectory {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        var found = CertificateDirectory()
        for file in files {
            let path = (directory as NSString).appendingPathComponent(file)
            if file.hasSuffix(".crt") {
                found.caFiles.append(path)
            } else if file.hasSuffix(".cert"), found.clientCertificate == nil {
                let key = String(path.dropLast(".cert".count)) + ".key"
                if FileManager.default.fileExists(atPath: key) {
                    found.clientCertificate = RegistryClient.Configuration.ClientCertificate(certificateFile: path, keyFile: key)
                }
            }
        }
        return found
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
