import Foundation
import Logging
import OCIReference
import OCISync

/// Produces a credential for an address on demand (e.g. by asking a credential helper). Called with the address exactly as
/// it was added. Returning nil or an anonymous credential means "nothing here"; thrown errors are skipped by
/// ``Keyring/get(resource:)`` and reported by ``Keyring/credential(forHost:repository:)`` only if nothing else matched.
public typealias CredentialGetter = @Sendable (_ address: String) throws -> Credential?

/// Credentials indexed by normalised registry address (Go: `GeneralOciKeyring`). Thread-safe.
///
/// Matching (see ``RegistryAddress`` for the normalisation of keys):
/// 1. The lookup path is `host/repository` with the host canonicalised (lowercase, default port dropped, Docker Hub's
///    names unified), so Docker Hub's keys `https://index.docker.io/v1/`, `index.docker.io`, `docker.io` and
///    `registry-1.docker.io` all match Docker Hub references.
/// 2. Path-specific keys are tried most specific first: for `eu.gcr.io/proj/img` the keys `eu.gcr.io/proj/img`, then
///    `eu.gcr.io/proj`, then `eu.gcr.io`. A key whose entries give nothing usable falls back to the next shorter key
///    (the Go trie never backtracked). Keys only match whole path segments; there is no catch-all key: what serves
///    any host (a `credsStore` helper, `.netrc`, `GITHUB_TOKEN`) is a fallback (``addFallback(helper:)``), asked in
///    the order added once no key gave a credential.
/// 3. Within one key, entries are tried in the order they were added (earlier sources first; within one config file,
///    Docker Hub's `docker.io` key before `index.docker.io` before `registry-1.docker.io`, then keys in sorted order).
///    Errors and anonymous results are skipped; the first usable credential wins.
public final class Keyring: CredentialSource, Sendable {
    struct Entry: Sendable {
        enum Provider: Sendable {
            case fixed(Credential)
            case getter(CredentialGetter)
            case helper(CredentialHelper)

            /// Whether asking may block (run a helper or unknown code).
            func mayBlock(address: String) -> Bool {
                switch self {
                case .fixed: return false
                case .getter: return true
                case .helper(let helper): return helper.cachedAnswer(serverURL: address) == nil
                }
            }
        }
        var address: String
        var aliasRank: Int
        var batch: Int
        var sequence: Int
        var provider: Provider

        var order: (Int, Int, Int) { (batch, aliasRank, sequence) }
    }

    /// A source asked for any host that no key matched (see ``addFallback(helper:)``).
    enum Fallback: Sendable {
        case helper(CredentialHelper)
        case getter(@Sendable (_ host: String) throws -> Credential?)
        case netrc(Netrc)

        func mayBlock(host: String) -> Bool {
            switch self {
            case .netrc: return false
            case .getter: return true
            case .helper(let helper): return helper.cachedAnswer(serverURL: Keyring.helperServerURL(host)) == nil
            }
        }
    }

    struct State: Sendable {
        var entries: [String: [Entry]] = [:]
        var fallbacks: [Fallback] = []
        var nextSequence = 0
        var nextBatch = 0
    }

    private let state = Locked(State())
    let logger: Logger

    /// An empty keyring: every lookup answers nil (anonymous).
    public init(logger: Logger = Logger(label: "ociclient.credentials")) {
        self.logger = logger
    }

    /// The number of distinct normalised addresses (Go: `Size`).
    public var size: Int { state.withLock { $0.entries.count } }

    /// The normalised keys, sorted.
    public var addresses: [String] { state.withLock { $0.entries.keys.sorted() } }

    // MARK: adding

    /// Adds a fixed credential for an address (Go: `AddAuthConfig`). Returns false, adding nothing, when the address has
    /// no host (an empty key would otherwise match every registry). Anonymous credentials are kept but never match.
    @discardableResult
    public func add(address: String, credential: Credential) -> Bool {
        addBatch([(address, .fixed(credential))])
    }

    /// Adds a getter for an address (Go: `AddAuthConfigGetter`). Returns false when the address has no host.
    @discardableResult
    public func add(address: String, getter: @escaping CredentialGetter) -> Bool {
        addBatch([(address, .getter(getter))])
    }

    /// Adds a credential helper asked for every registry that no key matches, after all keyed entries: docker's
    /// `credsStore` when a config has no `auths` entry for the host (amazon-ecr-credential-helper's setup
    /// `{"credsStore": "ecr-login"}`). It is asked with the host (`https://index.docker.io/v1/` for Docker Hub).
    public func addFallback(helper: CredentialHelper) {
        state.withLock { $0.fallbacks.append(.helper(helper)) }
    }

    /// Adds a getter asked with the registry host for every registry that no key (and no earlier fallback) matches.
    public func addFallback(_ getter: @escaping @Sendable (_ host: String) throws -> Credential?) {
        state.withLock { $0.fallbacks.append(.getter(getter)) }
    }

    /// Adds a `.netrc` file's entries, asked for every registry that no key (and no earlier fallback) matches.
    public func addFallback(netrc: Netrc) {
        state.withLock { $0.fallbacks.append(.netrc(netrc)) }
    }

    /// The server URL a helper is asked with for a host: docker's for Docker Hub, else the host.
    static func helperServerURL(_ host: String) -> String {
        host == RegistryAddress.dockerHubHost ? RegistryAddress.dockerHubLoginKey : host
    }

    /// Adds entries of one source; within a batch Docker Hub alias rank orders entries of the same key.
    @discardableResult
    func addBatch(_ items: [(address: String, provider: Entry.Provider)]) -> Bool {
        var normalised: [(String, RegistryAddress, Entry.Provider)] = []
        var allValid = true
        for item in items {
            do {
                normalised.append((item.address, try RegistryAddress(normalizing: item.address), item.provider))
            } catch {
                allValid = false
                logger.warning("ignoring credentials for an address without a host", metadata: ["address": "\(item.address)"])
            }
        }
        state.withLock { state in
            let batch = state.nextBatch
            state.nextBatch += 1
            for (address, key, provider) in normalised {
                let entry = Entry(address: address, aliasRank: key.dockerHubAliasRank ?? 0, batch: batch,
                                  sequence: state.nextSequence, provider: provider)
                state.nextSequence += 1
                state.entries[key.key, default: []].append(entry)
                state.entries[key.key]?.sort { $0.order < $1.order }
            }
        }
        return allValid
    }

    /// Appends all of `other`'s entries after this keyring's own (Go: `Merge(k1, k2)` with k1 = self).
    /// Precedence: on equally specific keys **this keyring wins**; a more specific key from `other` still wins over a
    /// less specific one here. `other` is copied as it is now; later changes to it are not seen.
    public func merge(_ other: Keyring) {
        let theirs = other.state.withLock { $0 }
        state.withLock { state in
            state.fallbacks += theirs.fallbacks
            let base = state.nextBatch
            var maxBatch = -1
            let ordered = theirs.entries.flatMap { key, list in list.map { (key, $0) } }.sorted { $0.1.order < $1.1.order }
            for (key, var entry) in ordered {
                maxBatch = max(maxBatch, entry.batch)
                entry.batch += base
                entry.sequence = state.nextSequence
                state.nextSequence += 1
                state.entries[key, default: []].append(entry)
            }
            state.nextBatch = base + maxBatch + 1
            for key in state.entries.keys { state.entries[key]?.sort { $0.order < $1.order } }
        }
    }

    // MARK: lookup

    /// The result of a lookup: the credential (nil if none) and the errors of getters that failed on the way.
    struct Match: Sendable {
        var credential: Credential?
        var matchedKey: String?
        var errors: [CredentialsError] = []
        var otherErrors: [any Error] = []
    }

    func match(_ address: RegistryAddress) -> Match {
        let keys = address.keysMostSpecificFirst
        let candidates: [(String, [Entry])] = state.withLock { state in
            keys.compactMap { key in state.entries[key].map { (key, $0) } }
        }
        var result = Match()
        for (key, entries) in candidates {
            for entry in entries {
                let found: Credential?
                switch entry.provider {
                case .fixed(let credential):
                    found = credential
                case .getter, .helper:
                    do {
                        switch entry.provider {
                        case .getter(let getter): found = try getter(entry.address)
                        case .helper(let helper): found = try helper.get(serverURL: entry.address)
                        case .fixed(let credential): found = credential
                        }
                    } catch let error as CredentialsError {
                        logger.debug("credential getter failed", metadata: ["address": "\(entry.address)", "error": "\(error)"])
                        result.errors.append(error)
                        continue
                    } catch {
                        logger.debug("credential getter failed", metadata: ["address": "\(entry.address)", "error": "\(error)"])
                        result.otherErrors.append(error)
                        continue
                    }
                }
                guard let found, !found.isAnonymous else { continue }
                result.credential = found.source == nil ? found.withSource("keyring") : found
                result.matchedKey = key
                return result
            }
        }
        let fallbacks = state.withLock { $0.fallbacks }
        for fallback in fallbacks {
            let found: Credential?
            do {
                switch fallback {
                case .netrc(let netrc): found = netrc.credential(forHost: address.host)
                case .getter(let getter): found = try getter(address.host)
                case .helper(let helper):
                    found = try helper.get(serverURL: Self.helperServerURL(address.host)).map {
                        $0.source == nil ? $0.withSource("helper:\(helper.name)") : $0
                    }
                }
            } catch let error as CredentialsError {
                logger.debug("credential fallback failed", metadata: ["host": "\(address.host)", "error": "\(error)"])
                result.errors.append(error)
                continue
            } catch {
                logger.debug("credential fallback failed", metadata: ["host": "\(address.host)", "error": "\(error)"])
                result.otherErrors.append(error)
                continue
            }
            guard let found, !found.isAnonymous else { continue }
            result.credential = found.source == nil ? found.withSource("keyring") : found
            result.matchedKey = "*"
            return result
        }
        return result
    }

    /// Credentials for a resource URL or reference (Go: `Get`): `eu.gcr.io/proj/img:tag`, `ubuntu:18.04` (Docker Hub),
    /// a bare host (`eu.gcr.io`, `docker.io`), or a raw path that is not a valid reference. Getter errors are skipped;
    /// nil when nothing usable matches. Runs credential helpers synchronously on the calling thread (their answers are
    /// cached); from async code prefer ``credential(forHost:repository:)``.
    public func get(resource: String) -> Credential? {
        guard let address = Self.lookupAddress(forResource: resource) else { return nil }
        let result = match(address)
        log(result, for: address)
        return result.credential
    }

    /// User name and password for a host (Go: `GetCredentials`). Never fails: `("", "")` (anonymous) when nothing matches,
    /// so token flows can still fetch anonymous tokens.
    public func credentials(forHostname hostname: String) -> (username: String, password: String) {
        guard let address = try? RegistryAddress(normalizing: hostname) else { return ("", "") }
        let found = match(address).credential
        return (found?.username ?? "", found?.password ?? "")
    }

    /// ``CredentialSource`` lookup. nil when nothing matches (never an error for a miss). If nothing usable matched but a
    /// getter (credential helper) failed, that failure is thrown so a broken helper is not mistaken for "anonymous".
    /// Helpers run off the cooperative thread pool.
    public func credential(forHost host: String, repository: String) async throws -> Credential? {
        let address: RegistryAddress
        do { address = try RegistryAddress(host: host, repository: repository) } catch { return nil }
        let (candidates, fallbacks) = state.withLock { state in
            (address.keysMostSpecificFirst.flatMap { state.entries[$0] ?? [] }, state.fallbacks)
        }
        let needsThread = candidates.contains { $0.provider.mayBlock(address: $0.address) }
            || fallbacks.contains { $0.mayBlock(host: address.host) }
        let result: Match
        if needsThread {
            result = await runOnDedicatedThread { self.match(address) }
        } else {
            result = match(address)
        }
        log(result, for: address)
        if result.credential == nil {
            if let error = result.errors.first { throw error }
            if let error = result.otherErrors.first { throw error }
        }
        return result.credential
    }

    private func log(_ result: Match, for address: RegistryAddress) {
        guard logger.logLevel <= .debug else { return }
        if let credential = result.credential {
            var metadata = credential.logMetadata
            metadata["address"] = "\(address.key)"
            metadata["matchedKey"] = result.matchedKey.map { .string($0) }
            logger.debug("using credentials", metadata: metadata)
        } else {
            logger.debug("no credentials, anonymous", metadata: ["address": "\(address.key)", Credential.userLogKey: "anonymous"])
        }
    }

    /// How ``get(resource:)`` reads its argument: scheme stripped; a bare host (contains `.`, is `localhost` or an IPv6
    /// literal, no `/`) is a registry-wide lookup; else a reference (docker-normalised, tag/digest dropped); else, if it
    /// is not a valid reference (e.g. a trailing `/`), its raw `host/path` segments.
    static func lookupAddress(forResource resource: String) -> RegistryAddress? {
        var text = resource.trimmingWhitespace()
        if let range = text.range(of: "://") { text = String(text[range.upperBound...]) }
        guard !text.isEmpty else { return nil }
        if !text.contains("/") && !text.contains("@") {
            let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            let hostPart = parts.first.map(String.init) ?? ""
            let portIsNumeric = parts.count < 2 || (!parts[1].isEmpty && parts[1].allSatisfy { $0.isASCII && $0.isNumber })
            if text.hasPrefix("[") || ((hostPart.contains(".") || hostPart.lowercased() == "localhost") && portIsNumeric) {
                return try? RegistryAddress(normalizing: text)
            }
        }
        if let reference = try? Reference(parsing: text, defaultTag: nil) {
            return try? RegistryAddress(host: reference.host, repository: reference.repository)
        }
        return try? RegistryAddress(normalizing: text)
    }
}
