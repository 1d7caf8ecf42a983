import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import OCIContent
import OCICredentials
import OCIRegistry
import OCISpec
import OCISync
import OCITesting
import XCTest

// Helpers of the InProcessRegistry suite: the package's client set up for a registry, a raw HTTP client for
// protocol checks, generated images, a subprocess runner and skopeo. Every server listens on loopback with a
// port chosen at run time.

// MARK: - Bytes

enum Bytes {
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

    /// A repository name unique to this run.
    static func name(_ prefix: String) -> String {
        prefix + "-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(8)
    }
}

// MARK: - The package's client

enum Clients {
    /// A registry client for `registry`: its CA trusted when it has one, fast retries, `credentials` for its host.
    static func make(for registry: InProcessRegistry, username: String? = nil, password: String? = nil,
                     upload: RegistryClient.Configuration.Upload = RegistryClient.Configuration.Upload(), retry: RegistryClient.Configuration.Retry? = nil) throws -> RegistryClient {
        let keyring = Keyring()
        if let username, let password {
            _ = keyring.add(address: registry.host, credential: Credential(username: username, password: password))
        }
        let tls = registry.caCertificatePath.map { RegistryClient.Configuration.TLS(caFiles: [$0]) } ?? RegistryClient.Configuration.TLS()
        return try RegistryClient(configuration: RegistryClient.Configuration(
            plainHTTP: .privateHostsOnly, tls: tls, credentials: keyring,
            retry: retry ?? RegistryClient.Configuration.Retry(maxAttempts: 3, initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(50)),
            upload: upload, connectTimeout: .seconds(10), readTimeout: .seconds(30)))
    }

    /// Runs `body` with a client and shuts it down afterwards.
    static func with<T>(_ client: RegistryClient, isolation: isolated (any Actor)? = #isolation,
                        _ body: (RegistryClient) async throws -> T) async throws -> T {
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

extension RemoteRepository {
    /// A blob's bytes, verified while streaming.
    func fetchBytes(_ descriptor: Descriptor) async throws -> [UInt8] {
        var out: [UInt8] = []
        for try await chunk in try await fetch(descriptor) { out.append(contentsOf: chunk) }
        return out
    }

    /// Pushes a blob from bytes.
    @discardableResult
    func pushBytes(_ bytes: [UInt8], mediaType: String = "application/octet-stream") async throws -> Descriptor {
        let descriptor = Descriptor.of(bytes, mediaType: mediaType)
        try await push(descriptor, source: BlobSource { offset in ByteStream(bytes: Array(bytes.dropFirst(Int(offset)))) })
        return descriptor
    }

    /// Pushes every blob of `image`, then its manifest under `tag`.
    func push(_ image: TestImage, tag: String?) async throws {
        for (descriptor, bytes) in image.blobs {
            try await push(descriptor, source: BlobSource { offset in ByteStream(bytes: Array(bytes.dropFirst(Int(offset)))) })
        }
        let pushed = try await pushManifest(image.manifestBytes, mediaType: image.manifestDescriptor.mediaType, reference: tag)
        XCTAssertEqual(pushed.digest, image.manifestDescriptor.digest)
    }
}

/// Byte arrays compare with a short message (sizes and digests) instead of every number.
func XCTAssertEqual(_ actual: @autoclosure () throws -> [UInt8]?, _ expected: @autoclosure () throws -> [UInt8]?,
                    _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    let a: [UInt8]?, b: [UInt8]?
    do {
        a = try actual()
        b = try expected()
    } catch {
        XCTFail("XCTAssertEqual threw \(error) - \(message())", file: file, line: line)
        return
    }
    guard a != b else { return }
    func describe(_ bytes: [UInt8]?) -> String {
        guard let bytes else { return "nil" }
        let text = String(decoding: bytes.prefix(200), as: UTF8.self)
        let printable = text.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7f }
        return "\(bytes.count) bytes \(OCIDigest.of(bytes))" + (printable ? " \"\(text)\"" : "")
    }
    XCTFail("bytes differ: (\(describe(a))) is not (\(describe(b))) - \(message())", file: file, line: line)
}

func XCTAssertEqual(_ actual: @autoclosure () throws -> [UInt8], _ expected: @autoclosure () throws -> [UInt8],
                    _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(try actual() as [UInt8]?, try expected() as [UInt8]?, message(), file: file, line: line)
}

/// Asserts that `body` throws a `RegistryError` matching `matches`.
func assertRegistryError(_ what: String, file: StaticString = #filePath, line: UInt = #line,
                         isolation: isolated (any Actor)? = #isolation,
                         _ body: () async throws -> Void, matches: (RegistryError) -> Bool) async {
    do {
        try await body()
        XCTFail("\(what): expected a RegistryError, got success", file: file, line: line)
    } catch let error as RegistryError {
        XCTAssertTrue(matches(error), "\(what): unexpected \(String(reflecting: error))", file: file, line: line)
    } catch {
        XCTFail("\(what): expected a RegistryError, got \(type(of: error)): \(error)", file: file, line: line)
    }
}

// MARK: - Raw HTTP

struct RawResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]

    func header(_ name: String) -> String? { headers.first(name: name) }

    /// The `code`s of a spec error body.
    var errorCodes: [String] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let errors = object["errors"] as? [[String: Any]] else { return [] }
        return errors.compactMap { $0["code"] as? String }
    }

    var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] }

    var text: String { Bytes.text(body) }
}

/// Plain HTTP requests to a registry, no redirects followed, for protocol checks the client hides.
final class RawHTTP: Sendable {
    let base: String
    private let http: HTTPClient

    init(_ registry: InProcessRegistry) throws {
        base = registry.baseURL
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        if let pem = registry.caCertificatePEM {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))]
            configuration.tlsConfiguration = tls
        }
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// `method` `path` (relative to the registry, or an absolute URL).
    func send(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil) async throws -> RawResponse {
        var request = HTTPClientRequest(url: path.hasPrefix("http") ? path : base + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await http.execute(request, timeout: .seconds(30))
        var bytes: [UInt8] = []
        if method != .HEAD {
            for try await buffer in response.body { bytes.append(contentsOf: buffer.readableBytesView) }
        }
        return RawResponse(status: Int(response.status.code), headers: response.headers, body: bytes)
    }

    func shutdown() async {
        try? await http.shutdown()
    }

    static func with<T>(_ registry: InProcessRegistry, isolation: isolated (any Actor)? = #isolation,
                        _ body: (RawHTTP) async throws -> T) async throws -> T {
        let raw = try RawHTTP(registry)
        do {
            let result = try await body(raw)
            await raw.shutdown()
            return result
        } catch {
            await raw.shutdown()
            throw error
        }
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port` (a refused connect answers at once, unlike an
/// HTTP client that retries until its connect timeout).
func acceptsConnections(port: Int) -> Bool {
    #if canImport(Glibc)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
    let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return result == 0
}

// MARK: - Images

/// A small runnable-looking image: uncompressed tar layers, an OCI config with their diff IDs, an OCI manifest.
struct TestImage: Sendable {
    var config: [UInt8]
    var layers: [[UInt8]]
    var manifestBytes: [UInt8]
    var configDescriptor: Descriptor
    var layerDescriptors: [Descriptor]
    var manifestDescriptor: Descriptor

    var blobs: [(Descriptor, [UInt8])] {
        [(configDescriptor, config)] + Array(zip(layerDescriptors, layers))
    }

    /// Layers of the given file sizes (random content, so every image is new to tools' blob caches).
    static func make(layerSizes: [Int] = [3000, 70_000], artifactType: String? = nil, subject: Descriptor? = nil,
                     annotations: [String: String]? = nil, mediaType: String = MediaType.ociManifest) -> TestImage {
        // gzip layers, so that skopeo has nothing to compress and copies every byte as it is
        let tars = layerSizes.enumerated().map { Tar.single(name: "file\($0.offset).bin", content: Bytes.random($0.element)) }
        let layers = tars.map(Gzip.stored)
        let diffIDs = tars.map { "\"\(OCIDigest.of($0))\"" }.joined(separator: ",")
        let isDocker = mediaType == MediaType.dockerManifest
        let config = Bytes.utf8(#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/bin"]},"rootfs":{"type":"layers","diff_ids":[\#(diffIDs)]},"history":[]}"#)
        let configDescriptor = Descriptor.of(config, mediaType: isDocker ? MediaType.dockerConfig : MediaType.ociConfig)
        let layerType = isDocker ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip
        let layerDescriptors = layers.map { Descriptor.of($0, mediaType: layerType) }
        func json(_ d: Descriptor) -> String { #"{"mediaType":"\#(d.mediaType)","digest":"\#(d.digest)","size":\#(d.size)}"# }
        var fields = [#""schemaVersion":2"#, #""mediaType":"\#(mediaType)""#]
        if let artifactType { fields.append(#""artifactType":"\#(artifactType)""#) }
        fields.append(#""config":\#(json(configDescriptor))"#)
        fields.append(#""layers":[\#(layerDescriptors.map(json).joined(separator: ","))]"#)
        if let subject { fields.append(#""subject":\#(json(subject))"#) }
        if let annotations {
            let pairs = annotations.sorted { $0.key < $1.key }.map { #""\#($0.key)":"\#($0.value)""# }
            fields.append(#""annotations":{\#(pairs.joined(separator: ","))}"#)
        }
        let manifest = Bytes.utf8("{" + fields.joined(separator: ",") + "}")
        return TestImage(config: config, layers: layers, manifestBytes: manifest, configDescriptor: configDescriptor,
                         layerDescriptors: layerDescriptors, manifestDescriptor: Descriptor.of(manifest, mediaType: mediaType))
    }

    /// Writes the image as an OCI layout (`DIR/oci-layout`, `index.json` with `tag`, `blobs/sha256/*`).
    func writeLayout(_ dir: String, tag: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/blobs/sha256", withIntermediateDirectories: true)
        for (descriptor, bytes) in blobs + [(manifestDescriptor, manifestBytes)] {
            _ = fm.createFile(atPath: dir + "/blobs/sha256/" + descriptor.digest.encoded, contents: Data(bytes))
        }
        _ = fm.createFile(atPath: dir + "/oci-layout", contents: Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        let index = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"\#(manifestDescriptor.mediaType)","digest":"\#(manifestDescriptor.digest)","size":\#(manifestDescriptor.size),"annotations":{"org.opencontainers.image.ref.name":"\#(tag)"}}]}"#
        _ = fm.createFile(atPath: dir + "/index.json", contents: Data(index.utf8))
    }
}

/// gzip without compression: stored deflate blocks, CRC-32 and length trailer.
enum Gzip {
    static func stored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]
        var offset = 0
        repeat {
            let length = min(65_535, data.count - offset)
            let final = offset + length == data.count
            out.append(final ? 1 : 0)
            out += [UInt8(length & 0xff), UInt8(length >> 8), UInt8(~length & 0xff), UInt8((~length >> 8) & 0xff)]
            out += data[offset..<(offset + length)]
            offset += length
        } while offset < data.count
        let crc = crc32(data)
        let size = UInt32(truncatingIfNeeded: data.count)
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: crc >> UInt32(shift))) }
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: size >> UInt32(shift))) }
        return out
    }

    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 == 1 ? 0xedb8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xffff_ffff
        for byte in data { c = table[Int((c ^ UInt32(byte)) & 0xff)] ^ (c >> 8) }
        return c ^ 0xffff_ffff
    }
}

/// A one-file ustar archive.
enum Tar {
    static func single(name: String, content: [UInt8]) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int, width: Int) {
            for (i, byte) in text.utf8.prefix(width).enumerated() { header[offset + i] = byte }
        }
        func octal(_ value: Int, width: Int) -> String {
            let digits = String(value, radix: 8)
            return String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits
        }
        put(name, at: 0, width: 100)
        put(octal(0o644, width: 8), at: 100, width: 8)
        put(octal(0, width: 8), at: 108, width: 8)
        put(octal(0, width: 8), at: 116, width: 8)
        put(octal(content.count, width: 12), at: 124, width: 12)
        put(octal(0, width: 12), at: 136, width: 12)
        put("        ", at: 148, width: 8)
        header[156] = UInt8(ascii: "0")
        put("ustar", at: 257, width: 6)
        put("00", at: 263, width: 2)
        let sum = header.reduce(0) { $0 + Int($1) }
        put(octal(sum, width: 7), at: 148, width: 7)
        header[155] = UInt8(ascii: " ")
        var out = header + content
        out += [UInt8](repeating: 0, count: (512 - content.count % 512) % 512)
        out += [UInt8](repeating: 0, count: 1024)
        return out
    }
}

// MARK: - Subprocesses and skopeo

struct ProcessResult: Sendable {
    var status: Int32
    var stdout: [UInt8]
    var stderr: [UInt8]
    var summary: String { "exit \(status)\n--- stdout ---\n\(Bytes.text(stdout).prefix(3000))\n--- stderr ---\n\(Bytes.text(stderr).prefix(3000))" }
}

/// A temporary directory.
struct TempDir: Sendable {
    let path: String

    init(_ prefix: String) throws {
        path = NSTemporaryDirectory() + "/\(prefix)-\(UUID().uuidString.lowercased())"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

enum Subprocess {
    /// Runs a program to its end; output goes to files (no pipe deadlocks).
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) async throws -> ProcessResult {
        let scratch = try TempDir("inproc-proc")
        defer { scratch.remove() }
        let outPath = scratch.file("out"), errPath = scratch.file("err")
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        guard let out = FileHandle(forWritingAtPath: outPath), let err = FileHandle(forWritingAtPath: errPath) else {
            throw InProcessRegistryError("cannot open output files")
        }
        defer {
            try? out.close()
            try? err.close()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in continuation.resume() }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        return ProcessResult(status: process.terminationStatus,
                             stdout: FileManager.default.contents(atPath: outPath).map { Array($0) } ?? [],
                             stderr: FileManager.default.contents(atPath: errPath).map { Array($0) } ?? [])
    }
}

/// skopeo with a private HOME and auth file, so the host's credentials stay out of the tests.
struct Skopeo: Sendable {
    static let path = "/usr/bin/skopeo"
    let home: TempDir

    init() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: Self.path),
                          "skopeo is not installed at \(Self.path) (apt-get install skopeo, or scripts/install-deps.sh)")
        home = try TempDir("inproc-skopeo-home")
    }

    func run(_ arguments: [String]) async throws -> ProcessResult {
        var env = ProcessInfo.processInfo.environment
        for key in ["DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME"] { env.removeValue(forKey: key) }
        env["HOME"] = home.path
        env["REGISTRY_AUTH_FILE"] = home.file("auth.json")
        return try await Subprocess.run(Self.path, arguments, environment: env)
    }

    /// Runs and fails the test (throws) unless skopeo exits 0.
    @discardableResult
    func ok(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) async throws -> ProcessResult {
        let result = try await run(arguments)
        if result.status != 0 {
            XCTFail("skopeo \(arguments.joined(separator: " ")) failed: \(result.summary)", file: file, line: line)
            throw InProcessRegistryError("skopeo failed")
        }
        return result
    }

    func cleanup() { home.remove() }
}

/// A blob of an OCI layout directory.
func layoutBlob(_ layout: String, _ digest: OCIDigest) -> [UInt8]? {
    FileManager.default.contents(atPath: "\(layout)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded)").map { Array($0) }
}
