import Foundation
import NIOCore
import NIOPosix
import OCISync

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors thrown by the OCITesting harness.
public struct OCITestingError: Error, CustomStringConvertible, Sendable {
    /// A human-readable explanation, including the tail of the relevant log where there is one.
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { "OCITesting: \(message)" }
}

// MARK: - Encoding helpers

enum Base64 {
    /// Unpadded base64url, as used by JWTs.
    static func url<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func standard<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        Data(bytes).base64EncodedString()
    }
}

/// Decodes `application/x-www-form-urlencoded` data (also used for URL query strings): `+` is a space and
/// `%XX` escapes are decoded; malformed escapes are kept literally.
func formDecode(_ string: Substring) -> [(name: String, value: String)] {
    guard !string.isEmpty else { return [] }
    return string.split(separator: "&", omittingEmptySubsequences: true).map { pair in
        if let eq = pair.firstIndex(of: "=") {
            return (percentDecode(pair[..<eq]), percentDecode(pair[pair.index(after: eq)...]))
        }
        return (percentDecode(pair), "")
    }
}

func percentDecode(_ s: Substring) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(s.utf8.count)
    let bytes = Array(s.utf8)
    var i = 0
    while i < bytes.count {
        let b = bytes[i]
        if b == UInt8(ascii: "+") {
            out.append(UInt8(ascii: " "))
            i += 1
        } else if b == UInt8(ascii: "%"), i + 2 < bytes.count,
                  let hi = hexValue(bytes[i + 1]), let lo = hexValue(bytes[i + 2]) {
            out.append(hi << 4 | lo)
            i += 3
        } else {
            out.append(b)
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
}

/// Escapes a string for a double-quoted YAML scalar.
func yamlQuoted(_ s: String) -> String {
    var out = "\""
    for ch in s.unicodeScalars {
        switch ch {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default: out.unicodeScalars.append(ch)
        }
    }
    return out + "\""
}

/// Escapes a string for a JSON string literal (with the quotes).
func jsonQuoted(_ s: String) -> String {
    var out = "\""
    for ch in s.unicodeScalars {
        switch ch {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if ch.value < 0x20 {
                out += String(format: "\\u%04x", ch.value)
            } else {
                out.unicodeScalars.append(ch)
            }
        }
    }
    return out + "\""
}

/// Random lowercase hex of `count` bytes.
func randomHex(_ count: Int) -> String {
    var g = SystemRandomNumberGenerator()
    return (0..<count).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
}

// MARK: - Files and executables

enum FileSupport {
    /// Creates a fresh, uniquely named directory under the system temporary directory.
    static func makeTemporaryDirectory(prefix: String) throws -> String {
        let base = FileManager.default.temporaryDirectory
        let url = base.appendingPathComponent("\(prefix)-\(ProcessInfo.processInfo.processIdentifier)-\(randomHex(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        return url.path
    }

    static func write(_ text: String, to path: String, permissions: Int = 0o600) throws {
        let ok = FileManager.default.createFile(atPath: path, contents: Data(text.utf8),
                                                attributes: [.posixPermissions: permissions])
        if !ok { throw OCITestingError("cannot write \(path)") }
    }

    static func removeQuietly(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The last `maxLines` lines of a text file (empty if it cannot be read).
    static func tail(of path: String, maxLines: Int = 40, maxBytes: Int = 16 * 1024) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        let start = size > UInt64(maxBytes) ? size - UInt64(maxBytes) : 0
        try? handle.seek(toOffset: start)
        let data = (try? handle.readToEnd()) ?? Data()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        return lines.suffix(maxLines).joined(separator: "\n")
    }

    /// Resolves an executable name through `PATH` (or checks an absolute/relative path).
    static func findExecutable(_ name: String) -> String? {
        if name.contains("/") {
            return FileManager.default.isExecutableFile(atPath: name) ? name : nil
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        let extra = ["/usr/bin", "/bin", "/usr/local/bin", "/opt/homebrew/bin"]
        for dir in path.split(separator: ":").map(String.init) + extra where !dir.isEmpty {
            let candidate = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

// MARK: - Running tools

struct ToolResult: Sendable {
    var status: Int32
    var stdout: [UInt8]
    var stderr: [UInt8]

    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

enum Tool {
    /// Runs a short-lived tool to completion off the cooperative thread pool, capturing its output.
    static func run(_ executable: String, _ arguments: [String], directory: String? = nil,
                    environment: [String: String]? = nil) async throws -> ToolResult {
        guard let path = FileSupport.findExecutable(executable) else {
            throw OCITestingError("required tool '\(executable)' not found in PATH")
        }
        return try await withCheckedThrowingContinuation { (cont: CheckedContinuation<ToolResult, Error>) in
            DispatchQueue.global().async {
                cont.resume(with: Result { try runBlocking(path, arguments, directory: directory,
                                                           environment: environment) })
            }
        }
    }

    /// Runs a tool and throws (with its stderr) unless it exits with status 0.
    @discardableResult
    static func check(_ executable: String, _ arguments: [String], directory: String? = nil) async throws -> ToolResult {
        let result = try await run(executable, arguments, directory: directory)
        guard result.status == 0 else {
            throw OCITestingError("\(executable) \(arguments.joined(separator: " ")) failed with status \(result.status): \(result.stderrText)\(result.stdoutText)")
        }
        return result
    }

    private static func runBlocking(_ path: String, _ arguments: [String], directory: String?,
                                    environment: [String: String]?) throws -> ToolResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if let environment { process.environment = environment }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Drain both pipes concurrently so neither can fill up and block the child.
        let errData = Locked(Data())
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            let d = err.fileHandleForReading.readDataToEndOfFile()
            errData.withLock { $0 = d }
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        try? out.fileHandleForReading.close()
        try? err.fileHandleForReading.close()
        return ToolResult(status: process.terminationStatus, stdout: Array(outData), stderr: Array(errData.current))
    }
}

// MARK: - Ports and timing

enum Net {
    /// Binds 127.0.0.1:0, reads the port the kernel chose and closes the socket again.
    /// Racy by nature: callers retry with a new port if the process they start cannot bind it.
    static func pickFreePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let port = channel.localAddress?.port
        try? await channel.close()
        guard let port else { throw OCITestingError("could not determine a free port") }
        return port
    }
}

/// Runs `body`, cancelling it and throwing when it takes longer than `timeout`.
func withTimeout<T: Sendable>(_ timeout: Duration, _ what: @autoclosure () -> String,
                              _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let description = what()
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw OCITestingError("timed out after \(timeout) \(description)")
        }
        return value
    }
}
