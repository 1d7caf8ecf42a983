import Foundation

/// An ordered list of HTTP header fields with case-insensitive lookup.
public struct FakeHeaders: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// One header field as it appears on the wire.
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// All fields in wire order (names keep their original case).
    public private(set) var fields: [Field]

    /// Creates headers from `(name, value)` pairs, keeping their order.
    public init(_ pairs: [(String, String)] = []) {
        self.fields = pairs.map { Field(name: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    /// The first value of the header `name` (case-insensitive); setting replaces every field of that name
    /// (`nil` removes them).
    public subscript(name: String) -> String? {
        get { fields.first { $0.name.caseInsensitiveEquals(name) }?.value }
        set {
            remove(name)
            if let newValue { add(name, newValue) }
        }
    }

    /// Every value of the header `name` (case-insensitive), in order.
    public func values(_ name: String) -> [String] {
        fields.filter { $0.name.caseInsensitiveEquals(name) }.map(\.value)
    }

    /// Whether a header `name` is present (case-insensitive).
    public func contains(_ name: String) -> Bool {
        fields.contains { $0.name.caseInsensitiveEquals(name) }
    }

    /// Appends a field (keeps existing fields of the same name).
    public mutating func add(_ name: String, _ value: String) {
        fields.append(Field(name: name, value: value))
    }

    /// Removes every field called `name` (case-insensitive).
    public mutating func remove(_ name: String) {
        fields.removeAll { $0.name.caseInsensitiveEquals(name) }
    }

    public func makeIterator() -> IndexingIterator<[Field]> {
        fields.makeIterator()
    }

    public var description: String {
        fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }
}

extension String {
    func caseInsensitiveEquals(_ other: String) -> Bool {
        self.utf8.count == other.utf8.count && self.lowercased() == other.lowercased()
    }
}

/// A request received by a ``FakeHTTPServer`` (the body is fully buffered).
public struct FakeRequest: Sendable {
    /// The request method, e.g. `GET`.
    public var method: String
    /// The request target as sent: path plus query, e.g. `/v2/foo/blobs/uploads/?mount=…`.
    public var uri: String
    /// The path part of ``uri`` (not percent-decoded).
    public var path: String
    /// The raw query string (without `?`), or `""`.
    public var query: String
    /// Decoded query items in order (form decoding: `+` is a space, `%XX` escapes are decoded).
    public var queryItems: [URLQueryItem]
    /// The request headers (case-insensitive lookup).
    public var headers: FakeHeaders
    /// The complete request body.
    public var body: [UInt8]
    /// The HTTP version, e.g. `HTTP/1.1`.
    public var version: String
    /// Identifies the TCP connection the request came on (1, 2, … per server): equal ids mean keep-alive reuse.
    public var connectionID: Int

    public init(method: String, uri: String, headers: FakeHeaders = [:], body: [UInt8] = [], version: String = "HTTP/1.1",
                connectionID: Int = 0) {
        self.method = method
        self.uri = uri
        if let q = uri.firstIndex(of: "?") {
            self.path = String(uri[..<q])
            self.query = String(uri[uri.index(after: q)...])
        } else {
            self.path = uri
            self.query = ""
        }
        self.queryItems = formDecode(Substring(self.query)).map { URLQueryItem(name: $0.name, value: $0.value) }
        self.headers = headers
        self.body = body
        self.version = version
        self.connectionID = connectionID
    }

    /// The first value of the query parameter `name`.
    public func queryValue(_ name: String) -> String? {
        queryItems.first { $0.name == name }?.value
    }

    /// Every value of the query parameter `name`, in order.
    public func queryValues(_ name: String) -> [String] {
        queryItems.filter { $0.name == name }.compactMap(\.value)
    }

    /// The body as UTF-8 text.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// The reply a ``FakeHTTPServer`` handler returns, including how to misbehave while sending it.
public struct FakeResponse: Sendable {
    /// How the response is put on the wire.
    public enum Behavior: Sendable, Equatable {
        /// A well-formed response; `Content-Length` is added unless the handler set framing headers.
        case normal
        /// Send the head with the FULL `Content-Length`, then only the first `bytes` body bytes, then close.
        case cutAfter(bytes: Int)
        /// Send the head at once, then the body in `chunkSize` pieces with `interval` between them.
        case drip(chunkSize: Int, interval: Duration)
        /// Close the connection without sending anything.
        case closeWithoutResponse
        /// No `Content-Length` (chunked): keep sending `body` (or zero bytes if empty) until the client closes.
        case endless
    }

    /// The status code.
    public var status: Int
    /// The response headers.
    public var headers: FakeHeaders
    /// The response body.
    public var body: [UInt8]
    /// How to send it.
    public var behavior: Behavior

    public init(status: Int = 200, headers: FakeHeaders = [:], body: [UInt8] = [], behavior: Behavior = .normal) {
        self.status = status
        self.headers = headers
        self.body = body
        self.behavior = behavior
    }

    /// A response with a UTF-8 text body.
    public init(status: Int = 200, headers: FakeHeaders = [:], text: String, behavior: Behavior = .normal) {
        self.init(status: status, headers: headers, body: Array(text.utf8), behavior: behavior)
    }

    /// A JSON response: `object` is the JSON text, sent with `Content-Type: application/json`.
    public static func json(_ status: Int, _ object: String, headers: FakeHeaders = [:]) -> FakeResponse {
        var h = headers
        if !h.contains("Content-Type") { h["Content-Type"] = "application/json" }
        return FakeResponse(status: status, headers: h, body: Array(object.utf8))
    }

    /// A registry-style error body `{"errors":[{"code":…,"message":…}]}`.
    public static func registryError(_ status: Int, code: String, message: String = "",
                                     headers: FakeHeaders = [:]) -> FakeResponse {
        json(status, "{\"errors\":[{\"code\":\(jsonQuoted(code)),\"message\":\(jsonQuoted(message)),\"detail\":null}]}",
             headers: headers)
    }

    /// A redirect to `location` (302 unless given).
    public static func redirect(to location: String, status: Int = 302) -> FakeResponse {
        FakeResponse(status: status, headers: ["Location": location])
    }

    /// An empty response with the given status.
    public static func status(_ status: Int, headers: FakeHeaders = [:]) -> FakeResponse {
        FakeResponse(status: status, headers: headers)
    }
}
