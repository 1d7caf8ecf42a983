import OCIBuild
import OCIContent
import OCILayout
import OCIReference
import OCISpec
import OCITar

// The build verbs of OCIBuild by location string: every image may be a registry reference or an `ocidir://`
// layout, a base may be `scratch`, and a destination in the same registry as a source mounts its blobs.

extension OCIClient {
    /// The word that names the empty base image.
    public static let scratch = "scratch"

    /// The image a location names, in its store.
    public func storedImage(_ location: String) throws -> StoredImage {
        let parsed = try OCILocation(parsing: location)
        return StoredImage(try target(parsed), reference: parsed.reference ?? "latest")
    }

    /// `scratch`, or the image a location names.
    public func baseImage(_ location: String) throws -> BaseImage {
        location == Self.scratch ? .scratch : .image(try storedImage(location))
    }

    /// The destination's target, allowed to mount from the repositories of `sources` on its registry.
    private func destination(_ location: String, sources: [String]) throws -> (target: any Target, tag: String?) {
        let to = try OCILocation(parsing: location)
        var mountSources: [String] = []
        if case .registry(let d) = to {
            for source in sources where source != Self.scratch {
                if case .registry(let s)? = try? OCILocation(parsing: source), s.endpointHost == d.endpointHost,
                   s.repository != d.repository, !mountSources.contains(s.repository) {
                    mountSources.append(s.repository)
                }
            }
        }
        return (try target(to, access: .push, mountSources: mountSources), to.tag)
    }

    private func filled(_ push: PushSettings) -> PushSettings {
        var push = push
        push.concurrency = push.concurrency ?? concurrency
        return push
    }

    /// Puts layers made from files, directories or tars (see `LayerBuilder`) on `base` (a location or
    /// `scratch`) and pushes the new image to `destination` (see `OCI.appendLayers`).
    @discardableResult
    public func appendLayers(base: String, to destination: String, layers: [[LayerSource]],
                             options: AppendOptions = AppendOptions()) async throws -> BuildResult {
        let (target, tag) = try self.destination(destination, sources: [base])
        var options = options
        options.push = filled(options.push)
        return try await OCI.appendLayers(base: try baseImage(base), layers: layers, to: target, tag: tag, options: options)
    }

    /// Changes an image's config and annotations and pushes the result (see `OCI.mutate`).
    @discardableResult
    public func mutate(_ source: String, to destination: String, options: MutateOptions = MutateOptions()) async throws -> BuildResult {
        let (target, tag) = try self.destination(destination, sources: [source])
        var options = options
        options.push = filled(options.push)
        return try await OCI.mutate(try storedImage(source), to: target, tag: tag, options: options)
    }

    /// Swaps an image's base layers (see `OCI.rebase`).
    @discardableResult
    public func rebase(_ source: String, oldBase: String, newBase: String, to destination: String,
                       options: RebaseOptions = RebaseOptions()) async throws -> BuildResult {
        let (target, tag) = try self.destination(destination, sources: [source, newBase])
        var options = options
        options.push = filled(options.push)
        return try await OCI.rebase(try storedImage(source), oldBase: try storedImage(oldBase),
                                    newBase: try storedImage(newBase), to: target, tag: tag, options: options)
    }

    /// Squashes an image into one layer (see `OCI.flatten`).
    @discardableResult
    public func flatten(_ source: String, to destination: String, options: FlattenOptions = FlattenOptions()) async throws -> BuildResult {
        let (target, tag) = try self.destination(destination, sources: [source])
        var options = options
        options.push = filled(options.push)
        return try await OCI.flatten(try storedImage(source), to: target, tag: tag, options: options)
    }

    /// Makes an index of the images (or the platforms of the indexes) at `sources` (see `OCI.createIndex`).
    /// `platforms`, when given, picks those platforms from sources that are indexes.
    @discardableResult
    public func createIndex(_ sources: [String], to destination: String, platforms: [Platform]? = nil,
                            options: IndexOptions = IndexOptions()) async throws -> IndexResult {
        let (target, tag) = try self.destination(destination, sources: sources)
        var options = options
        options.push = filled(options.push)
        let items = try sources.map { IndexSource(try storedImage($0), platforms: platforms) }
        return try await OCI.createIndex(items, to: target, tag: tag, options: options)
    }

    /// Adds images to (or replaces same-platform entries of) the index at `index`, removes entries, and pushes
    /// the result to `destination` (default: `index` itself). See `OCI.editIndex`.
    @discardableResult
    public func editIndex(_ index: String, add: [String] = [], remove: [IndexEntrySelector] = [], to destination: String? = nil,
                          platforms: [Platform]? = nil, options: IndexOptions = IndexOptions()) async throws -> IndexResult {
        let (target, tag) = try self.destination(destination ?? index, sources: [index] + add)
        var options = options
        options.push = filled(options.push)
        let items = try add.map { IndexSource(try storedImage($0), platforms: platforms) }
        return try await OCI.editIndex(try storedImage(index), add: items, remove: remove, to: target, tag: tag, options: options)
    }

    /// Selectors for index entries named by the user: a digest as it is, any other string a reference resolved to
    /// its digest (the entry that points at that image).
    public func indexEntrySelectors(for entries: [String]) async throws -> [IndexEntrySelector] {
        var selectors: [IndexEntrySelector] = []
        for entry in entries {
            if let digest = OCIDigest(entry) {
                selectors.append(.digest(digest))
            } else {
                selectors.append(.digest(try await resolve(entry).digest))
            }
        }
        return selectors
    }

    /// Writes the merged file system of an image (one platform of an index) as a tar (see `OCI.export`).
    public func export(_ location: String, toFile path: String, options: ExportOptions = ExportOptions()) async throws {
        try await OCI.export(try storedImage(location), toFile: path, options: options)
    }

    /// The entries of one layer of an image (see `OCI.listFiles`).
    public func listFiles(_ location: String, layer: LayerSelector, options: ExportOptions = ExportOptions()) async throws -> [TarHeader] {
        try await OCI.listFiles(try storedImage(location), layer: layer, options: options)
    }
}
