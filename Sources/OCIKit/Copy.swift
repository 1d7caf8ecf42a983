import OCIContent
import OCIRegistry
import OCISchema1
import OCISpec
import OCISync

/// Which platforms of an index a copy, pull or inspect takes.
public enum PlatformSelection: Sendable, Hashable {
    /// The whole index, every platform (for a single manifest: that manifest).
    case all
    /// One platform's manifest instead of the index.
    case one(Platform)
    /// The manifests of these platforms, under a new index that lists only them (a new digest).
    case some([Platform])

    /// Parses `all`, `os/arch[/variant][:osversion]`, or a comma-separated list of those.
    public init?(parsing text: String) {
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if items == ["all"] { self = .all; return }
        let platforms = items.compactMap { Platform(parsing: String($0)) }
        guard !platforms.isEmpty, platforms.count == items.count else { return nil }
        self = platforms.count == 1 ? .one(platforms[0]) : .some(platforms)
    }
}

/// What a copy does with a Docker schema1 source (registries have refused schema1 pushes by default since
/// distribution 2.8, and Docker Hub, GHCR, Quay and others no longer accept them).
public enum Schema1CopyPolicy: String, Sendable, CaseIterable {
    /// Copy schema1 as it is where the destination can hold it; when the destination refuses the manifest
    /// (400/415/5xx), or is not a registry, convert it to an OCI image manifest and copy that, as skopeo does.
    case auto
    /// Always convert a schema1 source to an OCI image manifest (Go: `ConvertV1ManifestToV2`).
    case convert
    /// Never convert: a refusal is the error.
    case keep
}

/// Options of `OCI.copy` and `OCIClient.copy`.
public struct CopyOptions: Sendable {
    /// How many blobs move at once; nil takes the client's setting (4 without a client).
    public var concurrency: Int?
    /// Repositories of the destination's registry to try as mount sources per blob. When nil the destination's
    /// own mount sources are used (the client sets them for copies within one registry).
    public var mountFrom: (@Sendable (Descriptor) -> [String])?
    /// Called for every event, from several tasks at once. `OCIClient.startCopy` offers them as an `AsyncSequence`.
    public var onEvent: (@Sendable (CopyEvent) -> Void)?
    /// Which platforms of an index to copy.
    public var platforms: PlatformSelection
    /// Also copy the manifests that refer to the copied ones (OCI 1.1 referrers), recursively. Needs a source
    /// that lists referrers (a registry).
    public var referrers: Bool
    /// What to do with a Docker schema1 source.
    public var schema1: Schema1CopyPolicy

    public init(concurrency: Int? = nil, mountFrom: (@Sendable (Descriptor) -> [String])? = nil,
                onEvent: (@Sendable (CopyEvent) -> Void)? = nil, platforms: PlatformSelection = .all,
                referrers: Bool = false, schema1: Schema1CopyPolicy = .auto) {
        self.concurrency = concurrency.map { max(1, $0) }
        self.mountFrom = mountFrom
        self.onEvent = onEvent
        self.platforms = platforms
        self.referrers = referrers
        self.schema1 = schema1
    }
}

/// What a copy did.
public struct CopyResult: Sendable {
    /// The root that was copied: the chosen platform's manifest, a filtered index, or a converted schema1 image.
    public var root: Descriptor
    /// Nodes copied, skipped and mounted.
    public var copied = 0
    public var skipped = 0
    public var mounted = 0
    /// Bytes of blob content transferred.
    public var bytes: Int64 = 0
    /// Referrers copied with `CopyOptions.referrers`.
    public var referrers = 0
}

extension OCI {
    /// The most referrers a copy follows, so that a hostile registry cannot make it run forever.
    public static let maxReferrers = 1000

    /// Copies the image, index or artifact that `reference` names in `source` to `destination`, children first,
    /// and points `tag` (when given) at it: platforms, referrers and schema1 sources as `options` says. Works
    /// over any two targets (registry repositories, OCI layouts, memory, file stores).
    @discardableResult
    public static func copy(from source: any ReadOnlyTarget, reference: String, to destination: any Target,
                            tag: String?, options: CopyOptions = CopyOptions()) async throws -> CopyResult {
        let (root, bytes) = try await source.manifest(reference)
        return try await copy(from: source, root: root, bytes: bytes, to: destination, tag: tag, options: options)
    }

    /// Copies the graph under an already resolved `root`, as `copy(from:reference:to:tag:options:)` does.
    @discardableResult
    public static func copy(from source: any ReadOnlyTarget, root: Descriptor, to destination: any Target,
                            tag: String?, options: CopyOptions = CopyOptions()) async throws -> CopyResult {
        try await copy(from: source, root: root, bytes: nil, to: destination, tag: tag, options: options)
    }

    static func copy(from source: any ReadOnlyTarget, root resolved: Descriptor, bytes known: [UInt8]?,
                     to destination: any Target, tag: String?, options: CopyOptions) async throws -> CopyResult {
        let stats = CopyStatistics()
        let userHandler = options.onEvent
        var graph = GraphCopyOptions(concurrency: options.concurrency ?? 4, mountFrom: options.mountFrom,
                                     onEvent: { event in
                                         stats.record(event)
                                         userHandler?(event)
                                     })
        let staged = MemoryStore()
        let from = OverlayTarget(overlay: staged, base: source)
        var root = resolved
        if let known { await staged.push(bytes: known, mediaType: root.mediaType) }

        if MediaType.isSchema1(root.mediaType) {
            root = try await copySchema1(from: source, staged: staged, root: root, to: destination, tag: tag,
                                         options: options, graph: graph)
        } else {
            root = try await select(options.platforms, of: root, in: from, staging: staged)
            graph.rootTag = tag
            let outcome = try await copyGraph(from: from, to: destination, root: root, options: graph)
            if let tag, !outcome.rootTagged { try await destination.tag(root, as: tag) }
        }
        var result = stats.result
        result.root = root
        if options.referrers {
            result.referrers = try await copyReferrers(of: root, from: source, to: destination, options: graph)
        }
        return result
    }

    /// The root to copy for a platform selection: the index itself, one child, or a new index of some children.
    static func select(_ selection: PlatformSelection, of root: Descriptor, in source: any ReadOnlyTarget,
                       staging: MemoryStore) async throws -> Descriptor {
        guard selection != .all, MediaType.isMultiArch(root.mediaType) else { return root }
        let index = try await decodeIndex(root, from: source)
        switch selection {
        case .all:
            return root
        case .one(let platform):
            return try choose(platform, in: index, root: root)
        case .some(let platforms):
            let chosen = try platforms.map { try choose($0, in: index, root: root) }
            var filtered = index
            filtered.manifests = index.manifests.filter { entry in chosen.contains { $0.digest == entry.digest } }
            let bytes = try JSONCoding.encode(filtered)
            return await staging.push(bytes: bytes, mediaType: root.mediaType)
        }
    }

    static func decodeIndex(_ root: Descriptor, from source: any ContentFetcher) async throws -> ImageIndex {
        let bytes = try await source.fetchAll(root)
        guard case .index(let index) = try ManifestDocument.decode(bytes, mediaType: root.mediaType) else {
            throw ContentError.unsupported("\(root.digest) is not an index")
        }
        return index
    }

    /// The entry of `index` for `platform`, or a not-found error that lists the platforms there are.
    public static func choose(_ platform: Platform, in index: ImageIndex, root: Descriptor) throws -> Descriptor {
        if let child = index.manifests.first(where: { $0.platform.map(platform.matches) ?? false }) { return child }
        let available = index.manifests.compactMap { $0.platform?.description }.joined(separator: ", ")
        throw ContentError.notFound("platform \(platform) in \(root.digest) (available: \(available.isEmpty ? "none" : available))")
    }

    // MARK: schema1

    private static func copySchema1(from source: any ReadOnlyTarget, staged: MemoryStore, root: Descriptor,
                                    to destination: any Target, tag: String?, options: CopyOptions,
                                    graph: GraphCopyOptions) async throws -> Descriptor {
        // Only a registry can hold a signed schema1 manifest as it is (its digest is over the payload, not the
        // bytes); anything else gets it converted, or refuses with `keep`.
        let holdsSchema1 = destination is any ManifestWriter
        var policy = options.schema1
        if !holdsSchema1 {
            guard policy != .keep else {
                throw ContentError.unsupported("\(root.digest) is a Docker schema1 manifest, which this destination cannot hold as it is; convert it to OCI")
            }
            policy = .convert
        }
        var tagged = graph
        tagged.rootTag = tag
        if policy != .convert {
            do {
                let outcome = try await copyGraph(from: OverlayTarget(overlay: staged, base: source), to: destination,
                                                  root: root, options: tagged)
                if let tag, !outcome.rootTagged { try await destination.tag(root, as: tag) }
                return root
            } catch where policy == .auto && isSchema1Refusal(error) {
                // Converted below, as skopeo does.
            }
        }
        let bytes = try await source.fetchAll(root)
        let converter = Schema1Converter(fetcher: source, concurrency: graph.concurrency)
        let converted = try await converter.convert(bytes, source: root, into: staged)
        let outcome = try await copyGraph(from: OverlayTarget(overlay: staged, base: source), to: destination,
                                          root: converted.manifest, options: tagged)
        if let tag, !outcome.rootTagged { try await destination.tag(converted.manifest, as: tag) }
        return converted.manifest
    }

    /// Whether an error from pushing a schema1 manifest means the destination does not take schema1: 400
    /// (`MANIFEST_INVALID`, most registries), 415 (unsupported media type), or a 5xx that persisted through the
    /// retries (distribution 2.8 answers a signed schema1 push with 500 `UNKNOWN` when schema1 is off). When the
    /// destination is broken rather than refusing, the converted push fails too and reports that.
    public static func isSchema1Refusal(_ error: any Error) -> Bool {
        guard case RegistryError.registry(let operation, _, let status, _, _) = error else { return false }
        return operation.contains("manifest") && (status == 400 || status == 415 || (500..<600).contains(status))
    }

    // MARK: referrers

    /// Copies every manifest that refers to `root` (and, recursively, to those), at most `maxReferrers`.
    private static func copyReferrers(of root: Descriptor, from source: any ReadOnlyTarget, to destination: any Target,
                                      options: GraphCopyOptions) async throws -> Int {
        guard let lister = source as? any ReferrerLister else {
            throw ContentError.unsupported("this source cannot list referrers; copying referrers needs a registry source")
        }
        var graph = options
        graph.rootTag = nil
        var pending = [root.digest]
        var seen: Set<OCIDigest> = []
        var copied = 0
        while let subject = pending.popLast(), seen.count < maxReferrers {
            guard seen.insert(subject).inserted else { continue }
            for referrer in try await lister.referrers(of: subject, artifactType: nil) {
                try await copyGraph(from: source, to: destination, root: referrer.basic, options: graph)
                copied += 1
                pending.append(referrer.digest)
            }
        }
        return copied
    }
}

/// Counts copy events (thread-safe).
final class CopyStatistics: Sendable {
    private let value = Locked(CopyResult(root: EmptyJSON.descriptor))

    func record(_ event: CopyEvent) {
        value.withLock { value in
            switch event {
            case .copied(let d):
                value.copied += 1
                if !MediaType.isManifest(d.mediaType) { value.bytes += max(0, d.size) }
            case .skipped: value.skipped += 1
            case .mounted: value.mounted += 1
            case .started, .progress: break
            }
        }
    }

    var result: CopyResult { value.current }
}
