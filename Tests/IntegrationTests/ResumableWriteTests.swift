import Foundation
import OCIGoCompat
import OCIKit
import OCITesting
import XCTest

/// Killed writers and full disks: `ocictl copy REG/big:v1 ocidir://L:v1` killed with SIGKILL mid-blob, then the
/// same command resumes with a `Range` request and leaves a layout that `oci-image-tool` validates and `umoci`
/// unpacks; a copy onto a full file system fails with the OS's message and leaves nothing partial.
final class ResumableWriteTests: XCTestCase {
    static let ociImageTool = "/usr/bin/oci-image-tool"
    static let umoci = "/usr/bin/umoci"

    /// Fast random bytes (whole words), for large layers.
    static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var generator = SystemRandomNumberGenerator()
        bytes.withUnsafeMutableBytes { raw in
            let words = raw.count / 8
            let base = raw.baseAddress!.assumingMemoryBound(to: UInt64.self)
            for i in 0..<words { base[i] = generator.next() }
        }
        return bytes
    }

    /// A real image (a gzip'd tar layer holding one file of `size` random bytes) pushed as `REPO:v1`.
    static func pushBigImage(_ registry: RegistryUnderTest, repository: String, size: Int) async throws -> RealImage {
        let tar = Tar.archive([(name: "big.bin", content: randomBytes(size))])
        let layer = Gzip.stored(tar)
        let config = Bytes.utf8("""
            {"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["\(OCIDigest.of(tar))"]}}
            """)
        let configDescriptor = Descriptor.of(config, mediaType: MediaType.ociConfig)
        let layerDescriptor = Descriptor.of(layer, mediaType: MediaType.ociLayerGzip)
        let bytes = try JSONCoding.encode(Manifest(config: configDescriptor, layers: [layerDescriptor]))
        let image = RealImage(config: config, layers: [layer], manifestBytes: bytes,
                              manifestDescriptor: Descriptor.of(bytes, mediaType: MediaType.ociManifest),
                              configDescriptor: configDescriptor, layerDescriptors: [layerDescriptor])
        let client = try Clients.make()
        try await Clients.with(client) { client in
            try await client.pushRawManifest("\(registry.host)/\(repository):v1", descriptor: image.manifestDescriptor,
                                             bytes: image.manifestBytes, store: image.store)
        }
        return image
    }

    /// Hidden files (partial blobs, temporaries) below a layout's blob directories.
    static func leftovers(_ layout: String) -> [String] {
        let blobs = layout + "/blobs"
        var found: [String] = []
        for algorithm in (try? FileManager.default.contentsOfDirectory(atPath: blobs)) ?? [] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: blobs + "/" + algorithm)) ?? [] where name.hasPrefix(".") {
                found.append("\(algorithm)/\(name)")
            }
        }
        return found
    }

    /// Starts `ocictl ARGS`, kills it with SIGKILL once `file` holds at least `bytes`; returns the size then.
    static func killWhenGrown(_ ocictl: OCICtl, _ arguments: [String], file: String, bytes: Int64) async throws -> Int64 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ocictl.binary)
        process.arguments = arguments
        process.environment = Subprocess.isolatedEnvironment(home: ocictl.home.path)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var killedAt: Int64 = -1
        for _ in 0..<30_000 where process.isRunning {
            let size = fileSize(file)
            if size >= bytes {
                kill(process.processIdentifier, SIGKILL)
                killedAt = size
                break
            }
            try await Task.sleep(for: .milliseconds(1))
        }
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal, "killed mid-blob")
        return killedAt
    }

    static func fileSize(_ path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? -1
    }

    func testAPullKilledMidBlobResumesWithARangeAndTheLayoutValidatesAndUnpacks() async throws {
        try Requirements.registry(.plain)
        guard FileManager.default.isExecutableFile(atPath: Self.ociImageTool), FileManager.default.isExecutableFile(atPath: Self.umoci) else {
            XCTFail("oci-image-tool and umoci are needed (scripts/install-deps.sh installs the Debian packages)")
            return
        }
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let scratch = try TempDir(prefix: "it-resume")
        defer { scratch.remove() }
        try await RegistryUnderTest.withRegistry(kind: .distribution) { registry in
            let image = try await Self.pushBigImage(registry, repository: "big/app", size: 96 << 20)
            let layer = image.layerDescriptors[0]
            let layout = scratch.file("layout")
            let arguments = ["copy", "--quiet", "\(registry.host)/big/app:v1", "ocidir://\(layout):v1"]
            let partial = "\(layout)/blobs/sha256/.\(layer.digest.encoded).partial"

            let killedAt = try await Self.killWhenGrown(ocictl, arguments, file: partial, bytes: 4 << 20)
            XCTAssertGreaterThan(killedAt, 0, "killed while the layer was being written")
            let kept = Self.fileSize(partial)
            XCTAssertGreaterThan(kept, 0, "the partial blob survives the kill")
            XCTAssertLessThan(kept, layer.size)

            // The registry logs the killed download when its connection closes: wait for that line, then count.
            for _ in 0..<100 where !registry.requests().contains(where: { $0.method == "GET" && $0.path.hasSuffix(layer.digest.description) }) {
                try await Task.sleep(for: .milliseconds(50))
            }
            registry.resetRequests()
            try await ocictl.ok(arguments)
            let ranged = registry.requests().filter { $0.method == "GET" && $0.path.hasSuffix(layer.digest.description) }
            XCTAssertEqual(ranged.map(\.status), [206], "the layer was resumed with one Range request: \(ranged)")
            XCTAssertEqual(Self.leftovers(layout), [], "no partial or temporary file is left")
            let blob = FileManager.default.contents(atPath: "\(layout)/blobs/sha256/\(layer.digest.encoded)").map { [UInt8]($0) }
            XCTAssertEqual(blob.map { OCIDigest.of($0) }, layer.digest)

            let validate = try await Subprocess.run(Self.ociImageTool, ["validate", "--type", "image", "--ref", "name=v1", layout])
            XCTAssertEqual(validate.status, 0, validate.summary)
            let bundle = scratch.file("bundle")
            let unpack = try await Subprocess.run(Self.umoci, ["unpack", "--image", "\(layout):v1", bundle])
            XCTAssertEqual(unpack.status, 0, unpack.summary)
            XCTAssertEqual(Self.fileSize(bundle + "/rootfs/big.bin"), 96 << 20)
        }
    }

    func testAFullDiskGivesAClearErrorAndLeavesNothingPartial() async throws {
        try Requirements.registry(.plain)
        // A small tmpfs needs root (CI runs as root); elsewhere the test cannot make a full disk.
        try XCTSkipUnless(getuid() == 0, "mounting a small tmpfs needs root (docs/mirroring.md)")
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let scratch = try TempDir(prefix: "it-fulldisk")
        defer { scratch.remove() }
        let mountPoint = scratch.file("small")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mount = try await Subprocess.run("/bin/mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mountPoint])
        guard mount.status == 0 else {
            XCTFail("cannot mount a tmpfs: \(mount.summary)")
            return
        }
        defer { _ = try? Process.run(URL(fileURLWithPath: "/bin/umount"), arguments: [mountPoint]).waitUntilExit() }
        try await RegistryUnderTest.withRegistry(kind: .distribution) { registry in
            let image = try await Self.pushBigImage(registry, repository: "full/app", size: 4 << 20)
            let layout = mountPoint + "/layout"
            let result = try await ocictl.run(["copy", "--quiet", "\(registry.host)/full/app:v1", "ocidir://\(layout):v1"])
            XCTAssertEqual(result.status, 1, result.summary)
            XCTAssertTrue(result.stderrText.contains("No space left on device"), result.stderrText)
            XCTAssertTrue(result.stderrText.contains("\(layout)/blobs/sha256/"), "the error names the path: \(result.stderrText)")
            XCTAssertTrue(result.stderrText.contains("free space"), result.stderrText)
            XCTAssertFalse(result.stderrText.contains("error 5"), result.stderrText)
            XCTAssertEqual(Self.leftovers(layout), [], "nothing partial is left")
            XCTAssertFalse(FileManager.default.fileExists(atPath: "\(layout)/blobs/sha256/\(image.layerDescriptors[0].digest.encoded)"))
        }
    }

    // MARK: archives

    func testArchivesRoundTripWithSkopeoAndSync() async throws {
        try Requirements.registry(.plain)
        let skopeo = try Skopeo()
        defer { skopeo.cleanup() }
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let scratch = try TempDir(prefix: "it-archive")
        defer { scratch.remove() }
        try await RegistryUnderTest.withRegistry(kind: .distribution) { registry in
            let one = try await Self.pushBigImage(registry, repository: "arc/one", size: 300_000)
            let two = try await Self.pushBigImage(registry, repository: "arc/two", size: 200_000)

            // We write, skopeo reads: two images in one archive.
            let ours = scratch.file("ours.tar")
            try await ocictl.ok(["copy", "\(registry.host)/arc/one:v1", "oci-archive://\(ours):one"])
            try await ocictl.ok(["copy", "\(registry.host)/arc/two:v1", "oci-archive://\(ours):two"])
            let inspected = try await skopeo.ok(["inspect", "--raw", "oci-archive:\(ours):two"])
            XCTAssertEqual(inspected.stdout, two.manifestBytes)
            try await skopeo.ok(["copy", "oci-archive:\(ours):one", "oci:\(scratch.file("skopeo-layout")):one"])
            let tags = try await ocictl.ok(["tags", "oci-archive://\(ours)"]).stdoutText
            XCTAssertEqual(tags.split(separator: "\n").sorted(), ["one", "two"])

            // skopeo writes, we read.
            let theirs = scratch.file("theirs.tar")
            try await skopeo.ok(["copy", "--src-tls-verify=false", "docker://\(registry.host)/arc/one:v1", "oci-archive:\(theirs):v1"])
            try await ocictl.ok(["copy", "oci-archive://\(theirs):v1", "\(registry.host)/arc/back:v1"])
            let back = try await SyncTests.digest("\(registry.host)/arc/back:v1")
            XCTAssertEqual(back, one.manifestDescriptor.digest)

            // sync into an archive and out of it again; an unchanged archive is not rewritten.
            let synced = scratch.file("synced.tar")
            let config = try scratch.write("sync.yaml", Bytes.utf8("""
                sync:
                  - {source: "\(registry.host)/arc/one", destination: "oci-archive://\(synced)"}
                  - {source: "oci-archive://\(synced)", destination: "\(registry.host)/arc/restored"}
                """))
            try await ocictl.ok(["sync", config])
            let restored = try await SyncTests.digest("\(registry.host)/arc/restored:v1")
            XCTAssertEqual(restored, one.manifestDescriptor.digest)
            let before = try FileManager.default.attributesOfItem(atPath: synced)
            let again = try await ocictl.ok(["sync", config, "--json"])
            XCTAssertEqual(SyncTests.summary(again)["copied"] as? Int, 0, again.stdoutText)
            let after = try FileManager.default.attributesOfItem(atPath: synced)
            XCTAssertEqual(before[.systemFileNumber] as? Int, after[.systemFileNumber] as? Int, "not rewritten")
            XCTAssertEqual(Self.leftovers(scratch.path), [])
        }
    }
}
