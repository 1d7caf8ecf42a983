import ArgumentParser
import Foundation
import OCIKit

// The commands people run every day next to crane, regctl and skopeo: inspect, config, tag, blob head, digest.

struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe an image without pulling it: digest, platforms, layers, config highlights, referrers.")
    @Argument var reference: String
    @Option(name: .customLong("platform"), help: "The platform's manifest of an index (default linux/amd64, else the first).")
    var platform: String?
    @Flag(name: .customLong("raw"), help: "Print the manifest's (or index's) exact bytes instead.") var raw = false
    @OptionGroup var global: GlobalOptions

    struct Summary: Encodable {
        struct RuntimeConfig: Encodable {
            var entrypoint: [String]?, cmd: [String]?, env: [String]?, workingDir: String?, user: String?
            var labels: [String: String]?, exposedPorts: [String]?, stopSignal: String?
        }
        var reference: String
        var digest: String, mediaType: String, size: Int64
        var platforms: [String]?
        var manifest: DescriptorOutput?
        var created: String?, platform: String?
        var layers: [DescriptorOutput]
        var config: RuntimeConfig?
        var annotations: [String: String]?
        var referrers: Int?
    }

    func run() async throws {
        let wanted = try GlobalOptions.platform(platform)
        let (inspection, referrers) = try await global.withClient { client -> (ImageInspection, Int?) in
            let inspection = try await client.inspect(reference, platform: wanted)
            // Registries only; a registry without the referrers API is asked through the fallback tag.
            let count = try? await client.referrers(reference, artifactType: nil, platform: nil).count
            return (inspection, count)
        }
        if raw { return try Output.write(inspection.bytes) }
        let runtime = inspection.config?.config
        let summary = Summary(
            reference: reference, digest: inspection.descriptor.digest.description,
            mediaType: inspection.descriptor.mediaType, size: inspection.descriptor.size,
            platforms: inspection.index.map { _ in inspection.platforms.map(\.description) },
            manifest: inspection.index == nil ? nil : inspection.manifestDescriptor.map(DescriptorOutput.init),
            created: inspection.config?.created, platform: inspection.config?.platform?.description,
            layers: (inspection.manifest?.layers ?? []).map(DescriptorOutput.init),
            config: runtime.map { r in
                Summary.RuntimeConfig(entrypoint: r.entrypoint, cmd: r.cmd, env: r.env, workingDir: r.workingDir, user: r.user,
                                      labels: r.labels, exposedPorts: r.exposedPorts.map { $0.keys.sorted() },
                                      stopSignal: r.stopSignal)
            },
            annotations: inspection.manifest?.annotations ?? inspection.index?.annotations, referrers: referrers)
        if global.json { return try Output.json(summary) }
        var lines = ["Reference:   \(summary.reference)", "Digest:      \(summary.digest)",
                     "MediaType:   \(summary.mediaType)", "Size:        \(summary.size)"]
        if let platforms = summary.platforms { lines.append("Platforms:   \(platforms.joined(separator: ", "))") }
        if let manifest = summary.manifest { lines.append("Manifest:    \(manifest.digest) (\(summary.platform ?? "?"))") }
        else if let platform = summary.platform { lines.append("Platform:    \(platform)") }
        if let created = summary.created { lines.append("Created:     \(created)") }
        if let c = summary.config {
            if let e = c.entrypoint { lines.append("Entrypoint:  \(e.joined(separator: " "))") }
            if let cmd = c.cmd { lines.append("Cmd:         \(cmd.joined(separator: " "))") }
            if let w = c.workingDir, !w.isEmpty { lines.append("WorkingDir:  \(w)") }
            if let u = c.user, !u.isEmpty { lines.append("User:        \(u)") }
            for e in c.env ?? [] { lines.append("Env:         \(e)") }
            for (k, v) in (c.labels ?? [:]).sorted(by: { $0.key < $1.key }) { lines.append("Label:       \(k)=\(v)") }
            if let ports = c.exposedPorts, !ports.isEmpty { lines.append("Ports:       \(ports.joined(separator: ", "))") }
        }
        for (k, v) in (summary.annotations ?? [:]).sorted(by: { $0.key < $1.key }) { lines.append("Annotation:  \(k)=\(v)") }
        if !summary.layers.isEmpty { lines.append("Layers:") }
        for layer in summary.layers {
            lines.append("  \(layer.digest) \(layer.size) \(layer.mediaType)" + (layer.annotations?[Annotation.title].map { " \($0)" } ?? ""))
        }
        if let referrers = summary.referrers { lines.append("Referrers:   \(referrers)") }
        lines.forEach { Output.line($0) }
    }
}

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Write an image's config blob, its exact bytes, to stdout.")
    @Argument var reference: String
    @Option(name: .customLong("platform"), help: "The platform's image of an index (default linux/amd64, else the first).")
    var platform: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let wanted = try GlobalOptions.platform(platform)
        try Output.write(try await global.withClient { try await $0.config(reference, platform: wanted) })
    }
}

struct Tag: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tag", abstract: "Point one or more tags at the manifest REF names (one upload per tag, no blob moves).")
    @Argument var reference: String
    @Argument var tags: [String]
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        guard !tags.isEmpty else { throw ValidationError("tag needs at least one TAG") }
        let descriptor = try await global.withClient { try await $0.tag(reference, as: tags) }
        if global.json {
            try Output.json(TagOutput(digest: descriptor.digest.description, tags: tags))
        } else {
            tags.forEach { Output.line("\($0) -> \(descriptor.digest)") }
        }
    }
}

struct TagOutput: Encodable { var digest: String; var tags: [String] }

struct BlobHead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "head",
        abstract: "Tell whether a repository has a blob: prints its size and exits 0, or exits 3 when it is missing.")
    @Argument(help: "REPO@DIGEST") var reference: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let found = try await global.withClient { try await $0.blob(reference) }
        if global.json {
            try Output.json(BlobHeadOutput(exists: found != nil, digest: found?.digest.description, size: found?.size))
        } else if let found {
            Output.line("\(found.digest) \(found.size)")
        }
        if found == nil { throw ExitCode(ExitStatus.notFound) }
    }

    struct BlobHeadOutput: Encodable { var exists: Bool; var digest: String?; var size: Int64? }
}

struct DigestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digest",
        abstract: "Print the digest of a file, or of the manifest a reference names.",
        discussion: "An existing file is hashed (sha256, one streaming pass); anything else is a reference, resolved.")
    @Argument(help: "FILE or REF") var subject: String
    @Option(name: .customLong("platform"), help: "For an index: the platform's manifest.") var platform: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        var isDirectory: ObjCBool = false
        let descriptor: Descriptor
        if FileManager.default.fileExists(atPath: subject, isDirectory: &isDirectory), !isDirectory.boolValue {
            descriptor = try await OCIClient.digest(ofFile: subject)
        } else {
            let wanted = try GlobalOptions.platform(platform)
            descriptor = try await global.withClient { try await $0.resolve(subject, platform: wanted) }
        }
        if global.json { try Output.json(DescriptorOutput(descriptor)) } else { Output.line(descriptor.digest.description) }
    }
}

struct Completion: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "completion",
        abstract: "Print a shell completion script.",
        discussion: """
        bash: ocictl completion bash > /etc/bash_completion.d/ocictl (or source it from ~/.bashrc); \
        zsh: ocictl completion zsh > "${fpath[1]}/_ocictl"; fish: ocictl completion fish > ~/.config/fish/completions/ocictl.fish
        """)
    @Argument(help: "bash, zsh or fish") var shell: String

    func run() throws {
        guard let kind = CompletionShell(rawValue: shell) else { throw ValidationError("unknown shell \"\(shell)\"; use bash, zsh or fish") }
        Output.line(OCICtl.completionScript(for: kind))
    }
}

/// ocictl's exit statuses, documented in docs/cli.md.
enum ExitStatus {
    static let success: Int32 = 0
    static let failure: Int32 = 1
    static let usage: Int32 = 2
    static let notFound: Int32 = 3
    static let unauthorized: Int32 = 4
}
