import Foundation
import OCIRegistry
import OCISpec
import OCITesting
import OCITestFixtures
import XCTest

/// F11 against the fake: the exact Accept list of resolve's HEAD and fetchManifest's GET, and `text/plain`
/// answers taken as signed schema1. (Digest references, stripped Content-Type parameters, GET-and-hash and the
/// size limit are in `RegistryClientTests` and `HostileRegistryTests`.)
final class ResolveAcceptTests: XCTestCase {
    /// Inventory §1.4, verbatim: containerd's resolver list, which the Go ociclient sends.
    private static let goAccept = "application/vnd.docker.distribution.manifest.v2+json, "
        + "application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, "
        + "application/vnd.oci.image.index.v1+json, */*"

    func testResolveAndFetchManifestSendTheExactAcceptList() async throws {
        let manifest = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#.utf8)
        let digest = OCIDigest.of(manifest)
        try await withFake({ req in
            if req.path == "/v2/" { return .json(200, "{}") }
            guard req.path == "/v2/r/manifests/v1" || req.path == "/v2/r/manifests/\(digest)" else { return .status(404) }
            // HEAD carries the GET's length, as a registry sends it, so resolve trusts it and sends no GET.
            return FakeResponse(status: 200, headers: ["Content-Type": MediaType.ociManifest,
                                                       "Docker-Content-Digest": digest.description,
                                                       "Content-Length": "\(manifest.count)"],
                                body: req.method == "HEAD" ? [] : manifest)
        }) { server, client in
            let repo = client.repository(host: server.host, name: "r")
            for reference in ["v1", digest.description] {
                server.resetRequests()
                let resolved = try await repo.resolve(reference)
                XCTAssertEqual(resolved, Descriptor(mediaType: MediaType.ociManifest, digest: digest, size: Int64(manifest.count)))
                let fetched = try await repo.fetchManifest(reference)
                XCTAssertEqual(fetched.bytes, manifest)
                let requests = registryRequests(server).filter { $0.path.contains("/manifests/") }
                XCTAssertEqual(requests.map(\.method), ["HEAD", "GET"], reference)
                for request in requests {
                    XCTAssertEqual(request.headers.values("Accept"), [Self.goAccept], "\(request.method) \(reference)")
                }
            }
        }
        XCTAssertEqual(MediaType.manifestAccept.joined(separator: ", "), Self.goAccept)
    }

    /// containerd maps a `text/plain` Content-Type to signed schema1: a HEAD with digest and length is trusted
    /// with that media type; without a digest the GET's body is hashed over its JWS payload (the signature
    /// stripped), as the registry's digest is; fetchManifest maps it the same way.
    func testTextPlainIsTakenAsSignedSchema1() async throws {
        let (signed, payload) = try Self.signedSchema1()
        XCTAssertNotEqual(signed, payload)
        let payloadDigest = OCIDigest.of(payload)
        try await withFake({ req in
            switch req.path {
            case "/v2/": return .json(200, "{}")
            case "/v2/r/manifests/trusted" where req.method == "HEAD":
                return FakeResponse(status: 200, headers: ["Content-Type": "text/plain; charset=utf-8",
                                                           "Docker-Content-Digest": payloadDigest.description,
                                                           "Content-Length": "\(signed.count)"])
            case "/v2/r/manifests/trusted", "/v2/r/manifests/hashed":
                return FakeResponse(status: 200, headers: ["Content-Type": "text/plain; charset=utf-8"],
                                    body: req.method == "HEAD" ? [] : signed)
            default: return .status(404)
            }
        }) { server, client in
            let repo = client.repository(host: server.host, name: "r")
            let expected = Descriptor(mediaType: MediaType.dockerSchema1SignedManifest, digest: payloadDigest,
                                      size: Int64(signed.count))
            let trusted = try await repo.resolve("trusted")
            XCTAssertEqual(trusted, expected)
            XCTAssertEqual(registryRequests(server).filter { $0.path.hasSuffix("/trusted") }.map(\.method), ["HEAD"])

            let hashed = try await repo.resolve("hashed")
            XCTAssertEqual(hashed, expected)
            XCTAssertEqual(registryRequests(server).filter { $0.path.hasSuffix("/hashed") }.map(\.method), ["HEAD", "GET"])

            let (descriptor, bytes) = try await repo.fetchManifest("trusted")
            XCTAssertEqual(descriptor, expected)
            XCTAssertEqual(bytes, signed, "the bytes are kept exactly, signature and all")
        }
    }

    /// A libtrust-style signed schema1 manifest (the signature itself is not checked by anyone here) and its
    /// payload: the document without `signatures`, as `formatLength` and `formatTail` describe it.
    private static func signedSchema1() throws -> (signed: [UInt8], payload: [UInt8]) {
        let payload = Array("""
            {
               "schemaVersion": 1,
               "name": "r",
               "tag": "v1",
               "architecture": "amd64",
               "fsLayers": [],
               "history": []
            }
            """.utf8)
        guard let close = payload.lastIndex(of: UInt8(ascii: "}")) else { throw OCITestingError("no closing brace") }
        let formatLength = close - 1  // before "\n}"
        let tail = Array(payload[formatLength...])
        func b64url(_ bytes: [UInt8]) -> String {
            Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        let protected = b64url(Array(#"{"formatLength":\#(formatLength),"formatTail":"\#(b64url(tail))"}"#.utf8))
        let signatures = #",\#n   "signatures": [{"header":{"alg":"ES256"},"signature":"c2ln","protected":"\#(protected)"}]"#
        let signed = Array(payload[..<formatLength]) + Array(signatures.utf8) + tail
        XCTAssertEqual(Schema1.payload(of: signed), payload)
        return (signed, payload)
    }
}
