import AsyncHTTPClient
import Foundation
import NIOHTTP1

/// A registry's pull rate limit as it reports it on manifest responses (Docker Hub: `RateLimit-Limit:
/// 100;w=21600`, `RateLimit-Remaining: 76;w=21600`, `Docker-RateLimit-Source: 203.0.113.7`).
public struct RateLimit: Sendable, Hashable, Codable {
    /// Pulls allowed per window.
    public var limit: Int?
    /// Pulls left in the current window.
    public var remaining: Int?
    /// The window, in seconds (`w=`).
    public var windowSeconds: Int?
    /// What the limit is counted against (an IP address or an account ID).
    public var source: String?

    public init(limit: Int? = nil, remaining: Int? = nil, windowSeconds: Int? = nil, source: String? = nil) {
        self.limit = limit
        self.remaining = remaining
        self.windowSeconds = windowSeconds
        self.source = source
    }

    /// Reads the rate-limit headers; nil when the response has none.
    public init?(headers: HTTPHeaders) {
        self.init(limitHeader: headers.first(name: "RateLimit-Limit"), remainingHeader: headers.first(name: "RateLimit-Remaining"),
                  sourceHeader: headers.first(name: "Docker-RateLimit-Source"))
    }

    /// Parses the header values (`100;w=21600`); values a registry garbles are left out. Nil when none is given.
    public init?(limitHeader: String?, remainingHeader: String?, sourceHeader: String?) {
        func parse(_ value: String?) -> (count: Int?, window: Int?) {
            guard let value else { return (nil, nil) }
            let parts = value.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            let count = parts.first.flatMap { Int($0) }.flatMap { $0 >= 0 ? $0 : nil }
            let window = parts.dropFirst().lazy.compactMap { part -> Int? in
                let kv = part.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces).lowercased() == "w" else { return nil }
                return Int(kv[1].trimmingCharacters(in: .whitespaces)).flatMap { $0 > 0 ? $0 : nil }
            }.first
            return (count, window)
        }
        let limit = parse(limitHeader)
        let remaining = parse(remainingHeader)
        let source = sourceHeader.map { String($0.prefix(200)) }
        guard limit.count != nil || remaining.count != nil || source != nil else { return nil }
        self.init(limit: limit.count, remaining: remaining.count, windowSeconds: limit.window ?? remaining.window,
                  source: source)
    }
}

extension RemoteRepository {
    /// The pull rate limit the registry reports for this repository, read from a HEAD of the manifest
    /// `reference` (a HEAD does not count as a pull on Docker Hub). Nil when the registry reports none.
    public func rateLimit(reference: String = "latest") async throws -> RateLimit? {
        try Self.validate(reference: reference)
        let target = "\(host)/\(name):\(reference)"
        let response = try await send(.HEAD, try await url("manifests/\(reference)"), headers: Self.acceptHeaders,
                                      operation: "check the rate limit of", target: target, optimistic: true)
        _ = try? await readLimited(response.body, limit: 0)
        // A 429 is the answer (nothing left), and so is any status that carries the headers.
        if let limit = RateLimit(headers: response.headers) { return limit }
        guard (200..<300).contains(response.status.code) else {
            throw await session.annotated(errorFor(status: Int(response.status.code), headers: response.headers, body: [],
                           operation: "check the rate limit of", target: target))
        }
        return nil
    }
}
