import Foundation
import OCIContent
import OCIReference
import OCISync

extension RegistryClient.Configuration {
    /// Limits on the requests the client sends to one registry host (a mirror's politeness towards a registry,
    /// or a registry's published quota).
    public struct HostLimits: Sendable, Hashable {
        /// The most requests in flight to the host at once, each counted from its send (its request body's
        /// upload included) until its response's head arrives; nil for no limit. Response bodies being read do
        /// not hold a slot, so a copy that streams a body from the host into a request to the same host cannot
        /// deadlock.
        public var maxConcurrentRequests: Int?
        /// The most requests started per second (a token bucket with a burst of one second's worth; retries and
        /// redirects to the host count); nil for no limit.
        public var requestsPerSecond: Double?

        public init(maxConcurrentRequests: Int? = nil, requestsPerSecond: Double? = nil) {
            self.maxConcurrentRequests = maxConcurrentRequests.map { max(1, $0) }
            self.requestsPerSecond = requestsPerSecond.flatMap { $0 > 0 ? $0 : nil }
        }

        /// Whether any limit is set.
        public var isLimited: Bool { maxConcurrentRequests != nil || requestsPerSecond != nil }
    }

    /// The limits for `host` (an endpoint host with port, as requests use it): the entry whose key names it as
    /// references do (`docker.io` for Docker Hub's API host), nil when none does.
    func limits(for host: String) -> HostLimits? {
        if let direct = hostLimits[host] { return direct }
        return hostLimits.first { DockerHub.endpoint(for: $0.key) == host }?.value
    }
}

/// Enforces one host's `HostLimits`: a concurrency limiter and a requests-per-second pacer.
final class HostRequestGate: Sendable {
    private let slots: ConcurrencyLimiter?
    private let pacer: RequestPacer?

    init?(_ limits: RegistryClient.Configuration.HostLimits?) {
        guard let limits, limits.isLimited else { return nil }
        slots = limits.maxConcurrentRequests.map { ConcurrencyLimiter(limit: $0) }
        pacer = limits.requestsPerSecond.map { RequestPacer(rate: $0) }
    }

    /// Waits for a request slot; the permit gives it back (`release()`, or when dropped).
    func admit() async throws -> HostPermit? {
        guard let slots else { return nil }
        await slots.acquire()
        return HostPermit(slots)
    }

    /// Waits until one more request may start.
    func pace() async throws {
        try await pacer?.wait()
    }
}

/// A held request slot, given back once.
final class HostPermit: Sendable {
    private let slots: ConcurrencyLimiter
    private let released = Locked(false)

    init(_ slots: ConcurrencyLimiter) { self.slots = slots }

    func release() {
        let first = released.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        let slots = self.slots
        Task { await slots.release() }
    }

    deinit { release() }

}

/// A token bucket: `rate` requests per second, a burst of `max(1, rate)`. Callers reserve a token and sleep
/// until it is theirs, so waiting callers are served in order.
actor RequestPacer {
    private let rate: Double
    private let burst: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant

    init(rate: Double) {
        self.rate = rate
        burst = max(1, rate)
        tokens = max(1, rate)
        last = .now
    }

    func wait() async throws {
        let delay = reserve()
        if delay > 0 { try await Task.sleep(for: .seconds(delay)) }
    }

    /// Takes a token (possibly one not yet refilled) and returns how long to wait for it, in seconds.
    private func reserve() -> Double {
        let now = ContinuousClock.now
        let elapsed = now - last
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        last = now
        tokens = min(burst, tokens + seconds * rate)
        tokens -= 1
        return tokens >= 0 ? 0 : -tokens / rate
    }
}
