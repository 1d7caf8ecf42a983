import Foundation
import OCIContent
import OCISpec

// MARK: - v1Compatibility parsing

extension V1History {
    /// Parses a schema1 `v1Compatibility` JSON string as Go's `encoding/json` does: keys match case-insensitively
    /// (`throwaway`/`throwAway`, `Size`/`size`), the last matching key wins, `null` leaves a field unset, and
    /// `created` must be an RFC 3339 time.
    public init(v1Compatibility: String) throws(Schema1ConversionError) {
        let parsed = try ParsedV1History(v1Compatibility, index: 0)
        self.init(author: parsed.author, created: parsed.createdDate, comment: parsed.comment,
                  throwAway: parsed.throwAway, size: parsed.size, containerConfigCmd: parsed.cmd)
    }

    /// Go's `isEmptyLayer`: `throwaway` if present, else `Size == 0` if present, else not empty.
    public var isEmptyLayer: Bool {
        if let throwAway { return throwAway }
        if let size { return size == 0 }
        return false
    }
}

/// The fields of a `v1Compatibility` the conversion uses, parsed with Go's rules.
struct ParsedV1History {
    var author = ""
    var comment = ""
    /// The time as Go re-encodes it (RFC 3339, nanoseconds, trailing zeros dropped); zero time when absent.
    var created = RFC3339.zeroTime
    var createdDate: Date?
    var throwAway: Bool?
    var size: Int64?
    var cmd: [String] = []

    var isEmptyLayer: Bool {
        if let throwAway { return throwAway }
        if let size { return size == 0 }
        return false
    }

    init(_ text: String, index: Int) throws(Schema1ConversionError) {
        func fail(_ why: String) -> Schema1ConversionError { .invalidHistory(index: index, why: why) }
        let members: [RawJSON.Member]
        do {
            members = try RawJSON.members(of: Array(text.utf8))
        } catch {
            throw fail(error.message)
        }
        for member in members {
            switch member.key.lowercased() {
            case "author":
                if let s = try member.string(fail) { author = s }
            case "comment":
                if let s = try member.string(fail) { comment = s }
            case "created":
                if let s = try member.string(fail) {
                    guard let normalised = RFC3339.goFormat(s) else {
                        throw fail("created \"\(s)\" is not an RFC 3339 time")
                    }
                    created = normalised
                    createdDate = RFC3339.date(s)
                }
            case "throwaway":
                switch try member.json(fail) {
                case .null: break
                case .bool(let b): throwAway = b
                default: throw fail("throwaway must be a boolean")
                }
            case "size":
                switch try member.json(fail) {
                case .null: break
                case .number(let n) where n.rounded() == n && abs(n) < 9.0e15: size = Int64(n)
                default: throw fail("Size must be an integer")
                }
            case "container_config":
                switch try member.json(fail) {
                case .null: break
                case .object:
                    let inner: [RawJSON.Member]
                    do {
                        inner = try RawJSON.members(of: member.value)
                    } catch {
                        throw fail(error.message)
                    }
                    for field in inner where field.key.lowercased() == "cmd" {
                        switch try field.json(fail) {
                        case .null: cmd = []
                        case .array(let items):
                            cmd = try items.map { item throws(Schema1ConversionError) -> String in
                                guard case .string(let s) = item else { throw fail("container_config.Cmd must hold strings") }
                                return s
                            }
                        default: throw fail("container_config.Cmd must be an array of strings")
                        }
                    }
                default: throw fail("container_config must be an object")
                }
            default: break
            }
        }
    }
}

/// RFC 3339 times in Go's encoding.
enum RFC3339 {
    /// Go's zero `time.Time` as JSON.
    static let zeroTime = "0001-01-01T00:00:00Z"

    /// Validates an RFC 3339 time as Go's `time.Time.UnmarshalJSON` does and formats it like
    /// `time.Time.MarshalJSON` (`RFC3339Nano`): fraction up to 9 digits without trailing zeros, `Z` for a zero
    /// offset, other offsets kept. nil when invalid.
    static func goFormat(_ s: String) -> String? {
        let b = Array(s.utf8)
        func digits(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= b.count else { return nil }
            var v = 0
            for i in range {
                guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                v = v * 10 + Int(b[i] - 0x30)
            }
            return v
        }
        guard b.count >= 20, let year = digits(0..<4), b[4] == 0x2D, let month = digits(5..<7), b[7] == 0x2D,
              let day = digits(8..<10), b[10] == 0x54, let hour = digits(11..<13), b[13] == 0x3A,
              let minute = digits(14..<16), b[16] == 0x3A, let second = digits(17..<19) else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...12).contains(month), day >= 1, day <= days[month - 1], hour < 24, minute < 60, second < 60 else {
            return nil
        }
        var i = 19
        var fraction: [UInt8] = []
        if b[i] == 0x2E {
            i += 1
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                fraction.append(b[i])
                i += 1
            }
            guard !fraction.isEmpty else { return nil }
        }
        let zone: String
        if i < b.count, b[i] == 0x5A, i + 1 == b.count {
            zone = "Z"
        } else if i + 6 == b.count, b[i] == 0x2B || b[i] == 0x2D, let zh = digits((i + 1)..<(i + 3)), b[i + 3] == 0x3A,
                  let zm = digits((i + 4)..<(i + 6)), zh < 24, zm < 60 {
            zone = zh == 0 && zm == 0 ? "Z" : String(decoding: b[i..<b.count], as: UTF8.self)
        } else {
            return nil
        }
        var frac = Array(fraction.prefix(9))
        while frac.last == 0x30 { frac.removeLast() }
        let base = String(decoding: b[0..<19], as: UTF8.self)
        return base + (frac.isEmpty ? "" : "." + String(decoding: frac, as: UTF8.self)) + zone
    }

    /// The time as a `Date` (sub-microsecond precision is lost), for ``V1History/created``.
    static func date(_ s: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = formatter.date(from: s) { return d }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: s)
    }
}

// MARK: - raw JSON objects

/// Splits a JSON object into its members, in document order, keeping each value's JSON text (compacted)
/// so that values the conversion does not interpret are copied verbatim.
enum RawJSON {
    struct Failure: Error { var message: String }

    struct Member {
        var key: String
        /// The value's JSON text, without insignificant white space.
        var value: [UInt8]

        func json(_ fail: (String) -> Schema1ConversionError) throws(Schema1ConversionError) -> JSONValue {
            do {
                return try JSONCoding.decode(JSONValue.self, from: value)
            } catch {
                throw fail("\(key): \(error)")
            }
        }

        /// The value as a string; nil for `null`.
        func string(_ fail: (String) -> Schema1ConversionError) throws(Schema1ConversionError) -> String? {
            switch try json(fail) {
            case .null: return nil
            case .string(let s): return s
            default: throw fail("\(key) must be a string")
            }
        }
    }

    /// The members of the object `bytes`; fails unless `bytes` is one valid JSON object.
    static func members(of bytes: [UInt8]) throws(Failure) -> [Member] {
        do {
            _ = try JSONCoding.decode([String: JSONValue].self, from: bytes)
        } catch {
            throw Failure(message: "not a JSON object: \(error)")
        }
        var scanner = Scanner(bytes: bytes)
        var result: [Member] = []
        scanner.skipSpace()
        guard scanner.take(0x7B) else { throw Failure(message: "not a JSON object") }
        scanner.skipSpace()
        if scanner.take(0x7D) { return [] }
        while true {
            scanner.skipSpace()
            let keyText = scanner.valueSpan()
            guard let key = try? JSONDecoder().decode(String.self, from: Data(keyText)) else {
                throw Failure(message: "invalid object key")
            }
            scanner.skipSpace()
            guard scanner.take(0x3A) else { throw Failure(message: "expected ':' after \"\(key)\"") }
            scanner.skipSpace()
            result.append(Member(key: key, value: compact(scanner.valueSpan())))
            scanner.skipSpace()
            if scanner.take(0x2C) { continue }
            guard scanner.take(0x7D) else { throw Failure(message: "expected ',' or '}' after \"\(key)\"") }
            return result
        }
    }

    /// `{"k":v,…}` with keys sorted by their UTF-8 bytes (as Go sorts map keys) and values inserted verbatim.
    static func object(_ members: [String: [UInt8]]) -> [UInt8] {
        var out: [UInt8] = [0x7B]
        let keys = members.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        for (n, key) in keys.enumerated() {
            if n > 0 { out.append(0x2C) }
            out.append(contentsOf: (try? JSONCoding.encode(key)) ?? Array("\"\"".utf8))
            out.append(0x3A)
            out.append(contentsOf: members[key] ?? Array("null".utf8))
        }
        out.append(0x7D)
        return out
    }

    /// Removes white space outside strings.
    static func compact(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var inString = false, escaped = false
        for b in bytes {
            if inString {
                out.append(b)
                if escaped { escaped = false } else if b == 0x5C { escaped = true } else if b == 0x22 { inString = false }
                continue
            }
            switch b {
            case 0x20, 0x09, 0x0A, 0x0D: continue
            case 0x22: inString = true
            default: break
            }
            out.append(b)
        }
        return out
    }

    /// A cursor over JSON text already known to be valid.
    struct Scanner {
        let bytes: [UInt8]
        var i = 0

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard i < bytes.count, bytes[i] == byte else { return false }
            i += 1
            return true
        }

        /// The span of the value (string, number, literal, object or array) starting at the cursor.
        mutating func valueSpan() -> ArraySlice<UInt8> {
            let start = i
            var depth = 0, inString = false, escaped = false
            while i < bytes.count {
                let b = bytes[i]
                if inString {
                    if escaped { escaped = false } else if b == 0x5C { escaped = true } else if b == 0x22 {
                        inString = false
                        if depth == 0 {
                            i += 1
                            return bytes[start..<i]
                        }
                    }
                    i += 1
                    continue
                }
                switch b {
                case 0x22: inString = true
                case 0x7B, 0x5B: depth += 1
                case 0x7D, 0x5D:
                    if depth == 0 { return bytes[start..<i] }
                    depth -= 1
                    if depth == 0 {
                        i += 1
                        return bytes[start..<i]
                    }
                case 0x2C, 0x20, 0x09, 0x0A, 0x0D:
                    if depth == 0 { return bytes[start..<i] }
                default: break
                }
                i += 1
            }
            return bytes[start..<i]
        }
    }
}
