import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import OCISync

/// An OCI distribution registry served in process on swift-nio, for tests: no binary, no fixed port.
///
/// ```swift
/// try await withInProcessRegistry { registry in
///     // push to and pull from registry.host ("127.0.0.1:PORT") over plain HTTP
/// }
/// let secure = try await InProcessRegistry.start(.init(auth: .token([.init("alice", password: "pw")]), tls: .generated))
/// // trust secure.caCertificatePEM; …
/// try await secure.shutdown()
/// ```
///
/// It implements the distribution API (manifests by tag and digest with their exact bytes, blobs with ranges,
/// monolithic, chunked and cross-repository-mount uploads, tag and catalog paging, the OCI 1.1 referrers API,
/// deletes) with the spec's error codes, optional Basic or token authentication, optional TLS with a CA made at
/// start, and for tests: scripted faults (``Fault``) and a record of every request (``requests()``). Every blob
/// and manifest is verified against its digest before it is stored.
public final class InProcessRegistry: Sendable {
    /// Everything the registry is started with; shaped to back a `registry serve` command later.
    public struct Configuration: Sendable {
        /// `HOST:PORT` to listen on (`[::1]:0` for IPv6); port 0 picks a free port. Default `127.0.0.1:0`.
        public var address: String
        /// Memory (default) or a directory.
        public var storage: Storage
        /// No authentication (default), Basic or token.
        public var auth: Auth
        /// nil: plain HTTP.
        public var tls: TLS?
        /// Faults in force from the start (more with ``InProcessRegistry/addFault(_:)``).
        public var faults: [Fault]
        /// Whether manifests, tags and blobs can be deleted (405 `UNSUPPORTED` otherwise, as distribution).
        public var deleteEnabled: Bool
        /// The largest manifest accepted (4 MiB, as distribution); larger ones get 413 `MANIFEST_INVALID`.
        public var maxManifestBytes: Int
        /// Sent as `OCI-Chunk-Min-Length` when an upload starts; chunks but the last must be at least this long
        /// (416 otherwise). 0: no minimum.
        public var chunkMinLength: Int
        /// Starts a second listener, the blob host, that serves blobs the way object storage serves presigned
        /// URLs; ``Fault/Behavior/redirectToBlobHost(status:)`` redirects to it. Also started when `faults`
        /// holds such a redirect.
        public var blobHost: Bool

        /// A configuration; the defaults serve plain HTTP on a free loopback port from memory, without auth.
        public init(address: String = "127.0.0.1:0", storage: Storage = .memory, auth: Auth = .none, tls: TLS? = nil,
                    faults: [Fault] = [], deleteEnabled: Bool = true, maxManifestBytes: Int = 4 << 20,
                    chunkMinLength: Int = 0, blobHost: Bool = false) {
            self.address = address
            self.storage = storage
            self.auth = auth
            self.tls = tls
            self.faults = faults
            self.deleteEnabled = deleteEnabled
            self.maxManifestBytes = maxManifestBytes
            self.chunkMinLength = max(0, chunkMinLength)
            self.blobHost = blobHost
        }
    }

    /// The configuration it was started with.
    public let configuration: Configuration
    /// The bound host, e.g. `127.0.0.1`.
    public let bindHost: String
    /// The listening port.
    public let port: Int
    /// `HOST:PORT` as a client names the registry (`127.0.0.1:5000`, `[::1]:5000`).
    public let host: String
    /// `http` or `https`.
    public let scheme: String
    /// `scheme://host`, no trailing slash.
    public let baseURL: String
    /// ``baseURL`` as a URL.
    public let url: URL
    /// The generated CA's certificate (PEM) with ``TLS/generated``; nil otherwise.
    public let caCertificatePEM: String?
    /// A file holding ``caCertificatePEM`` (`ca.crt`), alone in ``certificateDirectory``; removed at shutdown.
    public let caCertificatePath: String?
    /// A directory holding only `ca.crt`, as `skopeo --cert-dir` and docker's `certs.d` want.
    public let certificateDirectory: String?
    /// `HOST:PORT` of the blob host when it runs.
    public let blobHost: String?

    let core: RegistryCore
    private let server: RegistryHTTPServer
    private let blobServer: RegistryHTTPServer?
    private let stopped = Locked(false)

    private init(configuration: Configuration, core: RegistryCore, server: RegistryHTTPServer, blobServer: RegistryHTTPServer?,
                 scheme: String, caPEM: String?, certificateDirectory: String?) {
        self.configuration = configuration
        self.core = core
        self.server = server
        self.blobServer = blobServer
        self.bindHost = server.host
        self.port = server.port
        let hostPart = server.host.contains(":") ? "[\(server.host)]" : server.host
        self.host = "\(hostPart):\(server.port)"
        self.scheme = scheme
        self.baseURL = "\(scheme)://\(hostPart):\(server.port)"
        self.url = URL(string: "\(scheme)://\(hostPart):\(server.port)") ?? URL(fileURLWithPath: "/")
        self.caCertificatePEM = caPEM
        self.certificateDirectory = certificateDirectory
        self.caCertificatePath = certificateDirectory.map { $0 + "/ca.crt" }
        self.blobHost = blobServer.map { s in (s.host.contains(":") ? "[\(s.host)]" : s.host) + ":\(s.port)" }
    }

    /// Starts a registry; stop it with ``shutdown()``.
    public static func start(_ configuration: Configuration = Configuration()) async throws -> InProcessRegistry {
        let (bindHost, bindPort) = try parseAddress(configuration.address)
        let store = try RegistryStore(configuration.storage)
        var sslContext: NIOSSLContext?
        var caPEM: String?
        var certificateDirectory: String?
        if let tls = configuration.tls {
            let made = try tls.makeContext(hosts: [bindHost])
            sslContext = made.0
            caPEM = made.caPEM
            if let caPEM {
                let dir = FileManager.default.temporaryDirectory
                    .appendingPathComponent("inprocess-registry-ca-\(UUID().uuidString.lowercased())").path
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                guard FileManager.default.createFile(atPath: dir + "/ca.crt", contents: Data(caPEM.utf8)) else {
                    throw InProcessRegistryError("cannot write the CA certificate to \(dir)")
                }
                certificateDirectory = dir
            }
        }
        let scheme = sslContext == nil ? "http" : "https"
        let core = RegistryCore(configuration: configuration, store: store)
        let wantsBlobHost = configuration.blobHost || configuration.faults.contains {
            if case .redirectToBlobHost = $0.behavior { return true }
            return false
        }
        var blobServer: RegistryHTTPServer?
        do {
            if wantsBlobHost {
                let blob = try await RegistryHTTPServer.start(host: bindHost, port: 0, tls: sslContext) { head, body in
                    await core.handleBlobHost(head, body: body)
                }
                blobServer = blob
                let hostPart = bindHost.contains(":") ? "[\(bindHost)]" : bindHost
                core.setBlobHostBase("\(scheme)://\(hostPart):\(blob.port)")
            }
            let server = try await RegistryHTTPServer.start(host: bindHost, port: bindPort, tls: sslContext) { head, body in
                await core.handle(head, body: body)
            }
            let hostPart = bindHost.contains(":") ? "[\(bindHost)]" : bindHost
            core.setBase("\(scheme)://\(hostPart):\(server.port)")
            return InProcessRegistry(configuration: configuration, core: core, server: server, blobServer: blobServer,
                                     scheme: scheme, caPEM: caPEM, certificateDirectory: certificateDirectory)
        } catch {
            await blobServer?.stop()
            if let certificateDirectory { try? FileManager.default.removeItem(atPath: certificateDirectory) }
            throw error
        }
    }

    /// Splits `HOST:PORT` / `[V6]:PORT`.
    static func parseAddress(_ address: String) throws -> (String, Int) {
        var host: Substring
        var portText: Substring
        if address.hasPrefix("[") {
            guard let close = address.firstIndex(of: "]") else { throw InProcessRegistryError("invalid address \(address)") }
            host = address[address.index(after: address.startIndex)..<close]
            let rest = address[address.index(after: close)...]
            guard rest.hasPrefix(":") else { throw InProcessRegistryError("address \(address) lacks a port") }
            portText = rest.dropFirst()
        } else {
            guard let colon = address.lastIndex(of: ":") else { throw InProcessRegistryError("address \(address) lacks a port") }
            host = address[..<colon]
            portText = address[address.index(after: colon)...]
        }
        if host.isEmpty { host = "0.0.0.0" }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw InProcessRegistryError("invalid port in address \(address)")
        }
        return (String(host), port)
    }

    /// Stops both listeners, closes every connection and removes the CA file. Memory storage is gone afterwards;
    /// directory storage stays. Idempotent.
    public func shutdown() async throws {
        let already = stopped.withLock { value -> Bool in
            defer { value = true }
            return value
        }
        if already { return }
        await server.stop()
        await blobServer?.stop()
        if let certificateDirectory { try? FileManager.default.removeItem(atPath: certificateDirectory) }
    }

    // MARK: faults

    /// Adds a fault after those already in force.
    public func addFault(_ fault: Fault) {
        core.faults.add(fault)
    }

    /// Replaces every fault (an empty list removes them all); match counts start anew.
    public func setFaults(_ faults: [Fault]) {
        core.faults.set(faults)
    }

    /// Removes every fault.
    public func removeAllFaults() {
        core.faults.set([])
    }

    // MARK: recorded requests

    /// Every request the registry received (the token endpoint's too), in arrival order.
    public func requests() -> [RecordedRequest] {
        core.recorder.all
    }

    /// Every request the blob host received.
    public func blobHostRequests() -> [RecordedRequest] {
        core.blobRecorder.all
    }

    /// How many requests with `method` (nil: any) had a path matching `path` (a ``Fault/path`` pattern).
    public func requestCount(_ method: String? = nil, _ path: String = "**") -> Int {
        requests().filter { request in
            (method.map { $0.uppercased() == request.method } ?? true) && RegistryPathPattern.matches(path, request.path)
        }.count
    }

    /// Forgets the recorded requests (of both listeners).
    public func resetRequests() {
        core.recorder.reset()
        core.blobRecorder.reset()
    }

    /// `scheme://host` + `path`.
    public func urlString(_ path: String) -> String {
        baseURL + path
    }
}

/// Starts a registry, runs `body` with it and shuts it down afterwards (also when `body` throws).
public func withInProcessRegistry<T>(_ configuration: InProcessRegistry.Configuration = InProcessRegistry.Configuration(),
                                     isolation: isolated (any Actor)? = #isolation,
                                     _ body: (InProcessRegistry) async throws -> T) async throws -> T {
    let registry = try await InProcessRegistry.start(configuration)
    do {
        let result = try await body(registry)
        try await registry.shutdown()
        return result
    } catch {
        try? await registry.shutdown()
        throw error
    }
}
