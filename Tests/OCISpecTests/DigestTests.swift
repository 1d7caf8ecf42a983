import Foundation
import XCTest
import OCISpec

/// `OCIDigest` parsing, hashing vectors, `DigestHasher`, Codable.
final class DigestTests: XCTestCase {
    let hex64 = String(repeating: "0123456789abcdef", count: 4)
    let hex96 = String(repeating: "0123456789abcdef", count: 6)
    let hex128 = String(repeating: "0123456789abcdef", count: 8)

    func testParsesValidDigests() throws {
        let rows: [(String, OCIDigest.Algorithm, String)] = [
            ("sha256:" + hex64, .sha256, hex64),
            ("sha384:" + hex96, .sha384, hex96),
            ("sha512:" + hex128, .sha512, hex128),
            (Vectors.sha256Empty, .sha256, String(Vectors.sha256Empty.dropFirst(7))),
        ]
        for (input, alg, encoded) in rows {
            let d = try OCIDigest(parsing: input)
            XCTAssertEqual(d.algorithm, alg, input)
            XCTAssertEqual(d.encoded, encoded, input)
            XCTAssertEqual(d.description, input, input)
            XCTAssertEqual(d.string, input, input)
            XCTAssertEqual("\(d)", input, input)
            XCTAssertEqual(OCIDigest(input), d, input)
        }
    }

    func testAlgorithmHexLengths() {
        XCTAssertEqual(OCIDigest.Algorithm.sha256.hexLength, 64)
        XCTAssertEqual(OCIDigest.Algorithm.sha384.hexLength, 96)
        XCTAssertEqual(OCIDigest.Algorithm.sha512.hexLength, 128)
        XCTAssertEqual(Set(OCIDigest.Algorithm.allCases.map(\.rawValue)), ["sha256", "sha384", "sha512"])
    }

    func testParsingErrorsAreTyped() {
        let rows: [(String, DigestError)] = [
            ("", .invalidFormat("")),
            ("sha256", .invalidFormat("sha256")),
            (hex64, .invalidFormat(hex64)),
            ("md5:d41d8cd98f00b204e9800998ecf8427e", .unsupportedAlgorithm("md5")),
            ("sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709", .unsupportedAlgorithm("sha1")),
            ("SHA256:" + hex64, .unsupportedAlgorithm("SHA256")),
            (":" + hex64, .unsupportedAlgorithm("")),
            ("sha256:", .invalidEncoding("sha256:")),
            ("sha256:" + hex64.uppercased(), .invalidEncoding("sha256:" + hex64.uppercased())),
            ("sha256:" + String(hex64.dropLast()), .invalidEncoding("sha256:" + String(hex64.dropLast()))),
            ("sha256:" + hex64 + "0", .invalidEncoding("sha256:" + hex64 + "0")),
            ("sha256:" + hex96, .invalidEncoding("sha256:" + hex96)),
            ("sha512:" + hex64, .invalidEncoding("sha512:" + hex64)),
            ("sha384:" + hex128, .invalidEncoding("sha384:" + hex128)),
            ("sha256:" + String(hex64.dropLast()) + "g", .invalidEncoding("sha256:" + String(hex64.dropLast()) + "g")),
            ("sha256:" + String(hex64.dropLast()) + " ", .invalidEncoding("sha256:" + String(hex64.dropLast()) + " ")),
            ("sha256:" + hex64 + "\n", .invalidEncoding("sha256:" + hex64 + "\n")),
            ("sha256:" + String(hex64.dropFirst(7)) + ":" + String(hex64.prefix(6)),
             .invalidEncoding("sha256:" + String(hex64.dropFirst(7)) + ":" + String(hex64.prefix(6)))),
            // 64 characters but not ASCII (ａ is a fullwidth letter a).
            ("sha256:" + String(hex64.dropLast()) + "ａ", .invalidEncoding("sha256:" + String(hex64.dropLast()) + "ａ")),
        ]
        for (input, expected) in rows {
            assertThrows(expected, "input \(input.debugDescription)") { () throws(DigestError) in try OCIDigest(parsing: input) }
            XCTAssertNil(OCIDigest(input), input)
        }
    }

    func testErrorDescriptions() {
        XCTAssertTrue(DigestError.invalidFormat("x").description.contains("\"x\""))
        XCTAssertTrue(DigestError.unsupportedAlgorithm("md5").description.contains("md5"))
        XCTAssertTrue(DigestError.invalidEncoding("sha256:X").description.contains("sha256:X"))
    }

    func testKnownVectors() {
        XCTAssertEqual(OCIDigest.of([UInt8]()).description, Vectors.sha256Empty)
        XCTAssertEqual(OCIDigest.of(bytes("{}")).description, Vectors.sha256EmptyJSON)
        XCTAssertEqual(OCIDigest.of(bytes("abc")).description, Vectors.sha256ABC)
        XCTAssertEqual(OCIDigest.of(bytes("abc"), algorithm: .sha256).description, Vectors.sha256ABC)
        XCTAssertEqual(OCIDigest.of(bytes("abc"), algorithm: .sha384).description, Vectors.sha384ABC)
        XCTAssertEqual(OCIDigest.of(bytes("abc"), algorithm: .sha512).description, Vectors.sha512ABC)
        XCTAssertEqual(OCIDigest.of([UInt8](), algorithm: .sha384).description, Vectors.sha384Empty)
        XCTAssertEqual(OCIDigest.of([UInt8](), algorithm: .sha512).description, Vectors.sha512Empty)
        // Any byte sequence works, not only arrays.
        XCTAssertEqual(OCIDigest.of("The quick brown fox jumps over the lazy dog".utf8).description, Vectors.sha256Fox)
        XCTAssertEqual(OCIDigest.of(bytes("xabcx").dropFirst().dropLast()).description, Vectors.sha256ABC)
    }

    func testHasherIncrementalEqualsOneShot() {
        let data: [UInt8] = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let chunkings: [[Int]] = [[10_000], [1, 0, 4095, 4096, 1808], [0, 0, 10_000], Array(repeating: 100, count: 100)]
        for alg in OCIDigest.Algorithm.allCases {
            let expected = OCIDigest.of(data, algorithm: alg)
            XCTAssertEqual(expected.algorithm, alg)
            XCTAssertEqual(expected.encoded.utf8.count, alg.hexLength)
            for chunks in chunkings {
                var arrayHasher = DigestHasher(algorithm: alg)
                var sliceHasher = DigestHasher(algorithm: alg)
                var rawHasher = DigestHasher(algorithm: alg)
                var offset = 0
                for n in chunks {
                    let slice = data[offset..<(offset + n)]
                    arrayHasher.update(Array(slice))
                    sliceHasher.update(slice)
                    slice.withUnsafeBytes { rawHasher.update($0) }
                    offset += n
                }
                XCTAssertEqual(offset, data.count)
                for h in [arrayHasher, sliceHasher, rawHasher] {
                    XCTAssertEqual(h.algorithm, alg)
                    XCTAssertEqual(h.count, Int64(data.count))
                    XCTAssertEqual(h.finalize(), expected, "\(alg) \(chunks)")
                }
            }
        }
    }

    func testHasherDefaultsAndFinalizeIsNonDestructive() {
        var h = DigestHasher()
        XCTAssertEqual(h.algorithm, .sha256)
        XCTAssertEqual(h.count, 0)
        XCTAssertEqual(h.finalize().description, Vectors.sha256Empty)
        h.update(bytes("ab"))
        XCTAssertEqual(h.finalize(), OCIDigest.of(bytes("ab")))
        h.update(bytes("c"))
        XCTAssertEqual(h.count, 3)
        XCTAssertEqual(h.finalize().description, Vectors.sha256ABC)
        XCTAssertEqual(h.finalize().description, Vectors.sha256ABC, "finalize twice gives the same result")
        // A copy is independent of the original.
        var copy = h
        copy.update(bytes("d"))
        XCTAssertEqual(h.finalize().description, Vectors.sha256ABC)
        XCTAssertEqual(copy.finalize(), OCIDigest.of(bytes("abcd")))
    }

    func testEqualityHashingAndOrdering() throws {
        let a = try OCIDigest(parsing: "sha256:" + hex64)
        let b = try OCIDigest(parsing: "sha256:" + hex64)
        XCTAssertEqual(a, b)
        XCTAssertEqual(Set([a, b]).count, 1)
        let sorted = [Vectors.sha512ABC, Vectors.sha256Empty, Vectors.sha256ABC, Vectors.sha384ABC].map(Vectors.digest).sorted()
        XCTAssertEqual(sorted.map(\.description), [Vectors.sha256ABC, Vectors.sha256Empty, Vectors.sha384ABC, Vectors.sha512ABC])
        XCTAssertLessThan(Vectors.digest(Vectors.sha256ABC), Vectors.digest(Vectors.sha256Empty))
    }

    func testCodableRoundTrip() throws {
        struct Box: Codable, Equatable { var d: OCIDigest; var list: [OCIDigest] }
        let box = Box(d: Vectors.digest(Vectors.sha256ABC), list: [Vectors.digest(Vectors.sha384ABC), Vectors.digest(Vectors.sha512ABC)])
        let encoded = try JSONCoding.encode(box)
        XCTAssertEqual(string(encoded), #"{"d":"\#(Vectors.sha256ABC)","list":["\#(Vectors.sha384ABC)","\#(Vectors.sha512ABC)"]}"#)
        XCTAssertEqual(try JSONCoding.decode(Box.self, from: encoded), box)
        XCTAssertEqual(try JSONDecoder().decode(Box.self, from: Data(encoded)), box)
        XCTAssertEqual(try JSONDecoder().decode(OCIDigest.self, from: Data("\"\(Vectors.sha256Empty)\"".utf8)).description, Vectors.sha256Empty)
    }

    func testDecodingRejectsInvalidDigests() {
        struct Box: Decodable { var d: OCIDigest }
        for bad in ["\"sha256:ABC\"", "\"md5:d41d8cd98f00b204e9800998ecf8427e\"", "\"\"", "\"sha256:" + hex64.uppercased() + "\""] {
            let json = Data("{\"d\":\(bad)}".utf8)
            XCTAssertThrowsError(try JSONDecoder().decode(Box.self, from: json), bad) { error in
                guard case DecodingError.dataCorrupted(let ctx) = error else {
                    return XCTFail("expected dataCorrupted for \(bad), got \(error)")
                }
                XCTAssertEqual(ctx.codingPath.map(\.stringValue), ["d"], bad)
                XCTAssertTrue(ctx.debugDescription.contains("digest"), ctx.debugDescription)
            }
            // Through JSONCoding the failure is a SpecError.invalidJSON naming the field.
            let err = specError { () throws(SpecError) in try JSONCoding.decode(Box.self, from: Array(json)) }
            guard case .invalidJSON(let why)? = err else { return XCTFail("expected invalidJSON, got \(String(describing: err))") }
            XCTAssertTrue(why.contains("d"), why)
            XCTAssertTrue(why.contains("invalid digest") || why.contains("unsupported digest"), why)
        }
        XCTAssertThrowsError(try JSONDecoder().decode(Box.self, from: Data(#"{"d":42}"#.utf8)))
        XCTAssertThrowsError(try JSONDecoder().decode(Box.self, from: Data(#"{"d":null}"#.utf8)))
    }
}
