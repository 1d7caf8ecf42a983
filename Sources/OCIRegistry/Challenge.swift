/// A parsed `WWW-Authenticate` challenge.
@_spi(Parsers) public struct AuthChallenge: Sendable, Hashable {
    public enum Scheme: String, Sendable { case basic, bearer, other }
    public var scheme: Scheme
    public var parameters: [String: String]

    public var realm: String? { parameters["realm"] }
    public var service: String? { parameters["service"] }
    /// The scopes asked for: the `scope` parameter split on spaces.
    public var scopes: [String] {
        (parameters["scope"] ?? "").split(separator: " ").map(String.init).filter { !$0.isEmpty }
    }
    public var error: String? { parameters["error"] }

    /// Parses every challenge in a header value (`Bearer realm="…",service="…", Basic realm="…"`).
    /// Malformed input yields fewer challenges, never a crash.
    public static func parse(_ header: String) -> [AuthChallenge] {
        var result: [AuthChallenge] = []
        let chars = Array(header.unicodeScalars)
        var i = 0
        func skipSpaces() { while i < chars.count, chars[i] == " " || chars[i] == "\t" || chars[i] == "," { i += 1 } }
        func token() -> String {
            var s = ""
            while i < chars.count, chars[i] != " ", chars[i] != "\t", chars[i] != "=", chars[i] != "," {
                s.unicodeScalars.append(chars[i]); i += 1
            }
            return s
        }
        while i < chars.count {
            skipSpaces()
            let schemeName = token()
            guard !schemeName.isEmpty else { i += 1; continue }
            var params: [String: String] = [:]
            // parameters: key=value or key="quoted", separated by commas, until the next scheme token.
            while i < chars.count {
                while i < chars.count, chars[i] == " " || chars[i] == "\t" { i += 1 }
                let save = i
                let key = token()
                while i < chars.count, chars[i] == " " { i += 1 }
                guard !key.isEmpty, i < chars.count, chars[i] == "=" else { i = save; break }
                i += 1
                while i < chars.count, chars[i] == " " { i += 1 }
                var value = ""
                if i < chars.count, chars[i] == "\"" {
                    i += 1
                    while i < chars.count, chars[i] != "\"" {
                        if chars[i] == "\\", i + 1 < chars.count { i += 1 }
                        value.unicodeScalars.append(chars[i]); i += 1
                    }
                    i += 1
                } else {
                    while i < chars.count, chars[i] != ",", chars[i] != " " { value.unicodeScalars.append(chars[i]); i += 1 }
                }
                params[key.lowercased()] = value
                while i < chars.count, chars[i] == " " { i += 1 }
                if i < chars.count, chars[i] == "," { i += 1 } else { break }
            }
            let scheme = Scheme(rawValue: schemeName.lowercased()) ?? .other
            result.append(AuthChallenge(scheme: scheme, parameters: params))
        }
        return result
    }
}
