import FuzzSupport
@_spi(Parsers) import OCIRegistry

/// `WWW-Authenticate` parsing: any header value gives zero or more challenges, never a crash or a hang;
/// parameter names are lowercased (lookups such as `realm` are case-insensitive). The same input also goes
/// through the `RateLimit-*` header parser.
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
    // The same text as rate-limit header values: counts are never negative, a window is positive.
    if let limit = RateLimit(limitHeader: header, remainingHeader: header, sourceHeader: nil) {
        Fuzz.check((limit.limit ?? 0) >= 0 && (limit.remaining ?? 0) >= 0, "negative rate-limit count from \(header.debugDescription)")
        Fuzz.check((limit.windowSeconds ?? 1) > 0, "non-positive rate-limit window from \(header.debugDescription)")
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
