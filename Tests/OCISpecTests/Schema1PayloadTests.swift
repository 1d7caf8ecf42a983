import Foundation
import XCTest
import OCISpec

/// `Schema1.payload(of:)`: recovering the signed payload of a libtrust JWS ("prettyjws") manifest.
final class Schema1PayloadTests: XCTestCase {
    /// A schema1 manifest as `docker` / distribution print it (3-space indent), without signatures.
    let payload = """
    {
       "schemaVersion": 1,
       "name": "library/hello-world",
       "tag": "latest",
       "architecture": "amd64",
       "fsLayers": [
          {
             "blobSum": "\(Vectors.sha256ABC)"
          },
          {
             "blobSum": "\(Vectors.sha256Empty)"
          }
       ],
       "history": [
          {
             "v1Compatibility": "{\\"id\\":\\"abc\\",\\"created\\":\\"2016-01-01T00:00:00Z\\",\\"container_config\\":{\\"Cmd\\":[\\"/bin/sh\\"]}}"
          },
          {
             "v1Compatibility": "{\\"id\\":\\"def\\",\\"throwaway\\":true}"
          }
       ]
    }
    """

    /// Signs `payload` the libtrust way: the signatures are spliced in before `tail`, and the protected header
    /// records where (`formatLength`) and what was cut off (`formatTail`, base64url).
    func sign(_ payload: [UInt8], tailLength: Int, signatures: Int = 1) -> [UInt8] {
        let formatLength = payload.count - tailLength
        let tail = Array(payload[formatLength...])
        let protectedJSON = #"{"formatLength":\#(formatLength),"formatTail":"\#(base64URL(tail))","time":"2016-01-19T10:42:51Z"}"#
        let protected = base64URL(bytes(protectedJSON))
        let one = """
              {
                 "header": {
                    "jwk": {
                       "crv": "P-256",
                       "kid": "DUMMY:KEY1:ABCD:EFGH:IJKL:MNOP:QRST:UVWX:YZ12:3456:7890:ABCD",
                       "kty": "EC",
                       "x": "dummyX",
                       "y": "dummyY"
                    },
                    "alg": "ES256"
                 },
                 "signature": "ZHVtbXktc2lnbmF0dXJlLW5vdC12YWxpZA",
                 "protected": "\(protected)"
              }
        """
        let sigs = Array(repeating: one, count: signatures).joined(separator: ",\n")
        let inserted = ",\n   \"signatures\": [\n\(sigs)\n   ]"
        return Array(payload[..<formatLength]) + bytes(inserted) + tail
    }

    func testSignedPayloadIsRecoveredExactly() throws {
        let original = bytes(payload)
        XCTAssertTrue(payload.hasSuffix("\n}"))
        let signed = sign(original, tailLength: 2)
        XCTAssertNotEqual(signed, original)
        XCTAssertTrue(string(signed).contains("\"signatures\""))
        // The signed document is itself valid JSON.
        XCTAssertNoThrow(try JSONCoding.decode(JSONValue.self, from: signed))

        let recovered = Schema1.payload(of: signed)
        XCTAssertEqual(recovered, original)
        XCTAssertEqual(OCIDigest.of(recovered), OCIDigest.of(original), "the registry digest is over the payload")
    }

    func testOtherTailsAndSeveralSignatures() {
        // A trailing newline belongs to the tail too.
        let withNewline = bytes(payload + "\n")
        XCTAssertEqual(Schema1.payload(of: sign(withNewline, tailLength: 3)), withNewline)
        // Several signatures: the first one's protected header decides.
        XCTAssertEqual(Schema1.payload(of: sign(bytes(payload), tailLength: 2, signatures: 3)), bytes(payload))
        // Tails whose base64 needs padding of 1 or 2 characters.
        for newlines in 0...3 {
            let compact = bytes(#"{"schemaVersion":1,"fsLayers":[],"history":[]}"# + String(repeating: "\n", count: newlines))
            XCTAssertEqual(Schema1.payload(of: sign(compact, tailLength: 1 + newlines)), compact, "tail \(1 + newlines)")
        }
    }

    func testSignedSchema1DecodesAsDocument() throws {
        let signed = sign(bytes(payload), tailLength: 2)
        XCTAssertEqual(ManifestDocument.sniffMediaType(signed), MediaType.dockerSchema1SignedManifest)
        XCTAssertEqual(ManifestDocument.sniffMediaType(bytes(payload)), MediaType.dockerSchema1Manifest)
        guard case .schema1(let m) = try ManifestDocument.decode(signed, mediaType: MediaType.dockerSchema1SignedManifest) else {
            return XCTFail("not schema1")
        }
        XCTAssertEqual(m.name, "library/hello-world")
        XCTAssertEqual(m.fsLayers.map(\.blobSum.description), [Vectors.sha256ABC, Vectors.sha256Empty])
        XCTAssertEqual(m.history.count, 2)
        XCTAssertTrue(m.history[0].v1Compatibility.contains("\"Cmd\":[\"/bin/sh\"]"), m.history[0].v1Compatibility)
    }

    func testUnsignedAndMalformedInputComeBackUnchanged() {
        let original = bytes(payload)
        func signedWith(protectedHeader: String) -> [UInt8] {
            bytes(#"{"schemaVersion":1,"signatures":[{"signature":"x","protected":"\#(protectedHeader)"}]}"#)
        }
        let rows: [(String, [UInt8])] = [
            ("unsigned", original),
            ("empty", []),
            ("not JSON", bytes("hello")),
            ("JSON array", bytes("[1,2]")),
            ("no signatures", bytes(#"{"schemaVersion":1,"fsLayers":[]}"#)),
            ("empty signatures", bytes(#"{"schemaVersion":1,"signatures":[]}"#)),
            ("null signatures", bytes(#"{"schemaVersion":1,"signatures":null}"#)),
            ("protected not base64", signedWith(protectedHeader: "!!!")),
            ("protected not JSON", signedWith(protectedHeader: base64URL(bytes("nope")))),
            ("no formatLength", signedWith(protectedHeader: base64URL(bytes(#"{"formatTail":"Cn0"}"#)))),
            ("no formatTail", signedWith(protectedHeader: base64URL(bytes(#"{"formatLength":3}"#)))),
            ("negative formatLength", signedWith(protectedHeader: base64URL(bytes(#"{"formatLength":-1,"formatTail":"Cn0"}"#)))),
            ("formatLength too large", signedWith(protectedHeader: base64URL(bytes(#"{"formatLength":100000,"formatTail":"Cn0"}"#)))),
            ("formatTail not base64", signedWith(protectedHeader: base64URL(bytes(#"{"formatLength":3,"formatTail":"!!"}"#)))),
        ]
        for (name, input) in rows {
            XCTAssertEqual(Schema1.payload(of: input), input, name)
        }
    }
}
