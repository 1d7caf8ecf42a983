import Foundation
import OCIKit
import OCITesting
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Images built and changed by ocictl (image append, mutate, flatten, index create, export), read by software
/// no one here wrote: umoci unpacks them, skopeo and podman read their config, buildah builds on them, podman
/// and our copy pick platforms of our index, GNU tar and the zstd CLI read our layers and exports.
final class BuildInteropTests: XCTestCase {
    private static let runRoot = "/tmp/ocictl-bt-\(UUID().uuidString.prefix(8))"

    override class func tearDown() {
        try? FileManager.default.removeItem(atPath: runRoot)
    }

    /// A tool of the test, which must be installed (scripts/install-deps.sh): its absence fails the test.
    private func tool(_ name: String) throws -> String {
        for dir in ["/usr/bin", "/usr/sbin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        throw OCITestingError("\(name) is not installed; scripts/install-deps.sh installs it")
    }

    /// podman or buildah with storage of their own under `scratch` (vfs: no overlay mounts), no daemon.
    private func containers(_ name: String, _ scratch: TempDir, _ arguments: [String]) async throws -> ProcessResult {
        let path = try tool(name)
        var env = Subprocess.isolatedEnvironment(home: scratch.path)
        env["XDG_RUNTIME_DIR"] = scratch.file("run")
        let storage = ["--root", scratch.file("containers/root"), "--runroot", Self.runRoot, "--storage-driver", "vfs"]
        return try await Subprocess.run(path, storage + arguments, environment: env)
    }

    private func run(_ path: String, _ arguments: [String], environment: [String: String]? = nil) async throws -> ProcessResult {
        try await Subprocess.run(path, arguments, environment: environment)
    }

    /// A tree with every kind of entry a layer holds.
    private func makeTree(_ scratch: TempDir) throws -> String {
        let root = scratch.file("tree")
        try scratch.write("tree/bin/hello", Bytes.utf8("#!/bin/sh\necho hello\n"))
        chmod(scratch.file("tree/bin/hello"), 0o755)
        try scratch.write("tree/etc/secret.conf", Bytes.utf8("key=value\n"))
        chmod(scratch.file("tree/etc/secret.conf"), 0o600)
        try FileManager.default.createDirectory(atPath: scratch.file("tree/var/cache"), withIntermediateDirectories: true)
        chmod(scratch.file("tree/var/cache"), 0o1777)
        let long = String(repeating: "d", count: 110)
        try scratch.write("tree/share/\(long)/\(String(repeating: "f", count: 120)).txt", Bytes.utf8("long\n"))
        try FileManager.default.createSymbolicLink(atPath: scratch.file("tree/bin/hi"), withDestinationPath: "hello")
        try scratch.write("outside.txt", Bytes.utf8("OUTSIDE SECRET\n"))
        try FileManager.default.createSymbolicLink(atPath: scratch.file("tree/etc/outside"), withDestinationPath: scratch.file("outside.txt"))
        XCTAssertEqual(link(scratch.file("tree/bin/hello"), scratch.file("tree/bin/hello-again")), 0)
        return root
    }

    func testUmociUnpacksExactlyTheFilesModesOwnersAndLinksWeBuilt() async throws {
        let umoci = try tool("umoci")
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let scratch = try TempDir(prefix: "it-build-umoci")
        defer { scratch.remove() }
        let tree = try makeTree(scratch)
        let layout = scratch.file("layout")
        try await ocictl.ok(["image", "append", "scratch", "ocidir://\(layout):v1", "--layer", "\(tree):/app",
                             "--entrypoint", #"["/app/bin/hello"]"#, "--env", "GREETING=hi"])
        let bundle = scratch.file("bundle")
        let unpacked = try await run(umoci, ["unpack", "--image", "\(layout):v1", bundle])
        XCTAssertEqual(unpacked.status, 0, unpacked.summary)
        let rootfs = bundle + "/rootfs"

        // Exactly our entries: the parent /app and the tree.
        let found = (FileManager.default.enumerator(atPath: rootfs)?.allObjects as? [String] ?? []).sorted()
        let long = String(repeating: "d", count: 110)
        let longFile = "app/share/\(long)/\(String(repeating: "f", count: 120)).txt"
        XCTAssertEqual(found, ["app", "app/bin", "app/bin/hello", "app/bin/hello-again", "app/bin/hi", "app/etc",
                               "app/etc/outside", "app/etc/secret.conf", "app/share", "app/share/\(long)", longFile,
                               "app/var", "app/var/cache"].sorted())
        func info(_ path: String) -> stat {
            var s = stat()
            XCTAssertEqual(lstat(rootfs + "/" + path, &s), 0, path)
            return s
        }
        XCTAssertEqual(info("app/bin/hello").st_mode & 0o7777, 0o755)
        XCTAssertEqual(info("app/etc/secret.conf").st_mode & 0o7777, 0o600)
        XCTAssertEqual(info("app/var/cache").st_mode & 0o7777, 0o1777)
        for path in found {
            XCTAssertEqual(info(path).st_uid, 0, path)
            XCTAssertEqual(info(path).st_gid, 0, path)
        }
        XCTAssertEqual(info("app/bin/hello").st_ino, info("app/bin/hello-again").st_ino, "a hard link")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: rootfs + "/app/bin/hi"), "hello")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: rootfs + "/app/etc/outside"),
                       scratch.file("outside.txt"), "stored as a link, not followed")
        XCTAssertEqual(info("app/etc/outside").st_mode & S_IFMT, S_IFLNK)
        XCTAssertEqual(FileManager.default.contents(atPath: rootfs + "/" + longFile).map { [UInt8]($0) }, Bytes.utf8("long\n"))
        XCTAssertEqual(FileManager.default.contents(atPath: rootfs + "/app/bin/hello").map { [UInt8]($0) },
                       Bytes.utf8("#!/bin/sh\necho hello\n"))
        // umoci's runtime config carries our entrypoint and env.
        let runtime = Bytes.text(FileManager.default.contents(atPath: bundle + "/config.json").map { [UInt8]($0) } ?? [])
        XCTAssertTrue(runtime.contains("/app/bin/hello"), runtime)
        XCTAssertTrue(runtime.contains("GREETING=hi"), runtime)

        // The export of the image, read by GNU tar, lists the same entries; the outside secret is in neither.
        let exported = scratch.file("fs.tar")
        try await ocictl.ok(["export", "ocidir://\(layout):v1", "-o", exported])
        let listing = try await run(try tool("tar"), ["-tf", exported])
        XCTAssertEqual(listing.status, 0, listing.summary)
        let names = listing.stdoutText.split(separator: "\n").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "/")) }.sorted()
        XCTAssertEqual(names, found)
        let bytes = FileManager.default.contents(atPath: exported).map { [UInt8]($0) } ?? []
        XCTAssertNil(bytes.firstRange(of: Bytes.utf8("OUTSIDE SECRET")))
    }

    func testPodmanSkopeoAndBuildahReadOurImage() async throws {
        guard getuid() == 0 else { throw OCITestingError("podman and buildah run here as root (rootless needs subuid maps)") }
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let skopeo = try Skopeo()
        defer { skopeo.cleanup() }
        let scratch = try TempDir(prefix: "it-build-podman")
        defer { scratch.remove() }
        let registry = try await TestRegistry.start(.plain)
        let host = registry.host
        let tree = try makeTree(scratch)
        let image = "\(host)/built/app:v1"
        try await ocictl.ok(["image", "append", "scratch", image, "--layer", "\(tree):/app", "--platform", "linux/arm64",
                             "--entrypoint", #"["/app/bin/hello","--loud"]"#, "--env", "GREETING=hi", "--env", "PATH=/app/bin",
                             "--label", "org.example.origin=ocictl", "--expose", "8080", "--workdir", "/app", "--user", "1000"])
        // A second step through mutate: one more label, one env removed.
        let mutated = "\(host)/built/app:v2"
        try await ocictl.ok(["image", "mutate", image, mutated, "--label", "stage=mutated", "--env-remove", "PATH",
                             "--annotation", "org.opencontainers.image.source=https://example.invalid/app"])

        let config = try await skopeo.ok(["inspect", "--config", "--tls-verify=false", "docker://\(mutated)"]).stdout
        let decoded = try JSONCoding.decode(ImageConfiguration.self, from: config)
        XCTAssertEqual(decoded.config?.entrypoint, ["/app/bin/hello", "--loud"])
        XCTAssertEqual(decoded.config?.env, ["GREETING=hi"])
        XCTAssertEqual(decoded.config?.labels, ["org.example.origin": "ocictl", "stage": "mutated"])
        XCTAssertEqual(decoded.config?.workingDir, "/app")
        XCTAssertEqual(decoded.config?.user, "1000")
        XCTAssertEqual(decoded.architecture, "arm64")
        XCTAssertEqual(decoded.os, "linux")

        let pulled = try await containers("podman", scratch, ["pull", "--tls-verify=false", "--platform", "linux/arm64", mutated])
        XCTAssertEqual(pulled.status, 0, pulled.summary)
        let inspect = try await containers("podman", scratch, [
            "image", "inspect", "--format",
            "{{json .Config.Entrypoint}}|{{json .Config.Env}}|{{index .Config.Labels \"org.example.origin\"}}|{{.Os}}/{{.Architecture}}",
            mutated])
        XCTAssertEqual(inspect.status, 0, inspect.summary)
        XCTAssertEqual(inspect.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines),
                       #"["/app/bin/hello","--loud"]|["GREETING=hi"]|ocictl|linux/arm64"#)

        // buildah builds on it.
        let from = try await containers("buildah", scratch, ["from", "--tls-verify=false", "--arch", "arm64", mutated])
        XCTAssertEqual(from.status, 0, from.summary)
        let container = from.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertFalse(container.isEmpty)
        let mounted = try await containers("buildah", scratch, ["mount", container])
        XCTAssertEqual(mounted.status, 0, mounted.summary)
        let mountPoint = mounted.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(FileManager.default.contents(atPath: mountPoint + "/app/bin/hello").map { [UInt8]($0) },
                       Bytes.utf8("#!/bin/sh\necho hello\n"))
        _ = try await containers("buildah", scratch, ["umount", container])
        _ = try await containers("buildah", scratch, ["rm", container])
        await registry.stop()
    }

    func testTwoPlatformIndexListsBothAndEachToolPicksTheRightOne() async throws {
        guard getuid() == 0 else { throw OCITestingError("podman runs here as root (rootless needs subuid maps)") }
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let skopeo = try Skopeo()
        defer { skopeo.cleanup() }
        let scratch = try TempDir(prefix: "it-build-index")
        defer { scratch.remove() }
        let registry = try await TestRegistry.start(.plain)
        let host = registry.host
        var digests: [String: String] = [:]
        for arch in ["amd64", "arm64"] {
            try scratch.write("\(arch)/app", Bytes.utf8("binary for \(arch)\n"))
            let out = try await ocictl.ok(["image", "append", "scratch", "\(host)/multi/app:\(arch)", "--platform", "linux/\(arch)",
                                           "--layer", scratch.file("\(arch)/app") + ":/usr/local/bin/app",
                                           "--entrypoint", "/usr/local/bin/app"])
            digests[arch] = out.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try await ocictl.ok(["index", "create", "\(host)/multi/app:v1", "\(host)/multi/app:amd64", "\(host)/multi/app:arm64",
                             "--annotation", "org.opencontainers.image.version=1"])
        let raw = try await skopeo.rawManifest("\(host)/multi/app:v1")
        let index = try JSONCoding.decode(ImageIndex.self, from: raw)
        XCTAssertEqual(index.manifests.map { $0.platform?.description }, ["linux/amd64", "linux/arm64"])
        XCTAssertEqual(index.manifests.map(\.digest.description), [digests["amd64"], digests["arm64"]])
        XCTAssertEqual(index.annotations?["org.opencontainers.image.version"], "1")

        // Our copy takes the arm64 image.
        let copied = try await ocictl.ok(["copy", "--platform", "linux/arm64", "\(host)/multi/app:v1", "ocidir://\(scratch.file("out")):v1", "--json"])
        XCTAssertTrue(copied.stdoutText.contains(digests["arm64"] ?? "?"), copied.stdoutText)

        // podman too.
        let pulled = try await containers("podman", scratch, ["pull", "--tls-verify=false", "--platform", "linux/arm64", "\(host)/multi/app:v1"])
        XCTAssertEqual(pulled.status, 0, pulled.summary)
        let inspect = try await containers("podman", scratch, ["image", "inspect", "--format", "{{.Architecture}} {{.Digest}}", "\(host)/multi/app:v1"])
        XCTAssertEqual(inspect.status, 0, inspect.summary)
        XCTAssertTrue(inspect.stdoutText.hasPrefix("arm64 "), inspect.stdoutText)

        // Remove one platform, add it back from the other index's platforms.
        try await ocictl.ok(["index", "remove", "\(host)/multi/app:v1", "--platform", "linux/amd64"])
        var again = try JSONCoding.decode(ImageIndex.self, from: try await skopeo.rawManifest("\(host)/multi/app:v1"))
        XCTAssertEqual(again.manifests.map { $0.platform?.description }, ["linux/arm64"])
        try await ocictl.ok(["index", "add", "\(host)/multi/app:v1", "\(host)/multi/app:amd64"])
        again = try JSONCoding.decode(ImageIndex.self, from: try await skopeo.rawManifest("\(host)/multi/app:v1"))
        XCTAssertEqual(again.manifests.map { $0.platform?.description }, ["linux/arm64", "linux/amd64"])

        // An index pushed to another registry copies its images first.
        let other = try await TestRegistry.start(.plain)
        try await ocictl.ok(["index", "create", "\(other.host)/copied/app:v1", "\(host)/multi/app:amd64", "\(host)/multi/app:arm64"])
        try await skopeo.ok(["inspect", "--tls-verify=false", "--raw", "docker://\(other.host)/copied/app@\(digests["arm64"] ?? "")"])
        await other.stop()
        await registry.stop()
    }

    func testSameInputsInTwoProcessesGiveOneDigestAndZstdHoldsTheGzipTar() async throws {
        let zstd = try tool("zstd")
        let gzip = try tool("gzip")
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let scratch = try TempDir(prefix: "it-build-repro")
        defer { scratch.remove() }
        let tree = try makeTree(scratch)
        var digests: [String] = []
        for run in ["a", "b"] {
            let out = try await ocictl.ok(["image", "append", "scratch", "ocidir://\(scratch.file(run)):v1", "--layer", "\(tree):/app",
                                           "--entrypoint", "/app/bin/hello"])
            digests.append(out.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        XCTAssertEqual(digests[0], digests[1])
        XCTAssertTrue(digests[0].hasPrefix("sha256:"), digests[0])

        // zstd and gzip layers of the same tree: the zstd tool and gzip undo them to the same tar.
        var tars: [[UInt8]] = []
        for (name, compression, decompressor) in [("gz", "gzip", gzip), ("zst", "zstd", zstd)] {
            let layout = scratch.file("layout-\(name)")
            try await ocictl.ok(["image", "append", "scratch", "ocidir://\(layout):v1", "--layer", "\(tree):/app", "--compression", compression])
            let index = try JSONCoding.decode(ImageIndex.self, from: FileManager.default.contents(atPath: layout + "/index.json").map { [UInt8]($0) } ?? [])
            let manifestDigest = try XCTUnwrap(index.manifests.first).digest
            let manifest = try JSONCoding.decode(Manifest.self, from: FileManager.default.contents(atPath: "\(layout)/blobs/sha256/\(manifestDigest.encoded)").map { [UInt8]($0) } ?? [])
            let layer = try XCTUnwrap(manifest.layers.first)
            XCTAssertEqual(layer.mediaType, compression == "zstd" ? MediaType.ociLayerZstd : MediaType.ociLayerGzip)
            let out = scratch.file("\(name).tar")
            let result = try await Subprocess.run("/bin/sh", ["-c", "'\(decompressor)' -dc < '\(layout)/blobs/sha256/\(layer.digest.encoded)' > '\(out)'"])
            XCTAssertEqual(result.status, 0, result.summary)
            tars.append(FileManager.default.contents(atPath: out).map { [UInt8]($0) } ?? [])
        }
        XCTAssertFalse(tars[0].isEmpty)
        XCTAssertEqual(tars[0], tars[1])
    }

    func testHostileInputsFailClearlyAndWriteNothing() async throws {
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let scratch = try TempDir(prefix: "it-build-hostile")
        defer { scratch.remove() }
        let file = try scratch.write("file", Bytes.utf8("x"))
        let layout = scratch.file("layout")
        let climbing = try await ocictl.run(["image", "append", "scratch", "ocidir://\(layout):v1", "--layer", "\(file):../../etc/passwd"])
        XCTAssertEqual(climbing.status, 1, climbing.summary)
        XCTAssertTrue(climbing.stderrText.contains("climbs out"), climbing.stderrText)
        try FileManager.default.createDirectory(atPath: scratch.file("dir"), withIntermediateDirectories: true)
        XCTAssertEqual(mkfifo(scratch.file("dir/fifo"), 0o644), 0)
        let special = try await ocictl.run(["image", "append", "scratch", "ocidir://\(layout):v1", "--layer", scratch.file("dir")])
        XCTAssertEqual(special.status, 1, special.summary)
        XCTAssertTrue(special.stderrText.contains("special file"), special.stderrText)
        let growing = try await ocictl.run(["image", "append", "scratch", "ocidir://\(layout):v1", "--layer", "/proc/self/status:/status"])
        XCTAssertEqual(growing.status, 1, growing.summary)
        XCTAssertTrue(growing.stderrText.contains("grew"), growing.stderrText)
        // Nothing was tagged.
        let resolved = try await ocictl.run(["resolve", "ocidir://\(layout):v1"])
        XCTAssertNotEqual(resolved.status, 0)
    }

    /// Whiteouts: umoci applies them itself when it unpacks the two-layer image; our flatten (and export) must
    /// give the same tree. Rebase onto another base, read back by skopeo.
    func testFlattenAndExportApplyWhiteoutsAsUmociDoesAndRebaseSwapsTheBase() async throws {
        let umoci = try tool("umoci")
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let skopeo = try Skopeo()
        defer { skopeo.cleanup() }
        let scratch = try TempDir(prefix: "it-build-flatten")
        defer { scratch.remove() }
        let registry = try await TestRegistry.start(.plain)
        let host = registry.host
        try scratch.write("l1/a/keep.txt", Bytes.utf8("keep"))
        try scratch.write("l1/a/gone.txt", Bytes.utf8("gone"))
        try scratch.write("l1/b/old/x.txt", Bytes.utf8("old"))
        try scratch.write("l1/c/file", Bytes.utf8("was a file"))
        try scratch.write("l2/a/.wh.gone.txt", [])
        try scratch.write("l2/b/.wh..wh..opq", [])
        try scratch.write("l2/b/new.txt", Bytes.utf8("new"))
        try scratch.write("l2/a/keep.txt", Bytes.utf8("kept, changed"))
        try await ocictl.ok(["image", "append", "scratch", "\(host)/wh/base:v1", "--layer", scratch.file("l1")])
        try await ocictl.ok(["image", "append", "\(host)/wh/base:v1", "\(host)/wh/app:v1", "--layer", scratch.file("l2")])
        try await ocictl.ok(["image", "flatten", "\(host)/wh/app:v1", "\(host)/wh/app:flat"])

        func unpacked(_ reference: String, _ name: String) async throws -> [String: String] {
            let layout = scratch.file("layout-\(name)")
            try await ocictl.ok(["copy", reference, "ocidir://\(layout):v1"])
            let bundle = scratch.file("bundle-\(name)")
            let result = try await run(umoci, ["unpack", "--image", "\(layout):v1", bundle])
            XCTAssertEqual(result.status, 0, result.summary)
            var tree: [String: String] = [:]
            for path in FileManager.default.enumerator(atPath: bundle + "/rootfs")?.allObjects as? [String] ?? [] {
                let data = FileManager.default.contents(atPath: bundle + "/rootfs/" + path)
                tree[path] = data.map { String(decoding: $0, as: UTF8.self) } ?? "<dir>"
            }
            return tree
        }
        let layered = try await unpacked("\(host)/wh/app:v1", "layered")
        let flat = try await unpacked("\(host)/wh/app:flat", "flat")
        XCTAssertEqual(flat, layered)
        XCTAssertEqual(layered["a/keep.txt"], "kept, changed")
        XCTAssertNil(layered["a/gone.txt"])
        XCTAssertNil(layered["b/old"])
        XCTAssertEqual(layered["b/new.txt"], "new")
        let manifest = try JSONCoding.decode(Manifest.self, from: try await skopeo.rawManifest("\(host)/wh/app:flat"))
        XCTAssertEqual(manifest.layers.count, 1)

        // export: the same tree, read by GNU tar.
        let exported = scratch.file("fs.tar")
        try await ocictl.ok(["export", "\(host)/wh/app:v1", "-o", exported])
        let listing = try await run(try tool("tar"), ["-tf", exported])
        let names = Set(listing.stdoutText.split(separator: "\n").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "/")) })
        XCTAssertEqual(names, Set(layered.keys))

        // rebase: the app's own layer onto a new base.
        try scratch.write("nb/etc/os-release", Bytes.utf8("NAME=new\n"))
        try await ocictl.ok(["image", "append", "scratch", "\(host)/wh/newbase:v1", "--layer", scratch.file("nb")])
        try await ocictl.ok(["image", "rebase", "\(host)/wh/app:v1", "\(host)/wh/app:rebased",
                             "--old-base", "\(host)/wh/base:v1", "--new-base", "\(host)/wh/newbase:v1"])
        let old = try JSONCoding.decode(Manifest.self, from: try await skopeo.rawManifest("\(host)/wh/app:v1"))
        let newBase = try JSONCoding.decode(Manifest.self, from: try await skopeo.rawManifest("\(host)/wh/newbase:v1"))
        let rebased = try JSONCoding.decode(Manifest.self, from: try await skopeo.rawManifest("\(host)/wh/app:rebased"))
        XCTAssertEqual(rebased.layers.map(\.digest), [newBase.layers[0].digest, old.layers[1].digest])
        let config = try JSONCoding.decode(ImageConfiguration.self, from: try await skopeo.ok(
            ["inspect", "--config", "--tls-verify=false", "docker://\(host)/wh/app:rebased"]).stdout)
        XCTAssertEqual(config.rootfs?.diffIDs.count, 2)
        let rebasedTree = try await unpacked("\(host)/wh/app:rebased", "rebased")
        XCTAssertEqual(rebasedTree["etc/os-release"], "NAME=new\n")
        XCTAssertEqual(rebasedTree["b/new.txt"], "new")
        XCTAssertNil(rebasedTree["c/file"])
        await registry.stop()
    }
}
