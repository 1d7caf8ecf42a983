import OCIContent
import OCISpec

/// What a build pushed: the new manifest (with its platform), its config, and the layers it wrote.
public struct BuildResult: Sendable {
    public var manifest: Descriptor
    public var config: Descriptor
    /// The layers this build wrote (not the base's).
    public var layers: [BuiltLayer]
}

/// Settings every image verb shares: which platform of an index to work on, the media-type family of the
/// result, and how the result is pushed.
public struct PushSettings: Sendable {
    /// How many blobs move at once; nil takes the client's setting (4 without a client).
    public var concurrency: Int?
    /// Called for every event of the push (from several tasks at once).
    public var onEvent: (@Sendable (CopyEvent) -> Void)?
    /// A directory for temporary files (layers being written); nil for the system's.
    public var temporaryDirectory: String?

    public init(concurrency: Int? = nil, onEvent: (@Sendable (CopyEvent) -> Void)? = nil, temporaryDirectory: String? = nil) {
        self.concurrency = concurrency.map { max(1, $0) }
        self.onEvent = onEvent
        self.temporaryDirectory = temporaryDirectory
    }
}

/// Options of `OCI.appendLayers`.
public struct AppendOptions: Sendable {
    /// The base's platform when it is an index (default linux/amd64); for `scratch`, the new image's platform.
    public var platform: Platform?
    /// The result's media types; nil keeps the base's (OCI for scratch).
    public var format: MediaTypeFamily?
    /// How the new layers are written (their `family` follows the result's).
    public var layer: LayerOptions
    /// Config and manifest changes made in the same step.
    public var edit: ImageEdit
    /// The `created_by` of each new layer's history entry.
    public var createdBy: String
    public var push: PushSettings

    public init(platform: Platform? = nil, format: MediaTypeFamily? = nil, layer: LayerOptions = LayerOptions(),
                edit: ImageEdit = ImageEdit(), createdBy: String = "ocictl image append",
                push: PushSettings = PushSettings()) {
        self.platform = platform
        self.format = format
        self.layer = layer
        self.edit = edit
        self.createdBy = createdBy
        self.push = push
    }
}

/// Options of `OCI.mutate`.
public struct MutateOptions: Sendable {
    /// The source's platform when it is an index (default linux/amd64).
    public var platform: Platform?
    /// The result's media types; nil keeps the source's.
    public var format: MediaTypeFamily?
    public var edit: ImageEdit
    public var push: PushSettings

    public init(platform: Platform? = nil, format: MediaTypeFamily? = nil, edit: ImageEdit = ImageEdit(),
                push: PushSettings = PushSettings()) {
        self.platform = platform
        self.format = format
        self.edit = edit
        self.push = push
    }
}

/// Options of `OCI.rebase`.
public struct RebaseOptions: Sendable {
    /// The platform of every image involved that is an index (default linux/amd64).
    public var platform: Platform?
    public var format: MediaTypeFamily?
    public var push: PushSettings

    public init(platform: Platform? = nil, format: MediaTypeFamily? = nil, push: PushSettings = PushSettings()) {
        self.platform = platform
        self.format = format
        self.push = push
    }
}

/// Options of `OCI.flatten`.
public struct FlattenOptions: Sendable {
    public var platform: Platform?
    public var format: MediaTypeFamily?
    /// How the one layer is written.
    public var compression: LayerCompression
    public var push: PushSettings

    public init(platform: Platform? = nil, format: MediaTypeFamily? = nil, compression: LayerCompression = .gzip,
                push: PushSettings = PushSettings()) {
        self.platform = platform
        self.format = format
        self.compression = compression
        self.push = push
    }
}

extension OCI {
    /// Builds a layer from each entry of `layers` (files and directories, or a tar as it is), puts them on top of
    /// `base` (an image, or `scratch`), applies `options.edit`, and pushes the new manifest and config to
    /// `destination` with the graph copy (children first, what is there skipped), tagged `tag`.
    @discardableResult
    public static func appendLayers(base: BaseImage, layers: [[LayerSource]], to destination: any Target, tag: String?,
                                    options: AppendOptions = AppendOptions()) async throws -> BuildResult {
        var image = try await LoadedImage.load(base, platform: options.platform, family: options.format)
        if case .image = base, let format = options.format { try image.convert(to: format) }
        let staging = try StagingStore(parent: options.push.temporaryDirectory)
        defer { staging.remove() }
        var layerOptions = options.layer
        layerOptions.family = image.family
        var built: [BuiltLayer] = []
        let created = options.edit.created ?? BuildTime.rfc3339(layerOptions.modificationTime)
        for sources in layers {
            let path = staging.newFilePath(".layer")
            let layer = try await LayerBuilder(options: layerOptions).build(sources, toFile: path)
            staging.addFile(path, as: layer.descriptor)
            built.append(layer)
            image.manifest.layers.append(layer.descriptor)
            image.config.diffIDs.append(layer.diffID.description)
            try image.config.appendHistory(ImageConfiguration.History(created: created, createdBy: options.createdBy))
        }
        try image.config.apply(options.edit)
        return try await finish(image, staging: staging, layers: built, annotations: options.edit.annotations,
                                to: destination, tag: tag, push: options.push)
    }

    /// Changes an image's config and annotations (entrypoint, cmd, env, working directory, user, labels, ports,
    /// stop signal, created, platform, history) and pushes the new manifest and config; layers stay as they are.
    @discardableResult
    public static func mutate(_ source: StoredImage, to destination: any Target, tag: String?,
                              options: MutateOptions = MutateOptions()) async throws -> BuildResult {
        // A new platform for an image (not an index) is an edit, not a selection.
        var image = try await LoadedImage.load(source, platform: options.platform, strict: options.edit.platform == nil)
        if let format = options.format { try image.convert(to: format) }
        try image.config.apply(options.edit)
        let staging = try StagingStore(parent: options.push.temporaryDirectory)
        defer { staging.remove() }
        return try await finish(image, staging: staging, layers: [], annotations: options.edit.annotations,
                                to: destination, tag: tag, push: options.push)
    }

    /// Swaps the layers an image got from `oldBase` for those of `newBase`: the image's first layers must be
    /// `oldBase`'s (by digest); they and their diffIDs and history entries are replaced by `newBase`'s. The
    /// image's own config (entrypoint, env, ...) is kept; the platform becomes the new base's.
    @discardableResult
    public static func rebase(_ source: StoredImage, oldBase: StoredImage, newBase: StoredImage,
                              to destination: any Target, tag: String?,
                              options: RebaseOptions = RebaseOptions()) async throws -> BuildResult {
        var image = try await LoadedImage.load(source, platform: options.platform)
        let old = try await LoadedImage.load(oldBase, platform: options.platform ?? image.config.platform)
        var new = try await LoadedImage.load(newBase, platform: options.platform ?? image.config.platform)
        let oldDigests = old.manifest.layers.map(\.digest)
        guard image.manifest.layers.count >= oldDigests.count,
              Array(image.manifest.layers.prefix(oldDigests.count).map(\.digest)) == oldDigests else {
            throw BuildError.invalidArgument("\(source.reference) is not based on \(oldBase.reference): its first layers are not the old base's \(oldDigests.count) layers")
        }
        try new.convert(to: options.format ?? image.family)
        if let format = options.format { try image.convert(to: format) }
        let ownLayers = Array(image.manifest.layers.dropFirst(oldDigests.count))
        let ownDiffIDs = Array(image.config.diffIDs.dropFirst(old.config.diffIDs.count))
        image.manifest.layers = new.manifest.layers + ownLayers
        image.config.diffIDs = new.config.diffIDs + ownDiffIDs
        // History: the old base's entries are the image's first ones when it was built on it.
        var history = image.config.history
        let oldHistory = old.config.history
        if history.count >= oldHistory.count, Array(history.prefix(oldHistory.count)) == oldHistory {
            history.removeFirst(oldHistory.count)
        }
        image.config.history = new.config.history + history
        if let platform = new.config.platform {
            var edit = ImageEdit()
            edit.platform = platform
            try image.config.apply(edit)
        }
        let staging = try StagingStore(parent: options.push.temporaryDirectory)
        defer { staging.remove() }
        var routes: [OCIDigest: any ReadOnlyTarget] = [:]
        if let store = new.store { for layer in new.manifest.layers { routes[layer.digest] = store } }
        return try await finish(image, staging: staging, layers: [], annotations: [:], to: destination, tag: tag,
                                push: options.push, routes: routes)
    }

    /// Squashes an image's layers into one: the merged file system (whiteouts applied, as `export` writes it),
    /// one diffID, one history entry; the config is kept otherwise.
    @discardableResult
    public static func flatten(_ source: StoredImage, to destination: any Target, tag: String?,
                               options: FlattenOptions = FlattenOptions()) async throws -> BuildResult {
        var image = try await LoadedImage.load(source, platform: options.platform)
        if let format = options.format { try image.convert(to: format) }
        let staging = try StagingStore(parent: options.push.temporaryDirectory)
        defer { staging.remove() }
        let merged = staging.newFilePath(".tar")
        try await FilesystemExporter.export(layers: image.manifest.layers, from: image.store, workspace: staging,
                                            toFile: merged)
        var layerOptions = LayerOptions(compression: options.compression, family: image.family)
        layerOptions.parentDirectories = false
        let path = staging.newFilePath(".layer")
        let layer = try await LayerBuilder(options: layerOptions).build([.tar(merged)], toFile: path)
        staging.addFile(path, as: layer.descriptor)
        image.manifest.layers = [layer.descriptor]
        image.config.diffIDs = [layer.diffID.description]
        image.config.history = []
        var created = BuildTime.rfc3339(BuildTime.sourceDateEpoch)
        if case .string(let existing)? = image.config.object["created"] { created = existing }
        try image.config.appendHistory(ImageConfiguration.History(created: created, createdBy: "ocictl image flatten"))
        return try await finish(image, staging: staging, layers: [layer], annotations: [:], to: destination, tag: tag,
                                push: options.push)
    }

    /// Stages the image's manifest and config and pushes them, children first.
    static func finish(_ image: LoadedImage, staging: StagingStore, layers: [BuiltLayer], annotations: [String: String],
                       to destination: any Target, tag: String?, push: PushSettings,
                       routes: [OCIDigest: any ReadOnlyTarget] = [:]) async throws -> BuildResult {
        var image = image
        if !annotations.isEmpty {
            var merged = image.manifest.annotations ?? [:]
            for (key, value) in annotations { merged[key] = value }
            image.manifest.annotations = merged
        }
        let descriptor = try await image.stage(into: staging)
        let source = RoutedSource(staged: staging, routes: routes, fallback: image.store)
        try await pushGraph(descriptor, from: source, to: destination, tag: tag, push: push)
        let manifest = try JSONCoding.decode(Manifest.self, from: try await staging.fetchAll(descriptor))
        return BuildResult(manifest: descriptor, config: manifest.config, layers: layers)
    }

    /// Pushes `root` and what it references with the graph copy, then tags it when the push did not.
    static func pushGraph(_ root: Descriptor, from source: any ContentFetcher, to destination: any Target,
                          tag: String?, push: PushSettings) async throws {
        let graph = GraphCopyOptions(concurrency: push.concurrency ?? 4, onEvent: push.onEvent, rootTag: tag)
        let outcome = try await copyGraph(from: source, to: destination, root: root.basic, options: graph)
        if let tag, !outcome.rootTagged { try await destination.tag(root.basic, as: tag) }
    }
}
