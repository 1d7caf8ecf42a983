import Foundation
import FuzzSupport
import OCISpec

/// Manifest, index and schema1 decoding as the client does it on bytes from a registry or a layout: bounded
/// (size, nesting), typed errors, never a crash; decoded documents re-encode and decode to the same value; every
/// digest they name is a safe file-name component.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Fuzz.bytes(start, count)

    let depth = JSONCoding.nestingDepth(bytes)
    Fuzz.check(depth >= 0, "negative nesting depth \(depth)")
    // One media type per decoder (OCI and Docker types share them), plus "" for the sniffing path.
    for mediaType in [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerSchema1SignedManifest, ""] {
        guard let document = try? ManifestDocument.decode(bytes, mediaType: mediaType) else { continue }
        Fuzz.check(depth <= JSONCoding.maxDepth, "a document nested \(depth) deep was decoded")
        for child in document.children { checkDigest(child.digest) }
        if let subject = document.subject { checkDigest(subject.digest) }
        switch document {
        case .manifest(let manifest):
            checkDigest(manifest.config.digest)
            roundTrip(manifest)
        case .index(let index):
            roundTrip(index)
        case .schema1(let v1):
            for layer in v1.fsLayers { checkDigest(layer.blobSum) }
        }
    }
    _ = ManifestDocument.sniffMediaType(bytes)
    _ = try? JSONCoding.decode(JSONValue.self, from: bytes)

    // The bytes a signed schema1 manifest's digest is computed over: the first formatLength bytes plus the tail.
    _ = OCIDigest.of(Schema1.payload(of: bytes))
    return 0
}

private func checkDigest(_ digest: OCIDigest) {
    Fuzz.check(digest.encoded.utf8.count == digest.algorithm.hexLength
               && digest.encoded.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) },
               "unsafe digest \(digest.description.debugDescription) accepted")
}

private func roundTrip<T: Codable & Equatable>(_ value: T) {
    do {
        let encoded = try JSONCoding.encode(value)
        let decoded = try JSONCoding.decode(T.self, from: encoded)
        Fuzz.check(decoded == value, "\(T.self) does not round-trip: \(String(decoding: encoded, as: UTF8.self))")
    } catch {
        Fuzz.check(false, "\(T.self) decoded but does not re-encode and decode: \(error)")
    }
}

/// The entry point SwiftPM links as `main` (see Package.swift): libFuzzer's driver with `fuzz` as the target.
@_cdecl("FuzzManifest_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    Fuzz.runDriver(argc, argv) { data, size in
        guard let data else { return 0 }
        return fuzz(UnsafeRawPointer(data), size)
    }
}
