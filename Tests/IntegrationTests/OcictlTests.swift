import Foundation
import OCIGoCompat
import OCIKit
import OCIContent
import OCICredentials
import OCIReference
import OCIRegistry
import OCISpec
import OCITesting
import XCTest

/// The ocictl binary end to end against the real registry: every subcommand, its output formats, and its errors.
final class OcictlTests: XCTestCase {
    /// Starts ocictl's environment (isolated HOME, a scratch directory) and a registry in `mode`.
    private func withCLI(_ mode: TestRegistry.Mode = .plain,
                         _ body: (OCICtl, TestRegistry, TempDir) async throws -> Void) async throws {
        let cli = try OCICtl()
        defer { cli.cleanup() }
        try Requirements.registry(mode)
        let scratch = try TempDir(prefix: "it-ocictl")
        defer { scratch.remove() }
        try await TestRegistry.withRegistry(mode) { registry in
            try await body(cli, registry, scratch)
        }
    }

    private func lines(_ result: ProcessResult) -> [String] {
        result.stdoutText.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    /// Asserts a failed run: non-zero exit, nothing on stdout, exactly one line on stderr containing `needles`
    /// (each alternative list: at least one of its strings).
    private func assertOneLineError(_ result: ProcessResult, contains needles: [[String]], _ what: String,
                                    file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(result.status, 0, "\(what) must fail\n\(result.summary)", file: file, line: line)
        XCTAssertEqual(result.stdout, [], "\(what): nothing on stdout", file: file, line: line)
        let errLines = result.stderrText.split(separator: "\n", omittingEmptySubsequences: true)
        XCTAssertEqual(errLines.count, 1, "\(what): one line on stderr\n\(result.stderrText)", file: file, line: line)
        for alternatives in needles {
            XCTAssertTrue(alternatives.contains { result.stderrText.contains($0) },
                          "\(what): stderr lacks any of \(alternatives)\n\(result.stderrText)", file: file, line: line)
        }
    }

    // MARK: push, resolve, manifest get, blob get/put, pull

    func testPushResolveManifestBlobAndPull() async throws {
        try await withCLI { cli, registry, scratch in
            let small = Bytes.random(4096)
            let large = Bytes.random(1_500_000)
            let smallPath = try scratch.write("inputs/notes.txt", small)
            let largePath = try scratch.write("inputs/data.bin", large)
            let ref = "\(registry.host)/cli/artifact:v1"

            // push prints the manifest digest.
            let push = try await cli.ok(["push", ref, smallPath, largePath, "--annotation", "purpose=test",
                                         "--artifact-type", "application/vnd.example.files"])
            let pushed = lines(push)
            XCTAssertEqual(pushed.count, 1, push.stdoutText)
            let digest = try XCTUnwrap(OCIDigest(pushed.first ?? ""), push.stdoutText)

            // resolve prints DIGEST MEDIATYPE SIZE.
            let resolve = try await cli.ok(["resolve", ref])
            let fields = resolve.stdoutText.trimmingCharacters(in: .newlines).split(separator: " ").map(String.init)
            XCTAssertEqual(fields.count, 3, resolve.stdoutText)
            XCTAssertEqual(fields.first, digest.description)
            XCTAssertEqual(fields.dropFirst().first, MediaType.ociManifest)

            // manifest get prints the exact bytes: they hash to the digest and have the resolved size.
            let get = try await cli.ok(["manifest", "get", ref])
            let manifestBytes = get.stdout
            XCTAssertEqual(OCIDigest.of(manifestBytes), digest)
            XCTAssertEqual(fields.last, String(manifestBytes.count))
            let manifest = try JSONCoding.decode(Manifest.self, from: manifestBytes)
            XCTAssertEqual(manifest.config, EmptyJSON.descriptor)
            XCTAssertEqual(manifest.artifactType, "application/vnd.example.files")
            XCTAssertEqual(manifest.annotations, ["purpose": "test"])
            XCTAssertEqual(manifest.layers.map(\.title), ["notes.txt", "data.bin"])
            XCTAssertEqual(manifest.layers.map(\.digest), [OCIDigest.of(small), OCIDigest.of(large)])
            XCTAssertEqual(manifest.layers.map(\.size), [Int64(small.count), Int64(large.count)])
            // By digest too.
            let byDigest = try await cli.ok(["manifest", "get", "\(registry.host)/cli/artifact@\(digest)"])
            XCTAssertEqual(byDigest.stdout, manifestBytes)

            // The library sees the same bytes.
            try await Clients.with(try Clients.make()) { client in
                let (descriptor, bytes) = try await client.getRawManifest(ref)
                XCTAssertEqual(bytes, manifestBytes)
                XCTAssertEqual(descriptor.digest, digest)
            }

            // skopeo sees the same bytes.
            if FileManager.default.isExecutableFile(atPath: Requirements.skopeoPath) {
                let skopeo = try Skopeo()
                defer { skopeo.cleanup() }
                let raw = try await skopeo.rawManifest(ref)
                XCTAssertEqual(raw, manifestBytes, "skopeo inspect --raw must return the bytes ocictl pushed")
            }

            // blob get to stdout and to a file.
            let blobRef = "\(registry.host)/cli/artifact@\(OCIDigest.of(large))"
            let blobOut = try await cli.ok(["blob", "get", blobRef])
            XCTAssertEqual(blobOut.stdout, large)
            let outFile = scratch.file("downloads/large.bin")
            try FileManager.default.createDirectory(atPath: scratch.file("downloads"), withIntermediateDirectories: true)
            let toFile = try await cli.ok(["blob", "get", blobRef, "-o", outFile])
            XCTAssertEqual(toFile.stdout, [], "nothing on stdout with -o")
            XCTAssertEqual(scratch.read("downloads/large.bin"), large)
            let smallOut = try await cli.ok(["blob", "get", "\(registry.host)/cli/artifact@\(OCIDigest.of(small))",
                                             "--output", scratch.file("downloads/small.txt")])
            XCTAssertEqual(smallOut.status, 0)
            XCTAssertEqual(scratch.read("downloads/small.txt"), small)

            // blob put prints the descriptor as JSON; the blob is then in the repository.
            let extra = Bytes.random(70_000)
            let extraPath = try scratch.write("inputs/extra.bin", extra)
            let put = try await cli.ok(["blob", "put", "\(registry.host)/cli/blobs", extraPath, "--media-type", "application/x-test", "--json"])
            let putJSON = try XCTUnwrap(parseJSON(put.stdout) as? [String: Any])
            XCTAssertEqual(putJSON["digest"] as? String, OCIDigest.of(extra).description)
            XCTAssertEqual((putJSON["size"] as? NSNumber)?.intValue, extra.count)
            XCTAssertEqual(putJSON["mediaType"] as? String, "application/x-test")
            let putBack = try await cli.ok(["blob", "get", "\(registry.host)/cli/blobs@\(OCIDigest.of(extra))"])
            XCTAssertEqual(putBack.stdout, extra)

            // pull -o DIR writes manifest.json, config.json and the titled layers, byte-identical.
            let pullDir = scratch.file("pulled")
            let pull = try await cli.ok(["pull", ref, "-o", pullDir])
            XCTAssertTrue(lines(pull).contains("manifest.json"), pull.stdoutText)
            XCTAssertEqual(scratch.read("pulled/manifest.json"), manifestBytes)
            XCTAssertEqual(scratch.read("pulled/config.json"), EmptyJSON.bytes)
            XCTAssertEqual(scratch.read("pulled/notes.txt"), small)
            XCTAssertEqual(scratch.read("pulled/data.bin"), large)
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: pullDir).filter { $0.hasPrefix(".") }
            XCTAssertEqual(leftovers, [], "no temporary files left behind")
        }
    }

    // MARK: copy, tags, repos, manifest put

    func testCopyTagsReposAndManifestPut() async throws {
        try await withCLI { cli, registry, scratch in
            let host = registry.host
            let file = try scratch.write("payload.bin", Bytes.random(20_000))
            let push = try await cli.ok(["push", "\(host)/cli/src:v1", file])
            let digest = lines(push).first ?? ""

            let copy = try await cli.ok(["copy", "\(host)/cli/src:v1", "\(host)/cli/dst:v2", "--quiet"])
            XCTAssertEqual(copy.stderr, [], copy.stderrText)
            let resolved = try await cli.ok(["resolve", "\(host)/cli/dst:v2"])
            XCTAssertTrue(resolved.stdoutText.hasPrefix(digest + " "), resolved.stdoutText)
            let srcBytes = try await cli.ok(["manifest", "get", "\(host)/cli/src:v1"]).stdout
            let dstBytes = try await cli.ok(["manifest", "get", "\(host)/cli/dst:v2"]).stdout
            XCTAssertEqual(srcBytes, dstBytes)

            // manifest put uploads a file's bytes unchanged to another tag.
            let manifestFile = try scratch.write("manifest.json", srcBytes)
            let put = try await cli.ok(["manifest", "put", "\(host)/cli/src:v1-again", manifestFile])
            XCTAssertEqual(lines(put), [digest])
            let putBytes = try await cli.ok(["manifest", "get", "\(host)/cli/src:v1-again"]).stdout
            XCTAssertEqual(putBytes, srcBytes)

            let tags = try await cli.ok(["tags", "\(host)/cli/src"])
            XCTAssertEqual(lines(tags).sorted(), ["v1", "v1-again"])

            let repos = try await cli.ok(["repos", host])
            XCTAssertEqual(lines(repos).sorted(), ["\(host)/cli/dst", "\(host)/cli/src"])
            let prefixed = try await cli.ok(["repos", "\(host)/cli/src"])
            XCTAssertEqual(lines(prefixed), ["\(host)/cli/src"])
        }
    }

    // MARK: --json

    func testJSONOutputsParse() async throws {
        try await withCLI { cli, registry, scratch in
            let host = registry.host
            let content = Bytes.random(3000)
            let file = try scratch.write("one.txt", content)

            let push = try await cli.ok(["push", "\(host)/json/a:v1", file, "--json"])
            let pushJSON = try XCTUnwrap(parseJSON(push.stdout) as? [String: Any], push.stdoutText)
            let digest = try XCTUnwrap(pushJSON["digest"] as? String)
            XCTAssertEqual(pushJSON["mediaType"] as? String, MediaType.ociManifest)

            let resolve = try await cli.ok(["resolve", "\(host)/json/a:v1", "--json"])
            let resolveJSON = try XCTUnwrap(parseJSON(resolve.stdout) as? [String: Any], resolve.stdoutText)
            XCTAssertEqual(resolveJSON["digest"] as? String, digest)
            XCTAssertEqual(resolveJSON["mediaType"] as? String, MediaType.ociManifest)
            XCTAssertNotNil(resolveJSON["size"] as? NSNumber)

            let copy = try await cli.ok(["copy", "\(host)/json/a:v1", "\(host)/json/b:v1", "--json"])
            XCTAssertNotNil(parseJSON(copy.stdout) as? [String: Any], copy.stdoutText)

            let tags = try await cli.ok(["tags", "\(host)/json/a", "--json"])
            XCTAssertEqual(parseJSON(tags.stdout) as? [String], ["v1"])

            let repos = try await cli.ok(["repos", host, "--json"])
            XCTAssertEqual((parseJSON(repos.stdout) as? [String])?.sorted(), ["\(host)/json/a", "\(host)/json/b"])

            let pull = try await cli.ok(["pull", "\(host)/json/b:v1", "-o", scratch.file("out"), "--json"])
            let pullJSON = try XCTUnwrap(parseJSON(pull.stdout) as? [String: Any], pull.stdoutText)
            XCTAssertEqual(pullJSON["digest"] as? String, digest)
            XCTAssertEqual(scratch.read("out/one.txt"), content)

            let put = try await cli.ok(["blob", "put", "\(host)/json/blobs", file, "--json"])
            let putJSON = try XCTUnwrap(parseJSON(put.stdout) as? [String: Any], put.stdoutText)
            XCTAssertEqual(putJSON["digest"] as? String, OCIDigest.of(content).description)

            let manifestFile = try scratch.write("m.json", try await cli.ok(["manifest", "get", "\(host)/json/a:v1"]).stdout)
            let mput = try await cli.ok(["manifest", "put", "\(host)/json/a:v2", manifestFile, "--json"])
            let mputJSON = try XCTUnwrap(parseJSON(mput.stdout) as? [String: Any], mput.stdoutText)
            XCTAssertEqual(mputJSON["digest"] as? String, digest)
        }
    }

    // MARK: errors

    func testErrorsAreOneLineOnStderr() async throws {
        try await withCLI { cli, registry, scratch in
            let host = registry.host
            let file = try scratch.write("f.txt", Bytes.random(100))
            try await cli.ok(["push", "\(host)/err/repo:v1", file])

            let missingRef = "\(host)/err/repo:does-not-exist"
            let resolve = try await cli.run(["resolve", missingRef])
            assertOneLineError(resolve, contains: [[missingRef], ["MANIFEST_UNKNOWN", "not found"]], "resolve of a missing tag")

            let get = try await cli.run(["manifest", "get", missingRef])
            assertOneLineError(get, contains: [[missingRef], ["MANIFEST_UNKNOWN", "not found"]], "manifest get of a missing tag")

            let pull = try await cli.run(["pull", missingRef, "-o", scratch.file("never")])
            assertOneLineError(pull, contains: [[missingRef], ["MANIFEST_UNKNOWN", "not found"]], "pull of a missing tag")
            XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.file("never/manifest.json")))

            let copy = try await cli.run(["copy", missingRef, "\(host)/err/other:v1"])
            assertOneLineError(copy, contains: [["does-not-exist"], ["MANIFEST_UNKNOWN", "not found"]], "copy of a missing tag")

            let missingBlob = "\(host)/err/repo@\(OCIDigest.of(Bytes.random(16)))"
            let blob = try await cli.run(["blob", "get", missingBlob])
            assertOneLineError(blob, contains: [["BLOB_UNKNOWN", "not found"]], "blob get of a missing blob")

            let tags = try await cli.run(["tags", "\(host)/err/no-such-repo"])
            assertOneLineError(tags, contains: [["NAME_UNKNOWN", "not found"]], "tags of a missing repository")

            // Nothing listens on a closed port: a transport error, one line.
            let closed = try await cli.run(["resolve", "127.0.0.1:1/x/y:z"])
            assertOneLineError(closed, contains: [["127.0.0.1:1"]], "resolve against a closed port")
        }
    }

    // MARK: login / logout

    func testLoginLogoutWithHtpasswd() async throws {
        try await withCLI(.htpasswd) { cli, registry, scratch in
            let host = registry.host
            let user = try XCTUnwrap(registry.username)
            let password = try XCTUnwrap(registry.password)
            let config = scratch.file("docker/config.json")
            let file = try scratch.write("f.txt", Bytes.random(500))
            let ref = "\(host)/login/repo:v1"

            // Without credentials: unauthorized.
            let anonymous = try await cli.run(["push", ref, file])
            assertOneLineError(anonymous, contains: [["unauthorized", "UNAUTHORIZED"]], "anonymous push")

            // A wrong password: login fails and writes nothing.
            let wrong = try await cli.run(["login", host, "-u", user, "--password-stdin", "--registry-config", config],
                                          stdin: Bytes.utf8("wrong-password\n"))
            XCTAssertNotEqual(wrong.status, 0, wrong.summary)
            XCTAssertFalse(wrong.stdoutText.contains("wrong-password") || wrong.stderrText.contains("wrong-password"))
            XCTAssertFalse(FileManager.default.fileExists(atPath: config), "a failed login writes no config")

            // The right password: "Login Succeeded", a 0600 file with an auths entry, the password never printed.
            let login = try await cli.ok(["login", host, "-u", user, "--password-stdin", "--registry-config", config],
                                         stdin: Bytes.utf8(password + "\n"))
            XCTAssertTrue(login.stdoutText.contains("Login Succeeded"), login.stdoutText)
            XCTAssertFalse(login.stdoutText.contains(password), "password on stdout")
            XCTAssertFalse(login.stderrText.contains(password), "password on stderr")
            let attributes = try FileManager.default.attributesOfItem(atPath: config)
            XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
            let stored = try XCTUnwrap(FileManager.default.contents(atPath: config))
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: stored) as? [String: Any])
            let auths = try XCTUnwrap(json["auths"] as? [String: Any], String(decoding: stored, as: UTF8.self))
            let entry = try XCTUnwrap(auths[host] as? [String: Any], "auths has no entry for \(host): \(auths.keys)")
            XCTAssertEqual(entry["auth"] as? String, Data("\(user):\(password)".utf8).base64EncodedString())

            // The stored credentials work for push and pull.
            try await cli.ok(["push", ref, file, "--registry-config", config])
            let pulled = try await cli.ok(["pull", ref, "-o", scratch.file("pulled"), "--registry-config", config])
            XCTAssertFalse(pulled.stdoutText.contains(password))
            XCTAssertEqual(scratch.read("pulled/f.txt"), scratch.read("f.txt"))

            // Verbose logging never prints the password or the Basic value.
            let verbose = try await cli.run(["resolve", ref, "--registry-config", config, "-v"])
            XCTAssertEqual(verbose.status, 0, verbose.summary)
            let basic = Data("\(user):\(password)".utf8).base64EncodedString()
            XCTAssertFalse(verbose.stderrText.contains(password) || verbose.stderrText.contains(basic), "secret in -v output")

            // logout removes the entry; afterwards the registry refuses again.
            let logout = try await cli.ok(["logout", host, "--registry-config", config])
            XCTAssertTrue(logout.stdoutText.contains("Removing login credentials"), logout.stdoutText)
            let after = try XCTUnwrap(FileManager.default.contents(atPath: config))
            let afterJSON = try XCTUnwrap(JSONSerialization.jsonObject(with: after) as? [String: Any])
            XCTAssertNil((afterJSON["auths"] as? [String: Any])?[host], "logout must erase the entry")
            XCTAssertFalse(String(decoding: after, as: UTF8.self).contains(entry["auth"] as? String ?? "<none>"))
            let refused = try await cli.run(["resolve", ref, "--registry-config", config])
            assertOneLineError(refused, contains: [["unauthorized", "UNAUTHORIZED"]], "resolve after logout")

            let again = try await cli.ok(["logout", host, "--registry-config", config])
            XCTAssertTrue(again.stdoutText.contains("Not logged in"), again.stdoutText)

            // Login without --password-stdin is refused (no password on the command line).
            let noStdin = try await cli.run(["login", host, "-u", user, "--registry-config", config])
            XCTAssertNotEqual(noStdin.status, 0)
        }
    }

    // MARK: token auth through a docker config

    /// The CLI reads credentials from `--registry-config` and runs the token flow: push as the full user, pull as
    /// the reader, a reader push is denied with one line on stderr.
    func testTokenRegistryWithDockerConfig() async throws {
        try await withCLI(.token) { cli, registry, scratch in
            let full = try scratch.write("full.json", registry.dockerConfigJSON())
            let readerAuth = Data("\(registry.readerUsername ?? ""):\(registry.readerPassword ?? "")".utf8).base64EncodedString()
            let reader = try scratch.write("reader.json", Bytes.utf8("{\"auths\":{\"\(registry.host)\":{\"auth\":\"\(readerAuth)\"}}}"))
            let payload = Bytes.random(30_000)
            let file = try scratch.write("payload.bin", payload)
            let ref = "\(registry.host)/token/cli:v1"

            try await cli.ok(["push", ref, file, "--registry-config", full])
            try await cli.ok(["pull", ref, "-o", scratch.file("as-reader"), "--registry-config", reader])
            XCTAssertEqual(scratch.read("as-reader/payload.bin"), payload)
            // Anonymous pull is allowed on this registry.
            try await cli.ok(["pull", ref, "-o", scratch.file("anonymous")])
            XCTAssertEqual(scratch.read("anonymous/payload.bin"), payload)

            let denied = try await cli.run(["push", "\(registry.host)/token/cli-denied:v1", file, "--registry-config", reader])
            assertOneLineError(denied, contains: [["denied"]], "reader push")
            let repos = try await cli.ok(["repos", registry.host, "--registry-config", full])
            XCTAssertEqual(lines(repos), ["\(registry.host)/token/cli"])
        }
    }

    // MARK: TLS options

    func testCAFileAndInsecureAgainstTLSRegistry() async throws {
        try await withCLI(.tls) { cli, registry, scratch in
            let ca = try XCTUnwrap(registry.caCertificatePath)
            let file = try scratch.write("tls.txt", Bytes.random(1000))
            let ref = "\(registry.host)/tls/cli:v1"

            let untrusted = try await cli.run(["push", ref, file])
            XCTAssertNotEqual(untrusted.status, 0, untrusted.summary)
            XCTAssertEqual(untrusted.stderrText.split(separator: "\n").count, 1, untrusted.stderrText)
            XCTAssertTrue(untrusted.stderrText.contains("TLS"), "the error names TLS: \(untrusted.stderrText)")

            let push = try await cli.ok(["push", ref, file, "--ca-file", ca])
            let digest = lines(push).first ?? "?"
            let resolved = try await cli.ok(["resolve", ref, "--insecure"])
            XCTAssertTrue(resolved.stdoutText.hasPrefix(digest + " "), resolved.stdoutText)
            let pulled = try await cli.ok(["pull", ref, "-o", scratch.file("out"), "--ca-file", ca])
            XCTAssertEqual(pulled.status, 0)
            XCTAssertEqual(scratch.read("out/tls.txt"), scratch.read("tls.txt"))
        }
    }

    // MARK: index pull

    func testPullOfAnIndexPicksThePlatform() async throws {
        try await withCLI { cli, registry, scratch in
            let repo = "\(registry.host)/cli/index"
            let amd = try TestImage.make(config: Bytes.utf8("{\"os\":\"linux\"}"), layers: [Bytes.random(300)],
                                         layerAnnotations: [[Annotation.title: "amd.bin"]])
            let arm = try TestImage.make(config: Bytes.utf8("{\"os\":\"linux\",\"arch\":\"arm64\"}"), layers: [Bytes.random(400)],
                                         layerAnnotations: [[Annotation.title: "arm.bin"]])
            var amdDesc = amd.descriptor
            amdDesc.platform = Platform(architecture: "amd64", os: "linux")
            var armDesc = arm.descriptor
            armDesc.platform = Platform(architecture: "arm64", os: "linux", variant: "v8")
            let index = try TestIndex.make([armDesc, amdDesc])
            try await Clients.with(try Clients.make()) { client in
                try await Upload.image(client, "\(repo)@\(amd.descriptor.digest)", amd)
                try await Upload.image(client, "\(repo)@\(arm.descriptor.digest)", arm)
                try await Upload.index(client, "\(repo):multi", index)
            }
            try await cli.ok(["pull", "\(repo):multi", "-o", scratch.file("default")])
            XCTAssertEqual(scratch.read("default/index.json"), index.bytes)
            XCTAssertEqual(scratch.read("default/manifest.json"), amd.bytes, "linux/amd64 by default")
            XCTAssertEqual(scratch.read("default/amd.bin"), amd.layers[0])

            try await cli.ok(["pull", "\(repo):multi", "-o", scratch.file("arm"), "--platform", "linux/arm64"])
            XCTAssertEqual(scratch.read("arm/manifest.json"), arm.bytes)
            XCTAssertEqual(scratch.read("arm/config.json"), arm.config)
            XCTAssertEqual(scratch.read("arm/arm.bin"), arm.layers[0])

            let missing = try await cli.run(["pull", "\(repo):multi", "-o", scratch.file("none"), "--platform", "windows/amd64"])
            XCTAssertNotEqual(missing.status, 0, missing.summary)
            XCTAssertTrue(missing.stderrText.contains("windows/amd64"), missing.stderrText)
        }
    }

    /// `ocictl ratelimit` against a registry that reports Docker Hub's headers (the in-process registry with a
    /// scripted answer: the real registry sends none) and against the real registry (which reports none).
    func testRateLimit() async throws {
        try await withCLI { cli, registry, scratch in
            let file = try scratch.write("rate.txt", Array("rate".utf8))
            _ = try await cli.ok(["push", "\(registry.host)/library/alpine:latest", file])
            let none = try await cli.ok(["ratelimit", "\(registry.host)/library/alpine"])
            XCTAssertEqual(none.stdoutText, "\(registry.host) reports no rate limit\n")
            let limited = InProcessRegistry.Fault(nil, "/v2/library/alpine/manifests/*", .respond(status: 200, headers: [
                "Content-Type": MediaType.ociManifest, "Docker-Content-Digest": OCIDigest.of([]).description,
                "RateLimit-Limit": "100;w=21600", "RateLimit-Remaining": "42;w=21600", "Docker-RateLimit-Source": "198.51.100.1",
            ]))
            try await withInProcessRegistry(InProcessRegistry.Configuration(faults: [limited])) { server in
                let text = try await cli.ok(["ratelimit", "\(server.host)/library/alpine:3"])
                XCTAssertEqual(text.stdoutText, "limit 100 per 21600 s, remaining 42 (counted for 198.51.100.1)\n")
                let json = try await cli.ok(["ratelimit", "--json", "\(server.host)/library/alpine"])
                let decoded = try JSONDecoder().decode(RateLimit.self, from: Data(json.stdout))
                XCTAssertEqual(decoded, RateLimit(limit: 100, remaining: 42, windowSeconds: 21600, source: "198.51.100.1"))
            }
        }
    }
}
