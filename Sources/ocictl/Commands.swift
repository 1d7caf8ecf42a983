import ArgumentParser
import Foundation
import OCICache
import OCIKit

// Each command parses its arguments, calls one library verb and prints. Policies, loops and store-specific
// code live in OCIKit.

struct DescriptorOutput: Encodable {
    var mediaType: String
    var digest: String
    var size: Int64
    var artifactType: String?
    var annotations: [String: String]?
    init(_ d: Descriptor) {
        mediaType = d.mediaType
        digest = d.digest.description
        size = d.size
        artifactType = d.artifactType
        annotations = d.annotations
    }
}

struct Resolve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resolve", abstract: "Print the digest, media type and size of a manifest.")
    @Argument(help: "The reference, e.g. registry.example.com/app:1.0") var reference: String
    @Option(name: .customLong("platform"), help: "For an index: the platform's manifest instead.") var platform: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let wanted = try GlobalOptions.platform(platform)
        let descriptor = try await global.withClient { try await $0.resolve(reference, platform: wanted) }
        if global.json { try Output.json(DescriptorOutput(descriptor)) } else {
            Output.line("\(descriptor.digest) \(descriptor.mediaType) \(descriptor.size)")
        }
    }
}

struct RateLimitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ratelimit",
        abstract: "Show the pull rate limit a registry reports (Docker Hub), with a HEAD that does not count as a pull.")
    @Argument(help: "A repository or reference, e.g. docker.io/library/alpine (the tag defaults to latest)") var reference: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let ref = try Reference(parsing: reference)
        let limit = try await global.withClient { client in
            try await client.registry.repository(ref).rateLimit(reference: ref.manifestReference ?? "latest")
        }
        if global.json {
            try Output.json(limit)
        } else if let limit {
            var text = "limit \(limit.limit.map(String.init) ?? "?")"
            if let window = limit.windowSeconds { text += " per \(window) s" }
            text += ", remaining \(limit.remaining.map(String.init) ?? "?")"
            if let source = limit.source { text += " (counted for \(source))" }
            Output.line(text)
        } else {
            Output.line("\(ref.endpointHost) reports no rate limit")
        }
    }
}

struct ManifestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "manifest", abstract: "Get or put raw manifests.",
                                                    subcommands: [Get.self, Put.self])

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "get", abstract: "Write a manifest's bytes, exactly as stored, to stdout.")
        @Argument var reference: String
        @Option(name: .customLong("platform"), help: "For an index: the platform's manifest instead.") var platform: String?
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let wanted = try GlobalOptions.platform(platform)
            let (_, bytes) = try await global.withClient { try await $0.manifest(reference, platform: wanted) }
            try Output.write(bytes)
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "put", abstract: "Upload a manifest file's bytes unchanged to a tag or digest.")
        @Argument var reference: String
        @Argument var file: String
        @Option(name: .customLong("media-type"), help: "The Content-Type; by default the document's mediaType.")
        var mediaType: String?
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let bytes = try readSmallFile(file, limit: ContentLimits.maxManifestBytes)
            guard let mt = mediaType ?? ManifestDocument.sniffMediaType(bytes) else {
                throw ValidationError("cannot tell the media type of \(file); pass --media-type")
            }
            let descriptor = try await global.withClient { try await $0.pushManifest(bytes, mediaType: mt, to: reference) }
            if global.json { try Output.json(DescriptorOutput(descriptor)) } else { Output.line(descriptor.digest.description) }
        }
    }
}

func readSmallFile(_ path: String, limit: Int) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ValidationError("cannot read \(path)")
    }
    guard data.count <= limit else { throw ValidationError("\(path) is larger than \(limit) bytes") }
    return [UInt8](data)
}

struct BlobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "blob", abstract: "Get or put blobs.",
                                                    subcommands: [Get.self, Put.self, BlobHead.self])

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "get", abstract: "Download a blob, verified, to a file or stdout.")
        @Argument(help: "REPO@DIGEST") var reference: String
        @Option(name: .shortAndLong, help: "Write to this file (atomically) instead of stdout.") var output: String?
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let progress = global.progress()
            try await global.withClient { client in
                let stream = try await client.fetchBlob(reference, onEvent: progress.handle)
                if let output {
                    try await AtomicFileWriter.write(stream, to: output)
                } else {
                    for try await chunk in stream where !chunk.isEmpty { try Output.write(chunk) }
                }
            }
            progress.finish()
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "put", abstract: "Upload a file as a blob; prints its digest and size (--json: its descriptor).")
        @Argument(help: "REPO") var repository: String
        @Argument var file: String
        @Option(name: .customLong("media-type")) var mediaType: String = "application/octet-stream"
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let progress = global.progress()
            let descriptor = try await global.withClient {
                try await $0.pushBlob(file: file, to: repository, mediaType: mediaType, onEvent: progress.handle)
            }
            progress.finish()
            if global.json { try Output.json(DescriptorOutput(descriptor)) } else { Output.line("\(descriptor.digest) \(descriptor.size)") }
        }
    }
}

struct Push: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "push", abstract: "Push files as an OCI artifact: one layer per file, titled with its name.")
    @Argument var reference: String
    @Argument var files: [String]
    @Option(name: .customLong("artifact-type"), help: "The manifest's artifactType.") var artifactType: String?
    @Option(name: .customLong("annotation"), help: "A manifest annotation KEY=VALUE (repeatable).") var annotations: [String] = []
    @Option(name: .customLong("layer-media-type"), help: "The media type of each layer.") var layerMediaType = "application/octet-stream"
    @Option(name: .customLong("subject"), help: "Make the artifact refer to this manifest (OCI 1.1 subject).") var subject: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        guard !files.isEmpty else { throw ValidationError("push needs at least one file") }
        var options = PushOptions(artifactType: artifactType)
        for a in annotations {
            guard let eq = a.firstIndex(of: "="), eq != a.startIndex else { throw ValidationError("annotation \"\(a)\" is not KEY=VALUE") }
            options.annotations[String(a[..<eq])] = String(a[a.index(after: eq)...])
        }
        let progress = global.progress()
        options.onEvent = progress.handle
        let toPush = files.map { FileToPush($0, mediaType: layerMediaType) }
        let descriptor = try await global.withClient { client in
            var options = options
            if let subject { options.subject = try await client.resolve(subject) }
            return try await client.push(files: toPush, to: reference, options: options)
        }
        progress.finish()
        if global.json { try Output.json(DescriptorOutput(descriptor)) } else { Output.line(descriptor.digest.description) }
    }
}

struct Pull: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Download an image or artifact into a directory.",
        discussion: """
        Writes DIR/manifest.json (the manifest's exact bytes), DIR/config.json, and each layer under its title \
        annotation's name when it has a safe one, else under DIR/blobs/ALG/HEX. For an index, DIR/index.json is \
        written too and one platform's manifest is pulled (--platform, else linux/amd64, else the first).
        """)
    @Argument var reference: String
    @Option(name: .shortAndLong, help: "The output directory.") var output: String
    @Option(name: .customLong("platform"), help: "os/arch[/variant] to pull from an index.") var platform: String?
    @OptionGroup var global: GlobalOptions

    struct Summary: Encodable {
        var reference: String
        var digest: String
        var files: [String]
    }

    func run() async throws {
        let progress = global.progress()
        let options = PullOptions(platform: try GlobalOptions.platform(platform), onEvent: progress.handle)
        let result = try await global.withClient { try await $0.pull(reference, into: output, options: options) }
        progress.finish()
        let summary = Summary(reference: reference, digest: result.descriptor.digest.description, files: result.files)
        if global.json { try Output.json(summary) } else { summary.files.forEach { Output.line($0) } }
    }
}

struct Copy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "copy", abstract: "Copy an image, index or artifact, byte for byte, between references.")
    @Argument var source: String
    @Argument var destination: String
    @Option(name: .customLong("platform"), help: "Copy only this platform (os/arch[/variant]), a comma list of them, or all.")
    var platform: String?
    @Flag(name: .customLong("referrers"), help: "Copy the manifests that refer to the copied one (OCI 1.1), too.") var referrers = false
    @Option(name: .customLong("schema1"),
            help: "A Docker schema1 source: auto (convert to OCI when the destination refuses schema1, and always into a layout), convert, or keep.")
    var schema1: Schema1CopyPolicy = .auto
    @Flag(name: .customLong("all-tags"), help: "Copy every tag of the SRC repository to the DST repository.") var allTags = false
    @Option(name: .customLong("include"), help: "With --all-tags: only tags matching this regular expression (repeatable).")
    var include: [String] = []
    @Option(name: .customLong("exclude"), help: "With --all-tags: not the tags matching this regular expression (repeatable).")
    var exclude: [String] = []
    @Flag(name: .customLong("keep-going"), help: "With --all-tags: go on after a tag fails; the exit status says some failed.")
    var keepGoing = false
    @OptionGroup var global: GlobalOptions

    struct Summary: Encodable {
        var source: String, destination: String, digest: String, mediaType: String
        var copied: Int, skipped: Int, mounted: Int, bytes: Int64
    }

    struct TagSummary: Encodable {
        var tag: String, digest: String?, copied: Int?, skipped: Int?, mounted: Int?, bytes: Int64?, error: String?
    }

    func run() async throws {
        var platforms = PlatformSelection.all
        if let platform {
            guard let parsed = PlatformSelection(parsing: platform) else {
                throw ValidationError("invalid platform \"\(platform)\"; use os/arch[/variant], a comma list, or all")
            }
            platforms = parsed
        }
        let progress = global.progress()
        let options = CopyOptions(onEvent: progress.handle, platforms: platforms, referrers: referrers, schema1: schema1)
        if allTags { return try await copyAllTags(options: options, progress: progress) }
        guard include.isEmpty, exclude.isEmpty, !keepGoing else {
            throw ValidationError("--include, --exclude and --keep-going go with --all-tags")
        }
        let result = try await global.withClient { try await $0.copy(from: source, to: destination, options: options) }
        progress.finish()
        if global.json {
            try Output.json(Summary(source: source, destination: destination, digest: result.root.digest.description,
                                    mediaType: result.root.mediaType, copied: result.copied, skipped: result.skipped,
                                    mounted: result.mounted, bytes: result.bytes))
        } else {
            Output.line("Successfully copied \"\(source)\" to \"\(destination)\"")
        }
    }

    private func copyAllTags(options: CopyOptions, progress: ProgressDisplay) async throws {
        let filter = try TagFilter(include: include, exclude: exclude)
        let results = try await global.withClient { client in
            try await client.copyRepository(from: source, to: destination, filter: filter, keepGoing: keepGoing, options: options)
        }
        progress.finish()
        let summaries = results.map { r in
            TagSummary(tag: r.tag, digest: r.result?.root.digest.description, copied: r.result?.copied, skipped: r.result?.skipped,
                       mounted: r.result?.mounted, bytes: r.result?.bytes, error: r.error.map { OCICtl.describe($0) })
        }
        if global.json { try Output.json(summaries) } else {
            for s in summaries { Output.line(s.error.map { "\(s.tag): failed: \($0)" } ?? "\(s.tag): \(s.digest ?? "")") }
        }
        if summaries.contains(where: { $0.error != nil }) { throw ExitCode(ExitStatus.failure) }
    }
}

struct Tags: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tags", abstract: "List a repository's tags, one per line.")
    @Argument(help: "REPO") var repository: String
    @Option(name: .customLong("include"), help: "Only tags matching this regular expression (repeatable).") var include: [String] = []
    @Option(name: .customLong("exclude"), help: "Not the tags matching this regular expression (repeatable).") var exclude: [String] = []
    @Option(name: .customLong("semver"), help: "Only versions in this range, sorted by version (e.g. \">=1.2 <2\", ^1.4, 1.x).")
    var semver: String?
    @Option(name: .customLong("limit"), help: "Only the last N (the N highest versions with --semver).") var limit: Int?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let filter = try TagFilter(include: include, exclude: exclude, semver: try semver.map { try SemanticVersionRange(parsing: $0) },
                                   limit: limit)
        let tags = try await global.withClient { try await $0.tags(repository, filter: filter) }
        if global.json { try Output.json(tags) } else { tags.forEach { Output.line($0) } }
    }
}

struct Repos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "repos", abstract: "List repositories of a registry (under a prefix), one per line.")
    @Argument(help: "HOST[/PREFIX]") var registry: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let repos = try await global.withClient { try await $0.registry.repositories(under: registry) }
        if global.json { try Output.json(repos) } else { repos.forEach { Output.line($0) } }
    }
}

struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "login", abstract: "Check credentials with a registry, then store them.")
    @Argument var host: String
    @Option(name: .shortAndLong) var username: String
    @Flag(name: .customLong("password-stdin"), help: "Read the password from stdin.") var passwordStdin = false
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        guard passwordStdin else { throw ValidationError("pass the password on stdin with --password-stdin") }
        let input = FileHandle.standardInput.readDataToEndOfFile()
        var password = String(decoding: input, as: UTF8.self)
        while password.hasSuffix("\n") || password.hasSuffix("\r") { password.removeLast() }
        guard !password.isEmpty else { throw ValidationError("empty password on stdin") }
        try await OCIClient.login(host: host, credential: Credential(username: username, password: password),
                                  configFile: global.registryConfigs.first,
                                  configuration: try global.registryConfiguration(credentials: nil))
        if global.json { try Output.json(["host": host, "status": "Login Succeeded"]) } else { Output.line("Login Succeeded") }
    }
}

struct Logout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logout", abstract: "Remove stored credentials for a registry.")
    @Argument var host: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let removed = try OCIClient.logout(host: host, configFile: global.registryConfigs.first)
        if global.json { return try Output.json(LogoutOutput(host: host, removed: removed)) }
        Output.line(removed ? "Removing login credentials for \(host)" : "Not logged in to \(host)")
    }

    struct LogoutOutput: Encodable { var host: String; var removed: Bool }
}

struct Referrers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "referrers", abstract: "List the manifests that refer to a manifest (OCI 1.1).")
    @Argument var reference: String
    @Option(name: .customLong("artifact-type"), help: "Only referrers of this artifact type.") var artifactType: String?
    @Option(name: .customLong("platform"), help: "For an index: the referrers of the platform's manifest.") var platform: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let wanted = try GlobalOptions.platform(platform)
        let found = try await global.withClient { try await $0.referrers(reference, artifactType: artifactType, platform: wanted) }
        if global.json { try Output.json(found.map(DescriptorOutput.init)) } else {
            for d in found { Output.line("\(d.digest) \(d.artifactType ?? "-") \(d.size)") }
        }
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a manifest (and every tag pointing to it), a blob, or only a tag.",
        discussion: "REF@DIGEST or REF:TAG deletes the manifest; --blob deletes REPO@DIGEST as a blob; --tag-only removes the tag and keeps the manifest.")
    @Argument var reference: String
    @Flag(name: .customLong("blob"), help: "Delete a blob by digest.") var blob = false
    @Flag(name: .customLong("tag-only"), help: "Remove only the tag.") var tagOnly = false
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let ref = try Reference(parsing: reference)
        let (message, digest) = try await global.withClient { client -> (String, String) in
            let repo = client.registry.repository(ref, access: .delete)
            if blob {
                guard let digest = ref.digest else { throw ValidationError("--blob needs REPO@DIGEST") }
                try await repo.delete(Descriptor(mediaType: "application/octet-stream", digest: digest, size: -1))
                return ("Deleted blob \(digest)", digest.description)
            }
            if tagOnly {
                guard let tag = ref.tag else { throw ValidationError("--tag-only needs REPO:TAG") }
                try await repo.untag(tag)
                return ("Untagged \(ref)", "")
            }
            let d = try await repo.deleteManifest(ref.manifestReference ?? "latest")
            return ("Deleted \(ref.name)@\(d.digest)", d.digest.description)
        }
        if global.json {
            try Output.json(["reference": reference, "deleted": blob ? "blob" : tagOnly ? "tag" : "manifest", "digest": digest])
        } else {
            Output.line(message)
        }
    }
}

struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cache", abstract: "Inspect or empty the blob cache.",
                                                    subcommands: [Info.self, Prune.self])

    /// The cache pull and blob get use: the same resolution (`--cache-dir`, else `$OCI_CACHE_DIR`), nil when
    /// neither names one, so `cache info` never reports a directory the fetching commands do not use.
    static func open(_ global: GlobalOptions) throws -> ContentCache? {
        guard let directory = global.cacheDirectory else { return nil }
        return try ContentCache(options: CacheOptions(directory: directory, logger: global.makeLogger()))
    }

    static let notConfigured = "No cache is configured: pull and blob get cache blobs only with --cache-dir DIR or $OCI_CACHE_DIR."

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "info", abstract: "Print the cache's limit, size and items.")
        @OptionGroup var global: GlobalOptions

        struct Summary: Encodable { var directory: String; var size: Int64; var currentSize: Int64; var items: Int; var usage: Double }

        func run() async throws {
            guard let cache = try CacheCommand.open(global) else {
                if global.json { try Output.json(["configured": false]) } else { Output.line(CacheCommand.notConfigured) }
                return
            }
            defer { cache.close() }
            let info = cache.info()
            let usage = info.size > 0 ? Double(info.currentSize) / Double(info.size) * 100 : 0
            let out = Summary(directory: cache.directory, size: info.size, currentSize: info.currentSize, items: info.items, usage: usage)
            if global.json { try Output.json(out) } else {
                Output.line("Directory: \(out.directory)")
                Output.line("Size: \(out.size == 0 ? "unlimited" : String(out.size))")
                Output.line("CurrentSize: \(out.currentSize)")
                Output.line("Items: \(out.items)")
                if out.size > 0 { Output.line(String(format: "Usage: %.1f%%", out.usage)) }
            }
        }
    }

    struct PruneOutput: Encodable { var directory: String; var removed: Int }

    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "prune", abstract: "Remove every entry from the cache.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            guard let cache = try CacheCommand.open(global) else {
                if global.json { try Output.json(["configured": false]) } else { Output.line(CacheCommand.notConfigured) }
                return
            }
            defer { cache.close() }
            let removed = cache.prune()
            if global.json { return try Output.json(PruneOutput(directory: cache.directory, removed: removed)) }
            Output.line("Successfully pruned \(removed) items from the cache \(cache.directory)")
        }
    }
}

extension Schema1CopyPolicy: ExpressibleByArgument {}
