import Foundation
import OCIRegistry
import OCISpec
import OCITesting
import OCITestFixtures
import XCTest

/// F11 against the in-process registry: the exact Accept list of resolve's HEAD and fetchManifest's GET, and `text/plain`
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
        try await withInProcess { registry, client in
            let config = try await registry.seedBlob(Array("{}".utf8), in: "r", client: client, mediaType: MediaType.ociConfig)
            XCTAssertEqual(config.digest.description, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
            // HEAD carries the GET's length, as a registry sends it, so resolve trusts it and sends no GET.
            try await registry.seedManifest(manifest, mediaType: MediaType.ociManifest, tag: "v1", in: "r", client: client)
            let repo = client.repository(host: registry.host, name: "r")
            for reference in ["v1", digest.description] {
                registry.resetRequests()
                let resolved = try await repo.resolve(reference)
                XCTAssertEqual(resolved, Descriptor(mediaType: MediaType.ociManifest, digest: digest, size: Int64(manifest.count)))
                let fetched = try await repo.fetchManifest(reference)
                XCTAssertEqual(fetched.bytes, manifest)
                let requests = registry.requests().filter { $0.path.contains("/manifests/") }
                XCTAssertEqual(requests.map(\.method), ["HEAD", "GET"], reference)
                for request in requests {
                    let accept = request.headers.filter { $0.name.caseInsensitiveCompare("Accept") == .orderedSame }.map(\.value)
                    XCTAssertEqual(accept, [Self.goAccept], "\(request.method) \(reference)")
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
        // The registry refuses schema1, so the answers are scripted; a HEAD's Content-Length is its body's length.
        let textPlain = "text/plain; charset=utf-8"
        let faults: [InProcessRegistry.Fault] = [
            .init("HEAD", "/v2/r/manifests/trusted",
                  .respond(status: 200, headers: ["Content-Type": textPlain, "Docker-Content-Digest": payloadDigest.description], body: signed)),
            .init("HEAD", "/v2/r/manifests/hashed", .respond(status: 200, headers: ["Content-Type": textPlain])),
            .init("GET", "/v2/r/manifests/trusted", .respond(status: 200, headers: ["Content-Type": textPlain], body: signed)),
            .init("GET", "/v2/r/manifests/hashed", .respond(status: 200, headers: ["Content-Type": textPlain], body: signed)),
        ]
        try await withInProcess(faults: faults) { registry, client in
            let repo = client.repository(host: registry.host, name: "r")
            let expected = Descriptor(mediaType: MediaType.dockerSchema1SignedManifest, digest: payloadDigest,
                                      size: Int64(signed.count))
            let trusted = try await repo.resolve("trusted")
            XCTAssertEqual(trusted, expected)
            XCTAssertEqual(registry.requests().filter { $0.path.hasSuffix("/trusted") }.map(\.method), ["HEAD"])

            let hashed = try await repo.resolve("hashed")
            XCTAssertEqual(hashed, expected)
            XCTAssertEqual(registry.requests().filter { $0.path.hasSuffix("/hashed") }.map(\.method), ["HEAD", "GET"])

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
