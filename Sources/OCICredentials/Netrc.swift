import Foundation

/// A parsed `.netrc` file (curl's and ftp's format, which SwiftPM and swift-container-plugin read too):
/// `machine HOST login USER password SECRET` entries, an optional `default` entry, `account` values and `macdef`
/// macros (both skipped). Tokens are separated by spaces, tabs or newlines and may be double-quoted (with `\"` and
/// `\\` escapes) as in curl.
///
/// Matching is curl's: by host name only, case-insensitively, so a `machine` entry serves every port of its host;
/// the first matching `machine` wins; `default` serves every host no `machine` names. Errors name the file and the
/// line, never a password.
public struct Netrc: Sendable, Hashable {
    /// One `machine` (or `default`) entry.
    public struct Entry: Sendable, Hashable {
        /// The host name; nil for the `default` entry.
        public var machine: String?
        public var login: String?
        public var password: String?
    }

    public var entries: [Entry]
    /// The file it came from, for credential sources and messages.
    public var origin: String

    /// Parses a file's text.
    public init(parsing text: String, origin: String = ".netrc") throws(CredentialsError) {
        self.origin = origin
        self.entries = []
        var tokens = try Self.tokens(text, origin: origin)
        tokens.reverse()
        var current: Entry?
        func finish() {
            if let entry = current { entries.append(entry) }
            current = nil
        }
        while let (token, line) = tokens.popLast() {
            func value(for keyword: String) throws(CredentialsError) -> String {
                guard let (next, _) = tokens.popLast() else {
                    throw .invalidNetrc(path: origin, line: line, reason: "\"\(keyword)\" has no value")
                }
                return next
            }
            switch token {
            case "machine":
                finish()
                current = Entry(machine: try value(for: "machine").lowercased())
            case "default":
                finish()
                current = Entry(machine: nil)
            case "login":
                guard current != nil else { throw .invalidNetrc(path: origin, line: line, reason: "\"login\" before any \"machine\"") }
                current?.login = try value(for: "login")
            case "password":
                guard current != nil else { throw .invalidNetrc(path: origin, line: line, reason: "\"password\" before any \"machine\"") }
                current?.password = try value(for: "password")
            case "account":
                _ = try value(for: "account")
            case "macdef":
                // A macro runs to the next empty line: drop its tokens.
                finish()
                _ = try value(for: "macdef")
                let end = Self.macroEnd(text, afterLine: line)
                while let (_, tokenLine) = tokens.last, tokenLine <= end { tokens.removeLast() }
            default:
                // The token is not echoed: it may be a password that lost its keyword.
                throw .invalidNetrc(path: origin, line: line,
                                    reason: "an unexpected word where machine, default, login, password, account or macdef belongs")
            }
        }
        finish()
    }

    /// Reads a file.
    public init(contentsOf path: String) throws(CredentialsError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadableFile(path: path, reason: FileManager.default.fileExists(atPath: path) ? "it cannot be read" : "no such file")
        }
        try self.init(parsing: String(decoding: data, as: UTF8.self), origin: path)
    }

    /// The default file: `$NETRC` when set, else `~/.netrc`.
    public static func defaultPath(environment: [String: String], homeDirectory: String? = nil) -> String {
        if let path = Credential.nonEmpty(environment["NETRC"]) { return path }
        let home = homeDirectory ?? ConfigLocations.homeDirectory(environment: environment)
        return (home as NSString).appendingPathComponent(".netrc")
    }

    /// The credential for a host (`HOST[:PORT]`, IPv6 in brackets), matched as curl does; nil when none.
    public func credential(forHost hostWithPort: String) -> Credential? {
        let host = Self.hostName(hostWithPort)
        let entry = entries.first { $0.machine == host } ?? entries.first { $0.machine == nil }
        guard let entry, entry.login != nil || entry.password != nil else { return nil }
        return Credential(username: Credential.nonEmpty(entry.login), password: Credential.nonEmpty(entry.password),
                          source: "netrc:\(origin)")
    }

    /// The host name of `HOST[:PORT]`, lowercased, without brackets.
    static func hostName(_ hostWithPort: String) -> String {
        var text = Substring(hostWithPort.lowercased())
        if let range = text.range(of: "://") { text = text[range.upperBound...] }
        if let slash = text.firstIndex(of: "/") { text = text[..<slash] }
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            return String(text[text.index(after: text.startIndex)..<close])
        }
        if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon { text = text[..<colon] }
        return String(text)
    }

    /// Splits into tokens with their (1-based) line numbers.
    static func tokens(_ text: String, origin: String) throws(CredentialsError) -> [(String, Int)] {
        var tokens: [(String, Int)] = []
        var line = 1
        var current = ""
        var inToken = false
        var quoted = false
        var escaped = false
        var skipComment = false
        var tokenLine = 1
        for character in text {
            if skipComment {
                if character.isNewline { skipComment = false; line += 1 }
                continue
            }
            if quoted {
                if escaped {
                    current.append(character == "n" ? "\n" : character == "t" ? "\t" : character)
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    quoted = false
                } else {
                    if character.isNewline { line += 1 }
                    current.append(character)
                }
                continue
            }
            if character.isNewline || character == " " || character == "\t" {
                if inToken { tokens.append((current, tokenLine)); current = ""; inToken = false }
                if character.isNewline { line += 1 }
                continue
            }
            if !inToken {
                // A comment runs to the end of the line (curl), where a token could start.
                if character == "#" { skipComment = true; continue }
                inToken = true
                tokenLine = line
                if character == "\"" { quoted = true; continue }
            }
            current.append(character)
        }
        if quoted { throw .invalidNetrc(path: origin, line: tokenLine, reason: "a quoted value is not closed") }
        if inToken { tokens.append((current, tokenLine)) }
        return tokens
    }

    /// The last line of a macro that starts on `line` (the line before the first empty one).
    static func macroEnd(_ text: String, afterLine line: Int) -> Int {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var n = line
        while n < lines.count, !lines[n].trimmingCharacters(in: .whitespaces).isEmpty { n += 1 }
        return n
    }
}
