import Foundation
import FuzzSupport
@_spi(Parsers) import OCIRegistry

/// `Link` header parsing for tag and catalog pagination: any header value gives nil or an absolute URL resolved
/// against the request URL, never a crash or a hang.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let header = Fuzz.text(start, count)
    for base in bases {
        guard let next = LinkHeader.nextURL(header, relativeTo: base) else { continue }
        Fuzz.check(next.scheme != nil, "relative next URL \(next) from \(header.debugDescription)")
        _ = next.absoluteString
        _ = next.host
    }
    return 0
}

private let bases: [URL] = [
    URL(string: "https://registry.example.com/v2/team/app/tags/list?n=1000"),
    URL(string: "http://127.0.0.1:5000/v2/_catalog?n=1000"),
].compactMap { $0 }

/// The entry point SwiftPM links as `main` (see Package.swift): libFuzzer's driver with `fuzz` as the target.
@_cdecl("FuzzLink_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    Fuzz.runDriver(argc, argv) { data, size in
        guard let data else { return 0 }
        return fuzz(UnsafeRawPointer(data), size)
    }
}
