import Foundation
import OCIArchive
import OCIKit
import OCISync

/// The sync engine: plans every job of a `MirrorConfiguration` (one HEAD per tag and side tells an unchanged
/// tag, which then moves nothing), then copies what changed, `concurrency` images at once, through the copy verb
/// (shared blobs skipped or mounted), deletes what `prune` asks, and reports.
///
/// ```swift
/// let configuration = try MirrorConfiguration.load(path: "sync.yaml")
/// var clientConfiguration = try OCIClient.Configuration.automatic()
/// configuration.apply(to: &clientConfiguration)
/// let report = try await OCIClient.withClient(configuration: clientConfiguration) { client in
///     await Mirror(configuration: configuration, client: client).run(.init(keepGoing: true))
/// }
/// ```
public final class Mirror: Sendable {
    /// How a run goes.
    public struct Options: Sendable {
        /// Plan only: resolve both sides and report what would be copied, skipped and deleted.
        public var dryRun: Bool
        /// Go on after a failing item (the report counts the failures); otherwise the first failure stops
        /// the run and the items not started are reported as not run.
        public var keepGoing: Bool
        /// Only this shard's (repository, tag) pairs.
        public var shard: MirrorShard?
        /// Called as items are planned and finish, and while the engine waits for a rate-limit window.
        public var onEvent: (@Sendable (MirrorEvent) -> Void)?

        public init(dryRun: Bool = false, keepGoing: Bool = false, shard: MirrorShard? = nil,
                    onEvent: (@Sendable (MirrorEvent) -> Void)? = nil) {
            self.dryRun = dryRun
            self.keepGoing = keepGoing
            self.shard = shard
            self.onEvent = onEvent
        }
    }

    public let configuration: MirrorConfiguration
    public let client: OCIClient
    let targets = TargetPool()

    /// A mirror over `client` (give it the configuration's host limits with `MirrorConfiguration.apply(to:)`).
    public init(configuration: MirrorConfiguration, client: OCIClient) {
        self.configuration = configuration
        self.client = client
    }

    /// Plans and (unless `dryRun`) runs every job.
    /// Jobs run in their order, each planned then run, so that a job may read what an earlier one wrote (an
    /// archive written by one job and copied on by the next).
    public func run(_ options: Options = Options()) async -> MirrorReport {
        let clock = ContinuousClock()
        let start = clock.now
        let started = Date()
        let budgets = RateBudgets(mirror: self, onEvent: options.onEvent)
        var all: [MirrorItem] = []
        for (index, job) in configuration.sync.enumerated() {
            var items = await plan(job: job, index: index, options: options)
            for item in items {
                options.onEvent?(.planned(item))
                if item.status == .failed { options.onEvent?(.finished(item)) }
            }
            let planFailed = items.contains { $0.status == .failed }
            if !options.dryRun {
                if planFailed && !options.keepGoing {
                    for i in items.indices where items[i].status == .planned { items[i].status = .notRun }
                } else {
                    items = await execute(items, options: options, budgets: budgets, started: started)
                }
            }
            all += items
            if !options.keepGoing, items.contains(where: { $0.status == .failed || $0.status == .notRun }) { break }
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        var report = MirrorReport(dryRun: options.dryRun, shard: options.shard, items: all, seconds: seconds)
        report.summary.rateLimitWaits = await budgets.waits
        report.summary.rateLimitWaitSeconds = await budgets.waitedSeconds
        return report
    }

    // MARK: planning

    /// The plan of one job: every tag of this shard as a copy or skip item, prune deletions, failed listings.
    func plan(job: MirrorJob, index: Int, options: Options) async -> [MirrorItem] {
        do {
            return try await planItems(job: job, index: index, options: options)
        } catch {
            var item = MirrorItem(job: index, source: job.source, destination: job.destination, tag: "",
                                  action: .list, status: .failed)
            item.error = Self.describe(error)
            return [item]
        }
    }

    private func planItems(job: MirrorJob, index: Int, options: Options) async throws -> [MirrorItem] {
        let pairs = try await expand(job)
        var items: [MirrorItem] = []
        for pair in pairs {
            do {
                items += try await plan(pair: pair, job: job, index: index, options: options)
            } catch {
                var item = MirrorItem(job: index, source: pair.source.description, destination: pair.destination.description,
                                      tag: pair.sourceTag ?? "", action: .list, status: .failed)
                item.error = Self.describe(error)
                items.append(item)
                if !options.keepGoing { break }
            }
        }
        return items
    }

    /// The source repositories of a job, each with its destination.
    func expand(_ job: MirrorJob) async throws -> [MirrorPair] {
        let source = try MirrorEndpoint(parsing: job.source)
        let destination = try MirrorEndpoint(parsing: job.destination)
        let jobName = "\(job.source) -> \(job.destination)"
        switch source {
        case .repository(let reference):
            let store = try destination.destination(relative: reference.repository, many: false, job: jobName)
            return [MirrorPair(source: .registry(reference.repositoryOnly), destination: store, sourceTag: reference.tag,
                               destinationTag: reference.tag.flatMap { _ in destination.tag })]
        case .prefix(let host, let path):
            let names = try await client.registry.repositories(host: host, prefix: path)
            return try names.sorted().map { name in
                let relative = path.isEmpty ? name : String(name.dropFirst(path.count + 1))
                return MirrorPair(source: .registry(try Reference(parsing: "\(host)/\(name)", defaultTag: nil)),
                                  destination: try destination.destination(relative: relative, many: true, job: jobName))
            }
        case .layout(let path, let tag), .archive(let path, let tag):
            let relative = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            let store: MirrorStore
            if case .layout = source { store = .layout(path) } else { store = .archive(path) }
            return [MirrorPair(source: store, destination: try destination.destination(relative: relative, many: false, job: jobName),
                               sourceTag: tag, destinationTag: tag.flatMap { _ in destination.tag })]
        }
    }

    private func plan(pair: MirrorPair, job: MirrorJob, index: Int, options: Options) async throws -> [MirrorItem] {
        let source = try await targets.target(pair.source, client: client, writing: false)
        let selected: [String]
        if let tag = pair.sourceTag {
            selected = [tag]
        } else {
            guard let lister = source as? any TagLister else {
                throw MirrorError.unsupportedEndpoint(pair.source.description, "it cannot list its tags")
            }
            selected = try job.tags.apply(try await lister.tags())
        }
        let mine = selected.filter { options.shard?.owns(repository: pair.source.description, tag: $0) ?? true }
        let destination = try? await targets.target(pair.destination, client: client, writing: false)
        // Both sides are resolved at once for each tag, 16 tags at a time (16 requests per host, the client's
        // connection pool per host).
        let width = max(16, configuration.concurrency * 2)
        var items = try await concurrentMap(mine, limit: width) { tag -> MirrorItem in
            let destinationTag = pair.destinationTag ?? tag
            var item = MirrorItem(job: index, source: pair.source.location(tag), destination: pair.destination.location(destinationTag),
                                  tag: tag, action: .copy)
            do {
                async let present = Self.resolveIfPresent(destinationTag, in: destination)
                let root = try await source.resolve(tag)
                item.root = root
                let expected = try await OCI.selectedRoot(job.platforms, of: root, in: source)
                item.sourceDigest = expected.digest.description
                let existing = try await present
                item.destinationDigest = existing?.digest.description
                if let existing, existing.digest == expected.digest {
                    if job.referrers, try await Self.referrersMissing(of: expected, from: source, in: destination) {
                        item.reason = "unchanged, but referrers are missing at the destination"
                    } else {
                        item.action = .skip
                        item.reason = "unchanged"
                    }
                } else {
                    item.reason = existing == nil ? "missing at the destination" : "the destination has another digest"
                }
            } catch {
                try Task.checkCancellation()
                item.status = .failed
                item.error = Self.describe(error)
            }
            return item
        }
        if job.prune, pair.sourceTag == nil, let lister = destination as? any TagLister {
            let keep = Set(selected)
            let present = (try? await lister.tags()) ?? []
            for tag in present.sorted() where !keep.contains(tag)
                && (options.shard?.owns(repository: pair.source.description, tag: tag) ?? true) {
                items.append(MirrorItem(job: index, source: pair.source.location(tag),
                                        destination: pair.destination.location(tag), tag: tag, action: .delete,
                                        reason: "not in the source (or filtered out)"))
            }
        }
        return items
    }

    /// The destination's descriptor for `tag`, nil when the destination (or the tag) does not exist.
    static func resolveIfPresent(_ tag: String, in destination: (any Target)?) async throws -> Descriptor? {
        guard let destination else { return nil }
        do {
            return try await destination.resolve(tag)
        } catch where error.ociErrorKind == .notFound {
            return nil
        }
    }

    /// Whether some referrer of `root` (recursively, as the copy follows them) is missing at the destination.
    static func referrersMissing(of root: Descriptor, from source: any Target, in destination: (any Target)?) async throws -> Bool {
        guard let lister = source as? any ReferrerLister else { return false }
        guard let destination else { return true }
        var pending = [root.digest]
        var seen: Set<OCIDigest> = []
        while let subject = pending.popLast(), seen.count < OCI.maxReferrers {
            guard seen.insert(subject).inserted else { continue }
            for referrer in try await lister.referrers(of: subject, artifactType: nil) {
                if !(try await destination.exists(referrer.basic)) { return true }
                pending.append(referrer.digest)
            }
        }
        return false
    }

    // MARK: running

    private func execute(_ planned: [MirrorItem], options: Options, budgets: RateBudgets, started: Date) async -> [MirrorItem] {
        var items = planned
        let stop = Locked(false)
        let copies = items.indices.filter { items[$0].action == .copy && items[$0].status == .planned }
        let work = copies.map { (index: $0, item: items[$0]) }
        let results = (try? await concurrentMap(work, limit: configuration.concurrency) { entry -> MirrorItem in
            var item = entry.item
            if stop.current {
                item.status = .notRun
                return item
            }
            do {
                try await self.copy(&item, budgets: budgets)
                item.status = .done
            } catch {
                item.status = .failed
                item.error = Self.describe(error)
                if !options.keepGoing { stop.withLock { $0 = true } }
            }
            options.onEvent?(.finished(item))
            return item
        }) ?? work.map(\.item)
        for (entry, result) in zip(work, results) { items[entry.index] = result }
        for index in items.indices where items[index].status == .planned {
            switch items[index].action {
            case .skip:
                items[index].status = .done
                options.onEvent?(.finished(items[index]))
            case .delete:
                if stop.current {
                    items[index].status = .notRun
                    continue
                }
                do {
                    try await delete(items[index])
                    items[index].status = .done
                } catch {
                    items[index].status = .failed
                    items[index].error = Self.describe(error)
                    if !options.keepGoing { stop.withLock { $0 = true } }
                }
                options.onEvent?(.finished(items[index]))
            case .copy, .list:
                break
            }
        }
        // What the deletions left unreachable in layouts and archives goes too (registries collect their own).
        let pruned = Set(items.filter { $0.action == .delete && $0.status == .done }.compactMap { try? Self.store(of: $0.destination) })
        for store in pruned.sorted(by: { $0.description < $1.description }) {
            do {
                let collected = try await collectGarbage(store, sparingModifiedAfter: started)
                for index in items.indices where items[index].action == .delete && items[index].status == .done
                    && (try? Self.store(of: items[index].destination)) == store {
                    items[index].removedBlobs = collected.removed.count
                    items[index].removedBytes = collected.bytes
                    break
                }
            } catch {
                for index in items.indices where items[index].action == .delete && items[index].status == .done
                    && (try? Self.store(of: items[index].destination)) == store {
                    items[index].status = .failed
                    items[index].error = "the tag was deleted, but its blobs were not collected: \(Self.describe(error))"
                }
            }
        }
        // Archives are written when everything for them has been copied; a failure there fails their items.
        for (store, failure) in await targets.finish() {
            for index in items.indices where items[index].destination.hasPrefix(store.description + ":")
                && items[index].status == .done && items[index].action != .skip {
                items[index].status = .failed
                items[index].error = Self.describe(failure)
            }
        }
        return items
    }

    private func copy(_ item: inout MirrorItem, budgets: RateBudgets) async throws {
        let job = configuration.sync[item.job]
        let pairs = try await expandCached(job, item: item)
        guard let root = item.root else { throw MirrorError.unsupportedEndpoint(item.source, "it was not resolved") }
        let source = try await targets.target(pairs.source, client: client, writing: false)
        var mountSources: [String] = []
        if case .registry(let s) = pairs.source, case .registry(let d) = pairs.destination, s.endpointHost == d.endpointHost,
           s.repository != d.repository {
            mountSources = [s.repository]
        }
        let destination = try await targets.target(pairs.destination, client: client, writing: true, mountSources: mountSources)
        if case .registry(let reference) = pairs.source {
            try await budgets.take(reference, tag: item.tag, cost: 1 + Self.platformCount(job.platforms))
        }
        let tag = item.destination.split(separator: ":").last.map(String.init) ?? item.tag
        let options = CopyOptions(concurrency: configuration.blobConcurrency ?? client.configuration.registry.concurrency,
                                  platforms: job.platforms, referrers: job.referrers, schema1: job.schema1)
        let result = try await OCI.copy(from: source, root: root, to: destination, tag: tag, options: options)
        item.sourceDigest = result.root.digest.description
        item.copied = result.copied
        item.skipped = result.skipped
        item.mounted = result.mounted
        item.bytes = result.bytes
        item.referrers = result.referrers
    }

    private static func platformCount(_ selection: PlatformSelection) -> Int {
        switch selection {
        case .all: return 0
        case .one: return 1
        case .some(let list): return list.count
        }
    }

    /// The source and destination stores of an item.
    private func expandCached(_ job: MirrorJob, item: MirrorItem) async throws -> (source: MirrorStore, destination: MirrorStore) {
        let source = try Self.store(of: item.source)
        let destination = try Self.store(of: item.destination)
        return (source, destination)
    }

    /// The store an item's location string names (the inverse of `MirrorStore.location`).
    static func store(of location: String) throws -> MirrorStore {
        guard let colon = location.lastIndex(of: ":") else { throw MirrorError.unsupportedEndpoint(location, "no tag") }
        let base = String(location[..<colon])
        if base.hasPrefix(OCILayoutStore.scheme) { return .layout(String(base.dropFirst(OCILayoutStore.scheme.count))) }
        if base.hasPrefix(MirrorEndpoint.archiveScheme) { return .archive(String(base.dropFirst(MirrorEndpoint.archiveScheme.count))) }
        return .registry(try Reference(parsing: base, defaultTag: nil))
    }

    private func delete(_ item: MirrorItem) async throws {
        let store = try Self.store(of: item.destination)
        switch store {
        case .registry(let reference):
            _ = try await client.registry.repository(reference, access: .delete).deleteManifest(item.tag)
        case .layout(let path):
            try await OCILayoutStore(path: path, create: false).untag(item.tag)
        case .archive:
            try await archive(store).untag(item.tag)
        }
    }

    /// The archive opened for writing in this run (the one every copy into it goes through).
    private func archive(_ store: MirrorStore) async throws -> OCIArchiveStore {
        guard let archive = try await targets.target(store, client: client, writing: true) as? OCIArchiveStore else {
            throw MirrorError.unsupportedEndpoint(store.description, "it is not an OCI archive")
        }
        return archive
    }

    /// Removes the blobs of a layout or an archive that its remaining tags (and their referrers) do not reach.
    /// Blobs of a layout modified after `sparingModifiedAfter` are kept (another shard may be copying them).
    private func collectGarbage(_ store: MirrorStore, sparingModifiedAfter: Date) async throws -> GarbageCollection {
        switch store {
        case .registry:
            return GarbageCollection()
        case .layout(let path):
            return try await OCILayoutStore(path: path, create: false).collectGarbage(sparingModifiedAfter: sparingModifiedAfter)
        case .archive:
            return try await archive(store).collectGarbage()
        }
    }

    /// An error's message for a report: the library's description.
    static func describe(_ error: any Error) -> String {
        String(describing: error)
    }
}
