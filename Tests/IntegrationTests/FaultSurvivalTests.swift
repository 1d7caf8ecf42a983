import Foundation
import OCIGoCompat
import OCIKit
import OCIContent
import OCICredentials
import OCIReference
import OCIRegistry
import OCISpec
import OCISync
import OCITesting
import XCTest

/// Fault survival with the real registry and the ocictl binary: the registry is stopped in the middle of a push
/// and of a pull, the command fails clearly, the registry comes back, the same command completes and the result
/// is byte-exact, with no partial file left behind. Also ocictl against a hostile fake: layer titles never escape
/// the output directory, and secrets never reach its output. No timing assertions: the tests poll for state
/// (an upload in the registry's storage, a temporary file in the output directory), with generous safety limits.
final class FaultSurvivalTests: XCTestCase {

    // MARK: stop the registry mid-push

    // ocictl pushes a large file; once the registry holds part of the upload it is stopped; ocictl fails with
    // one line on stderr; the registry starts again on the same port and storage; the same command completes,
    // and the registry serves exactly the pushed manifest and file.
    func testRegistryStoppedMidPushThenTheSamePushCompletesByteExact() async throws {
        let cli = try OCICtl()
        defer { cli.cleanup() }
        try Requirements.registry(.plain)
        let scratch = try TempDir(prefix: "it-fault-push")
        defer { scratch.remove() }
        try await TestRegistry.withRegistry(.plain) { registry in
            var interrupted = false
            for (attempt, size) in [64 << 20, 256 << 20].enumerated() where !interrupted {
                let content = Bytes.random(size)
                let file = try scratch.write("in\(attempt)/data.bin", content)
                let repository = "fault/push\(attempt)"
                let ref = "\(registry.host)/\(repository):v1"
                let uploads = registry.dataDirectory + "/docker/registry/v2/repositories/\(repository)/_uploads"

                // 1. Push, and stop the registry once it holds at least 4 MiB of the upload.
                // --quiet: only the error line on stderr (progress output is OcictlProgressTests' concern).
                let push = Running(cli, ["push", ref, file, "--quiet"])
                let sawUpload = await pollUntil(limit: .seconds(120)) {
                    largestFile(named: "data", below: uploads) >= 4 << 20 || push.hasExited
                } && largestFile(named: "data", below: uploads) >= 4 << 20
                if sawUpload { await registry.stopProcess() }
                let first = try await push.result()
                guard sawUpload, first.status != 0 else {
                    // The push finished before the window was seen: try again with a larger file.
                    if registry.processIdentifier == nil { try await registry.startProcess() }
                    continue
                }
                interrupted = true
                print("push of \(size) bytes interrupted; ocictl said: \(first.stderrText)")
                let errorLines = first.stderrText.split(separator: "\n", omittingEmptySubsequences: true)
                XCTAssertEqual(errorLines.count, 1, "one clear line on stderr\n\(first.summary)")
                XCTAssertTrue(first.stderrText.contains(registry.host), first.summary)
                XCTAssertEqual(first.stdout, [], first.summary)

                // 2. The registry comes back; the same command completes.
                try await registry.startProcess()
                let second = try await cli.ok(["push", ref, file])
                let digest = try XCTUnwrap(OCIDigest(second.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)), second.summary)

                // 3. Byte-exact: the manifest the registry serves is the one pushed, and its layer is the file.
                try await Clients.with(try Clients.make()) { client in
                    let (descriptor, bytes) = try await client.getRawManifest(ref)
                    XCTAssertEqual(descriptor.digest, digest)
                    XCTAssertEqual(OCIDigest.of(bytes), digest)
                    let manifest = try JSONCoding.decode(Manifest.self, from: bytes)
                    XCTAssertEqual(manifest.layers.count, 1)
                    let layer = try XCTUnwrap(manifest.layers.first)
                    XCTAssertEqual(layer.digest, OCIDigest.of(content))
                    XCTAssertEqual(layer.size, Int64(content.count))
                    XCTAssertEqual(layer.title, "data.bin")
                    let fetched = try await client.fetchBytes(ref, layer)
                    XCTAssertEqual(fetched, content)
                }
                if let skopeo = try? Skopeo() {
                    defer { skopeo.cleanup() }
                    let raw = try await skopeo.rawManifest(ref)
                    XCTAssertEqual(OCIDigest.of(raw), digest, "skopeo inspect --raw")
                }
            }
            XCTAssertTrue(interrupted, "the push was never caught in the middle (it finished before 4 MiB were seen in the registry)")
        }
    }

    // MARK: stop the registry mid-pull

    // ocictl pulls a large artifact (through a cache); once its temporary output file has grown, the registry
    // is stopped; ocictl fails clearly and leaves no partial file in the output directory or the cache; the
    // registry comes back; the same pull completes byte-exact.
    func testRegistryStoppedMidPullThenTheSamePullCompletesByteExact() async throws {
        let cli = try OCICtl()
        defer { cli.cleanup() }
        try Requirements.registry(.plain)
        let scratch = try TempDir(prefix: "it-fault-pull")
        defer { scratch.remove() }
        try await TestRegistry.withRegistry(.plain) { registry in
            var interrupted = false
            for (attempt, size) in [64 << 20, 256 << 20].enumerated() where !interrupted {
                let content = Bytes.random(size)
                let file = try scratch.write("in\(attempt)/data.bin", content)
                let ref = "\(registry.host)/fault/pull\(attempt):v1"
                let pushed = try await cli.ok(["push", ref, file])
                let digest = pushed.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
                let output = scratch.file("out\(attempt)")
                let cache = scratch.file("cache\(attempt)")

                // 1. Pull, and stop the registry once the output's temporary file holds at least 4 MiB.
                let pull = Running(cli, ["pull", ref, "-o", output, "--cache-dir", cache, "--json", "--quiet"])
                let sawDownload = await pollUntil(limit: .seconds(120)) {
                    largestTemporary(in: output) >= 4 << 20 || pull.hasExited
                } && largestTemporary(in: output) >= 4 << 20
                if sawDownload { await registry.stopProcess() }
                let first = try await pull.result()
                guard sawDownload, first.status != 0 else {
                    if registry.processIdentifier == nil { try await registry.startProcess() }
                    continue
                }
                interrupted = true
                print("pull of \(size) bytes interrupted; ocictl said: \(first.stderrText)")
                let errorLines = first.stderrText.split(separator: "\n", omittingEmptySubsequences: true)
                XCTAssertEqual(errorLines.count, 1, "one clear line on stderr\n\(first.summary)")
                XCTAssertTrue(first.stderrText.contains(registry.host), first.summary)
                XCTAssertEqual(first.stdout, [], first.summary)
                // Nothing partial: no temporary file, no data.bin, and every cache entry is complete and verified.
                XCTAssertEqual(temporaryFiles(in: output), [], "temporary files left after the failed pull")
                XCTAssertFalse(FileManager.default.fileExists(atPath: output + "/data.bin"), "a partial data.bin was left")
                assertCacheIsClean(cache)

                // 2. The registry comes back; the same pull completes.
                try await registry.startProcess()
                let second = try await cli.ok(["pull", ref, "-o", output, "--cache-dir", cache, "--json"])
                let summary = parseJSON(second.stdout) as? [String: Any]
                XCTAssertEqual(summary?["digest"] as? String, digest)

                // 3. Byte-exact, and nothing else in the output directory.
                let pulled = FileManager.default.contents(atPath: output + "/data.bin").map { [UInt8]($0) }
                XCTAssertEqual(pulled, content)
                let manifest = FileManager.default.contents(atPath: output + "/manifest.json").map { [UInt8]($0) } ?? []
                XCTAssertEqual(OCIDigest.of(manifest).description, digest)
                XCTAssertEqual(Set(regularFiles(in: output)), ["manifest.json", "config.json", "data.bin"])
                assertCacheIsClean(cache)
            }
            XCTAssertTrue(interrupted, "the pull was never caught in the middle (it finished before 4 MiB were seen)")
        }
    }

    // MARK: hostile titles

    // Layer titles from a hostile manifest (traversal, absolute paths, hidden names, separators, control
    // characters, duplicates, too long) never name a file outside the output directory: such layers are written
    // under blobs/sha256/HEX inside it. (The absolute title points into the scratch directory rather than at
    // /etc/passwd, which the tests, running as root, must never risk; both are refused by the same rule: a
    // title with "/" is not a file name.)
    func testPullNeverWritesOutsideTheOutputDirectory() async throws {
        let cli = try OCICtl()
        defer { cli.cleanup() }
        let scratch = try TempDir(prefix: "it-fault-titles")
        defer { scratch.remove() }
        let output = scratch.file("a/b/out")
        let titles = ["../../evil", "../evil", scratch.file("abs-evil"), "/etc/passwd-ociclient-test", ".hidden", "a/b", "..", ".",
                      "", "back\\slash", "bell\u{7}", String(repeating: "x", count: 256), "ok.txt", "ok.txt"]
        var layers: [Descriptor] = []
        var blobs: [String: [UInt8]] = [:]
        for (i, title) in titles.enumerated() {
            let bytes = Bytes.utf8("layer \(i) titled \(title.debugDescription)\n")
            var d = Descriptor.of(bytes, mediaType: "application/octet-stream")
            d.annotations = [Annotation.title: title]
            layers.append(d)
            blobs[d.digest.description] = bytes
        }
        blobs[EmptyJSON.digest.description] = EmptyJSON.bytes
        let manifest = Manifest(artifactType: "application/vnd.example.hostile", config: EmptyJSON.descriptor, layers: layers)
        let manifestBytes = try JSONCoding.encode(manifest)
        let served = blobs
        let result = try await withInProcessRegistry { registry in
            // The hostile titles are only annotations: the registry stores the artifact as pushed.
            let client = try RegistryClient(configuration: RegistryClient.Configuration())
            do {
                let repo = client.repository(host: registry.host, name: "hostile/titles", access: .push)
                for (digest, bytes) in served {
                    guard let parsed = OCIDigest(digest) else { throw OCITestingError("bad digest \(digest)") }
                    try await repo.push(Descriptor(mediaType: "application/octet-stream", digest: parsed, size: Int64(bytes.count)),
                                        content: ByteStream(bytes: bytes))
                }
                try await repo.pushManifest(manifestBytes, mediaType: MediaType.ociManifest, reference: "v1")
                try? await client.shutdown()
            } catch {
                try? await client.shutdown()
                throw error
            }
            return try await cli.ok(["pull", "\(registry.host)/hostile/titles:v1", "-o", output, "--json"])
        }
        var expected: Set<String> = ["manifest.json", "config.json", "ok.txt"]
        for (i, layer) in layers.enumerated() where i != titles.firstIndex(of: "ok.txt") {
            expected.insert("blobs/sha256/\(layer.digest.encoded)")
        }
        XCTAssertEqual(Set(regularFiles(in: output)), expected)
        // Nothing anywhere else in the scratch directory, nothing at the absolute title.
        XCTAssertEqual(Set(regularFiles(in: scratch.path)), Set(expected.map { "a/b/out/" + $0 }))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/etc/passwd-ociclient-test"))
        let listed = (parseJSON(result.stdout) as? [String: Any])?["files"] as? [String] ?? []
        XCTAssertEqual(Set(listed), expected)
        for (i, layer) in layers.enumerated() where i != titles.firstIndex(of: "ok.txt") {
            let stored = FileManager.default.contents(atPath: output + "/blobs/sha256/" + layer.digest.encoded).map { [UInt8]($0) }
            XCTAssertEqual(stored, blobs[layer.digest.description], titles[i].debugDescription)
        }
    }

    // MARK: secrets

    // Passwords and tokens never appear in ocictl's output, --json output, -v logs or errors: a token flow
    // that succeeds, a missing tag, and refused credentials.
    func testOcictlKeepsSecretsOutOfOutputLogsAndErrors() async throws {
        let cli = try OCICtl()
        defer { cli.cleanup() }
        let scratch = try TempDir(prefix: "it-fault-secrets")
        defer { scratch.remove() }
        let password = "SECRET-PW-7431"
        let token = "SECRET-TOKEN-9182"
        let basic = Data("user:\(password)".utf8).base64EncodedString()
        try await FakeHTTPServer.withServer(handler: { req in
            if req.path == "/token" {
                return req.headers["Authorization"] == "Basic \(basic)"
                    ? .json(200, #"{"token":"\#(token)","expires_in":300}"#)
                    : .registryError(401, code: "UNAUTHORIZED", message: "bad credentials")
            }
            guard req.headers["Authorization"] == "Bearer \(token)" else {
                let realm = "http://\(req.headers["Host"] ?? "")/token"
                return FakeResponse(status: 401, headers: ["WWW-Authenticate": #"Bearer realm="\#(realm)",service="fake""#])
            }
            if req.path == "/v2/" { return .json(200, "{}") }
            if req.path.hasSuffix("/tags/list") { return .json(200, #"{"name":"app","tags":["v1"]}"#) }
            return .registryError(404, code: "MANIFEST_UNKNOWN", message: "manifest unknown")
        }) { server in
            let good = try scratch.write("good.json", Bytes.utf8(#"{"auths":{"\#(server.host)":{"auth":"\#(basic)"}}}"#))
            let wrongAuth = Data("user:\(password)-wrong".utf8).base64EncodedString()
            let bad = try scratch.write("bad.json", Bytes.utf8(#"{"auths":{"\#(server.host)":{"auth":"\#(wrongAuth)"}}}"#))
            let runs = [
                try await cli.ok(["tags", "\(server.host)/app", "--json", "-v", "--registry-config", good]),
                try await cli.run(["resolve", "\(server.host)/app:missing", "--json", "-v", "--registry-config", good]),
                try await cli.run(["tags", "\(server.host)/app", "--json", "-v", "--registry-config", bad]),
                try await cli.run(["pull", "\(server.host)/app:v1", "-o", scratch.file("out"), "-v", "--registry-config", bad]),
            ]
            XCTAssertTrue(runs[0].stderrText.contains("debug") || !runs[0].stderrText.isEmpty, "-v logged nothing: \(runs[0].summary)")
            XCTAssertNotEqual(runs[1].status, 0)
            XCTAssertNotEqual(runs[2].status, 0)
            for run in runs {
                let everything = run.stdoutText + "\n" + run.stderrText
                for secret in [password, token, basic, wrongAuth] {
                    XCTAssertFalse(everything.contains(secret), "\(secret) leaked:\n\(run.summary)")
                }
            }
        }
    }
}

// MARK: - Helpers

/// An ocictl run in the background, whose exit can be polled.
private struct Running: Sendable {
    private let exited: Locked<Bool>
    private let task: Task<ProcessResult, any Error>

    init(_ cli: OCICtl, _ arguments: [String]) {
        let exited = Locked(false)
        self.exited = exited
        task = Task {
            defer { exited.withLock { $0 = true } }
            return try await cli.run(arguments)
        }
    }

    var hasExited: Bool { exited.current }

    func result() async throws -> ProcessResult { try await task.value }
}

/// Polls `condition` every 10 ms until it holds or `limit` passes (a safety net, not a timing assertion).
private func pollUntil(limit: Duration, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// The size of the largest file called `name` below `directory` (0 when none).
private func largestFile(named name: String, below directory: String) -> Int64 {
    guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return 0 }
    var largest: Int64 = 0
    while let relative = enumerator.nextObject() as? String {
        guard (relative as NSString).lastPathComponent == name else { continue }
        let size = (try? FileManager.default.attributesOfItem(atPath: directory + "/" + relative)[.size] as? NSNumber)?.int64Value ?? 0
        largest = max(largest, size)
    }
    return largest
}

/// Temporary files of atomic writes (`.NAME.tmp-UUID`) below `directory`.
private func temporaryFiles(in directory: String) -> [String] {
    regularFiles(in: directory).filter { ($0 as NSString).lastPathComponent.contains(".tmp") }
}

/// The size of the largest temporary file below `directory`.
private func largestTemporary(in directory: String) -> Int64 {
    temporaryFiles(in: directory).map {
        (try? FileManager.default.attributesOfItem(atPath: directory + "/" + $0)[.size] as? NSNumber)?.int64Value ?? 0
    }.max() ?? 0
}

/// Regular files below `directory`, relative, hidden ones included.
private func regularFiles(in directory: String) -> [String] {
    guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
    var files: [String] = []
    while let relative = enumerator.nextObject() as? String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue {
            files.append(relative)
        }
    }
    return files.sorted()
}

/// A cache directory holds no temporary file, and every entry `blobs/ALG/HEX` hashes to its name.
private func assertCacheIsClean(_ cache: String, file: StaticString = #filePath, line: UInt = #line) {
    for relative in regularFiles(in: cache + "/blobs") {
        let parts = relative.split(separator: "/")
        guard parts.count == 2, let algorithm = OCIDigest.Algorithm(rawValue: String(parts[0])),
              let expected = OCIDigest("\(algorithm.rawValue):\(parts[1])") else {
            XCTFail("unexpected file in the cache: blobs/\(relative)", file: file, line: line)
            continue
        }
        let bytes = FileManager.default.contents(atPath: cache + "/blobs/" + relative).map { [UInt8]($0) } ?? []
        XCTAssertEqual(OCIDigest.of(bytes, algorithm: algorithm), expected, "corrupt cache entry blobs/\(relative)", file: file, line: line)
    }
}
