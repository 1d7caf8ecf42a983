import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import OCISync

/// Plain-HTTP requests through an HTTP proxy in absolute form (`GET http://host:port/path HTTP/1.1`), which is how
/// proxies expect `http://` URLs (AsyncHTTPClient would open a `CONNECT` tunnel, which many proxies allow to port
/// 443 only). One connection per request (`Connection: close`); the proxy's credentials go in `Proxy-Authorization`,
/// which the proxy consumes. The response body streams with backpressure: at most one chunk waits for the reader,
/// and NIO's inbound buffer is bounded.
enum AbsoluteFormForwarding {
    static func execute(proxy: ProxyServer, method: HTTPMethod, url: URL, headers: HTTPHeaders, body: RequestBody?,
                        connectTimeout: Duration, readTimeout: Duration) async throws -> HTTPClientResponse {
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount(connectTimeout))
                .connect(host: proxy.host, port: proxy.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // A stalled proxy or registry fails after the read timeout, as AsyncHTTPClient's requests do.
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: TimeAmount(readTimeout)))
                        try channel.pipeline.syncOperations.addHandler(CloseOnIdle())
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw RegistryError.transport(host: url.hostWithPort, underlying: "cannot connect to the proxy \(proxy.redacted): \(error)")
        }
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: url.absoluteString)
        head.headers = headers
        head.headers.replaceOrAdd(name: "Host", value: url.hostWithPort)
        head.headers.replaceOrAdd(name: "Connection", value: "close")
        head.headers.remove(name: "Transfer-Encoding")
        switch body {
        case .bytes(let bytes)?: head.headers.replaceOrAdd(name: "Content-Length", value: "\(bytes.count)")
        case .stream(_, let length)?: head.headers.replaceOrAdd(name: "Content-Length", value: "\(length)")
        case nil: if method == .POST || method == .PUT || method == .PATCH { head.headers.replaceOrAdd(name: "Content-Length", value: "0") }
        }
        if let user = proxy.username {
            let token = Data("\(user):\(proxy.password ?? "")".utf8).base64EncodedString()
            head.headers.replaceOrAdd(name: "Proxy-Authorization", value: "Basic \(token)")
        }
        let pipe = BodyPipe()
        let request = head
        let responseHead: HTTPResponseHead = try await withCheckedThrowingContinuation { continuation in
            let once = Locked<CheckedContinuation<HTTPResponseHead, any Error>?>(continuation)
            @Sendable func deliver(_ result: Result<HTTPResponseHead, any Error>) {
                once.withLock { pending in
                    pending?.resume(with: result)
                    pending = nil
                }
            }
            Task {
                do {
                    try await channel.executeThenClose { inbound, outbound in
                        try await outbound.write(.head(request))
                        switch body {
                        case .bytes(let bytes)?:
                            if !bytes.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: bytes)))) }
                        case .stream(let stream, _)?:
                            for try await chunk in stream { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: chunk)))) }
                        case nil: break
                        }
                        try await outbound.write(.end(nil))
                        var sawHead = false
                        for try await part in inbound {
                            switch part {
                            case .head(let received):
                                // 1xx answers are followed by the real head.
                                if received.status.code >= 100 && received.status.code < 200 { continue }
                                sawHead = true
                                deliver(.success(received))
                            case .body(let buffer):
                                guard sawHead else { continue }
                                guard try await pipe.send(buffer) else { return }
                            case .end:
                                if sawHead {
                                    pipe.finish(nil)
                                    return
                                }
                            }
                        }
                        if !sawHead { throw HTTPClientError.remoteConnectionClosed }
                        pipe.finish(HTTPClientError.remoteConnectionClosed)
                    }
                } catch {
                    let classified = HTTPTransport.classify(error, host: url.hostWithPort, proxy: proxy)
                    deliver(.failure(classified))
                    pipe.finish(classified)
                }
            }
        }
        if responseHead.status.code == 407 {
            pipe.abandon()
            throw RegistryError.proxy(proxy: proxy.redacted, target: url.hostWithPort, why: proxy.username == nil
                ? "it asks for credentials (407); give them in the proxy URL, http://USER:PASSWORD@HOST:PORT"
                : "it refused the credentials of the proxy URL (407)")
        }
        return HTTPClientResponse(version: responseHead.version, status: responseHead.status, headers: responseHead.headers,
                                  body: .stream(BodyPipe.Sequence(pipe: pipe)))
    }
}

/// Closes the connection when the read timeout passes without bytes.
final class CloseOnIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            context.fireErrorCaught(HTTPClientError.readTimeout)
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// A one-chunk handoff from the connection to the reader of a response body. The writer waits until its chunk is
/// taken; a reader that drops its iterator abandons the body, which ends the connection.
final class BodyPipe: Sendable {
    private struct State {
        var chunk: ByteBuffer?
        var writer: CheckedContinuation<Bool, Never>?
        var reader: CheckedContinuation<ByteBuffer?, any Error>?
        var finished = false
        var failure: (any Error)?
        var abandoned = false
    }

    private let state = Locked(State())

    /// Hands a chunk over; false when the reader abandoned the body.
    func send(_ buffer: ByteBuffer) async throws -> Bool {
        await withCheckedContinuation { (writer: CheckedContinuation<Bool, Never>) in
            state.withLock { s in
                if s.abandoned { writer.resume(returning: false); return }
                if let reader = s.reader {
                    s.reader = nil
                    reader.resume(returning: buffer)
                    writer.resume(returning: true)
                    return
                }
                s.chunk = buffer
                s.writer = writer
            }
        }
    }

    /// The end of the body, with the error that cut it short, if any.
    func finish(_ error: (any Error)?) {
        state.withLock { s in
            guard !s.finished else { return }
            s.finished = true
            s.failure = error
            if let reader = s.reader {
                s.reader = nil
                if let error { reader.resume(throwing: error) } else { reader.resume(returning: nil) }
            }
        }
    }

    /// The reader is gone: release a waiting writer.
    func abandon() {
        state.withLock { s in
            s.abandoned = true
            s.chunk = nil
            s.writer?.resume(returning: false)
            s.writer = nil
        }
    }

    func next() async throws -> ByteBuffer? {
        try await withCheckedThrowingContinuation { (reader: CheckedContinuation<ByteBuffer?, any Error>) in
            state.withLock { s in
                if let chunk = s.chunk {
                    s.chunk = nil
                    s.writer?.resume(returning: true)
                    s.writer = nil
                    reader.resume(returning: chunk)
                } else if s.finished {
                    if let failure = s.failure { reader.resume(throwing: failure) } else { reader.resume(returning: nil) }
                } else {
                    s.reader = reader
                }
            }
        }
    }

    struct Sequence: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let pipe: BodyPipe

        final class AsyncIterator: AsyncIteratorProtocol {
            let pipe: BodyPipe
            init(pipe: BodyPipe) { self.pipe = pipe }
            func next() async throws -> ByteBuffer? { try await pipe.next() }
            deinit { pipe.abandon() }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pipe: pipe) }
    }
}
