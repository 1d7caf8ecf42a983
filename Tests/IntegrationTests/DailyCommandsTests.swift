import Foundation
import OCIKit
import OCITestFixtures
import OCITesting
import XCTest

/// The daily ocictl commands end to end against the real registry: inspect, config, tag, tag filters,
/// copy --all-tags, blob head, digest, --platform, --json and the exit statuses.
final class DailyCommandsTests: XCTestCase {
    private func json(_ result: ProcessResult) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(result.stdout))
    }

    /// Pushes the two-platform test image as `repo:tag` (an index over amd64 and arm64).
    private func pushIndex(_ registry: TestRegistry, _ repository: String, tags: [String]) async throws -> OCITestFixtures.TestImage {
        let image = try OCITestFixtures.TestImage.make()
        let source = await image.memoryStore()
        try await source.tag(image.index, as: "src")
        var configuration = OCIClient.Configuration()
        configuration.registry.credentials = Keyring()
        try await OCIClient.withClient(configuration: configuration) { client in
            let destination = try client.target("\(registry.host)/\(repository)", access: .push)
            for tag in tags { try await OCI.copy(from: source, reference: "src", to: destination, tag: tag) }
        }
        return image
    }

    func testInspectConfigTagDigestAndPlatform() async throws {
        try Requirements.registry(.plain)
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        try await TestRegistry.withRegistry(.plain) { registry in
            let image = try await pushIndex(registry, "daily/app", tags: ["v1"])
            let ref = "\(registry.host)/daily/app:v1"
            let arm = image.manifests[1]

            let human = try await ocictl.ok(["inspect", ref, "--platform", "linux/arm64"])
            XCTAssertTrue(human.stdoutText.contains("Platforms:   linux/amd64, linux/arm64"), human.stdoutText)
            XCTAssertTrue(human.stdoutText.contains("Manifest:    \(arm.digest) (linux/arm64)"), human.stdoutText)
            XCTAssertTrue(human.stdoutText.contains("Referrers:   0"), human.stdoutText)
            let inspectJSON = try await ocictl.ok(["inspect", ref, "--json"])
            let inspected = try XCTUnwrap(try json(inspectJSON) as? [String: Any])
            XCTAssertEqual(inspected["digest"] as? String, image.index.digest.description)
            XCTAssertEqual(inspected["platforms"] as? [String], ["linux/amd64", "linux/arm64"])
            XCTAssertEqual((inspected["layers"] as? [Any])?.count, 2)
            XCTAssertEqual(inspected["platform"] as? String, "linux/amd64")
            let raw = try await ocictl.ok(["inspect", ref, "--raw"])
            XCTAssertEqual(raw.stdout, image.indexBytes)

            let armManifest = try JSONCoding.decode(Manifest.self, from: image.bytes(arm))
            let config = try await ocictl.ok(["config", ref, "--platform", "linux/arm64"])
            XCTAssertEqual(config.stdout, image.bytes(armManifest.config), "the config's exact bytes")

            let resolved = try await ocictl.ok(["resolve", ref, "--platform", "linux/arm64"])
            XCTAssertTrue(resolved.stdoutText.hasPrefix(arm.digest.description), resolved.stdoutText)
            let manifest = try await ocictl.ok(["manifest", "get", ref, "--platform", "linux/arm64"])
            XCTAssertEqual(manifest.stdout, image.bytes(arm))
            let digest = try await ocictl.ok(["digest", ref, "--platform", "linux/arm64"])
            XCTAssertEqual(digest.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines), arm.digest.description)
            let scratch = try TempDir(prefix: "it-daily")
            defer { scratch.remove() }
            let file = try scratch.write("f.bin", Bytes.random(1000))
            let fileDigest = try await ocictl.ok(["digest", file])
            XCTAssertEqual(fileDigest.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines),
                           OCIDigest.of(FileManager.default.contents(atPath: file).map { [UInt8]($0) } ?? []).description)

            let tagged = try await ocictl.ok(["tag", ref, "stable", "2026", "--json"])
            XCTAssertTrue(tagged.stdoutText.contains(image.index.digest.description), tagged.stdoutText)
            let tags = try await ocictl.ok(["tags", "\(registry.host)/daily/app"])
            XCTAssertEqual(Set(tags.stdoutText.split(separator: "\n").map(String.init)), ["v1", "stable", "2026"])

            let layer = armManifest.layers[1]
            let head = try await ocictl.ok(["blob", "head", "\(registry.host)/daily/app@\(layer.digest)"])
            XCTAssertEqual(head.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines), "\(layer.digest) \(layer.size)")
            let missing = try await ocictl.run(["blob", "head", "\(registry.host)/daily/app@\(OCIDigest.of(Bytes.random(8)))", "--json"])
            XCTAssertEqual(missing.status, 3, missing.summary)
            XCTAssertTrue(missing.stdoutText.contains("\"exists\" : false"), missing.stdoutText)

            // Exit statuses: 3 for not found, 2 for usage.
            let notFound = try await ocictl.run(["resolve", "\(registry.host)/daily/app:nope"])
            XCTAssertEqual(notFound.status, 3, notFound.summary)
            let usage = try await ocictl.run(["resolve"])
            XCTAssertEqual(usage.status, 2, usage.summary)

            let deleted = try await ocictl.ok(["delete", "\(registry.host)/daily/app:2026", "--tag-only", "--json"])
            XCTAssertTrue(deleted.stdoutText.contains("\"deleted\" : \"tag\""), deleted.stdoutText)
        }
    }

    func testTagFiltersAndCopyAllTags() async throws {
        try Requirements.registry(.plain)
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        try await TestRegistry.withRegistry(.plain) { registry in
            let tags = ["v0.9.0", "v1.0.0", "v1.2.0", "v1.3.0-rc.1", "v1.10.0", "v2.0.0", "latest"]
            _ = try await pushIndex(registry, "filters/app", tags: tags)
            let repo = "\(registry.host)/filters/app"
            func listed(_ arguments: [String]) async throws -> [String] {
                try await ocictl.ok(["tags", repo] + arguments).stdoutText.split(separator: "\n").map(String.init)
            }
            let semver = try await listed(["--semver", ">=1.0.0 <2"])
            XCTAssertEqual(semver, ["v1.0.0", "v1.2.0", "v1.10.0"], "sorted by version, pre-releases left out")
            let newest = try await listed(["--semver", "^1", "--limit", "2"])
            XCTAssertEqual(newest, ["v1.2.0", "v1.10.0"])
            let regex = try await listed(["--include", "^v1\\.", "--exclude=-rc"])
            XCTAssertEqual(Set(regex), ["v1.0.0", "v1.2.0", "v1.10.0"])

            let copied = try await ocictl.ok(["copy", repo, "\(registry.host)/filters/mirror", "--all-tags",
                                              "--include", "^v2", "--include", "^latest$", "--json"])
            let summaries = try XCTUnwrap(try json(copied) as? [[String: Any]], copied.stdoutText)
            XCTAssertEqual(Set(summaries.compactMap { $0["tag"] as? String }), ["v2.0.0", "latest"])
            let mirrored = try await ocictl.ok(["tags", "\(registry.host)/filters/mirror"])
            XCTAssertEqual(Set(mirrored.stdoutText.split(separator: "\n").map(String.init)), ["v2.0.0", "latest"])

            let bad = try await ocictl.run(["tags", repo, "--include", "("])
            XCTAssertNotEqual(bad.status, 0)
            XCTAssertTrue(bad.stderrText.contains("regular expression"), bad.stderrText)
        }
    }

    func testUnauthorizedExitStatusAndCompletion() async throws {
        try Requirements.registry(.htpasswd)
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        try await TestRegistry.withRegistry(.htpasswd) { registry in
            let refused = try await ocictl.run(["resolve", "\(registry.host)/private/app:v1"])
            XCTAssertEqual(refused.status, 4, refused.summary)
        }
        for shell in ["bash", "zsh", "fish"] {
            let script = try await ocictl.ok(["completion", shell])
            XCTAssertTrue(script.stdoutText.contains("ocictl"), "\(shell): \(script.stdoutText.prefix(200))")
        }
        let version = try await ocictl.ok(["--version"])
        XCTAssertEqual(version.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines), OCIPackageVersion.current)
    }
}

extension DailyCommandsTests {
    /// docs/cli.md names every subcommand `ocictl --help` lists, and documents every exit status.
    func testCLIReferenceCoversEveryCommand() async throws {
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let help = try await ocictl.ok(["--help"])
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let reference = try String(contentsOf: root.appendingPathComponent("docs/cli.md"), encoding: .utf8)
        var inSubcommands = false
        var names: [String] = []
        for line in help.stdoutText.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("SUBCOMMANDS:") { inSubcommands = true; continue }
            guard inSubcommands else { continue }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("See '") { continue }
            if let name = trimmed.split(separator: " ").first, !line.hasPrefix("      ") { names.append(String(name)) }
        }
        XCTAssertGreaterThan(names.count, 15, help.stdoutText)
        for name in names where name != "help" {
            XCTAssertTrue(reference.contains("ocictl \(name)"), "docs/cli.md does not document `ocictl \(name)`")
        }
        for status in ["| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |"] {
            XCTAssertTrue(reference.contains(status), "docs/cli.md lacks the exit status row \(status)")
        }
    }
}
