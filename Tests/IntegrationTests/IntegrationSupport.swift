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

// Shared helpers of the integration suite: skips, clients, generated images, a subprocess runner, ocictl and
// skopeo wrappers, a tiny tar writer and an OCI layout writer. Every test starts the registry it needs
// (TestRegistry picks a free port) and stops it; nothing here listens on a fixed port.

// MARK: - Skips

enum Requirements {
    static let skopeoPath = "/usr/bin/skopeo"

    static func registry(_ mode: TestRegistry.Mode) throws {
        try XCTSkipUnless(TestRegistry.isAvailable(mode),
                          "registry binary \(TestRegistry.defaultBinary) (Debian package docker-registry) or a tool the \(mode) mode needs (openssl, htpasswd) is missing")
    }

    /// Skips unless a registry of `kind` can run in `mode` (the in-process one always can).
    static func registry(_ kind: RegistryUnderTest.Kind, _ mode: TestRegistry.Mode) throws {
        if kind == .distribution { try registry(mode) }
    }

    static func skopeo() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: skopeoPath),
                          "skopeo is not installed at \(skopeoPath) (apt-get install skopeo)")
    }

    /// The ocictl binary next to the test bundle (`.build/debug/ocictl`), or `$OCICTL_BINARY`.
    static func ocictl() throws -> String {
        if let env = ProcessInfo.processInfo.environment["OCICTL_BINARY"], !env.isEmpty {
            try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: env), "OCICTL_BINARY=\(env) is not executable")
            return env
        }
        var candidates: [URL] = []
        if let first = CommandLine.arguments.first, !first.isEmpty {
            candidates.append(URL(fileURLWithPath: first).deletingLastPathComponent())
        }
        candidates.append(Bundle(for: BundleToken.self).bundleURL.deletingLastPathComponent())
        candidates.append(Bundle.main.bundleURL)
        for directory in candidates {
            let path = directory.appendingPathComponent("ocictl").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw XCTSkip("ocictl binary not found next to the test bundle (looked in \(candidates.map(\.path))); run `swift build --build-tests` first or set OCICTL_BINARY")
    }
}

private final class BundleToken {}

// MARK: - Bytes and digests

enum Bytes {
    /// Random bytes (the system generator); fresh digests keep tools' blob caches out of the way.
    static func random(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var out = [UInt8](repeating: 0, count: count)
        var i = 0
        while i < count {
            var word = generator.next()
            for _ in 0..<8 where i < count {
                out[i] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                i += 1
            }
        }
        return out
    }

    static func utf8(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// `sha256:<hex>` of bytes.
    static func digest(_ bytes: [UInt8]) -> OCIDigest { OCIDigest.of(bytes) }

    /// A unique lowercase suffix for repository names.
    static func uniqueName(_ prefix: String) -> String {
        prefix + "-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(10)
    }
}

// MARK: - Clients

enum Clients {
    /// An `GoClient` with an explicit keyring (never the host's docker config), fast retries, and the given
    /// TLS options and plain-HTTP policy.
    static func make(keyring: Keyring = Keyring(), tls: RegistryClient.Configuration.TLS = RegistryClient.Configuration.TLS(),
                     plainHTTP: PlainHTTPPolicy = .privateHostsOnly) throws -> GoClient {
        var options = GoClientOptions()
        options.registry = RegistryClient.Configuration(
            plainHTTP: plainHTTP, tls: tls, credentials: keyring,
            retry: RegistryClient.Configuration.Retry(maxAttempts: 3, initialBackoff: .milliseconds(20), maxBackoff: .milliseconds(200)),
            connectTimeout: .seconds(10), readTimeout: .seconds(60))
        return try GoClient(options: options)
    }

    /// A keyring holding `user`/`password` for the registry's host.
    static func keyring(for registry: TestRegistry, user: String?, password: String?) -> Keyring {
        let keyring = Keyring()
        if let user, let password {
            keyring.add(address: registry.host, credential: Credential(username: user, password: password))
        }
        return keyring
    }

    /// The full user's keyring (htpasswd and token modes; empty otherwise).
    static func fullUser(_ registry: TestRegistry) -> Keyring {
        keyring(for: registry, user: registry.username, password: registry.password)
    }

    /// The client a mode's "normal" tests use: the test CA for `.tls`, the full user for `.htpasswd`/`.token`.
    static func standard(for registry: TestRegistry) throws -> GoClient {
        try make(keyring: fullUser(registry), tls: trust(registry.caCertificatePath))
    }

    /// A keyring holding `user`/`password` for the registry's host.
    static func keyring(for registry: RegistryUnderTest, user: String?, password: String?) -> Keyring {
        keyring(hosts: [(registry.host, user, password)])
    }

    /// One keyring with an entry per host that has a user (for a client that talks to several registries).
    static func keyring(hosts: [(host: String, user: String?, password: String?)]) -> Keyring {
        let keyring = Keyring()
        for (host, user, password) in hosts {
            if let user, let password {
                keyring.add(address: host, credential: Credential(username: user, password: password))
            }
        }
        return keyring
    }

    /// The full user's keyring (modes with users; empty otherwise).
    static func fullUser(_ registry: RegistryUnderTest) -> Keyring {
        keyring(for: registry, user: registry.username, password: registry.password)
    }

    /// TLS settings trusting the given CA files (none: the defaults).
    static func trust(_ caFiles: String?...) -> RegistryClient.Configuration.TLS {
        RegistryClient.Configuration.TLS(caFiles: caFiles.compactMap { $0 })
    }

    /// The client a registry's "normal" tests use: its CA trusted (TLS modes), its full user (modes with users).
    /// The distribution registry's `.tlsToken` realm is plain HTTP, which gets the password only with the user's
    /// leave (`.allowed`); the in-process registry's realm is the registry itself, over HTTPS.
    static func standard(for registry: RegistryUnderTest) throws -> GoClient {
        let plainRealm = registry.kind == .distribution && registry.mode == .tlsToken
        return try make(keyring: fullUser(registry), tls: trust(registry.caCertificatePath),
                        plainHTTP: plainRealm ? .allowed : .privateHostsOnly)
    }

    /// The `OCIClient` configuration for a registry: its CA, its full user, fast retries, no host config.
    static func ociConfiguration(for registries: RegistryUnderTest...) -> OCIClient.Configuration {
        var configuration = OCIClient.Configuration()
        configuration.registry.credentials = keyring(hosts: registries.map { ($0.host, $0.username, $0.password) })
        configuration.registry.tls = RegistryClient.Configuration.TLS(caFiles: registries.compactMap(\.caCertificatePath))
        configuration.registry.retry = .init(maxAttempts: 3, initialBackoff: .milliseconds(20), maxBackoff: .milliseconds(200))
        return configuration
    }

    /// Runs `body` with a client and shuts the client down afterwards (also when `body` throws).
    static func with<T>(_ client: GoClient, isolation: isolated (any Actor)? = #isolation,
                        _ body: (GoClient) async throws -> T) async throws -> T {
        do {
            let result = try await body(client)
            try? await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}

extension GoClient {
    /// Fetches a blob or manifest completely through the Go-style `fetch` (verified while streaming).
    func fetchBytes(_ ref: String, _ descriptor: Descriptor) async throws -> [UInt8] {
        let box = Locked<[UInt8]>([])
        try await fetch(ref, descriptor: descriptor) { chunk in box.withLock { $0.append(contentsOf: chunk) } }
        return box.current
    }
}

/// Asserts that `body` throws a `RegistryError` matching `matches`; returns the error.
@discardableResult
func assertRegistryError(_ what: String, file: StaticString = #filePath, line: UInt = #line,
                         isolation: isolated (any Actor)? = #isolation,
                         _ body: () async throws -> Void,
                         matches: (RegistryError) -> Bool) async -> (any Error)? {
    do {
        try await body()
        XCTFail("\(what): expected a RegistryError, got success", file: file, line: line)
        return nil
    } catch let error as RegistryError {
        XCTAssertTrue(matches(error), "\(what): unexpected RegistryError \(String(reflecting: error))", file: file, line: line)
        return error
    } catch {
        XCTFail("\(what): expected a RegistryError, got \(type(of: error)): \(error)", file: file, line: line)
        return error
    }
}

extension RegistryError {
    var isTLS: Bool { if case .tls = self { return true }; return false }
    var isDenied: Bool { if case .denied = self { return true }; return false }
}

// MARK: - Generated images (the Go suite's CreateImage / UploadTestImage / CompareRemoteManifest)

/// An image: manifest bytes, its descriptor, and the blobs it references.
struct TestImage: Sendable {
    var manifest: Manifest
    var bytes: [UInt8]
    var descriptor: Descriptor
    var config: [UInt8]
    var layers: [[UInt8]]
    var blobs: [OCIDigest: [UInt8]]

    var configDescriptor: Descriptor { manifest.config }
    var layerDescriptors: [Descriptor] { manifest.layers }

    /// Go's `testutils.CreateImage`: config and layers with media type `text/plain` unless given, manifest
    /// `{schemaVersion:2, config, layers}` (no mediaType field unless `embedMediaType`).
    static func make(mediaType: String = MediaType.ociManifest, config: [UInt8], layers: [[UInt8]],
                     configMediaType: String = "text/plain", layerMediaType: String = "text/plain",
                     embedMediaType: Bool = false, layerAnnotations: [[String: String]?]? = nil) throws -> TestImage {
        let configDesc = Descriptor.of(config, mediaType: configMediaType)
        var layerDescs: [Descriptor] = []
        var blobs: [OCIDigest: [UInt8]] = [configDesc.digest: config]
        for (i, layer) in layers.enumerated() {
            var d = Descriptor.of(layer, mediaType: layerMediaType)
            d.annotations = layerAnnotations?[i]
            layerDescs.append(d)
            blobs[d.digest] = layer
        }
        let manifest = Manifest(schemaVersion: 2, mediaType: embedMediaType ? mediaType : nil, config: configDesc,
                                layers: layerDescs)
        let bytes = try JSONCoding.encode(manifest)
        return TestImage(manifest: manifest, bytes: bytes, descriptor: Descriptor.of(bytes, mediaType: mediaType),
                         config: config, layers: layers, blobs: blobs)
    }

    /// A store serving this image's blobs (Go: `GenericStore` over the blob map).
    var store: GenericStore {
        let blobs = self.blobs
        return GenericStore { descriptor in
            guard let bytes = blobs[descriptor.digest] else { throw ContentError.notFound(descriptor.digest.description) }
            return ByteStream(bytes: bytes)
        }
    }
}

/// An index document with its bytes and descriptor.
struct TestIndex: Sendable {
    var index: ImageIndex
    var bytes: [UInt8]
    var descriptor: Descriptor

    static func make(_ manifests: [Descriptor], annotations: [String: String]? = nil,
                     mediaType: String = MediaType.ociIndex, embedMediaType: Bool = false) throws -> TestIndex {
        let index = ImageIndex(schemaVersion: 2, mediaType: embedMediaType ? mediaType : nil, manifests: manifests,
                          annotations: annotations)
        let bytes = try JSONCoding.encode(index)
        return TestIndex(index: index, bytes: bytes, descriptor: Descriptor.of(bytes, mediaType: mediaType))
    }
}

enum Upload {
    /// Go's `UploadTestImage`: `PushRawManifest(ref, desc, bytes, store)`.
    static func image(_ client: GoClient, _ ref: String, _ image: TestImage) async throws {
        try await client.pushRawManifest(ref, descriptor: image.descriptor, bytes: image.bytes, store: image.store)
    }

    /// Go's `UploadTestIndex`: the store always answers with the index bytes.
    static func index(_ client: GoClient, _ ref: String, _ index: TestIndex) async throws {
        let bytes = index.bytes
        try await client.pushRawManifest(ref, descriptor: index.descriptor, bytes: bytes,
                                         store: GenericStore { _ in ByteStream(bytes: bytes) })
    }
}

/// Go's `CompareRemoteManifest`: the raw manifest's descriptor equals `{mediaType, digest, size}`, the bytes are
/// identical, and config and layers fetch byte-equal.
func compareRemoteManifest(_ client: GoClient, _ ref: String, _ image: TestImage,
                           file: StaticString = #filePath, line: UInt = #line) async throws {
    let (descriptor, bytes) = try await client.getRawManifest(ref)
    XCTAssertEqual(descriptor, image.descriptor, "descriptor of \(ref)", file: file, line: line)
    XCTAssertEqual(bytes, image.bytes, "manifest bytes of \(ref)", file: file, line: line)
    let config = try await client.fetchBytes(ref, image.configDescriptor)
    XCTAssertEqual(config, image.config, "config of \(ref)", file: file, line: line)
    for (i, layer) in image.layerDescriptors.enumerated() {
        let fetched = try await client.fetchBytes(ref, layer)
        XCTAssertEqual(fetched, image.layers[i], "layer \(i) of \(ref)", file: file, line: line)
    }
}

// MARK: - Byte comparisons

// These overloads win over XCTest's generic XCTAssertEqual for byte arrays, so that a mismatch reports sizes and
// digests instead of printing megabytes of numbers.

func XCTAssertEqual(_ actual: @autoclosure () throws -> [UInt8], _ expected: @autoclosure () throws -> [UInt8],
                    _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    assertSameBytes({ try actual() }, { try expected() }, message(), file: file, line: line)
}

func XCTAssertEqual(_ actual: @autoclosure () throws -> [UInt8]?, _ expected: @autoclosure () throws -> [UInt8]?,
                    _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    assertSameBytes(actual, expected, message(), file: file, line: line)
}

private func assertSameBytes(_ actual: () throws -> [UInt8]?, _ expected: () throws -> [UInt8]?, _ message: String,
                             file: StaticString, line: UInt) {
    let a: [UInt8]?, b: [UInt8]?
    do {
        a = try actual()
        b = try expected()
    } catch {
        XCTFail("XCTAssertEqual threw \(error) - \(message)", file: file, line: line)
        return
    }
    guard a != b else { return }
    func describe(_ bytes: [UInt8]?) -> String {
        guard let bytes else { return "nil" }
        let text = String(decoding: bytes.prefix(160), as: UTF8.self)
        let printable = text.unicodeScalars.allSatisfy { ($0.value >= 0x20 && $0.value < 0x7F) || $0 == "\n" }
        return "\(bytes.count) bytes \(OCIDigest.of(bytes))" + (printable ? " \"\(text)\"" : "")
    }
    XCTFail("bytes differ: (\(describe(a))) is not equal to (\(describe(b))) - \(message)", file: file, line: line)
}

// MARK: - Subprocesses

struct ProcessResult: Sendable {
    var status: Int32
    var stdout: [UInt8]
    var stderr: [UInt8]
    var stdoutText: String { Bytes.text(stdout) }
    var stderrText: String { Bytes.text(stderr) }

    /// Everything, for failure messages.
    var summary: String { "exit \(status)\n--- stdout ---\n\(stdoutText.prefix(4000))\n--- stderr ---\n\(stderrText.prefix(4000))" }
}

enum Subprocess {
    /// Runs `executable` with `arguments`; stdin from `stdin` bytes (else /dev/null); stdout and stderr go to
    /// temp files (no pipe deadlocks). A forgotten child is killed after `safetyLimit` (a safety net, not a timing).
    static func run(_ executable: String, _ arguments: [String], stdin: [UInt8]? = nil,
                    environment: [String: String]? = nil, directory: String? = nil,
                    safetyLimit: Duration = .seconds(300)) async throws -> ProcessResult {
        let scratch = try TempDir(prefix: "it-proc")
        defer { scratch.remove() }
        let outPath = scratch.path + "/stdout", errPath = scratch.path + "/stderr", inPath = scratch.path + "/stdin"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        guard let outHandle = FileHandle(forWritingAtPath: outPath), let errHandle = FileHandle(forWritingAtPath: errPath) else {
            throw OCITestingError("cannot open output files in \(scratch.path)")
        }
        defer {
            try? outHandle.close()
            try? errHandle.close()
        }
        process.standardOutput = outHandle
        process.standardError = errHandle
        var inHandle: FileHandle?
        if let stdin {
            FileManager.default.createFile(atPath: inPath, contents: Data(stdin))
            inHandle = FileHandle(forReadingAtPath: inPath)
            process.standardInput = inHandle
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        defer { try? inHandle?.close() }

        let exited = Locked(false)
        let guardTask = Locked<Task<Void, Never>?>(nil)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in
                exited.withLock { $0 = true }
                continuation.resume()
            }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
                return
            }
            let pid = process.processIdentifier
            guardTask.withLock {
                $0 = Task {
                    try? await Task.sleep(for: safetyLimit)
                    if !Task.isCancelled, !exited.current { kill(pid, SIGKILL) }
                }
            }
        } as Void
        guardTask.current?.cancel()
        let stdout = FileManager.default.contents(atPath: outPath).map { [UInt8]($0) } ?? []
        let stderr = FileManager.default.contents(atPath: errPath).map { [UInt8]($0) } ?? []
        return ProcessResult(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    /// The environment for child tools: `HOME` in a private directory and no credential variables, so neither
    /// the host's docker config nor the CI's variables leak into a test.
    static func isolatedEnvironment(home: String) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        for key in ["DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "DOCKER_AUTH_CONFIG",
                    "OCI_AUTH_CONFIG", "OCI_REGISTRY_HOST", "OCI_REGISTRY_USERNAME", "OCI_REGISTRY_PASSWORD",
                    "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
                    "NO_PROXY", "no_proxy", "NETRC", "CONTAINERS_REGISTRIES_CONF", "GITHUB_TOKEN"] {
            env.removeValue(forKey: key)
        }
        env["HOME"] = home
        return env
    }
}

/// A temporary directory removed by `remove()`.
struct TempDir: Sendable {
    let path: String

    init(prefix: String = "it") throws {
        let base = NSTemporaryDirectory()
        let path = (base as NSString).appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        self.path = path
    }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = file(name)
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: p, contents: Data(bytes)) else {
            throw OCITestingError("cannot write \(p)")
        }
        return p
    }

    func read(_ name: String) -> [UInt8]? {
        FileManager.default.contents(atPath: file(name)).map { [UInt8]($0) }
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

// MARK: - ocictl

/// Runs the ocictl binary with an isolated HOME.
struct OCICtl {
    let binary: String
    let home: TempDir

    init() throws {
        binary = try Requirements.ocictl()
        home = try TempDir(prefix: "it-ocictl-home")
    }

    func run(_ arguments: [String], stdin: [UInt8]? = nil, directory: String? = nil,
             environment extra: [String: String] = [:]) async throws -> ProcessResult {
        try await Subprocess.run(binary, arguments, stdin: stdin,
                                 environment: Subprocess.isolatedEnvironment(home: home.path).merging(extra) { $1 },
                                 directory: directory)
    }

    /// Runs and asserts exit 0.
    @discardableResult
    func ok(_ arguments: [String], stdin: [UInt8]? = nil, directory: String? = nil, environment: [String: String] = [:],
            file: StaticString = #filePath, line: UInt = #line) async throws -> ProcessResult {
        let result = try await run(arguments, stdin: stdin, directory: directory, environment: environment)
        XCTAssertEqual(result.status, 0, "ocictl \(arguments.joined(separator: " "))\n\(result.summary)", file: file, line: line)
        return result
    }

    func cleanup() { home.remove() }
}

// MARK: - skopeo

struct Skopeo {
    let home: TempDir

    init() throws {
        try Requirements.skopeo()
        home = try TempDir(prefix: "it-skopeo-home")
    }

    func run(_ arguments: [String]) async throws -> ProcessResult {
        var env = Subprocess.isolatedEnvironment(home: home.path)
        env["XDG_RUNTIME_DIR"] = home.path
        return try await Subprocess.run(Requirements.skopeoPath, ["--insecure-policy"] + arguments, environment: env)
    }

    @discardableResult
    func ok(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) async throws -> ProcessResult {
        let result = try await run(arguments)
        XCTAssertEqual(result.status, 0, "skopeo \(arguments.joined(separator: " "))\n\(result.summary)", file: file, line: line)
        return result
    }

    /// `skopeo inspect --raw` bytes of `docker://REF` on a plain-HTTP registry (or with a cert dir).
    func rawManifest(_ ref: String, certDir: String? = nil, creds: String? = nil,
                     file: StaticString = #filePath, line: UInt = #line) async throws -> [UInt8] {
        var args = ["inspect", "--raw"]
        if let certDir { args += ["--cert-dir", certDir] } else { args += ["--tls-verify=false"] }
        if let creds { args += ["--creds", creds] }
        return try await ok(args + ["docker://\(ref)"], file: file, line: line).stdout
    }

    func cleanup() { home.remove() }
}

// MARK: - Images for other tools: tar layers and OCI layouts

enum Tar {
    /// A ustar archive holding regular files (name → content), mtime 0, uid/gid 0, sorted by name.
    static func archive(_ files: [(name: String, content: [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        for (name, content) in files.sorted(by: { $0.name < $1.name }) {
            var header = [UInt8](repeating: 0, count: 512)
            func put(_ text: String, at offset: Int, width: Int) {
                let bytes = Array(text.utf8.prefix(width))
                for (i, b) in bytes.enumerated() { header[offset + i] = b }
            }
            func octal(_ value: Int, width: Int) -> String {
                let s = String(value, radix: 8)
                return String(repeating: "0", count: max(0, width - 1 - s.count)) + s
            }
            put(name, at: 0, width: 100)
            put(octal(0o644, width: 8), at: 100, width: 7)
            put(octal(0, width: 8), at: 108, width: 7)
            put(octal(0, width: 8), at: 116, width: 7)
            put(octal(content.count, width: 12), at: 124, width: 11)
            put(octal(0, width: 12), at: 136, width: 11)
            for i in 148..<156 { header[i] = 0x20 }  // checksum field counts as spaces
            header[156] = 0x30  // '0' regular file
            put("ustar", at: 257, width: 6)
            put("00", at: 263, width: 2)
            let sum = header.reduce(0) { $0 + Int($1) }
            put(octal(sum, width: 7), at: 148, width: 6)
            header[154] = 0
            header[155] = 0x20
            out += header
            out += content
            let pad = (512 - content.count % 512) % 512
            out += [UInt8](repeating: 0, count: pad)
        }
        out += [UInt8](repeating: 0, count: 1024)
        return out
    }
}

/// gzip without compression (deflate "stored" blocks): a valid gzip stream any reader accepts, made without zlib.
enum Gzip {
    static func stored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF]
        var offset = 0
        repeat {
            let n = min(65_535, data.count - offset)
            let final = offset + n == data.count
            out.append(final ? 0x01 : 0x00)
            out += [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[offset..<(offset + n)]
            offset += n
        } while offset < data.count
        let crc = crc32(data)
        let size = UInt32(truncatingIfNeeded: data.count)
        for value in [crc, size] {
            out += [UInt8(value & 0xFF), UInt8((value >> 8) & 0xFF), UInt8((value >> 16) & 0xFF), UInt8(value >> 24)]
        }
        return out
    }

    private static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in data { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}

/// A small, valid single-platform OCI image (gzip tar layers, a real config with diff_ids), as other tools
/// (skopeo) accept it without recompressing anything.
struct RealImage: Sendable {
    var config: [UInt8]
    var layers: [[UInt8]]
    var manifestBytes: [UInt8]
    var manifestDescriptor: Descriptor
    var configDescriptor: Descriptor
    var layerDescriptors: [Descriptor]

    var blobs: [OCIDigest: [UInt8]] {
        var b: [OCIDigest: [UInt8]] = [configDescriptor.digest: config]
        for (d, bytes) in zip(layerDescriptors, layers) { b[d.digest] = bytes }
        return b
    }

    var store: GenericStore {
        let blobs = self.blobs
        return GenericStore { d in
            guard let bytes = blobs[d.digest] else { throw ContentError.notFound(d.digest.description) }
            return ByteStream(bytes: bytes)
        }
    }

    static func make(layerSizes: [Int]) throws -> RealImage {
        var layers: [[UInt8]] = []
        var tars: [[UInt8]] = []
        for (i, size) in layerSizes.enumerated() {
            let tar = Tar.archive([(name: "layer\(i + 1).bin", content: Bytes.random(size))])
            tars.append(tar)
            layers.append(Gzip.stored(tar))
        }
        let diffIDs = tars.map { "\"\(OCIDigest.of($0))\"" }.joined(separator: ",")
        let history = layers.indices.map { "{\"created\":\"1970-01-01T00:00:00Z\",\"created_by\":\"integration layer \($0 + 1)\"}" }
            .joined(separator: ",")
        let config = Bytes.utf8("""
            {"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/bin:/bin"],"Labels":{"nonce":"\(UUID().uuidString)"}},"rootfs":{"type":"layers","diff_ids":[\(diffIDs)]},"history":[\(history)]}
            """)
        let configDescriptor = Descriptor.of(config, mediaType: MediaType.ociConfig)
        let layerDescriptors = layers.map { Descriptor.of($0, mediaType: MediaType.ociLayerGzip) }
        let manifest = Manifest(config: configDescriptor, layers: layerDescriptors)
        let bytes = try JSONCoding.encode(manifest)
        return RealImage(config: config, layers: layers, manifestBytes: bytes,
                         manifestDescriptor: Descriptor.of(bytes, mediaType: MediaType.ociManifest),
                         configDescriptor: configDescriptor, layerDescriptors: layerDescriptors)
    }

    /// Writes an OCI image layout (oci-layout, index.json with the ref name, blobs/sha256/…) into `dir`.
    func writeLayout(to dir: TempDir, subdirectory: String, tag: String) throws -> String {
        let root = dir.file(subdirectory)
        let layout = try TempDirAt(root)
        try layout.write("oci-layout", Bytes.utf8("{\"imageLayoutVersion\":\"1.0.0\"}"))
        for (digest, bytes) in blobs {
            try layout.write("blobs/\(digest.algorithm.rawValue)/\(digest.encoded)", bytes)
        }
        try layout.write("blobs/\(manifestDescriptor.digest.algorithm.rawValue)/\(manifestDescriptor.digest.encoded)", manifestBytes)
        var entry = manifestDescriptor
        entry.annotations = [Annotation.refName: tag]
        let index = ImageIndex(manifests: [entry])
        try layout.write("index.json", try JSONCoding.encode(index))
        return root
    }
}

/// Writes files below an existing or new directory (not removed by itself).
struct TempDirAt {
    let path: String
    init(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        self.path = path
    }
    func write(_ name: String, _ bytes: [UInt8]) throws {
        let p = (path as NSString).appendingPathComponent(name)
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: p, contents: Data(bytes)) else { throw OCITestingError("cannot write \(p)") }
    }
}

/// Parses JSON output of `--json`.
func parseJSON(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> Any? {
    do {
        return try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    } catch {
        XCTFail("not JSON (\(error)): \(Bytes.text(bytes).prefix(2000))", file: file, line: line)
        return nil
    }
}
