import OCISync

/// One download of a digest in progress in this process. Later fetches of the digest wait for it and then read
/// the committed entry instead of downloading again.
final class Flight: Sendable {
    private struct State {
        var done = false
        var progress: Int64 = 0
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var cancelled: Set<UInt64> = []
    }

    private let state = Locked(State())

    var isDone: Bool { state.withLock { $0.done } }
    var progress: Int64 { state.withLock { $0.progress } }

    /// Records bytes received by the downloading caller.
    func advance(by count: Int) { state.withLock { $0.progress += Int64(count) } }

    /// Marks the download finished (committed or not) and wakes the waiters.
    func complete() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.done = true
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume() }
    }

    /// Waits until `complete()` or until the task is cancelled.
    func wait() async {
        let id = state.withLock { s -> UInt64 in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.done || s.cancelled.remove(id) != nil { return true }
                    s.waiters[id] = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
                if let c = s.waiters.removeValue(forKey: id) { return c }
                if !s.done { s.cancelled.insert(id) }
                return nil
            }
            waiter?.resume()
        }
    }

    /// Waits for the download to finish. Returns false when it received no bytes for `stallTimeout` (for example
    /// because its caller has not started reading) or when the task is cancelled; the caller then downloads alone.
    func waitForCompletion(stallTimeout: Duration) async -> Bool {
        var seen = progress
        while true {
            if isDone { return true }
            if Task.isCancelled { return false }
            let completed = await withTaskGroup(of: Bool.self) { group in
                group.addTask { await self.wait(); return true }
                group.addTask {
                    try? await Task.sleep(for: stallTimeout)
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            if completed { return isDone }
            let now = progress
            if now == seen { return false }
            seen = now
        }
    }
}

/// Held by the caller that downloads a digest; finishing it (explicitly or by dropping it) unregisters the
/// download and wakes the callers waiting for it.
final class LeaderToken: Sendable {
    let flight: Flight?
    private let unregister: @Sendable () -> Void
    private let finished = Locked(false)

    init(flight: Flight?, unregister: @escaping @Sendable () -> Void) {
        self.flight = flight
        self.unregister = unregister
    }

    /// A token for a download that nobody waits for.
    static func independent() -> LeaderToken { LeaderToken(flight: nil, unregister: {}) }

    deinit { finish() }

    func finish() {
        let first = finished.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        unregister()
        flight?.complete()
    }
}

/// The in-flight downloads of one cache, by entry name.
final class FlightTable: Sendable {
    enum Claim {
        case leader(LeaderToken)
        case follower(Flight)
    }

    private let flights = Locked([String: Flight]())

    /// Makes the caller the downloader of `name`, or returns the download already in progress.
    func claim(_ name: String) -> Claim {
        flights.withLock { table -> Claim in
            if let existing = table[name] { return .follower(existing) }
            let flight = Flight()
            table[name] = flight
            let flights = self.flights
            return .leader(LeaderToken(flight: flight) {
                flights.withLock { t in
                    if t[name] === flight { t[name] = nil }
                }
            })
        }
    }

    var count: Int { flights.withLock { $0.count } }
}
