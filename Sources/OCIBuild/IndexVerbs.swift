import OCIContent
import OCISpec

/// Images for an index: one image (its platform read from its config), or the entries of another index (all of
/// them, or those of `platforms`).
public struct IndexSource: Sendable {
    public var image: StoredImage
    /// For an index: which of its platforms to take (nil: all). For an image: must match its platform if given.
    public var platforms: [Platform]?

    public init(_ image: StoredImage, platforms: [Platform]? = nil) {
        self.image = image
        self.platforms = platforms
    }
}

/// Which entries of an index an edit removes.
public enum IndexEntrySelector: Sendable, Hashable {
    case platform(Platform)
    case digest(OCIDigest)

    func matches(_ entry: Descriptor) -> Bool {
        switch self {
        case .platform(let platform): return entry.platform.map(platform.matches) ?? false
        case .digest(let digest): return entry.digest == digest
        }
    }
}

/// Options of `OCI.createIndex` and `OCI.editIndex`.
public struct IndexOptions: Sendable {
    /// An OCI index or a Docker manifest list; nil: for a new index, the family of its first image; for an
    /// edit, the index's own.
    public var format: MediaTypeFamily?
    /// Index annotations to set.
    public var annotations: [String: String]
    public var push: PushSettings

    public init(format: MediaTypeFamily? = nil, annotations: [String: String] = [:], push: PushSettings = PushSettings()) {
        self.format = format
        self.annotations = annotations
        self.push = push
    }
}

/// What an index verb pushed.
public struct IndexResult: Sendable {
    public var index: Descriptor
    /// The entries, in the index's order.
    public var manifests: [Descriptor]
}

extension OCI {
    /// Makes an index (OCI index or Docker manifest list) of the images in `sources`, in their order; an entry
    /// whose platform another entry has already replaces that one. Every image is copied to `destination`
    /// first (children first; what is there is skipped), so the index never points at a manifest the
    /// destination lacks.
    @discardableResult
    public static func createIndex(_ sources: [IndexSource], to destination: any Target, tag: String?,
                                   options: IndexOptions = IndexOptions()) async throws -> IndexResult {
        guard !sources.isEmpty else { throw BuildError.invalidArgument("an index needs at least one image") }
        let entries = try await collect(sources)
        let family = options.format ?? MediaTypeFamily(manifestMediaType: entries.first?.entry.mediaType ?? MediaType.ociManifest)
        var merged: [(entry: Descriptor, store: any ReadOnlyTarget)] = []
        for item in entries { upsert(item, into: &merged) }
        return try await pushIndex(merged, family: family, annotations: options.annotations, base: nil,
                                   to: destination, tag: tag, push: options.push)
    }

    /// Edits an index: removes the entries `remove` selects, adds (or, for a platform it has, replaces) the
    /// images of `add`, sets annotations, and pushes the result, copying every entry's image to
    /// `destination` first. `index` may live in another store than `destination`.
    @discardableResult
    public static func editIndex(_ index: StoredImage, add: [IndexSource] = [], remove: [IndexEntrySelector] = [],
                                 to destination: any Target, tag: String?,
                                 options: IndexOptions = IndexOptions()) async throws -> IndexResult {
        let (descriptor, bytes) = try await index.store.manifest(index.reference)
        guard MediaType.isMultiArch(descriptor.mediaType) else {
            throw BuildError.invalidArgument("\(index.reference) is \(descriptor.mediaType), not an index; make one with index create")
        }
        let existing = try JSONCoding.decode(ImageIndex.self, from: bytes)
        var merged: [(entry: Descriptor, store: any ReadOnlyTarget)] = existing.manifests.map { ($0, index.store) }
        for selector in remove {
            let before = merged.count
            merged.removeAll { selector.matches($0.entry) }
            if merged.count == before { throw BuildError.notFound("no entry of \(index.reference) matches \(selector)") }
        }
        for item in try await collect(add) { upsert(item, into: &merged) }
        let family = options.format ?? MediaTypeFamily(manifestMediaType: descriptor.mediaType)
        return try await pushIndex(merged, family: family, annotations: options.annotations, base: existing,
                                   to: destination, tag: tag, push: options.push)
    }

    /// Replaces the entry with the same platform (or digest), else appends.
    private static func upsert(_ item: (entry: Descriptor, store: any ReadOnlyTarget),
                               into merged: inout [(entry: Descriptor, store: any ReadOnlyTarget)]) {
        if let at = merged.firstIndex(where: { existing in
            existing.entry.digest == item.entry.digest
                || (existing.entry.platform != nil && existing.entry.platform == item.entry.platform)
        }) {
            merged[at] = item
        } else {
            merged.append(item)
        }
    }

    /// The index entries `sources` name, each with the store its image is in.
    private static func collect(_ sources: [IndexSource]) async throws -> [(entry: Descriptor, store: any ReadOnlyTarget)] {
        var entries: [(entry: Descriptor, store: any ReadOnlyTarget)] = []
        for source in sources {
            let store = source.image.store
            let (descriptor, bytes) = try await store.manifest(source.image.reference)
            if MediaType.isMultiArch(descriptor.mediaType) {
                let index = try JSONCoding.decode(ImageIndex.self, from: bytes)
                var chosen = index.manifests
                if let platforms = source.platforms {
                    chosen = try platforms.map { platform in
                        try LoadedImage.choose(platform, in: index, root: descriptor, explicit: true)
                    }
                }
                entries += chosen.map { ($0, store) }
            } else if MediaType.isSingleArch(descriptor.mediaType) {
                let manifest = try JSONCoding.decode(Manifest.self, from: bytes)
                var entry = descriptor.basic
                if manifest.config.mediaType == MediaType.ociConfig || manifest.config.mediaType == MediaType.dockerConfig {
                    let config = try ConfigDocument(bytes: try await store.fetchAll(manifest.config))
                    entry.platform = config.platform
                }
                if let wanted = source.platforms {
                    guard let has = entry.platform, wanted.contains(where: { $0.matches(has) }) else {
                        throw BuildError.invalidArgument("\(source.image.reference) is \(entry.platform?.description ?? "an image without a platform"), not \(wanted.map(\.description).joined(separator: " or "))")
                    }
                }
                if manifest.artifactType != nil { entry.artifactType = manifest.artifactType }
                entries.append((entry, store))
            } else {
                throw BuildError.unsupported("\(source.image.reference) is \(descriptor.mediaType); an index lists image manifests and indexes")
            }
        }
        return entries
    }

    private static func pushIndex(_ entries: [(entry: Descriptor, store: any ReadOnlyTarget)], family: MediaTypeFamily,
                                  annotations: [String: String], base: ImageIndex?, to destination: any Target,
                                  tag: String?, push: PushSettings) async throws -> IndexResult {
        if family == .docker, let oci = entries.first(where: { $0.entry.mediaType != MediaType.dockerManifest }) {
            throw BuildError.unsupported("a Docker manifest list cannot list the OCI manifest \(oci.entry.digest); make an OCI index (format oci) or convert the image")
        }
        // Every child first, from the store it is in.
        let graph = GraphCopyOptions(concurrency: push.concurrency ?? 4, onEvent: push.onEvent)
        for (entry, store) in entries {
            try await copyGraph(from: store, to: destination, root: entry.basic, options: graph)
        }
        var index = base ?? ImageIndex(manifests: [])
        index.schemaVersion = 2
        index.mediaType = family.index
        index.manifests = entries.map(\.entry)
        if family == .docker { index.artifactType = nil; index.subject = nil }
        if !annotations.isEmpty {
            var merged = index.annotations ?? [:]
            for (key, value) in annotations { merged[key] = value }
            index.annotations = merged
        }
        let staging = try StagingStore(parent: push.temporaryDirectory)
        defer { staging.remove() }
        let bytes = try JSONCoding.encode(index)
        let descriptor = await staging.add(bytes: bytes, mediaType: family.index)
        var routes: [OCIDigest: any ReadOnlyTarget] = [:]
        for (entry, store) in entries { routes[entry.digest] = store }
        try await pushGraph(descriptor, from: RoutedSource(staged: staging, routes: routes, fallback: nil),
                            to: destination, tag: tag, push: push)
        return IndexResult(index: descriptor, manifests: index.manifests)
    }
}
