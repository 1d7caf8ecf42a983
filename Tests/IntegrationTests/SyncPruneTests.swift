import Foundation
import OCIKit
import OCITesting
import XCTest

/// `prune: true` into an OCI archive and an OCI layout: a tag the source dropped is deleted from index.json, the
/// blobs only it reached go (from the rewritten tar, from the layout's blobs/), shared blobs and referrers of the
/// remaining tags stay, skopeo still reads the remaining tags, and `--dry-run` lists the deletion.
final class SyncPruneTests: XCTestCase {
    /// The names of the entries of a tar (`tar -tf`), without a leading `./`.
    static func tarEntries(_ path: String) async throws -> Set<String> {
        let listed = try await Subprocess.run("/usr/bin/tar", ["-tf", path])
        XCTAssertEqual(listed.status, 0, listed.summary)
        return Set(listed.stdoutText.split(separator: "\n").map { $0.hasPrefix("./") ? String($0.dropFirst(2)) : String($0) })
    }

    /// The ref names of an archive's index.json (`tar -xOf FILE index.json`).
    static func archiveRefNames(_ path: String) async throws -> [String] {
        let index = try await Subprocess.run("/usr/bin/tar", ["-xOf", path, "index.json"])
        XCTAssertEqual(index.status, 0, index.summary)
        let document = parseJSON(index.stdout) as? [String: Any]
        let manifests = document?["manifests"] as? [[String: Any]] ?? []
        return manifests.compactMap { ($0["annotations"] as? [String: String])?["org.opencontainers.image.ref.name"] }.sorted()
    }

    func testPruneIntoAnArchiveAndALayoutDeletesTheTagAndTheBlobsOnlyItReached() async throws {
        try Requirements.registry(.plain)
        let skopeo = try Skopeo()
        defer { skopeo.cleanup() }
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let scratch = try TempDir(prefix: "it-sync-prune")
        defer { scratch.remove() }
        try await TestRegistry.withRegistry(.plain) { registry in
            // Three artifacts (one file each; the empty config is shared) and a signature referring to the first.
            var manifests: [String: String] = [:]
            var layers: [String: OCIDigest] = [:]
            for tag in ["1", "2", "3"] {
                let content = Bytes.random(30_000)
                let file = try scratch.write("in/\(tag).bin", content)
                manifests[tag] = try await ocictl.ok(["push", "\(registry.host)/p/app:\(tag)", file])
                    .stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
                layers[tag] = OCIDigest.of(content)
            }
            let signature = Array("signature of 1".utf8)
            let sigFile = try scratch.write("in/sig.txt", signature)
            let sigManifest = try await ocictl.ok(["push", "\(registry.host)/p/app:sig", sigFile, "--subject",
                                                   "\(registry.host)/p/app:1", "--artifact-type", "application/vnd.example.sig"])
                .stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            let archive = scratch.file("mirror.tar")
            let layout = scratch.file("layout")
            let config = try scratch.write("sync.yaml", Bytes.utf8("""
                sync:
                  - {source: "\(registry.host)/p/app", destination: "oci-archive://\(archive)", prune: true, referrers: true,
                     tags: {include: ['^[0-9]+$']}}
                  - {source: "\(registry.host)/p/app", destination: "ocidir://\(layout)", prune: true, referrers: true,
                     tags: {include: ['^[0-9]+$']}}
                """))
            let first = try await ocictl.ok(["sync", config, "--json"])
            XCTAssertEqual(SyncTests.summary(first)["copied"] as? Int, 6, first.stdoutText)
            let blob = { (digest: String) in "blobs/sha256/" + String(digest.dropFirst("sha256:".count)) }
            let before = try await Self.tarEntries(archive)
            for tag in ["1", "2", "3"] {
                XCTAssertTrue(before.contains(blob(manifests[tag] ?? "")), "manifest \(tag) in the archive")
                XCTAssertTrue(before.contains(blob(layers[tag]?.description ?? "")), "layer \(tag) in the archive")
            }
            XCTAssertTrue(before.contains(blob(sigManifest)), "the referrer is in the archive: \(before.sorted())")

            // The source drops tag 2.
            try await ocictl.ok(["delete", "\(registry.host)/p/app:2"])

            // The plan lists the deletions and writes nothing.
            let inode = { (try? FileManager.default.attributesOfItem(atPath: archive))?[.systemFileNumber] as? Int }
            let archiveBefore = inode()
            let plan = try await ocictl.ok(["sync", config, "--dry-run", "--json"])
            XCTAssertEqual(SyncTests.pairs(SyncTests.items(plan), action: "delete"), [
                "\(registry.host)/p/app:2 -> oci-archive://\(archive):2",
                "\(registry.host)/p/app:2 -> ocidir://\(layout):2",
            ], plan.stdoutText)
            XCTAssertEqual(inode(), archiveBefore, "a dry run does not rewrite the archive")
            let namesBefore = try await Self.archiveRefNames(archive)
            XCTAssertEqual(namesBefore, ["1", "2", "3"])
            let text = try await ocictl.ok(["sync", config, "--dry-run"])
            XCTAssertTrue(text.stdoutText.contains("delete \(registry.host)/p/app:2 -> oci-archive://\(archive):2"), text.stdoutText)

            // The sync deletes the tag and the blobs only it reached: its manifest and its layer, in each.
            let pruned = try await ocictl.ok(["sync", config, "--json"])
            let summary = SyncTests.summary(pruned)
            XCTAssertEqual(summary["deleted"] as? Int, 2, pruned.stdoutText)
            XCTAssertEqual(summary["failed"] as? Int, 0, pruned.stdoutText)
            XCTAssertEqual(summary["removedBlobs"] as? Int, 4, pruned.stdoutText)
            XCTAssertNotEqual(inode(), archiveBefore, "the archive was rewritten")
            let namesAfter = try await Self.archiveRefNames(archive)
            XCTAssertEqual(namesAfter, ["1", "3"])
            let after = try await Self.tarEntries(archive)
            XCTAssertFalse(after.contains(blob(manifests["2"] ?? "")), "the pruned manifest is gone from the tar")
            XCTAssertFalse(after.contains(blob(layers["2"]?.description ?? "")), "the pruned layer is gone from the tar")
            XCTAssertEqual(before.subtracting(after), [blob(manifests["2"] ?? ""), blob(layers["2"]?.description ?? "")])
            XCTAssertTrue(after.contains(blob(sigManifest)), "the referrer of 1 stays")
            XCTAssertTrue(after.contains(blob(OCIDigest.of(signature).description)), "and its layer")
            for tag in ["1", "3"] {
                let raw = try await skopeo.ok(["inspect", "--raw", "oci-archive:\(archive):\(tag)"])
                XCTAssertEqual(OCIDigest.of(raw.stdout).description, manifests[tag], "skopeo reads \(tag)")
            }
            let missing = try await skopeo.run(["inspect", "--raw", "oci-archive:\(archive):2"])
            XCTAssertNotEqual(missing.status, 0, "tag 2 is gone")

            // The layout: the same rule.
            let tags = try await ocictl.ok(["tags", "ocidir://\(layout)"]).stdoutText
            XCTAssertEqual(tags.split(separator: "\n").sorted(), ["1", "3"])
            let exists = { (digest: String) in FileManager.default.fileExists(atPath: "\(layout)/\(blob(digest))") }
            XCTAssertFalse(exists(manifests["2"] ?? ""))
            XCTAssertFalse(exists(layers["2"]?.description ?? ""))
            XCTAssertTrue(exists(sigManifest), "the referrer of 1 stays in the layout")
            for tag in ["1", "3"] {
                XCTAssertTrue(exists(manifests[tag] ?? "") && exists(layers[tag]?.description ?? ""), tag)
                try await skopeo.ok(["inspect", "--raw", "oci:\(layout):\(tag)"])
            }

            // Nothing more to do, and nothing more to collect.
            let again = try await ocictl.ok(["sync", config, "--json"])
            XCTAssertEqual(SyncTests.summary(again)["deleted"] as? Int, 0)
            XCTAssertEqual(SyncTests.summary(again)["copied"] as? Int, 0)
            XCTAssertEqual(SyncTests.summary(again)["removedBlobs"] as? Int, 0)
        }
    }
}
