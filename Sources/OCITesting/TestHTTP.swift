import Foundation
import NIOCore
import NIOPosix

/// A minimal plain-HTTP/1.1 client for tests (one request per connection, `Connection: close`).
///
/// Unlike `URLSession` it reports truncated bodies instead of failing (see ``Response/isComplete``), which is what
/// fault-injection tests against ``FakeHTTPServer`` need. No TLS: use `curl --cacert` for ``TestRegistry/Mode/tls``.
public enum TestHTTP {
    /// A parsed response.
    public struct Response: Sendable {
        /// The status code.
        public var status: Int
        /// The response headers.
        public var headers: FakeHeaders
        /// The body as received (de-chunked; at most `Content-Length` bytes).
        public var body: [UInt8]
        /// Whether the whole body arrived (`Content-Length` satisfied, chunked terminator seen, or EOF-delimited).
        public var isComplete: Bool

        /// The body as UTF-8 text.
        public var bodyText: String { String(decoding: body, as: UTF8.self) }
    }

    /// Sends one request to an `http://` URL and reads the response.
    /// - Parameters:
    ///   - maxBodyBytes: stop reading once about this many body bytes (counted on the wire, chunk framing
    ///     included) have arrived; the response is then incomplete. Protects against `.endless` bodies.
    public static func request(_ method: String = "GET", _ url: String, headers: FakeHeaders = [:], body: [UInt8] = [],
                               timeout: Duration = .seconds(30), maxBodyBytes: Int = 64 << 20) async throws -> Response {
        guard let components = URLComponents(string: url), components.scheme?.lowercased() == "http",
              let host = components.host else {
            throw OCITestingError("TestHTTP supports only http:// URLs, got \(url)")
        }
        let port = components.port ?? 80
        var target = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        if let query = components.percentEncodedQuery { target += "?" + query }
        var requestHeaders = headers
        if !requestHeaders.contains("Host") {
            requestHeaders["Host"] = components.port.map { "\(host):\($0)" } ?? host
        }
        requestHeaders["Connection"] = "close"
        if !body.isEmpty || ["POST", "PUT", "PATCH"].contains(method.uppercased()) {
            if !requestHeaders.contains("Content-Length") && !requestHeaders.contains("Transfer-Encoding") {
                requestHeaders["Content-Length"] = String(body.count)
            }
        }
        var head = "\(method) \(target) HTTP/1.1\r\n"
        for field in requestHeaders {
            head += "\(field.name): \(field.value)\r\n"
        }
        head += "\r\n"
        let requestBytes = Array(head.utf8) + body
        let isHead = method.uppercased() == "HEAD"
        return try await withTimeout(timeout, "waiting for \(method) \(url)") {
            try await exchange(host: host, port: port, request: requestBytes, isHead: isHead, maxBodyBytes: maxBodyBytes)
        }
    }

    private static func exchange(host: String, port: Int, request: [UInt8], isHead: Bool, maxBodyBytes: Int) async throws -> Response {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: request))
            var parser = ResponseParser(isHead: isHead, maxBodyBytes: maxBodyBytes)
            do {
                for try await chunk in inbound {
                    parser.feed(Array(chunk.readableBytesView))
                    if parser.isDone { break }
                }
            } catch {
                // A reset after some bytes still tells the test what arrived.
                if !parser.hasHead { throw error }
            }
            return try parser.finish()
        }
    }
}

/// Incremental HTTP/1.x response parser for ``TestHTTP``.
struct ResponseParser {
    let isHead: Bool
    let maxBodyBytes: Int
    private var buffer: [UInt8] = []
    private(set) var hasHead = false
    private var status = 0
    private var headers = FakeHeaders()
    private var contentLength: Int?
    private var chunked = false
    private var noBody = false
    private var bodyStart = 0
    private(set) var isDone = false

    init(isHead: Bool, maxBodyBytes: Int) {
        self.isHead = isHead
        self.maxBodyBytes = maxBodyBytes
    }

    mutating func feed(_ bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
        if !hasHead { parseHead() }
        if hasHead { checkDone() }
    }

    private mutating func parseHead() {
        guard let end = find([13, 10, 13, 10], in: buffer, from: 0) else { return }
        let text = String(decoding: buffer[..<end], as: UTF8.self)
        var lines = text.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        status = parts.count >= 2 ? Int(parts[1]) ?? 0 : 0
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.add(String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        hasHead = true
        bodyStart = end + 4
        contentLength = headers["Content-Length"].flatMap { Int($0) }
        chunked = headers["Transfer-Encoding"]?.lowercased().contains("chunked") ?? false
        noBody = isHead || (100..<200).contains(status) || status == 204 || status == 304
    }

    private mutating func checkDone() {
        let available = buffer.count - bodyStart
        if noBody {
            isDone = true
        } else if chunked {
            // Only decode when the data could end with the terminating chunk (keeps long streams linear).
            let terminator: [UInt8] = [48, 13, 10, 13, 10]
            isDone = available > maxBodyBytes || (buffer.count >= terminator.count
                && Array(buffer.suffix(terminator.count)) == terminator && dechunk().complete)
        } else if let contentLength {
            isDone = available >= contentLength || available >= maxBodyBytes
        } else {
            isDone = available >= maxBodyBytes
        }
    }

    private func dechunk() -> (body: [UInt8], complete: Bool) {
        var body: [UInt8] = []
        var i = bodyStart
        while true {
            guard let lineEnd = find([13, 10], in: buffer, from: i) else { return (body, false) }
            let sizeText = String(decoding: buffer[i..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { return (body, false) }
            let dataStart = lineEnd + 2
            if size == 0 { return (body, true) }
            let dataEnd = dataStart + size
            if dataEnd > buffer.count {
                body.append(contentsOf: buffer[dataStart..<buffer.count])
                return (body, false)
            }
            body.append(contentsOf: buffer[dataStart..<dataEnd])
            i = dataEnd + 2
            if i > buffer.count { return (body, false) }
        }
    }

    func finish() throws -> TestHTTP.Response {
        guard hasHead else {
            throw OCITestingError("connection closed before a complete response head (\(buffer.count) bytes received)")
        }
        if noBody {
            return TestHTTP.Response(status: status, headers: headers, body: [], isComplete: true)
        }
        if chunked {
            let (body, complete) = dechunk()
            return TestHTTP.Response(status: status, headers: headers, body: body, isComplete: complete)
        }
        let raw = Array(buffer[bodyStart...])
        if let contentLength {
            return TestHTTP.Response(status: status, headers: headers, body: Array(raw.prefix(contentLength)),
                                     isComplete: raw.count >= contentLength)
        }
        return TestHTTP.Response(status: status, headers: headers, body: Array(raw.prefix(maxBodyBytes)),
                                 isComplete: raw.count < maxBodyBytes)
    }
}

private func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
    guard needle.count <= haystack.count, start <= haystack.count - needle.count else { return nil }
    var i = start
    let last = haystack.count - needle.count
    while i <= last {
        if haystack[i] == needle[0] {
            var match = true
            for j in 1..<needle.count where haystack[i + j] != needle[j] {
                match = false
                break
            }
            if match { return i }
        }
        i += 1
    }
    return nil
}
