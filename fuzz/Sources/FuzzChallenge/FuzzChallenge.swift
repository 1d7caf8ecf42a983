import FuzzSupport
import OCIRegistry

/// `WWW-Authenticate` parsing: any header value gives zero or more challenges, never a crash or a hang;
/// parameter names are lowercased (lookups such as `realm` are case-insensitive).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let header = Fuzz.text(start, count)
    let challenges = AuthChallenge.parse(header)
    Fuzz.check(challenges.count <= header.unicodeScalars.count, "\(challenges.count) challenges from \(header.unicodeScalars.count) scalars")
    for challenge in challenges {
        for key in challenge.parameters.keys {
            Fuzz.check(key == key.lowercased(), "parameter name \(key.debugDescription) not lowercased")
            Fuzz.check(!key.isEmpty, "empty parameter name from \(header.debugDescription)")
        }
        _ = challenge.realm
        _ = challenge.service
        _ = challenge.scopes
        _ = challenge.error
    }
    return 0
}

/// The entry point SwiftPM links as `main` (see Package.swift): libFuzzer's driver with `fuzz` as the target.
@_cdecl("FuzzChallenge_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    Fuzz.runDriver(argc, argv) { data, size in
        guard let data else { return 0 }
        return fuzz(UnsafeRawPointer(data), size)
    }
}
