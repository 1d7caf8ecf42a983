import ArgumentParser
import Foundation
import OCICache
import OCIClient
import OCIContent
import OCIReference
import OCIRegistry
import OCISpec

struct Pull: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
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
        let endpoint = try Endpoint(reference)
        let wanted = try platform.map { text -> Platform in
            guard let p = Platform(parsing: text) else { throw ValidationError("invalid platform \"\(text)\"; use os/arch[/variant]") }
            return p
        }
        let dir = (output as NSString).standardizingPath
        let cache = try global.cache()
        defer { cache?.close() }
        let summary = try await global.withClient { client -> Summary in
            let repo = try endpoint.target(client)
            var (descriptor, bytes) = try await fetchManifest(repo, endpoint.reference ?? "latest")
            var files: [String] = []
            if MediaType.isMultiArch(descriptor.mediaType) {
                try await AtomicFileWriter.write(ByteStream(bytes: bytes), to: dir + "/index.json")
                files.append("index.json")
                let index = try JSONCoding.decode(ImageIndex.self, from: bytes)
                let target = wanted ?? Platform(architecture: "amd64", os: "linux")
                guard let child = index.manifests.first(where: { $0.platform.map(target.matches) ?? false })
                        ?? (wanted == nil ? index.manifests.first : nil) else {
                    throw ValidationError("no manifest for platform \(target) in \(reference)")
                }
                (descriptor, bytes) = try await fetchManifest(repo, child.digest.description)
            }
            guard MediaType.isSingleArch(descriptor.mediaType) else {
                throw OCIClientError.unsupportedMediaType(descriptor.mediaType)
            }
            let manifest = try JSONCoding.decode(Manifest.self, from: bytes)
            try await AtomicFileWriter.write(ByteStream(bytes: bytes), to: dir + "/manifest.json")
            files.append("manifest.json")
            var jobs: [(Descriptor, String)] = [(manifest.config, "config.json")]
            var used: Set<String> = ["manifest.json", "config.json", "index.json"]
            for layer in manifest.layers {
                var name = "blobs/\(layer.digest.algorithm.rawValue)/\(layer.digest.encoded)"
                if let title = layer.title, let safe = safeFileName(title), !used.contains(safe) { name = safe }
                used.insert(name)
                jobs.append((layer, name))
            }
            let limiter = ConcurrencyLimiter(limit: global.concurrency)
            let blobs: any ContentFetcher = cache.map { CachingFetcher(upstream: repo, cache: $0) } ?? repo
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (blob, name) in jobs {
                    group.addTask {
                        try await limiter.run {
                            try await AtomicFileWriter.write(try await blobs.fetch(blob), to: dir + "/" + name)
                        }
                    }
                }
                try await group.waitForAll()
            }
            files.append(contentsOf: jobs.map(\.1))
            return Summary(reference: reference, digest: descriptor.digest.description, files: files)
        }
        if global.json { try Output.json(summary) } else { summary.files.forEach { Output.line($0) } }
    }
}

/// A title is used as a file name only when it is a single safe path component: no separators, not `.`/`..`,
/// no control characters, not hidden, at most 255 bytes. Anything else falls back to the digest path.
func safeFileName(_ title: String) -> String? {
    guard !title.isEmpty, title.utf8.count <= 255, title != ".", title != "..", !title.hasPrefix("."),
          !title.contains("/"), !title.contains("\\"),
          !title.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
    else { return nil }
    return title
}
