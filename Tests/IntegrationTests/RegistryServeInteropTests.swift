import Foundation
import OCIKit
import OCITesting
import XCTest

/// `ocictl registry serve` with independent clients: skopeo copies in and out byte-exact, buildah pushes an
/// image it built, podman pulls it and sees its config, our copy to the real distribution registry and back is
/// byte-exact, and an htpasswd (bcrypt) file guards it.
final class RegistryServeInteropTests: XCTestCase {
    /// A running `ocictl registry serve` child.
    final class Served: @unchecked Sendable {
        let process = Process()
        let host: String
        let output: String

        init(_ arguments: [String], scratch: TempDir) async throws {
            let binary = try Requirements.ocictl()
            output = scratch.file("serve-\(UUID().uuidString).out")
            FileManager.default.createFile(atPath: output, contents: nil)
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["registry", "serve", "--address", "127.0.0.1:0"] + arguments
            process.standardOutput = FileHandle(forWritingAtPath: output)
            process.standardError = process.standardOutput
            try process.run()
            var found: String?
            for _ in 0..<300 {
                let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
                if let range = text.range(of: #"serving on https?://[^ \n]+"#, options: .regularExpression) {
                    found = String(text[range]).components(separatedBy: "://").last
                    break
                }
                guard process.isRunning else { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            guard let found else {
                process.terminate()
                throw OCITestingError("ocictl registry serve did not start: \((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
            }
            host = found
        }

        func stop() {
            guard process.isRunning else { return }
            process.interrupt()
            process.waitUntilExit()
        }
    }

    private func containersTool(_ name: String, _ scratch: TempDir, _ arguments: [String]) async throws -> ProcessResult {
        let path = "/usr/bin/\(name)"
        guard FileManager.default.isExecutableFile(atPath: path) else { throw XCTSkip("\(name) is not installed (scripts/install-deps.sh installs it)") }
        var env = Subprocess.isolatedEnvironment(home: scratch.path)
        env["XDG_RUNTIME_DIR"] = scratch.file("run")
        // Storage of its own under the scratch directory, the vfs driver (no overlay mounts needed); podman
        // wants a run root of at most 50 characters.
        let storage = ["--root", scratch.file("containers/root"), "--runroot", Self.runRoot, "--storage-driver", "vfs"]
        return try await Subprocess.run(path, storage + arguments, environment: env)
    }

    private static let runRoot = "/tmp/ocictl-it-\(UUID().uuidString.prefix(8))"

    override class func tearDown() {
        try? FileManager.default.removeItem(atPath: runRoot)
    }

    func testSkopeoBuildahAndPodmanUseOcictlRegistryServe() async throws {
        guard getuid() == 0 else { throw XCTSkip("buildah and podman run here as root (rootless needs subuid maps)") }
        let skopeo = try Skopeo()
        let scratch = try TempDir(prefix: "it-serve")
        defer { scratch.remove() }
        let served = try await Served(["--storage", scratch.file("storage")], scratch: scratch)
        defer { served.stop() }
        let host = served.host

        // skopeo: an OCI layout with gzip layers in and out, byte-exact.
        let image = try RealImage.make(layerSizes: [20_000, 150_000])
        let layout = try image.writeLayout(to: scratch, subdirectory: "in", tag: "v1")
        try await skopeo.ok(["copy", "--dest-tls-verify=false", "oci:\(layout):v1", "docker://\(host)/skopeo/app:v1"])
        let raw = try await skopeo.rawManifest("\(host)/skopeo/app:v1")
        XCTAssertEqual(raw, image.manifestBytes)
        try await skopeo.ok(["copy", "--src-tls-verify=false", "docker://\(host)/skopeo/app:v1", "oci:\(scratch.file("out")):v1"])
        let blobs = scratch.file("out/blobs/sha256")
        for layer in image.layerDescriptors {
            XCTAssertEqual(FileManager.default.contents(atPath: "\(blobs)/\(layer.digest.encoded)").map { [UInt8]($0) },
                           image.blobs[layer.digest], "layer \(layer.digest) out of skopeo")
        }

        // buildah builds and pushes; podman pulls and sees the config.
        let file = try scratch.write("ctx/hello.txt", Bytes.random(500))
        let from = try await containersTool("buildah", scratch, ["from", "scratch"])
        XCTAssertEqual(from.status, 0, from.summary)
        let container = from.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        for step in [["copy", container, file, "/hello.txt"],
                     ["config", "--entrypoint", #"["/hello"]"#, "--env", "GREETING=hi", "--label", "origin=buildah", container],
                     ["commit", container, "localhost/serve/hello:1"],
                     ["push", "--tls-verify=false", "localhost/serve/hello:1", "docker://\(host)/buildah/hello:1"]] {
            let result = try await containersTool("buildah", scratch, step)
            XCTAssertEqual(result.status, 0, "buildah \(step.joined(separator: " "))\n\(result.summary)")
        }
        let pulled = try await containersTool("podman", scratch, ["pull", "--tls-verify=false", "\(host)/buildah/hello:1"])
        XCTAssertEqual(pulled.status, 0, pulled.summary)
        let inspect = try await containersTool("podman", scratch, ["image", "inspect", "--format",
                                                                   "{{.Config.Entrypoint}}|{{.Config.Env}}|{{index .Labels \"origin\"}}",
                                                                   "\(host)/buildah/hello:1"])
        XCTAssertEqual(inspect.status, 0, inspect.summary)
        XCTAssertTrue(inspect.stdoutText.contains("[/hello]"), inspect.stdoutText)
        XCTAssertTrue(inspect.stdoutText.contains("GREETING=hi"), inspect.stdoutText)
        XCTAssertTrue(inspect.stdoutText.contains("|buildah"), inspect.stdoutText)

        // Our own copy between it and the real distribution registry, both ways, byte-exact.
        try Requirements.registry(.plain)
        try await TestRegistry.withRegistry(.plain) { registry in
            var configuration = OCIClient.Configuration()
            configuration.registry.credentials = Keyring()
            try await OCIClient.withClient(configuration: configuration) { client in
                let (_, original) = try await client.manifest("\(host)/buildah/hello:1")
                try await client.copy(from: "\(host)/buildah/hello:1", to: "\(registry.host)/mirror/hello:1")
                try await client.copy(from: "\(registry.host)/mirror/hello:1", to: "\(host)/back/hello:1")
                let (_, there) = try await client.manifest("\(registry.host)/mirror/hello:1")
                let (_, back) = try await client.manifest("\(host)/back/hello:1")
                XCTAssertEqual(there, original)
                XCTAssertEqual(back, original)
                let manifest = try JSONCoding.decode(Manifest.self, from: original)
                for blob in manifest.blobs {
                    let a = try await client.fetchBlob("\(host)/buildah/hello@\(blob.digest)").collect(upTo: 1 << 24)
                    let b = try await client.fetchBlob("\(registry.host)/mirror/hello@\(blob.digest)").collect(upTo: 1 << 24)
                    XCTAssertEqual(a, b)
                }
            }
        }
    }

    func testHtpasswdGuardsTheServedRegistry() async throws {
        let scratch = try TempDir(prefix: "it-serve-auth")
        defer { scratch.remove() }
        let hashed = try await Subprocess.run("/usr/bin/htpasswd", ["-nbB", "alice", "correct horse"])
        guard hashed.status == 0 else { throw XCTSkip("htpasswd (apache2-utils) is not installed") }
        let htpasswd = try scratch.write("htpasswd", hashed.stdout)
        let served = try await Served(["--htpasswd", htpasswd], scratch: scratch)
        defer { served.stop() }
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        let config = scratch.file("docker-config.json")
        let wrong = try await ocictl.run(["login", served.host, "-u", "alice", "--password-stdin", "--registry-config", config],
                                         stdin: Array("wrong".utf8))
        XCTAssertNotEqual(wrong.status, 0, wrong.summary)
        try await ocictl.ok(["login", served.host, "-u", "alice", "--password-stdin", "--registry-config", config],
                            stdin: Array("correct horse".utf8))
        let file = try scratch.write("f.txt", Bytes.random(64))
        try await ocictl.ok(["push", "\(served.host)/auth/f:v1", file, "--registry-config", config])
        let anonymous = try await ocictl.run(["resolve", "\(served.host)/auth/f:v1"])
        XCTAssertNotEqual(anonymous.status, 0, "anonymous access must be refused\n\(anonymous.summary)")
    }
}
