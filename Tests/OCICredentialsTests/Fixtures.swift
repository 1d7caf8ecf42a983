import Foundation
import OCICredentials

/// The Go `credentials/testdata` fixtures, byte for byte in meaning.
enum Fixtures {
    /// `dockerconfig.json`: eu.gcr.io → test:abc\n, https://docker.io → docker:abc\n, eu.gcr.io/my-proj → myproj:abc\n,
    /// index.docker.io → legacy:abc\n.
    static let dockerConfig = """
    {
        "auths": {
            "eu.gcr.io": { "auth": "dGVzdDphYmMK" },
            "https://docker.io": { "auth": "ZG9ja2VyOmFiYwo=" },
            "eu.gcr.io/my-proj": { "auth": "bXlwcm9qOmFiYwo=" },
            "index.docker.io": { "auth": "bGVnYWN5OmFiYwo=" }
        }
    }
    """

    /// `dockerconfig-legacy.json`: only index.docker.io → legacy:abc\n (the Docker Hub legacy *domain*).
    static let dockerConfigLegacy = """
    {
        "auths": {
            "index.docker.io": { "auth": "bGVnYWN5OmFiYwo=" }
        }
    }
    """

    /// `dockerconfig-empty.json`: an empty entry.
    static let dockerConfigEmpty = """
    {"auths":{"eu.gcr.io":{}}}
    """
}

/// A temporary directory removed when the test ends.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = (NSTemporaryDirectory() as NSString).appendingPathComponent("ocicredentials-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Writes a file (creating parent directories) and returns its path.
    @discardableResult
    func write(_ name: String, _ contents: String, mode: Int? = nil) throws -> String {
        let target = file(name)
        try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: URL(fileURLWithPath: target))
        if let mode { try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: target) }
        return target
    }

    func read(_ name: String) throws -> String {
        String(decoding: try Data(contentsOf: URL(fileURLWithPath: file(name))), as: UTF8.self)
    }
}

/// A fake `docker-credential-fake` in its own directory. Every run appends "<action> <input-or-url>" to `calls`.
///
/// get: `reg.example.com` → helperuser/helpersecret; `token.example.com` → `<token>`/idtoken; `slow.example.com` sleeps;
/// `fail.example.com` fails with status 3; a stored URL → what was stored; else "credentials not found".
/// store: keeps the JSON; erase: removes it (or "not found"); list: the stored URLs plus reg.example.com.
final class FakeHelper {
    let directory: TemporaryDirectory
    let name: String

    init(name: String = "fake") throws {
        self.name = name
        directory = try TemporaryDirectory()
        let state = directory.path
        let script = """
        #!/bin/sh
        STATE='\(state)'
        action="$1"
        key() { printf '%s' "$1" | tr -c 'A-Za-z0-9.' '_'; }
        case "$action" in
        get)
            url=$(cat)
            echo "get $url" >> "$STATE/calls"
            case "$url" in
            reg.example.com|https://reg.example.com)
                printf '{"ServerURL":"%s","Username":"helperuser","Secret":"helpersecret"}\\n' "$url"; exit 0 ;;
            token.example.com)
                printf '{"ServerURL":"%s","Username":"<token>","Secret":"idtoken"}' "$url"; exit 0 ;;
            slow.example.com)
                exec sleep 20 ;;
            fail.example.com)
                echo "the keychain is on fire" >&2; exit 3 ;;
            esac
            if [ -f "$STATE/stored-$(key "$url")" ]; then cat "$STATE/stored-$(key "$url")"; exit 0; fi
            echo "credentials not found in native keychain"; exit 1 ;;
        store)
            input=$(cat)
            echo "store $input" >> "$STATE/calls"
            url=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/p')
            printf '%s' "$input" > "$STATE/stored-$(key "$url")"
            exit 0 ;;
        erase)
            url=$(cat)
            echo "erase $url" >> "$STATE/calls"
            if [ -f "$STATE/stored-$(key "$url")" ]; then rm "$STATE/stored-$(key "$url")"; exit 0; fi
            echo "credentials not found in native keychain"; exit 1 ;;
        list)
            echo "list" >> "$STATE/calls"
            printf '{"reg.example.com":"helperuser"}'; exit 0 ;;
        esac
        echo "unknown action $action" >&2
        exit 2
        """
        try directory.write("docker-credential-\(name)", script, mode: 0o755)
    }

    var searchPath: [String] { [directory.path] }

    /// The lines of the call log.
    var calls: [String] {
        guard let text = try? directory.read("calls") else { return [] }
        return text.split(separator: "\n").map(String.init)
    }

    func calls(starting prefix: String) -> [String] { calls.filter { $0.hasPrefix(prefix) } }

    /// What `store` received for a URL, if anything is stored.
    func stored(_ url: String) -> String? {
        let key = String(url.map { $0.isLetter || $0.isNumber || $0 == "." ? $0 : "_" })
        return try? directory.read("stored-\(key)")
    }

    func helper(timeout: Duration = .seconds(10), cache: CredentialHelperCache? = CredentialHelperCache()) -> CredentialHelper {
        CredentialHelper(name: name, searchPath: searchPath, environment: testEnvironment, timeout: timeout, cache: cache)
    }
}

/// A minimal environment for helper processes.
let testEnvironment = ["PATH": "/usr/local/bin:/usr/bin:/bin"]
