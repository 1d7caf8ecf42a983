import ArgumentParser
import Foundation
import OCIKit

// Building and editing images without a daemon: image append|mutate|rebase|flatten, index create|add|remove,
// export. Each parses its flags, calls one OCIClient verb, and prints the new manifest's digest.

/// The config and annotation flags `image mutate` and `image append` share.
struct EditFlags: ParsableArguments {
    @Option(name: .customLong("entrypoint"), help: "The entrypoint: a JSON array of strings, or one word (\"\" clears it).")
    var entrypoint: String?
    @Option(name: .customLong("cmd"), help: "The default arguments: a JSON array of strings, or one word (\"\" clears them).")
    var cmd: String?
    @Option(name: .customLong("env"), help: "Set an environment variable KEY=VALUE (repeatable).") var env: [String] = []
    @Option(name: .customLong("env-remove"), help: "Remove an environment variable by name (repeatable).") var envRemove: [String] = []
    @Option(name: .customLong("workdir"), help: "The working directory.") var workdir: String?
    @Option(name: .customLong("user"), help: "The user (NAME, UID or UID:GID).") var user: String?
    @Option(name: .customLong("label"), help: "Set a label KEY=VALUE (repeatable).") var labels: [String] = []
    @Option(name: .customLong("label-remove"), help: "Remove a label by key (repeatable).") var labelRemove: [String] = []
    @Option(name: .customLong("annotation"), help: "Set a manifest annotation KEY=VALUE (repeatable).") var annotations: [String] = []
    @Option(name: .customLong("expose"), help: "Expose a port PORT[/tcp|udp|sctp] (repeatable).") var expose: [String] = []
    @Option(name: .customLong("stop-signal"), help: "The stop signal (SIGTERM, 15).") var stopSignal: String?
    @Option(name: .customLong("created"), help: "The config's created time (RFC 3339), or \"now\".") var created: String?
    @Option(name: .customLong("history"), help: "Append a history entry with this created_by (repeatable).") var history: [String] = []

    func edit() throws -> ImageEdit {
        var edit = ImageEdit()
        edit.entrypoint = try entrypoint.map(Self.words)
        edit.cmd = try cmd.map(Self.words)
        edit.env = env
        edit.removeEnv = envRemove
        edit.workingDir = workdir
        edit.user = user
        edit.labels = try Self.pairs(labels, what: "label")
        edit.removeLabels = labelRemove
        edit.annotations = try Self.pairs(annotations, what: "annotation")
        edit.exposedPorts = expose
        edit.stopSignal = stopSignal
        if let created {
            edit.created = created == "now" ? BuildTime.rfc3339(Int64(Date().timeIntervalSince1970)) : created
        }
        edit.history = history.map { ImageConfiguration.History(created: edit.created, createdBy: $0, emptyLayer: true) }
        try edit.validate()
        return edit
    }

    /// `["a","b"]` as JSON, `""` as none, anything else as one word.
    static func words(_ text: String) throws -> [String] {
        if text.isEmpty { return [] }
        guard text.hasPrefix("[") else { return [text] }
        guard let words = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) else {
            throw ValidationError("\"\(text)\" is not a JSON array of strings")
        }
        return words
    }

    static func pairs(_ items: [String], what: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for item in items {
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else { throw ValidationError("\(what) \"\(item)\" is not KEY=VALUE") }
            out[String(item[..<eq])] = String(item[item.index(after: eq)...])
        }
        return out
    }
}

/// Prints what a build pushed.
private func report(_ result: BuildResult, _ global: GlobalOptions) throws {
    if global.json { try Output.json(DescriptorOutput(result.manifest)) } else { Output.line(result.manifest.digest.description) }
}

private func parseFormat(_ text: String?) throws -> MediaTypeFamily? {
    try text.map { text in
        guard let family = MediaTypeFamily(rawValue: text.lowercased()) else { throw ValidationError("unknown format \"\(text)\"; use oci or docker") }
        return family
    }
}

private func platformList(_ text: String?) throws -> [Platform]? {
    try text.map { text in
        let items = text.split(separator: ",").map(String.init)
        return try items.map { item in
            guard let p = Platform(parsing: item) else { throw ValidationError("invalid platform \"\(item)\"; use os/arch[/variant]") }
            return p
        }
    }
}

struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image", abstract: "Build and change images without a daemon: append layers, mutate, rebase, flatten.",
        subcommands: [Append.self, Mutate.self, Rebase.self, Flatten.self])

    struct Append: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "append",
            abstract: "Put layers made from files, directories or tars on BASE (an image or scratch) and push the result to DST.",
            discussion: """
            --layer PATH[:DEST] makes one layer per flag: a directory's contents under DEST (default /), a file \
            at DEST (default /NAME), or, for a .tar/.tar.gz/.tgz/.tar.zst file without DEST, that tar as it is. \
            Entries are sorted, owned by --owner (default 0:0), and dated $SOURCE_DATE_EPOCH (default the epoch), \
            so the same inputs give the same digest; symbolic links are stored, never followed.
            """)
        @Argument(help: "The base image, or scratch.") var base: String
        @Argument var destination: String
        @Option(name: .customLong("layer"), help: "PATH[:DEST]: one layer (repeatable).") var layers: [String] = []
        @Option(name: .customLong("compression"), help: "gzip, zstd or none, optionally :LEVEL (gzip:9).") var compression = "gzip"
        @Option(name: .customLong("platform"), help: "The base's platform of an index; for scratch, the new image's platform.") var platform: String?
        @Option(name: .customLong("format"), help: "oci or docker media types (default: the base's; oci for scratch).") var format: String?
        @Option(name: .customLong("owner"), help: "UID:GID of every entry (default 0:0).") var owner = "0:0"
        @Option(name: .customLong("mtime"), help: "Seconds since the epoch for every entry (default $SOURCE_DATE_EPOCH, else 0).") var mtime: Int64?
        @Flag(name: .customLong("skip-special"), help: "Leave out devices, FIFOs and sockets instead of failing.") var skipSpecial = false
        @OptionGroup var edits: EditFlags
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            guard !layers.isEmpty else { throw ValidationError("image append needs at least one --layer PATH[:DEST]") }
            var options = AppendOptions(platform: try GlobalOptions.platform(platform), format: try parseFormat(self.format))
            options.layer.compression = try LayerCompression(parsing: compression)
            let ids = owner.split(separator: ":").map { Int($0) }
            guard ids.count == 2, let uid = ids[0], let gid = ids[1], uid >= 0, gid >= 0 else {
                throw ValidationError("--owner \"\(owner)\" is not UID:GID")
            }
            options.layer.uid = uid
            options.layer.gid = gid
            if let mtime { options.layer.modificationTime = mtime }
            options.layer.specialFiles = skipSpecial ? SpecialFilePolicy.skip : .refuse
            options.edit = try edits.edit()
            let sources = try layers.map(Self.layer)
            let progress = global.progress()
            options.push.onEvent = progress.handle
            let result = try await global.withClient {
                try await $0.appendLayers(base: base, to: destination, layers: sources, options: options)
            }
            progress.finish()
            try report(result, global)
        }

        /// `PATH[:DEST]` as one layer's sources.
        static func layer(_ spec: String) throws -> [LayerSource] {
            var path = spec
            var destination: String?
            if let colon = spec.lastIndex(of: ":"), colon != spec.startIndex {
                path = String(spec[..<colon])
                destination = String(spec[spec.index(after: colon)...])
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ValidationError("--layer \(spec): \(path) does not exist")
            }
            if isDirectory.boolValue { return [.directory(path, destination: destination ?? "/")] }
            if let destination { return [.file(path, destination: destination)] }
            let tarSuffixes = [".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd"]
            if tarSuffixes.contains(where: { path.lowercased().hasSuffix($0) }) { return [.tar(path)] }
            return [.file(path, destination: "/" + (path as NSString).lastPathComponent)]
        }
    }

    struct Mutate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mutate",
            abstract: "Change an image's config and annotations and push the result to DST; layers are not touched.")
        @Argument var source: String
        @Argument var destination: String
        @Option(name: .customLong("platform"), help: "The platform's image of an index; for an image, its new platform.") var platform: String?
        @Option(name: .customLong("format"), help: "Convert to oci or docker media types.") var format: String?
        @OptionGroup var edits: EditFlags
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            var options = MutateOptions(platform: try GlobalOptions.platform(platform), format: try parseFormat(self.format),
                                        edit: try edits.edit())
            options.edit.platform = options.platform
            let progress = global.progress()
            options.push.onEvent = progress.handle
            let result = try await global.withClient { try await $0.mutate(source, to: destination, options: options) }
            progress.finish()
            try report(result, global)
        }
    }

    struct Rebase: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rebase",
            abstract: "Swap the layers SRC got from --old-base for --new-base's and push the result to DST.")
        @Argument var source: String
        @Argument var destination: String
        @Option(name: .customLong("old-base"), help: "The image SRC was built on.") var oldBase: String
        @Option(name: .customLong("new-base"), help: "The image to put under SRC's own layers.") var newBase: String
        @Option(name: .customLong("platform"), help: "The platform of each image that is an index.") var platform: String?
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            var options = RebaseOptions(platform: try GlobalOptions.platform(platform))
            let progress = global.progress()
            options.push.onEvent = progress.handle
            let result = try await global.withClient {
                try await $0.rebase(source, oldBase: oldBase, newBase: newBase, to: destination, options: options)
            }
            progress.finish()
            try report(result, global)
        }
    }

    struct Flatten: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "flatten",
            abstract: "Squash an image's layers into one (whiteouts applied) and push the result to DST.")
        @Argument var source: String
        @Argument var destination: String
        @Option(name: .customLong("compression"), help: "gzip, zstd or none, optionally :LEVEL.") var compression = "gzip"
        @Option(name: .customLong("platform"), help: "The platform's image of an index.") var platform: String?
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            var options = FlattenOptions(platform: try GlobalOptions.platform(platform),
                                         compression: try LayerCompression(parsing: compression))
            let progress = global.progress()
            options.push.onEvent = progress.handle
            let result = try await global.withClient { try await $0.flatten(source, to: destination, options: options) }
            progress.finish()
            try report(result, global)
        }
    }
}

struct IndexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index", abstract: "Make and edit multi-platform indexes (OCI index or Docker manifest list).",
        subcommands: [Create.self, Add.self, Remove.self])

    struct Summary: Encodable {
        var digest: String, mediaType: String
        var manifests: [DescriptorOutput]
    }

    static func report(_ result: IndexResult, _ global: GlobalOptions) throws {
        if global.json {
            try Output.json(Summary(digest: result.index.digest.description, mediaType: result.index.mediaType,
                                    manifests: result.manifests.map(DescriptorOutput.init)))
        } else {
            Output.line(result.index.digest.description)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Make an index of images (or of the platforms of other indexes) and push it, its images first.")
        @Argument var destination: String
        @Argument var sources: [String]
        @Option(name: .customLong("annotation"), help: "An index annotation KEY=VALUE (repeatable).") var annotations: [String] = []
        @Option(name: .customLong("format"), help: "oci (an OCI index) or docker (a manifest list); default: the first image's.") var format: String?
        @Option(name: .customLong("platform"), help: "From sources that are indexes, take only these platforms (comma list).") var platform: String?
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            guard !sources.isEmpty else { throw ValidationError("index create needs at least one SRC") }
            var options = IndexOptions(format: try parseFormat(self.format), annotations: try EditFlags.pairs(annotations, what: "annotation"))
            let platforms = try platformList(platform)
            let progress = global.progress()
            options.push.onEvent = progress.handle
            let result = try await global.withClient {
                try await $0.createIndex(sources, to: destination, platforms: platforms, options: options)
            }
            progress.finish()
            try IndexCommand.report(result, global)
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Add images to the index DST (an entry with the same platform is replaced) and push it.")
        @Argument var index: String
        @Argument var sources: [String]
        @Option(name: .customLong("platform"), help: "From sources that are indexes, take only these platforms (comma list).") var platform: String?
        @Option(name: .customLong("annotation"), help: "An index annotation KEY=VALUE (repeatable).") var annotations: [String] = []
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            guard !sources.isEmpty else { throw ValidationError("index add needs at least one SRC") }
            var options = IndexOptions(annotations: try EditFlags.pairs(annotations, what: "annotation"))
            let platforms = try platformList(platform)
            let progress = global.progress()
            options.push.onEvent = progress.handle
            let result = try await global.withClient {
                try await $0.editIndex(index, add: sources, platforms: platforms, options: options)
            }
            progress.finish()
            try IndexCommand.report(result, global)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove",
            abstract: "Remove entries from the index DST, by digest (or a reference to one of its images) or by --platform.")
        @Argument var index: String
        @Argument(help: "DIGEST or REF of an entry to remove.") var entries: [String] = []
        @Option(name: .customLong("platform"), help: "Remove the entries of these platforms (comma list).") var platform: String?
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            var selectors = try (platformList(platform) ?? []).map(IndexEntrySelector.platform)
            let progress = global.progress()
            let result = try await global.withClient { client in
                selectors += try await client.indexEntrySelectors(for: entries)
                guard !selectors.isEmpty else { throw ValidationError("index remove needs a DIGEST, REF or --platform") }
                var options = IndexOptions()
                options.push.onEvent = progress.handle
                return try await client.editIndex(index, remove: selectors, options: options)
            }
            progress.finish()
            try IndexCommand.report(result, global)
        }
    }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write an image's merged file system (whiteouts applied) as a tar, or list a layer's files.")
    @Argument var reference: String
    @Option(name: .shortAndLong, help: "The tar file to write (atomically).") var output: String?
    @Option(name: .customLong("platform"), help: "The platform's image of an index (default linux/amd64).") var platform: String?
    @Option(name: .customLong("list-layer"), help: "Instead, list the files of this layer: its position (0 is the base) or digest.")
    var listLayer: String?
    @OptionGroup var global: GlobalOptions

    struct Entry: Encodable {
        var path: String, type: String, size: Int64, mode: String, uid: Int, gid: Int, linkTarget: String?
    }

    func run() async throws {
        let options = ExportOptions(platform: try GlobalOptions.platform(platform))
        if let listLayer {
            let selector: LayerSelector
            if let digest = OCIDigest(listLayer) { selector = .digest(digest) } else if let i = Int(listLayer) { selector = .index(i) } else {
                throw ValidationError("--list-layer takes a position or a digest")
            }
            let headers = try await global.withClient { try await $0.listFiles(reference, layer: selector, options: options) }
            let entries = headers.map { h in
                Entry(path: h.path, type: "\(h.kind)", size: h.size, mode: String(h.mode, radix: 8), uid: h.uid, gid: h.gid,
                      linkTarget: h.linkTarget)
            }
            if global.json { return try Output.json(entries) }
            for e in entries {
                Output.line("\(e.mode) \(e.uid)/\(e.gid) \(e.size) \(e.path)" + (e.linkTarget.map { " -> \($0)" } ?? ""))
            }
            return
        }
        guard let output else { throw ValidationError("export needs -o FILE (or --list-layer)") }
        try await global.withClient { try await $0.export(reference, toFile: output, options: options) }
        if global.json { try Output.json(["reference": reference, "output": output]) }
    }
}
