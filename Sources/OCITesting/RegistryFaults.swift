import Foundation
import NIOHTTP1
import OCISync

extension InProcessRegistry {
    /// A scripted misbehaviour of the registry for the requests that match a method and a path pattern.
    ///
    /// ```swift
    /// registry.addFault(.init("GET", "/v2/app/blobs/*", .status(503, retryAfter: 1), times: 2))
    /// registry.addFault(.init("GET", "/v2/**/blobs/sha256:*", .cutBody(afterBytes: 100), times: 1))
    /// ```
    /// Faults are tried in the order they were added; the first that applies wins. A fault applies to the
    /// matching requests after the first `skip` of them, `times` times (every time when nil).
    public struct Fault: Sendable {
        /// The HTTP method (`GET`, `HEAD`, …), or nil for any.
        public var method: String?
        /// A pattern for the request path (without the query): `*` matches within one path segment,
        /// `**` across segments, everything else literally (e.g. `/v2/**/manifests/*`).
        public var path: String
        /// What the registry does instead of, or with, its normal answer.
        public var behavior: Behavior
        /// How many matching requests the fault applies to; nil: all of them.
        public var times: Int?
        /// How many matching requests pass untouched before the fault applies.
        public var skip: Int
        /// A query parameter the request must carry (e.g. `mount`, to refuse only cross-repository mounts and
        /// not the plain upload a client falls back to on the same path); nil: any query, or none.
        public var queryParameter: String?

        /// A fault for `method` (nil: any) requests to paths matching `path` (and carrying the query parameter
        /// `query`, when given).
        public init(_ method: String? = nil, _ path: String, _ behavior: Behavior, times: Int? = nil, skip: Int = 0,
                    query: String? = nil) {
            self.method = method?.uppercased()
            self.path = path
            self.behavior = behavior
            self.times = times
            self.skip = max(0, skip)
            self.queryParameter = query
        }

        /// Whether the query text (without `?`) names `queryParameter` (always true without one).
        func matchesQuery(_ query: String?) -> Bool {
            guard let queryParameter else { return true }
            guard let query else { return false }
            return query.split(separator: "&").contains { item in
                (item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? "")
                    .removingPercentEncoding == queryParameter
            }
        }

        /// What a matching request gets.
        public enum Behavior: Sendable {
            /// This answer instead of the registry's (an empty body when `body` is nil). The request body is read
            /// and dropped.
            case respond(status: Int, headers: [String: String] = [:], body: [UInt8]? = nil)
            /// The connection is closed without an answer.
            case closeConnection
            /// The registry's answer, with the connection closed after `afterBytes` bytes of the body.
            case cutBody(afterBytes: Int)
            /// The registry's answer, its body sent in `chunkSize`-byte pieces `interval` apart.
            case slowBody(chunkSize: Int, interval: Duration)
            /// The registry's answer with one byte of the body altered, so it no longer matches the digest the
            /// headers (and the client's descriptor) name.
            case corruptBody
            /// For a blob `GET`/`HEAD` the registry would serve: a redirect (`status`, 307 by default) to the
            /// registry's blob host (``InProcessRegistry/blobHost``), which serves the bytes like object storage
            /// behind a presigned URL (a random `signature` query the redirect hands out; no credentials).
            /// Other answers pass unchanged, and so does everything when no blob host runs (see
            /// ``InProcessRegistry/Configuration/blobHost``).
            case redirectToBlobHost(status: Int = 307)
            /// A redirect to `location` (absolute, or a path on this registry) instead of the registry's answer.
            case redirect(to: String, status: Int = 307)

            /// An answer with `status`, an error body in the spec's form (`TOOMANYREQUESTS` for 429,
            /// `UNAUTHORIZED` 401, `DENIED` 403, `UNSUPPORTED` 405, `UNAVAILABLE` 502–504, `NOT_FOUND` 404,
            /// `UNKNOWN` otherwise) and, when given, `Retry-After: retryAfter` (seconds).
            public static func status(_ status: Int, retryAfter: Int? = nil) -> Behavior {
                var headers = ["Content-Type": "application/json"]
                if let retryAfter { headers["Retry-After"] = String(retryAfter) }
                let code: String
                switch status {
                case 429: code = "TOOMANYREQUESTS"
                case 401: code = "UNAUTHORIZED"
                case 403: code = "DENIED"
                case 404: code = "NOT_FOUND"
                case 405: code = "UNSUPPORTED"
                case 502...504: code = "UNAVAILABLE"
                default: code = "UNKNOWN"
                }
                let body = #"{"errors":[{"code":"\#(code)","message":"injected fault: status \#(status)"}]}"#
                return .respond(status: status, headers: headers, body: Array(body.utf8))
            }
        }
    }

    /// A request the registry received, as tests can read it back.
    public struct RecordedRequest: Sendable, Hashable, CustomStringConvertible {
        /// The method, e.g. `GET`.
        public var method: String
        /// The path, without the query.
        public var path: String
        /// The query (without `?`); nil when there was none.
        public var query: String?
        /// Every header in arrival order; `Authorization` and `Proxy-Authorization` keep only their scheme
        /// (`Bearer <redacted>`).
        public var headers: [HeaderField]
        /// The status answered; nil when the connection was closed without an answer.
        public var status: Int?
        /// The body bytes the registry read.
        public var bodyLength: Int
        /// Whether an injected fault decided or changed the answer.
        public var faulted: Bool

        /// The path with the query, as sent.
        public var uri: String { query.map { "\(path)?\($0)" } ?? path }

        /// The first value of header `name` (case-insensitive).
        public func header(_ name: String) -> String? {
            headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
        }

        /// `METHOD URI -> STATUS`.
        public var description: String { "\(method) \(uri) -> \(status.map(String.init) ?? "closed")" }
    }

    /// A header name and value.
    public struct HeaderField: Sendable, Hashable {
        /// The name as the client sent it.
        public var name: String
        /// The value (credentials redacted).
        public var value: String

        /// A header field.
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }
}

/// Matches `*`/`**` path patterns.
enum RegistryPathPattern {
    static func matches(_ pattern: String, _ path: String) -> Bool {
        matches(Array(pattern.utf8)[...], Array(path.utf8)[...])
    }

    private static func matches(_ p: ArraySlice<UInt8>, _ s: ArraySlice<UInt8>) -> Bool {
        guard let first = p.first else { return s.isEmpty }
        if first == UInt8(ascii: "*") {
            let deep = p.dropFirst().first == UInt8(ascii: "*")
            let rest = deep ? p.dropFirst(2) : p.dropFirst()
            var i = s.startIndex
            while true {
                if matches(rest, s[i...]) { return true }
                guard i < s.endIndex, deep || s[i] != UInt8(ascii: "/") else { return false }
                i += 1
            }
        }
        guard let c = s.first, c == first else { return false }
        return matches(p.dropFirst(), s.dropFirst())
    }
}

/// The faults of one registry and how often each has matched.
final class RegistryFaultBook: Sendable {
    private struct Entry {
        var fault: InProcessRegistry.Fault
        var seen = 0
        var applied = 0
    }

    private let entries: Locked<[Entry]>

    init(_ faults: [InProcessRegistry.Fault]) {
        entries = Locked(faults.map { Entry(fault: $0) })
    }

    func add(_ fault: InProcessRegistry.Fault) {
        entries.withLock { $0.append(Entry(fault: fault)) }
    }

    func set(_ faults: [InProcessRegistry.Fault]) {
        entries.withLock { $0 = faults.map { Entry(fault: $0) } }
    }

    var isEmpty: Bool { entries.withLock { $0.isEmpty } }

    /// The behaviour for a request, counting it against the faults it matches.
    func behavior(method: String, path: String, query: String? = nil) -> InProcessRegistry.Fault.Behavior? {
        entries.withLock { entries in
            for i in entries.indices {
                let fault = entries[i].fault
                if let m = fault.method, m != method { continue }
                guard RegistryPathPattern.matches(fault.path, path), fault.matchesQuery(query) else { continue }
                entries[i].seen += 1
                if entries[i].seen <= fault.skip { continue }
                if let times = fault.times, entries[i].applied >= times { continue }
                entries[i].applied += 1
                return fault.behavior
            }
            return nil
        }
    }
}

/// The requests one listener received.
final class RegistryRequestRecorder: Sendable {
    private let recorded = Locked<[InProcessRegistry.RecordedRequest]>([])

    func record(_ head: HTTPRequestHead, status: Int?, bodyLength: Int, faulted: Bool) {
        let (path, query) = registrySplitURI(registryOriginForm(head.uri))
        var headers: [InProcessRegistry.HeaderField] = []
        for (name, value) in head.headers {
            let lower = name.lowercased()
            if lower == "authorization" || lower == "proxy-authorization" {
                let scheme = value.split(separator: " ", maxSplits: 1).first.map(String.init) ?? ""
                headers.append(.init(name: name, value: scheme.isEmpty ? "<redacted>" : "\(scheme) <redacted>"))
            } else {
                headers.append(.init(name: name, value: value))
            }
        }
        let request = InProcessRegistry.RecordedRequest(method: head.method.rawValue, path: path, query: query,
                                                        headers: headers, status: status, bodyLength: bodyLength,
                                                        faulted: faulted)
        recorded.withLock { $0.append(request) }
    }

    var all: [InProcessRegistry.RecordedRequest] { recorded.current }

    func reset() {
        recorded.withLock { $0.removeAll() }
    }
}

/// `(path, query)` of a request target; the query is nil without `?`.
func registrySplitURI(_ uri: String) -> (String, String?) {
    guard let q = uri.firstIndex(of: "?") else { return (uri, nil) }
    return (String(uri[..<q]), String(uri[uri.index(after: q)...]))
}
