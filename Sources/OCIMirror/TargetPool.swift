import Foundation
import OCIArchive
import OCIKit

/// The targets of a run, one per store and access, so that a layout or an archive is opened once and an
/// archive is written once, after every copy into it.
actor TargetPool {
    private struct Key: Hashable {
        var store: MirrorStore
        var writing: Bool
        var mountSources: [String]
    }

    private var targets: [Key: any Target] = [:]
    private var archives: [MirrorStore: OCIArchiveStore] = [:]

    func target(_ store: MirrorStore, client: OCIClient, writing: Bool, mountSources: [String] = []) throws -> any Target {
        let key = Key(store: store, writing: writing, mountSources: mountSources)
        if let existing = targets[key] { return existing }
        let made: any Target
        switch store {
        case .registry(let reference):
            made = try client.target(.registry(reference), access: writing ? .push : .pull, mountSources: mountSources)
        case .layout(let path):
            made = try OCILayoutStore(path: path, create: writing)
        case .archive(let path):
            if writing {
                // One writer per archive: every copy into it goes through the same store.
                if let open = archives[store] { return open }
                let archive = try OCIArchiveStore(path: path, mode: .update)
                archives[store] = archive
                made = archive
            } else {
                guard FileManager.default.fileExists(atPath: path) else {
                    throw ContentError.notFound("archive \(path)")
                }
                made = try OCIArchiveStore(path: path, mode: .read)
            }
        }
        targets[key] = made
        return made
    }

    /// Writes every archive opened for writing; returns those that failed, with why.
    func finish() async -> [(MirrorStore, any Error)] {
        var failures: [(MirrorStore, any Error)] = []
        for (store, archive) in archives {
            do { try await archive.close() } catch { failures.append((store, error)) }
            // A rewritten archive has its entries at new offsets: a later job opens it afresh.
            for key in targets.keys where key.store == store { targets[key] = nil }
        }
        archives = [:]
        return failures
    }
}

/// The pull budgets of the source hosts that report a rate limit (Docker Hub's `RateLimit-Remaining`), read
/// with a HEAD (which costs no pull) before the first copy from the host and whenever the budget runs out.
actor RateBudgets {
    private struct Budget {
        var remaining: Int?
        var limit: RateLimit?
        var sinceRefresh = 0
    }

    private let mirror: Mirror
    private let onEvent: (@Sendable (MirrorEvent) -> Void)?
    private var budgets: [String: Budget] = [:]
    /// Every wait so far: how many, and the seconds waited in all.
    private(set) var waits = 0
    private(set) var waitedSeconds = 0

    init(mirror: Mirror, onEvent: (@Sendable (MirrorEvent) -> Void)?) {
        self.mirror = mirror
        self.onEvent = onEvent
    }

    /// The settings for a host, by its name in references or its API host.
    private func settings(_ reference: Reference) -> MirrorConfiguration.HostSettings? {
        let hosts = mirror.configuration.hosts
        if let direct = hosts[reference.host] { return direct }
        return hosts.first { DockerHub.endpoint(for: $0.key) == reference.endpointHost }?.value
    }

    /// Takes `cost` pulls from the source host's budget: waits or throws as the host's policy says when the
    /// registry reports that they would exceed what is left (less the reserve).
    func take(_ reference: Reference, tag: String, cost: Int) async throws {
        let settings = settings(reference)
        let isDockerHub = reference.endpointHost == DockerHub.endpoint(for: "docker.io")
        let policy = settings?.rateLimit ?? (isDockerHub ? .stop : .ignore)
        guard policy != .ignore else { return }
        let reserve = settings?.reserve ?? 0
        let host = reference.endpointHost
        var budget = budgets[host] ?? Budget()
        if budget.remaining == nil || budget.sinceRefresh >= 20 || (budget.remaining ?? 0) < cost {
            budget = try await refresh(reference, tag: tag, reserve: reserve)
        }
        while let remaining = budget.remaining, remaining < cost {
            let detail = Self.describe(budget.limit, reserve: reserve, cost: cost)
            if let limit = budget.limit?.limit, limit - reserve < cost {
                // No window ever gives back enough: waiting would never end.
                budgets[host] = budget
                throw MirrorError.rateLimitExhausted(
                    host: reference.host,
                    detail: detail + "; the limit less the reserve is below what one image needs, so waiting cannot help")
            }
            guard policy == .wait else {
                budgets[host] = budget
                throw MirrorError.rateLimitExhausted(host: reference.host, detail: detail)
            }
            let seconds = Self.waitSeconds(budget.limit, deficit: cost - remaining)
            onEvent?(.waiting(host: reference.host, seconds: seconds, reason: detail))
            waits += 1
            waitedSeconds += seconds
            try await Task.sleep(for: .seconds(seconds))
            budget = try await refresh(reference, tag: tag, reserve: reserve)
        }
        if let remaining = budget.remaining { budget.remaining = remaining - cost }
        budget.sinceRefresh += 1
        budgets[host] = budget
    }

    /// The shortest wait before the budget is read again (a registry with a window of a few seconds).
    static let minimumWait = 1
    /// The longest single wait (the budget is then read again, and the wait repeated if need be).
    static let maximumWait = 900

    /// How long to wait for `deficit` more pulls, from what the registry reports: the window slides, so one
    /// pull comes back every window/limit seconds (Docker Hub's `100;w=21600`: 216 s a pull). Without a limit
    /// the whole window; without a window a minute. Bounded by `minimumWait` and `maximumWait`.
    static func waitSeconds(_ limit: RateLimit?, deficit: Int) -> Int {
        let raw: Double
        switch (limit?.windowSeconds, limit?.limit) {
        case let (window?, pulls?) where pulls > 0:
            raw = Double(window) * Double(max(1, deficit)) / Double(pulls)
        case let (window?, _):
            raw = Double(window)
        default:
            raw = 60
        }
        return min(maximumWait, max(minimumWait, Int(raw.rounded(.up))))
    }

    private func refresh(_ reference: Reference, tag: String, reserve: Int) async throws -> Budget {
        let repository = mirror.client.registry.repository(reference)
        let limit = try await repository.rateLimit(reference: tag)
        return Budget(remaining: limit?.remaining.map { $0 - reserve }, limit: limit)
    }

    private static func describe(_ limit: RateLimit?, reserve: Int, cost: Int) -> String {
        guard let limit else { return "no pulls left" }
        var text = "\(limit.remaining.map(String.init) ?? "?") of \(limit.limit.map(String.init) ?? "?") pulls left"
        if let window = limit.windowSeconds { text += " per \(window) s" }
        if let source = limit.source { text += ", counted for \(source)" }
        if reserve > 0 { text += ", \(reserve) kept in reserve" }
        return text + "; the next image needs \(cost)"
    }
}
