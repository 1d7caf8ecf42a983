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

/// The HTTP/1.1 listener of ``InProcessRegistry`` and of its blob host: NIO's async channels, request bodies
/// streamed to the handler with back-pressure, optional TLS, every connection tracked so that ``stop()`` ends
/// them all.
final class RegistryHTTPServer: Sendable {
    typealias Handler = @Sendable (HTTPRequestHead, RegistryRequestBody) async -> RegistryReply

    let host: String
    let port: Int
    private let serverChannel: Channel
    private let connections: Locked<[ObjectIdentifier: Channel]>
    private let acceptTask: Task<Void, Never>

    private init(host: String, port: Int, serverChannel: Channel, connections: Locked<[ObjectIdentifier: Channel]>,
                 acceptTask: Task<Void, Never>) {
        self.host = host
        self.port = port
        self.serverChannel = serverChannel
        self.connections = connections
        self.acceptTask = acceptTask
    }

    /// Binds `host:port` (0: a free port) and serves `handler`.
    static func start(host: String, port: Int, tls: NIOSSLContext?, handler: @escaping Handler) async throws -> RegistryHTTPServer {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
        let server = try await bootstrap.bind(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                if let tls {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                } else {
                    try channel.pipeline.syncOperations.addHandler(RefuseTLSHandler())
                }
                try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
            }
        }
        guard let boundPort = server.channel.localAddress?.port else {
            try? await server.channel.close()
            throw InProcessRegistryError("could not determine the listening port")
        }
        let connections = Locked<[ObjectIdentifier: Channel]>([:])
        let serverChannel = server.channel
        let acceptTask = Task {
            await withDiscardingTaskGroup { group in
                do {
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            let channel = connection.channel
                            connections.withLock { $0[ObjectIdentifier(channel)] = channel }
                            group.addTask {
                                await serve(connection, handler: handler)
                                connections.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(channel)) }
                            }
                        }
                    }
                } catch {
                    // The listener closed (stop) or failed; connections end with their channels.
                }
            }
        }
        return RegistryHTTPServer(host: host, port: boundPort, serverChannel: serverChannel, connections: connections,
                                  acceptTask: acceptTask)
    }

    /// Stops listening, closes every connection and waits for their handlers. Idempotent.
    func stop() async {
        try? await serverChannel.close()
        for channel in connections.withLock({ Array($0.values) }) {
            try? await channel.close()
        }
        acceptTask.cancel()
        await acceptTask.value
    }

    deinit {
        serverChannel.close(promise: nil)
        acceptTask.cancel()
    }

    // MARK: connections

    private final class ContinueState {
        var pending: Bool
        init(_ pending: Bool) { self.pending = pending }
    }

    private static func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>,
                              handler: Handler) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                let reader = RegistryRequestReader(inbound.makeAsyncIterator())
                while let head = try await reader.nextHead() {
                    let expects = head.headers["expect"].contains { $0.lowercased() == "100-continue" }
                    let continueState = ContinueState(expects)
                    let version = head.version
                    let body = RegistryRequestBody(reader: reader, sendContinue: {
                        guard continueState.pending else { return }
                        continueState.pending = false
                        try await outbound.write(.head(HTTPResponseHead(version: version, status: .continue)))
                    })
                    let reply = await handler(head, body)
                    var keepAlive = head.isKeepAlive && !reply.response.closeConnection
                    if !reader.bodyFinished {
                        // The client still waits for 100-continue, or sends a body nobody read: drop a small
                        // rest, close after the answer otherwise.
                        if continueState.pending {
                            keepAlive = false
                        } else if !(try await reader.drain(limit: 1 << 20)) {
                            keepAlive = false
                        }
                    }
                    let open = try await write(reply, request: head, keepAlive: keepAlive, outbound: outbound)
                    if !open { return }
                }
            }
        } catch {
            // A broken connection ends its requests.
        }
    }

    /// Writes a reply; false when the connection is to be closed.
    private static func write(_ reply: RegistryReply, request: HTTPRequestHead, keepAlive: Bool,
                              outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws -> Bool {
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
        try await outbound.write(.head(HTTPResponseHead(version: request.version, status: HTTPResponseStatus(statusCode: status),
                                                        headers: headers)))
        if request.method != .HEAD, bodyAllowed, length > 0 {
            let completed = try await writeBody(response.body, delivery: reply.delivery, outbound: outbound)
            if !completed { return false }
        } else if case .cut = reply.delivery {
            return false
        }
        try await outbound.write(.end(nil))
        return keepAlive
    }

    /// Streams a body; false when it was cut.
    private static func writeBody(_ body: ResponseBody, delivery: RegistryDelivery,
                                  outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws -> Bool {
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
                    if keep > 0 { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: piece[..<keep])))) }
                    return false
                }
                try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: piece))))
            case .drip(let size, let interval):
                var offset = 0
                let step = max(1, size)
                while offset < piece.count {
                    let end = min(piece.count, offset + step)
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: piece[offset..<end]))))
                    offset = end
                    if position + offset < length { try await Task.sleep(for: interval) }
                }
            case .normal, .corrupt, .close:
                try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: piece))))
            }
            position += piece.count
        }
        if case .cut = delivery { return false }
        return true
    }
}

/// On a plain-HTTP listener: closes a connection that opens with a TLS handshake at once (as clients that try
/// HTTPS first expect), then steps aside.
private final class RefuseTLSHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if buffer.readableBytes > 0, buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == 0x16 {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
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
