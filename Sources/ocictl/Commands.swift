import ArgumentParser
import Foundation
import OCICache
import OCIClient
import OCIContent
import OCICredentials
import OCIReference
import OCIRegistry
import OCISpec

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

func parseReference(_ text: String, requireTagOrDigest: Bool = true) throws -> Reference {
    let ref = try Reference(parsing: text, defaultTag: requireTagOrDigest ? "latest" : nil)
    return ref
}

struct Resolve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the digest, media type and size of a manifest.")
    @Argument(help: "The reference, e.g. registry.example.com/app:1.0") var reference: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let endpoint = try Endpoint(reference)
        let descriptor = try await global.withClient { client in
            try await endpoint.target(client).resolve(endpoint.reference ?? "latest")
        }
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
        static let configuration = CommandConfiguration(abstract: "Write a manifest's bytes, exactly as stored, to stdout.")
        @Argument var reference: String
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let endpoint = try Endpoint(reference)
            let (_, bytes) = try await global.withClient { client in
                try await fetchManifest(try endpoint.target(client), endpoint.reference ?? "latest")
            }
            try Output.write(bytes)
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Upload a manifest file's bytes unchanged to a tag or digest.")
        @Argument var reference: String
        @Argument var file: String
        @Option(name: .customLong("media-type"), help: "The Content-Type; by default the document's mediaType.")
        var mediaType: String?
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let ref = try parseReference(reference)
            let bytes = try readSmallFile(file, limit: ContentLimits.maxManifestBytes)
            guard let mt = mediaType ?? ManifestDocument.sniffMediaType(bytes) else {
                throw ValidationError("cannot tell the media type of \(file); pass --media-type")
            }
            let descriptor = try await global.withClient { client in
                try await client.registry.repository(ref, access: .push)
                    .pushManifest(bytes, mediaType: mt, reference: ref.manifestReference)
            }
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

/// Size and sha256 digest of a file, read in a streaming pass.
func describeFile(_ path: String, mediaType: String) async throws -> Descriptor {
    var hasher = DigestHasher()
    for try await chunk in ByteStream(fileAt: path) { hasher.update(chunk) }
    return Descriptor(mediaType: mediaType, digest: hasher.finalize(), size: hasher.count)
}

struct BlobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "blob", abstract: "Get or put blobs.",
                                                    subcommands: [Get.self, Put.self])

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Download a blob, verified, to a file or stdout.")
        @Argument(help: "REPO@DIGEST") var reference: String
        @Option(name: .shortAndLong, help: "Write to this file (atomically) instead of stdout.") var output: String?
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let ref = try parseReference(reference)
            guard let digest = ref.digest else { throw ValidationError("blob get needs REPO@DIGEST") }
            let cache = try global.cache()
            defer { cache?.close() }
            try await global.withClient { client in
                let repo = client.registry.repository(ref)
                let descriptor = Descriptor(mediaType: "application/octet-stream", digest: digest, size: -1)
                let stream: ByteStream
                if let cache {
                    // The cache needs the size: ask the registry.
                    var sized = try await repo.resolve(digest.description)
                    sized.mediaType = "application/octet-stream"
                    let known = sized
                    stream = try await cache.fetch(known, orDownload: { try await repo.fetch(known) })
                } else {
                    stream = try await repo.fetch(descriptor)
                }
                if let output {
                    try await AtomicFileWriter.write(stream, to: output)
                } else {
                    for try await chunk in stream where !chunk.isEmpty { try Output.write(chunk) }
                }
            }
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Upload a file as a blob; prints its descriptor as JSON.")
        @Argument(help: "REPO") var repository: String
        @Argument var file: String
        @Option(name: .customLong("media-type")) var mediaType: String = "application/octet-stream"
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let ref = try parseReference(repository, requireTagOrDigest: false)
            let descriptor = try await describeFile(file, mediaType: mediaType)
            try await global.withClient { client in
                try await client.registry.repository(ref, access: .push).push(descriptor, source: .file(file))
            }
            try Output.json(DescriptorOutput(descriptor))
        }
    }
}

struct Push: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Push files as an OCI artifact: one layer per file, titled with its name.")
    @Argument var reference: String
    @Argument var files: [String]
    @Option(name: .customLong("artifact-type"), help: "The manifest's artifactType.") var artifactType: String?
    @Option(name: .customLong("annotation"), help: "A manifest annotation KEY=VALUE (repeatable).") var annotations: [String] = []
    @Option(name: .customLong("layer-media-type"), help: "The media type of each layer.") var layerMediaType = "application/octet-stream"
    @Option(name: .customLong("subject"), help: "Make the artifact refer to this manifest (OCI 1.1 subject).") var subject: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let endpoint = try Endpoint(reference)
        guard !files.isEmpty else { throw ValidationError("push needs at least one file") }
        var manifestAnnotations: [String: String] = [:]
        for a in annotations {
            guard let eq = a.firstIndex(of: "="), eq != a.startIndex else { throw ValidationError("annotation \"\(a)\" is not KEY=VALUE") }
            manifestAnnotations[String(a[..<eq])] = String(a[a.index(after: eq)...])
        }
        var layers: [Descriptor] = []
        var paths: [OCIDigest: String] = [:]
        for file in files {
            var d = try await describeFile(file, mediaType: layerMediaType)
            d.annotations = [Annotation.title: (file as NSString).lastPathComponent]
            layers.append(d)
            paths[d.digest] = file
        }
        var subjectDescriptor: Descriptor?
        if let subject {
            let subjectEndpoint = try Endpoint(subject)
            subjectDescriptor = try await global.withClient { client in
                try await subjectEndpoint.target(client).resolve(subjectEndpoint.reference ?? "latest").basic
            }
        }
        let manifest = Manifest(artifactType: artifactType ?? "application/vnd.unknown.artifact.v1",
                                config: EmptyJSON.descriptor, layers: layers, subject: subjectDescriptor,
                                annotations: manifestAnnotations.isEmpty ? nil : manifestAnnotations)
        let bytes = try JSONCoding.encode(manifest)
        let blobPaths = paths
        let concurrency = global.concurrency
        let descriptor = try await global.withClient { client in
            let target = try endpoint.target(client, access: .push)
            let md = Descriptor.of(bytes, mediaType: MediaType.ociManifest)
            let limiter = ConcurrencyLimiter(limit: concurrency)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for blob in Set(manifest.blobs) {
                    group.addTask {
                        try await limiter.run {
                            if try await target.exists(blob) { return }
                            if blob.digest == EmptyJSON.digest {
                                try await target.push(blob, source: .bytes(EmptyJSON.bytes))
                            } else if let path = blobPaths[blob.digest] {
                                try await target.push(blob, source: .file(path))
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            if let remote = target as? RemoteRepository {
                try await remote.pushManifest(bytes, mediaType: MediaType.ociManifest, reference: endpoint.tag)
            } else {
                try await target.push(md, content: ByteStream(bytes: bytes))
                if let tag = endpoint.tag { try await target.tag(md, as: tag) }
            }
            return md
        }
        if global.json { try Output.json(DescriptorOutput(descriptor)) } else { Output.line(descriptor.digest.description) }
    }
}

struct Copy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Copy an image, index or artifact, byte for byte, between references.")
    @Argument var source: String
    @Argument var destination: String
    @Option(name: .customLong("platform"), help: "Copy only this platform (os/arch[/variant]) of an index.") var platform: String?
    @Flag(name: .customLong("referrers"), help: "Copy the manifests that refer to the copied one (OCI 1.1), too.") var referrers = false
    @Option(name: .customLong("schema1"),
            help: "A Docker schema1 source: auto (convert to OCI when the destination refuses schema1, and always into a layout), convert, or keep.")
    var schema1: Schema1CopyPolicy = .auto
    @OptionGroup var global: GlobalOptions

    struct Summary: Encodable {
        var source: String, destination: String, digest: String, mediaType: String
        var copied: Int, skipped: Int, mounted: Int, bytes: Int64
    }

    func run() async throws {
        let wanted = try platform.map { text -> Platform in
            guard let p = Platform(parsing: text) else { throw ValidationError("invalid platform \"\(text)\"; use os/arch[/variant]") }
            return p
        }
        let progress = ProgressDisplay(enabled: !global.json && isatty(2) == 1)
        let src = try Endpoint(source)
        let dst = try Endpoint(destination)
        let concurrency = global.concurrency
        let withReferrers = referrers
        let schema1Policy = schema1
        let result = try await global.withClient { client -> CopyResult in
            var result: CopyResult
            if case .registry = src, case .registry = dst {
                result = try await client.copy(from: source, to: destination, platform: wanted, schema1: schema1Policy,
                                               onEvent: progress.handle)
            } else {
                let source = try src.target(client)
                let root = try await source.resolve(src.reference ?? "latest")
                let destinationTarget = try dst.target(client, access: .push)
                let options = CopyOptions(concurrency: concurrency, onEvent: progress.handle)
                if MediaType.isSchema1(root.mediaType) {
                    // OCI layouts hold OCI images, addressed by the digest of their bytes; a signed schema1
                    // manifest's digest is over its payload only. So a schema1 source goes in converted (as
                    // skopeo does).
                    guard schema1Policy != .keep, case .registry = src else {
                        throw ValidationError("\(self.source) is a Docker schema1 manifest, which an OCI layout cannot hold as it is; use --schema1 convert (or auto)")
                    }
                    result = try await client.copyConvertingSchema1(from: self.source, root: root, to: destinationTarget,
                                                                    tag: dst.tag, options: options)
                } else {
                    result = try await OCI.copy(from: source, root: root, to: destinationTarget, tag: dst.tag,
                                                       platform: wanted, options: options)
                }
            }
            if withReferrers {
                guard let from = try src.target(client) as? RemoteRepository else {
                    throw ValidationError("--referrers needs a registry source")
                }
                let to = try dst.target(client, access: .push)
                var pending = [result.root.digest]
                var seen: Set<OCIDigest> = []
                while let subject = pending.popLast(), seen.count < 1000 {
                    guard seen.insert(subject).inserted else { continue }
                    for referrer in try await from.referrers(of: subject) {
                        try await OCI.copyGraph(from: from, to: to, root: referrer.basic,
                                            options: CopyOptions(concurrency: concurrency, onEvent: progress.handle))
                        pending.append(referrer.digest)
                    }
                }
            }
            return result
        }
        progress.finish()
        if global.json {
            try Output.json(Summary(source: source, destination: destination, digest: result.root.digest.description,
                                    mediaType: result.root.mediaType, copied: result.copied, skipped: result.skipped,
                                    mounted: result.mounted, bytes: result.bytes))
        } else {
            Output.line("Successfully copied \"\(source)\" to \"\(destination)\"")
        }
    }
}

struct Tags: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a repository's tags, one per line.")
    @Argument(help: "REPO") var repository: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let endpoint = try Endpoint(repository, defaultTag: nil)
        let tags = try await global.withClient { client -> [String] in
            if case .layout = endpoint, let lister = try endpoint.target(client) as? any TagLister { return try await lister.tags() }
            return try await client.listTags(repository)
        }
        if global.json { try Output.json(tags) } else { tags.forEach { Output.line($0) } }
    }
}

struct Repos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List repositories of a registry (under a prefix), one per line.")
    @Argument(help: "HOST[/PREFIX]") var registry: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let repos = try await global.withClient { client in try await client.listRepositories(registry) }
        if global.json { try Output.json(repos) } else { repos.forEach { Output.line($0) } }
    }
}

struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check credentials with a registry, then store them.")
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
        let credential = Credential(username: username, password: password)
        let keyring = Keyring()
        _ = keyring.add(address: host, credential: credential)
        let client = try RegistryClient(configuration: global.registryConfiguration(credentials: keyring))
        do {
            try await client.checkLogin(host: host)
            try? await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw error
        }
        let address = DockerHub.credentialKey(for: host)
        let writer = DockerConfigWriter(path: global.registryConfigs.first)
        _ = try writer.store(credential, for: address)
        if global.json { try Output.json(["host": host, "status": "Login Succeeded"]) } else { Output.line("Login Succeeded") }
    }
}

struct Logout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove stored credentials for a registry.")
    @Argument var host: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let address = DockerHub.credentialKey(for: host)
        let removed = try DockerConfigWriter(path: global.registryConfigs.first).erase(address: address)
        Output.line(removed ? "Removing login credentials for \(host)" : "Not logged in to \(host)")
    }
}

struct Referrers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the manifests that refer to a manifest (OCI 1.1).")
    @Argument var reference: String
    @Option(name: .customLong("artifact-type"), help: "Only referrers of this artifact type.") var artifactType: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let ref = try parseReference(reference)
        let found = try await global.withClient { client -> [Descriptor] in
            let repo = client.registry.repository(ref)
            let subject = try await repo.resolve(ref.manifestReference ?? "latest")
            return try await repo.referrers(of: subject.digest, artifactType: artifactType)
        }
        if global.json { try Output.json(found.map(DescriptorOutput.init)) } else {
            for d in found { Output.line("\(d.digest) \(d.artifactType ?? "-") \(d.size)") }
        }
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete a manifest (and every tag pointing to it), a blob, or only a tag.",
        discussion: "REF@DIGEST or REF:TAG deletes the manifest; --blob deletes REPO@DIGEST as a blob; --tag-only removes the tag and keeps the manifest.")
    @Argument var reference: String
    @Flag(name: .customLong("blob"), help: "Delete a blob by digest.") var blob = false
    @Flag(name: .customLong("tag-only"), help: "Remove only the tag.") var tagOnly = false
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let ref = try parseReference(reference)
        let message = try await global.withClient { client -> String in
            let repo = client.registry.repository(ref, access: .delete)
            if blob {
                guard let digest = ref.digest else { throw ValidationError("--blob needs REPO@DIGEST") }
                try await repo.delete(Descriptor(mediaType: "application/octet-stream", digest: digest, size: -1))
                return "Deleted blob \(digest)"
            }
            if tagOnly {
                guard let tag = ref.tag else { throw ValidationError("--tag-only needs REPO:TAG") }
                try await repo.untag(tag)
                return "Untagged \(ref)"
            }
            let d = try await repo.deleteManifest(ref.manifestReference ?? "latest")
            return "Deleted \(ref.name)@\(d.digest)"
        }
        Output.line(message)
    }
}

struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cache", abstract: "Inspect or empty the blob cache.",
                                                    subcommands: [Info.self, Prune.self])

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the cache's limit, size and items.")
        @OptionGroup var global: GlobalOptions

        struct Output: Encodable { var directory: String; var size: Int64; var currentSize: Int64; var items: Int; var usage: Double }

        func run() async throws {
            let cache = try global.cache() ?? ContentCache(options: CacheOptions(directory: ContentCache.defaultDirectory()))
            defer { cache.close() }
            let info = cache.info()
            let usage = info.size > 0 ? Double(info.currentSize) / Double(info.size) * 100 : 0
            let out = Output(directory: cache.directory, size: info.size, currentSize: info.currentSize, items: info.items, usage: usage)
            if global.json { try OCICtlOutput.json(out) } else {
                OCICtlOutput.line("Directory: \(out.directory)")
                OCICtlOutput.line("Size: \(out.size == 0 ? "unlimited" : String(out.size))")
                OCICtlOutput.line("CurrentSize: \(out.currentSize)")
                OCICtlOutput.line("Items: \(out.items)")
                if out.size > 0 { OCICtlOutput.line(String(format: "Usage: %.1f%%", out.usage)) }
            }
        }
    }

    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove every entry from the cache.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let cache = try global.cache() ?? ContentCache(options: CacheOptions(directory: ContentCache.defaultDirectory()))
            defer { cache.close() }
            let removed = cache.prune()
            OCICtlOutput.line("Successfully pruned \(removed) items from the cache \(cache.directory)")
        }
    }
}

typealias OCICtlOutput = Output

extension Schema1CopyPolicy: ExpressibleByArgument {}
