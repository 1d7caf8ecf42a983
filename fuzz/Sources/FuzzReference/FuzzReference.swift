import FuzzSupport
import OCIReference
import OCISpec

/// Reference and digest parsing: never crashes; what parses round-trips through its description; parsed
/// digests and tags are safe as file-name components.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = Fuzz.text(start, count)

    if let reference = try? Reference(parsing: input) {
        Fuzz.check(!reference.host.isEmpty && !reference.repository.isEmpty, "empty host or repository from \(input.debugDescription)")
        Fuzz.check(!reference.repository.contains(".."), "repository with .. from \(input.debugDescription)")
        if let tag = reference.tag {
            Fuzz.check(Reference.isValidTag(tag), "invalid tag \(tag.debugDescription) accepted")
            Fuzz.check(!tag.contains("/") && tag != "." && tag != "..", "tag \(tag.debugDescription) is a path")
        }
        if let digest = reference.digest { checkDigest(digest) }
        // What parses must parse again to the same reference (normalisation is idempotent).
        do {
            let again = try Reference(parsing: reference.description, defaultTag: nil)
            Fuzz.check(again == reference, "\(input.debugDescription) → \(reference) → \(again)")
        } catch {
            Fuzz.check(false, "\(input.debugDescription) → \(reference) does not parse again: \(error)")
        }
    }
    _ = try? Reference(parsing: input, defaultTag: nil)

    if let digest = OCIDigest(input) {
        checkDigest(digest)
        Fuzz.check(digest.description == input, "digest \(input.debugDescription) prints as \(digest)")
    }
    _ = Reference.isValidTag(input)
    _ = HostClassifier.allowsPlainHTTPByDefault(input)
    _ = HostClassifier.hostOnly(input)
    return 0
}

private func checkDigest(_ digest: OCIDigest) {
    Fuzz.check(digest.encoded.utf8.count == digest.algorithm.hexLength, "digest \(digest) has the wrong length")
    Fuzz.check(digest.encoded.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) },
               "digest \(digest) is not lowercase hex")
    Fuzz.check(OCIDigest(digest.description) == digest, "digest \(digest) does not round-trip")
}

/// The entry point SwiftPM links as `main` (see Package.swift): libFuzzer's driver with `fuzz` as the target.
@_cdecl("FuzzReference_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    Fuzz.runDriver(argc, argv) { data, size in
        guard let data else { return 0 }
        return fuzz(UnsafeRawPointer(data), size)
    }
}
