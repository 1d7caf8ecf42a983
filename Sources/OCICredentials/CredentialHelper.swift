import Foundation
import OCISync

/// A docker credential helper, the program `docker-credential-<name>`, spoken to by the docker credential-helper protocol:
/// - `get`: server URL on stdin; stdout `{"ServerURL":…,"Username":…,"Secret":…}`. A `<token>` user name means the
///   secret is an identity token. Exit status ≠ 0 with "credentials not found" in the output means "nothing stored".
/// - `store`: `{"ServerURL":…,"Username":…,"Secret":…}` on stdin.
/// - `erase`: server URL on stdin.
/// - `list`: stdout `{"<server URL>":"<user name>",…}`.
///
/// `get` answers (including "not found") are remembered in ``cache`` per helper and server URL, so a helper
/// runs once per address for the life of the process; `store`/`erase` invalidate the address. Secrets are never logged
/// or put into errors.
public struct CredentialHelper: Sendable {
    /// The helper's name, e.g. `pass`, `osxkeychain`, `ecr-login`.
    public let name: String
    /// Directories searched for the executable; nil means the `PATH` of ``environment``.
    public var searchPath: [String]?
    /// The helper's environment (also the source of `PATH` when ``searchPath`` is nil).
    public var environment: [String: String]
    /// How long one helper run may take before it is killed.
    public var timeout: Duration
    /// Where `get` answers are remembered; nil disables caching.
    public var cache: CredentialHelperCache?

    /// The user name that marks an identity token in the helper protocol.
    public static let tokenUsername = "<token>"

    public init(name: String, searchPath: [String]? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment,
                timeout: Duration = .seconds(30), cache: CredentialHelperCache? = .shared) {
        self.name = name
        self.searchPath = searchPath
        self.environment = environment
        self.timeout = timeout
        self.cache = cache
    }

    /// `docker-credential-<name>`.
    public var executableName: String { "docker-credential-\(name)" }

    /// The directories searched, in order.
    public var searchedDirectories: [String] {
        if let searchPath { return searchPath }
        return (environment["PATH"] ?? "").split(separator: ":", omittingEmptySubsequences: true).map(String.init)
    }

    /// The full path of the helper executable.
    public func executablePath() throws(CredentialsError) -> String {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else { throw .invalidHelperName(name) }
        for directory in searchedDirectories {
            let candidate = (directory as NSString).appendingPathComponent(executableName)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
               FileManager.default.isExecutableFile(atPath: candidate) {
                return candidate
            }
        }
        throw .helperNotFound(helper: name, searched: searchedDirectories)
    }

    // MARK: protocol actions

    /// The stored credential for a server URL, or nil when the helper has none. Cached (see the type's documentation).
    public func get(serverURL: String) throws(CredentialsError) -> Credential? {
        guard let cache else { return try fetch(executable: try executablePath(), serverURL: serverURL) }
        return try cache.value(helper: cacheKey, serverURL: serverURL) { () throws(CredentialsError) -> Credential? in
            try fetch(executable: try executablePath(), serverURL: serverURL)
        }
    }

    /// The remembered answer for a server URL without running anything: `.some(nil)` for a remembered "not found",
    /// nil when the helper has not been asked yet (or caching is off).
    public func cachedAnswer(serverURL: String) -> Credential?? {
        cache?.peek(helper: cacheKey, serverURL: serverURL)
    }

    /// Identifies this helper in the cache: its program name and the directories it is searched in.
    var cacheKey: String { "\(executableName)@\(searchedDirectories.joined(separator: ":"))" }

    private func fetch(executable: String, serverURL: String) throws(CredentialsError) -> Credential? {
        let output = try run(executable: executable, action: "get", input: Data(serverURL.utf8), secrets: [])
        guard let output else { return nil }
        let trimmed = output.stdout.trimmingJSONWhitespace()
        if trimmed.isEmpty { return nil }
        guard let object = try? JSONSerialization.jsonObject(with: trimmed) as? [String: Any] else {
            throw .helperInvalidOutput(helper: name, action: "get", reason: "stdout is not a JSON object")
        }
        let username = object["Username"] as? String
        let secret = object["Secret"] as? String
        let source = "helper:\(name)"
        if username == Self.tokenUsername {
            return Credential(identityToken: Credential.nonEmpty(secret), source: source)
        }
        return Credential(username: Credential.nonEmpty(username), password: Credential.nonEmpty(secret), source: source)
    }

    /// Stores a credential (user name and password, or an identity token as user `<token>`).
    public func store(serverURL: String, credential: Credential) throws(CredentialsError) {
        let executable = try executablePath()
        let username: String
        let secret: String
        if let token = Credential.nonEmpty(credential.identityToken) {
            username = Self.tokenUsername
            secret = token
        } else if credential.registryToken != nil && credential.password == nil {
            throw .unsupportedCredential(helper: name, reason: "the helper protocol has no field for registry tokens")
        } else {
            username = credential.username ?? ""
            secret = credential.password ?? ""
        }
        let payload: [String: String] = ["ServerURL": serverURL, "Username": username, "Secret": secret]
        let input: Data
        do { input = try JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys, .withoutEscapingSlashes]) } catch {
            throw .unsupportedCredential(helper: name, reason: "the credential cannot be encoded as JSON")
        }
        cache?.invalidate(helper: cacheKey, serverURL: serverURL)
        _ = try run(executable: executable, action: "store", input: input, secrets: [secret])
    }

    /// Erases the credential for a server URL; "not found" is not an error. Returns false if there was nothing to erase.
    @discardableResult
    public func erase(serverURL: String) throws(CredentialsError) -> Bool {
        let executable = try executablePath()
        cache?.invalidate(helper: cacheKey, serverURL: serverURL)
        return try run(executable: executable, action: "erase", input: Data(serverURL.utf8), secrets: []) != nil
    }

    /// Server URL → user name of everything the helper stores.
    public func list() throws(CredentialsError) -> [String: String] {
        let executable = try executablePath()
        guard let output = try run(executable: executable, action: "list", input: nil, secrets: []) else { return [:] }
        let trimmed = output.stdout.trimmingJSONWhitespace()
        if trimmed.isEmpty { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: trimmed) as? [String: Any] else {
            throw .helperInvalidOutput(helper: name, action: "list", reason: "stdout is not a JSON object")
        }
        return object.compactMapValues { $0 as? String }
    }

    /// Runs one action. nil when the helper reports "credentials not found".
    private func run(executable: String, action: String, input: Data?, secrets: [String]) throws(CredentialsError)
        -> ProcessRunner.Output? {
        let output: ProcessRunner.Output
        do {
            output = try ProcessRunner.run(executable: executable, arguments: [action], input: input,
                                           environment: environment, timeout: timeout)
        } catch {
            switch error {
            case .timedOut: throw .helperTimedOut(helper: name, action: action, seconds: timeout.secondsValue)
            case .launch(let reason): throw .helperLaunchFailed(helper: name, reason: reason)
            case .inputTooLarge: throw .unsupportedCredential(helper: name, reason: "the input is larger than \(ProcessRunner.maxInput) bytes")
            }
        }
        guard output.status != 0 else { return output }
        let message = Self.message(stdout: output.stdout, stderr: output.stderr, secrets: secrets)
        if message.lowercased().contains("credentials not found") { return nil }
        throw .helperFailed(helper: name, action: action, status: output.status, message: message)
    }

    /// The helper's complaint, trimmed and truncated, with anything we sent as a secret cut out.
    static func message(stdout: Data, stderr: Data, secrets: [String]) -> String {
        let out = String(decoding: stdout, as: UTF8.self).trimmingWhitespace()
        let err = String(decoding: stderr, as: UTF8.self).trimmingWhitespace()
        var message = [out, err].filter { !$0.isEmpty }.joined(separator: "; ")
        for secret in secrets where !secret.isEmpty {
            message = message.replacingOccurrences(of: secret, with: "<redacted>")
        }
        if message.count > 300 { message = String(message.prefix(300)) + "…" }
        return message
    }
}

/// Remembers credential-helper answers per helper (program name and search directories) and server URL for the life of
/// the process.
/// Concurrent lookups of the same key run the helper once.
public final class CredentialHelperCache: Sendable {
    /// The process-wide cache used by default.
    public static let shared = CredentialHelperCache()

    private final class Slot: @unchecked Sendable {
        /// Held while the helper runs, so concurrent askers of the same key wait for one run.
        let computing = NSLock()
        /// The answer; only ever locked briefly, so peeking never waits for a running helper.
        let value = Locked<Credential??>(nil)
    }

    private struct Key: Hashable {
        var helper: String
        var serverURL: String
    }

    private let slots = Locked<[Key: Slot]>([:])

    public init() {}

    func value(helper: String, serverURL: String,
               compute: () throws(CredentialsError) -> Credential?) throws(CredentialsError) -> Credential? {
        let key = Key(helper: helper, serverURL: serverURL)
        let slot = slots.withLock { slots in
            if let slot = slots[key] { return slot }
            let slot = Slot()
            slots[key] = slot
            return slot
        }
        if let cached = slot.value.withLock({ $0 }) { return cached }
        slot.computing.lock()
        defer { slot.computing.unlock() }
        if let cached = slot.value.withLock({ $0 }) { return cached }
        let fresh = try compute()
        slot.value.withLock { $0 = .some(fresh) }
        return fresh
    }

    func peek(helper: String, serverURL: String) -> Credential?? {
        guard let slot = slots.withLock({ $0[Key(helper: helper, serverURL: serverURL)] }) else { return nil }
        return slot.value.withLock { $0 }
    }

    /// Forgets the answer for one helper and server URL.
    public func invalidate(helper: String, serverURL: String) {
        _ = slots.withLock { $0.removeValue(forKey: Key(helper: helper, serverURL: serverURL)) }
    }

    /// Forgets everything.
    public func removeAll() {
        slots.withLock { $0.removeAll() }
    }
}

extension Data {
    func trimmingJSONWhitespace() -> Data {
        let bytes = Array(self)
        guard let first = bytes.firstIndex(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }),
              let last = bytes.lastIndex(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) })
        else { return Data() }
        return Data(bytes[first...last])
    }
}
