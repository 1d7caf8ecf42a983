import OCISpec

/// A JSON value kept verbatim when index.json is rewritten: integers stay exact 64-bit integers (unlike
/// `JSONValue`, whose numbers are doubles), so fields this store does not understand survive a rewrite.
enum LayoutJSON: Hashable, Sendable, Codable {
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    case array([LayoutJSON])
    case object([String: LayoutJSON])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .integer(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([LayoutJSON].self) { self = .array(a) }
        else { self = .object(try c.decode([String: LayoutJSON].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .integer(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// The JSON form of an encodable value (used to turn a new descriptor into an index.json entry).
    static func of<T: Encodable>(_ value: T) throws(SpecError) -> LayoutJSON {
        try JSONCoding.decode(LayoutJSON.self, from: JSONCoding.encode(value))
    }
}
