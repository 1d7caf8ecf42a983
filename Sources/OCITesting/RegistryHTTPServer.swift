import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import OCISync

/// How a reply's body goes out.
enum RegistryDelivery: Sendable {
    case normal
    /// Close the connection without answering.
    case close
    /// Close after this many body bytes.
    case cut(Int)
    /// Pieces of this size, this far apart.
    case drip(Int, Duration)
    /// One byte of the body altered.
    case corrupt
}

/// A response and how to deliver it.
struct RegistryReply: Sendable {
    var response: RegistryResponse
    var delivery: RegistryDelivery = .normal
}

/// The HTTP/1.1 listener of ``InProcessRegistry`` and of its blob host, on NIO channel handlers: each request
/// is answered by an async task that reads the body as it arrives (with back-pressure: the socket is read only as
/// fast as the task consumes), writes the answer awaiting every write, and closes the connection only after
/// its last write went out. Every connection and task is tracked so that ``stop()`` ends them all.
final class RegistryHTTPServer: Sendable {
    typealias Handler = @Sendable (HTTPRequestHead, RegistryRequestBody) async -> RegistryReply

    let host: String
    let port: Int
    private let serverChannel: Channel
    private let table: Locked<ConnectionTable>

    private init(host: String, port: Int, serverChannel: Channel, table: Locked<ConnectionTable>) {
        self.host = host
        self.port = port
        self.serverChannel = serverChannel
        self.table = table
    }

    /// Binds `host:port` (0: a free port) and serves `handler`.
    static func start(host: String, port: Int, tls: NIOSSLContext?, handler: @escaping Handler) async throws -> RegistryHTTPServer {
        let table = Locked(ConnectionTable())
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard table.withLock({ $0.add(channel) }) else {
                        throw InProcessRegistryError("the registry is stopping")
                    }
                    channel.closeFuture.whenComplete { _ in table.withLock { $0.remove(channel) } }
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        try sync.addHandler(NIOSSLServerHandler(context: tls))
                    } else {
                        try sync.addHandler(PlainHTTPOnlyHandler())
                    }
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(RegistryConnectionHandler(handler: handler, table: table))
                }
            }
        let serverChannel = try await bootstrap.bind(host: host, port: port).get()
        guard let boundPort = serverChannel.localAddress?.port else {
            try? await serverChannel.close()
            throw InProcessRegistryError("could not determine the listening port")
        }
        return RegistryHTTPServer(host: host, port: boundPort, serverChannel: serverChannel, table: table)
    }

    /// Stops listening, closes every connection, cancels and awaits the requests in progress. Idempotent.
    func stop() async {
        let (channels, tasks) = table.withLock { table in
            table.stopping = true
            return (Array(table.channels.values), Array(table.tasks.values))
        }
        try? await serverChannel.close()
        for channel in channels {
            try? await channel.close()
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    deinit {
        // A registry dropped without shutdown: stop accepting; open connections end when their clients close.
        serverChannel.close(promise: nil)
    }

    // MARK: answering

    /// Runs the handler for one request and writes its answer; closes the connection when the answer says so.
    fileprivate static func respond(head: HTTPRequestHead, body sequence: RegistryRequestBody.Producer, channel: Channel,
                                    handler: Handler) async {
        let expects = head.headers["expect"].contains { $0.lowercased() == "100-continue" }
        let body = RegistryRequestBody(sequence, expectsContinue: expects, channel: channel, version: head.version)
        let reply = await handler(head, body)
        var keepAlive = head.isKeepAlive && !reply.response.closeConnection
        if !body.finished {
            // The client still waits for 100-continue, or sends a body nobody read: drop a small rest, close
            // after the answer otherwise.
            if body.continuePending {
                keepAlive = false
            } else if !((try? await body.drain(limit: 1 << 20)) ?? false) {
                keepAlive = false
            }
        }
        do {
            let open = try await write(reply, request: head, keepAlive: keepAlive, channel: channel)
            if !open { try? await channel.close() }
        } catch {
            try? await channel.close()
        }
    }

    /// Writes a reply, each part awaited; false when the connection is to be closed.
    private static func write(_ reply: RegistryReply, request: HTTPRequestHead, keepAlive: Bool, channel: Channel) async throws -> Bool {
        if case .close = reply.delivery { return false }
        let response = reply.response
        var headers = HTTPHeaders()
        for (name, value) in response.headers {
            headers.add(name: name, value: value)
        }
        let status = response.status
        let bodyAllowed = !(100..<200).contains(status) && status != 204 && status != 304
        let length = response.body.count
        if bodyAllowed, !headers.contains(name: "content-length") {
            headers.add(name: "Content-Length", value: String(length))
        }
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: request.version, status: HTTPResponseStatus(statusCode: status), headers: headers)
        try await channel.writeAndFlush(HTTPServerResponsePart.head(head)).get()
        if request.method != .HEAD, bodyAllowed, length > 0 {
            let completed = try await writeBody(response.body, delivery: reply.delivery, channel: channel)
            if !completed { return false }
        } else if case .cut = reply.delivery {
            return false
        }
        try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
        return keepAlive
    }

/// Streams a body; false when it was cut.
    private static func writeBody(_ body: ResponseBody, delivery: RegistryDelivery, channel: Channel) async throws -> Bool {
        func send(_ bytes: ArraySlice<UInt8>) async throws {
            try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes)))).get()
        }
        let length = body.count
        let chunkSize = 64 * 1024
        let reader: RegistryBlobReader
        let base: Int
        switch body {
        case .empty:
            return true
        case .bytes(let bytes):
            reader = RegistryBlobReader(bytes: bytes, handle: nil)
            base = 0
        case .blob(let content, let range):
            reader = try content.open()
            base = range.lowerBound
        }
        let corruptAt = length / 2
        var position = 0
        while position < length {
            var piece = try reader.read(offset: base + position, count: min(chunkSize, length - position))
            guard !piece.isEmpty else { throw InProcessRegistryError("a stored blob is shorter than recorded") }
            if case .corrupt = delivery, (position..<(position + piece.count)).contains(corruptAt) {
                piece[corruptAt - position] ^= 0xff
            }
            switch delivery {
            case .cut(let limit):
                if position + piece.count >= limit {
                    let keep = max(0, limit - position)
                    if keep > 0 { try await send(piece[..<keep]) }
                    return false
                }
                try await send(piece[...])
            case .drip(let size, let interval):
                var offset = 0
                let step = max(1, size)
                while offset < piece.count {
                    let end = min(piece.count, offset + step)
                    try await send(piece[offset..<end])
                    offset = end
                    if position + offset < length { try await Task.sleep(for: interval) }
                }
            case .normal, .corrupt, .close:
                try await send(piece[...])
            }
            position += piece.count
        }
        if case .cut = delivery { return false }
        return true
    }
}

/// The connections and request tasks of one listener.
private struct ConnectionTable {
    var stopping = false
    var channels: [ObjectIdentifier: Channel] = [:]
    var tasks: [Int: Task<Void, Never>] = [:]
    var nextTask = 0

    /// Tracks a new connection; false once stopping.
    mutating func add(_ channel: Channel) -> Bool {
        guard !stopping else { return false }
        channels[ObjectIdentifier(channel)] = channel
        return true
    }

    mutating func remove(_ channel: Channel) {
        channels.removeValue(forKey: ObjectIdentifier(channel))
    }
}

/// Hands each request to a task: the head starts it, body parts go to it through a back-pressured sequence
/// (reads from the socket pause while the task lags), the end finishes the sequence. NIO's pipelining handler
/// before it delivers the next request only after the answer to this one.
private final class RegistryConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let handler: RegistryHTTPServer.Handler
    private let table: Locked<ConnectionTable>
    private var source: RegistryRequestBody.Producer.Source?
    private var context: ChannelHandlerContext?
    private var shouldRead = true
    private var pendingRead = false

    init(handler: @escaping RegistryHTTPServer.Handler, table: Locked<ConnectionTable>) {
        self.handler = handler
        self.table = table
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        source?.finish(ChannelError.ioOnClosedChannel)
        source = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            source?.finish(ChannelError.ioOnClosedChannel)
            let delegate = RegistryBodyDelegate(eventLoop: context.eventLoop, handler: NIOLoopBound(self, eventLoop: context.eventLoop))
            let made = RegistryRequestBody.Producer.makeSequence(
                backPressureStrategy: .init(lowWatermark: 2, highWatermark: 16), finishOnDeinit: true, delegate: delegate)
            source = made.source
            shouldRead = true
            let sequence = made.sequence
            let channel = context.channel
            let handler = self.handler
            let tasks = self.table
            let started: Bool = tasks.withLock { table in
                guard !table.stopping else { return false }
                let id = table.nextTask
                table.nextTask += 1
                let task = Task {
                    await RegistryHTTPServer.respond(head: head, body: sequence, channel: channel, handler: handler)
                    // Takes the lock, so it runs after the insertion below.
                    tasks.withLock { _ = $0.tasks.removeValue(forKey: id) }
                }
                table.tasks[id] = task
                return true
            }
            if !started { context.close(promise: nil) }
        case .body(let buffer):
            guard let source else { return }
            // A copy: the received buffer stays on the event loop, whose allocator reuses it once released
            // (handing it to another thread would race with that reuse).
            var copy = context.channel.allocator.buffer(capacity: buffer.readableBytes)
            copy.writeImmutableBuffer(buffer)
            if case .stopProducing = source.yield(copy) { shouldRead = false }
        case .end:
            source?.finish()
            source = nil
        }
    }

    func read(context: ChannelHandlerContext) {
        if shouldRead {
            context.read()
        } else {
            pendingRead = true
        }
    }

    /// The body's reader wants more, or is gone (the rest of the body is then read and dropped).
    func resumeReading() {
        shouldRead = true
        if pendingRead, let context {
            pendingRead = false
            context.read()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        source?.finish(ChannelError.eof)
        source = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        source?.finish(error)
        source = nil
        context.close(promise: nil)
    }
}

/// Tells the connection handler (on its event loop) when the body's reader wants more.
struct RegistryBodyDelegate: NIOAsyncSequenceProducerDelegate {
    fileprivate let eventLoop: EventLoop
    fileprivate let handler: NIOLoopBound<RegistryConnectionHandler>

    func produceMore() {
        let handler = self.handler
        eventLoop.execute { handler.value.resumeReading() }
    }

    func didTerminate() {
        let handler = self.handler
        eventLoop.execute { handler.value.resumeReading() }
    }
}

/// An error of ``InProcessRegistry``: a configuration it cannot serve or a start that failed.
public struct InProcessRegistryError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public let message: String

    /// An error with `message`.
    public init(_ message: String) {
        self.message = message
    }

    /// `InProcessRegistry: MESSAGE`.
    public var description: String { "InProcessRegistry: \(message)" }
}
