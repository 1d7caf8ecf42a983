import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import OCISync

/// The HTTP/1.1 server under ``FakeHTTPServer`` and ``TokenServer``: listens on 127.0.0.1 with a kernel-chosen
/// port, buffers each request, asks an async handler for the response and writes it with the requested behaviour.
/// Keep-alive and pipelining work (NIO's server pipeline serialises requests per connection).
final class LoopbackHTTPServer: Sendable {
    typealias Handler = @Sendable (FakeRequest) async -> FakeResponse

    let port: Int
    private let serverChannel: Channel
    private let state: ServerState

    private init(port: Int, serverChannel: Channel, state: ServerState) {
        self.port = port
        self.serverChannel = serverChannel
        self.state = state
    }

    static func start(handler: @escaping Handler, recorder: (@Sendable (FakeRequest) -> Void)? = nil) async throws -> LoopbackHTTPServer {
        let state = ServerState()
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let connectionID = state.register(channel) else {
                        throw OCITestingError("server is stopping")
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(PlainHTTPOnlyHandler(onHandshake: { state.noteTLSHandshake() }),
                                                                   position: .first)
                    try channel.pipeline.syncOperations.addHandler(
                        RequestHandler(handler: handler, recorder: recorder, state: state, connectionID: connectionID))
                    channel.closeFuture.whenComplete { _ in state.unregister(channel) }
                }
            }
        let channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        guard let port = channel.localAddress?.port else {
            try? await channel.close()
            throw OCITestingError("could not determine the listening port")
        }
        return LoopbackHTTPServer(port: port, serverChannel: channel, state: state)
    }

    /// How many connections began with a TLS handshake (a client trying HTTPS) and were closed.
    var tlsHandshakes: Int { state.tlsHandshakes }

    /// Stops accepting, closes every connection, cancels running handlers and waits for them. Idempotent.
    func stop() async {
        try? await serverChannel.close()
        let (channels, tasks) = state.shutdown()
        for channel in channels {
            try? await channel.close()
        }
        for task in tasks {
            task.cancel()
        }
        for task in tasks {
            await task.value
        }
    }

    deinit {
        // Best effort when the owner forgot stop(): close without waiting.
        serverChannel.close(promise: nil)
        let (channels, tasks) = state.shutdown()
        channels.forEach { $0.close(promise: nil) }
        tasks.forEach { $0.cancel() }
    }
}

/// Open connections and in-flight handler tasks of one server.
final class ServerState: Sendable {
    private struct Inner {
        var stopping = false
        var channels: [ObjectIdentifier: Channel] = [:]
        var tasks: [Int: Task<Void, Never>] = [:]
        var nextTaskID = 0
        var nextConnectionID = 0
        var tlsHandshakes = 0
    }

    private let inner = Locked(Inner())

    /// Counts a connection refused because it began a TLS handshake.
    func noteTLSHandshake() {
        inner.withLock { $0.tlsHandshakes += 1 }
    }

    /// How many connections began with a TLS handshake (and were closed).
    var tlsHandshakes: Int {
        inner.withLock { $0.tlsHandshakes }
    }

    /// Tracks a new connection; returns its id, or `nil` once stopping.
    func register(_ channel: Channel) -> Int? {
        inner.withLock { s in
            if s.stopping { return nil }
            s.channels[ObjectIdentifier(channel)] = channel
            s.nextConnectionID += 1
            return s.nextConnectionID
        }
    }

    func unregister(_ channel: Channel) {
        inner.withLock { _ = $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Starts `body` as a tracked task (or not at all once stopping).
    func spawn(_ body: @escaping @Sendable () async -> Void) {
        inner.withLock { s in
            guard !s.stopping else { return }
            let id = s.nextTaskID
            s.nextTaskID += 1
            let task = Task {
                await body()
                self.finish(id)
            }
            // `finish` needs the lock too, so it always runs after this insertion.
            s.tasks[id] = task
        }
    }

    private func finish(_ id: Int) {
        inner.withLock { _ = $0.tasks.removeValue(forKey: id) }
    }

    func shutdown() -> ([Channel], [Task<Void, Never>]) {
        inner.withLock { s in
            s.stopping = true
            let result = (Array(s.channels.values), Array(s.tasks.values))
            s.channels.removeAll()
            s.tasks.removeAll()
            return result
        }
    }
}

/// Collects one request at a time and hands it to the async handler; runs on the channel's event loop.
private final class RequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let handler: LoopbackHTTPServer.Handler
    private let recorder: (@Sendable (FakeRequest) -> Void)?
    private let state: ServerState
    private let connectionID: Int
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(handler: @escaping LoopbackHTTPServer.Handler, recorder: (@Sendable (FakeRequest) -> Void)?, state: ServerState,
         connectionID: Int) {
        self.handler = handler
        self.recorder = recorder
        self.state = state
        self.connectionID = connectionID
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
            // Clients such as libcurl (URLSession on Linux) wait for this before sending large bodies.
            if h.headers["expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                let proceed = HTTPResponseHead(version: h.version, status: .continue)
                context.writeAndFlush(wrapOutboundOut(.head(proceed)), promise: nil)
            }
        case .body(let buffer):
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let h = head else { return }
            head = nil
            var headers = FakeHeaders()
            for (name, value) in h.headers {
                headers.add(name, value)
            }
            let request = FakeRequest(method: h.method.rawValue, uri: h.uri, headers: headers, body: body,
                                      version: "HTTP/\(h.version.major).\(h.version.minor)", connectionID: connectionID)
            body = []
            recorder?(request)
            let channel = context.channel
            let handler = self.handler
            let keepAlive = h.isKeepAlive
            let isHead = h.method == .HEAD
            let version = h.version
            state.spawn {
                let response = await handler(request)
                await ResponseWriter.write(response, on: channel, version: version, keepAlive: keepAlive, isHead: isHead)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

enum ResponseWriter {
    static func write(_ response: FakeResponse, on channel: Channel, version: HTTPVersion, keepAlive: Bool, isHead: Bool) async {
        var headers = HTTPHeaders()
        for field in response.headers {
            headers.add(name: field.name, value: field.value)
        }
        var closeAfter = !keepAlive || response.headers["Connection"]?.lowercased() == "close"
        let mayHaveBody = !(100..<200).contains(response.status) && response.status != 204 && response.status != 304
        let hasFraming = headers.contains(name: "content-length") || headers.contains(name: "transfer-encoding")

        switch response.behavior {
        case .closeWithoutResponse:
            try? await channel.close()
            return
        case .endless:
            headers.remove(name: "content-length")
            if version.major == 1 && version.minor >= 1 {
                headers.replaceOrAdd(name: "transfer-encoding", value: "chunked")
            } else {
                closeAfter = true
            }
        case .normal, .cutAfter, .drip:
            if !hasFraming && mayHaveBody {
                headers.replaceOrAdd(name: "content-length", value: String(response.body.count))
            }
        }
        if closeAfter && !headers.contains(name: "connection") {
            headers.add(name: "connection", value: "close")
        }
        let status = HTTPResponseStatus(statusCode: response.status)
        let head = HTTPResponseHead(version: version, status: status, headers: headers)
        let allocator = channel.allocator

        func send(_ part: HTTPServerResponsePart) async throws {
            try await channel.writeAndFlush(part).get()
        }
        func bodyPart(_ bytes: ArraySlice<UInt8>) -> HTTPServerResponsePart {
            var buffer = allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            return .body(.byteBuffer(buffer))
        }

        do {
            try await send(.head(head))
            let sendBody = !isHead && mayHaveBody
            switch response.behavior {
            case .closeWithoutResponse:
                break
            case .normal:
                if sendBody && !response.body.isEmpty {
                    try await send(bodyPart(response.body[...]))
                }
                try await send(.end(nil))
            case .cutAfter(let n):
                let count = max(0, min(n, response.body.count))
                if sendBody && count > 0 {
                    try await send(bodyPart(response.body[..<count]))
                }
                try? await channel.close()
                return
            case .drip(let chunkSize, let interval):
                let size = max(1, chunkSize)
                if sendBody {
                    var offset = 0
                    while offset < response.body.count {
                        let end = min(offset + size, response.body.count)
                        try await send(bodyPart(response.body[offset..<end]))
                        offset = end
                        if offset < response.body.count {
                            try await Task.sleep(for: interval)
                        }
                    }
                }
                try await send(.end(nil))
            case .endless:
                if sendBody {
                    let chunk: [UInt8] = response.body.isEmpty ? [UInt8](repeating: 0, count: 64 * 1024) : response.body
                    while !Task.isCancelled && channel.isActive {
                        try await send(bodyPart(chunk[...]))
                    }
                    try? await channel.close()
                    return
                }
                try await send(.end(nil))
            }
            if closeAfter {
                try? await channel.close()
            }
        } catch {
            try? await channel.close()
        }
    }
}

/// Closes a connection at once when it starts with a TLS handshake, as a plain-HTTP server in the wild
/// answers clients that try HTTPS first; otherwise steps aside.
final class PlainHTTPOnlyHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let onHandshake: (@Sendable () -> Void)?

    /// `onHandshake` is called for every connection closed because it began a TLS handshake.
    init(onHandshake: (@Sendable () -> Void)? = nil) {
        self.onHandshake = onHandshake
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if buffer.readableBytes > 0, buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == 0x16 {
            onHandshake?()
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }
}
