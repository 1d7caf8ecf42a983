import Foundation
import XCTest
import OCISpec

/// `JSONCoding`: deterministic encoding, depth limit, error mapping; `JSONValue`.
final class JSONCodingTests: XCTestCase {
    func manifest(annotations: [String: String]) -> Manifest {
        Manifest(config: EmptyJSON.descriptor,
                 layers: [Descriptor(mediaType: MediaType.ociLayerGzip, digest: Vectors.digest(Vectors.sha256ABC), size: 3,
                                     urls: ["https://example.com/a/b/c"], annotations: annotations)],
                 annotations: annotations)
    }

    func testEncodingIsDeterministic() throws {
        var forward: [String: String] = [:]
        var backward: [String: String] = [:]
        let keys = (0..<200).map { "key.\(String($0, radix: 7))/\($0 % 13)" }
        for k in keys { forward[k] = "value/\(k)" }
        for k in keys.reversed() { backward[k] = "value/\(k)" }
        let a = manifest(annotations: forward)
        let b = manifest(annotations: backward)
        XCTAssertEqual(a, b)
        let first = try JSONCoding.encode(a)
        for _ in 0..<5 {
            XCTAssertEqual(try JSONCoding.encode(a), first, "encoding twice gives the same bytes")
        }
        XCTAssertEqual(try JSONCoding.encode(b), first, "dictionary insertion order does not matter")
        XCTAssertEqual(OCIDigest.of(try JSONCoding.encode(b)), OCIDigest.of(first))
    }

    func testKeysAreSortedAndSlashesNotEscaped() throws {
        let text = string(try JSONCoding.encode(manifest(annotations: ["b/x": "1", "a/y": "2", "c": "https://x/y"])))
        XCTAssertFalse(text.contains("\\/"), text)
        XCTAssertTrue(text.contains(#""urls":["https://example.com/a/b/c"]"#), text)
        XCTAssertTrue(text.contains(#""annotations":{"a/y":"2","b/x":"1","c":"https://x/y"}"#), text)
        // Every object's keys in order, nested ones included.
        let expected = #"{"annotations":{"a/y":"2","b/x":"1","c":"https://x/y"},"config":{"digest":"\#(Vectors.sha256EmptyJSON)","mediaType":"application/vnd.oci.empty.v1+json","size":2},"layers":[{"annotations":{"a/y":"2","b/x":"1","c":"https://x/y"},"digest":"\#(Vectors.sha256ABC)","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":3,"urls":["https://example.com/a/b/c"]}],"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2}"#
        XCTAssertEqual(text, expected)
        XCTAssertFalse(text.contains("\n"), "compact output")
        XCTAssertFalse(text.contains(": "), "compact output")
    }

    func testNestingDepth() {
        let rows: [(String, Int)] = [
            ("", 0),
            ("1", 0),
            ("\"[[[{{{\"", 0),
            ("[]", 1),
            ("{}", 1),
            ("[[{}]]", 3),
            ("[[],[],[[]]]", 3),
            (#"{"a":"[[[","b":[1]}"#, 2),
            (#"["\"[[[",[1]]"#, 2),              // escaped quote inside a string does not end it
            (#"["\\",[[1]]]"#, 3),               // escaped backslash, then the string ends
            (#"{"a":{"b":{"c":"}}}}}"}}}"#, 3),
        ]
        for (json, depth) in rows {
            XCTAssertEqual(JSONCoding.nestingDepth(bytes(json)), depth, json)
        }
        XCTAssertEqual(JSONCoding.maxDepth, 64)
    }

    func nested(_ depth: Int, open: String = "[", close: String = "]") -> [UInt8] {
        bytes(String(repeating: open, count: depth) + "1" + String(repeating: close, count: depth))
    }

    func testDecodeRejectsDeeperThan64() throws {
        XCTAssertEqual(JSONCoding.nestingDepth(nested(64)), 64)
        XCTAssertNoThrow(try JSONCoding.decode(JSONValue.self, from: nested(64)))
        for depth in [65, 100, 10_000] {
            let err = specError { () throws(SpecError) in try JSONCoding.decode(JSONValue.self, from: nested(depth)) }
            guard case .invalidJSON(let why)? = err else { return XCTFail("depth \(depth): \(String(describing: err))") }
            XCTAssertTrue(why.contains("nesting"), why)
            XCTAssertTrue(why.contains("64"), why)
        }
        // Objects count too, and the check runs before any type decoding.
        var deepObject = ""
        for _ in 0..<65 { deepObject += #"{"a":"# }
        deepObject += "1" + String(repeating: "}", count: 65)
        let err = specError { () throws(SpecError) in try JSONCoding.decode(Manifest.self, from: bytes(deepObject)) }
        guard case .invalidJSON(let why)? = err else { return XCTFail("\(String(describing: err))") }
        XCTAssertTrue(why.contains("nesting"), why)
        // A manifest whose nesting lives inside a string is fine.
        let m = Manifest(config: EmptyJSON.descriptor, layers: [], annotations: ["deep": String(repeating: "[", count: 500)])
        XCTAssertEqual(try JSONCoding.decode(Manifest.self, from: try JSONCoding.encode(m)), m)
    }

    func testDecodeErrorsAreInvalidJSON() {
        // (Foundation's decoder itself accepts a trailing comma such as `[1,]`; that is not tested here.)
        for json in ["", "{", "nul", "[1 2]", "{\"a\":1}}", "\u{FF}", "{'a':1}"] {
            let err = specError { () throws(SpecError) in try JSONCoding.decode(JSONValue.self, from: bytes(json)) }
            guard case .invalidJSON? = err else { return XCTFail("\(json.debugDescription): \(String(describing: err))") }
        }
        let err = specError { () throws(SpecError) in try JSONCoding.decode(ImageIndex.self, from: bytes(#"{"manifests":[{"mediaType":1}]}"#)) }
        guard case .invalidJSON(let why)? = err else { return XCTFail("\(String(describing: err))") }
        XCTAssertTrue(why.contains("manifests"), why)
    }

    func testSpecErrorDescriptions() {
        XCTAssertEqual(SpecError.tooLarge(limit: 10, actual: 11).description, "document of 11 bytes exceeds the limit of 10 bytes")
        XCTAssertEqual(SpecError.unsupportedMediaType("text/html").description,
                       "media type is not an image manifest or image index: text/html")
        XCTAssertEqual(SpecError.invalidJSON("x").description, "invalid JSON document: x")
    }

    func testJSONValueRoundTrip() throws {
        let json = #"{"a":null,"b":true,"c":1.5,"d":"s/t","e":[1,"x",false,{}],"f":{"g":[]}}"#
        let v = try JSONCoding.decode(JSONValue.self, from: bytes(json))
        XCTAssertEqual(v, .object([
            "a": .null, "b": .bool(true), "c": .number(1.5), "d": .string("s/t"),
            "e": .array([.number(1), .string("x"), .bool(false), .object([:])]),
            "f": .object(["g": .array([])]),
        ]))
        XCTAssertEqual(string(try JSONCoding.encode(v)), json)
    }
}
