import Foundation
import FuzzSupport
import OCICredentials

/// docker `config.json` / `auth.json` / legacy `.dockercfg` parsing and address normalisation: a typed
/// `CredentialsError` or a config, never a crash; a normalised address is never empty (no catch-all key).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(Fuzz.bytes(start, count))
    var addresses: [String] = []
    if let config = try? DockerConfig(data: data, origin: "fuzz") {
        addresses += config.auths.keys
        addresses += config.credHelpers.keys
    }
    if let legacy = try? DockerConfig(legacyData: data, origin: "fuzz") {
        addresses += legacy.auths.keys
    }
    for address in addresses.prefix(64) {
        if let normalized = try? RegistryAddress(normalizing: address) {
            Fuzz.check(!normalized.host.isEmpty, "address \(address.debugDescription) normalised to an empty host")
        }
    }
    // The header value and auth field decoders see the raw input too.
    let text = String(decoding: data.prefix(4096), as: UTF8.self)
    _ = DockerConfig.decodeAuth(text)
    _ = try? RegistryAddress(normalizing: text)
    return 0
}

/// The entry point SwiftPM links as `main` (see Package.swift): libFuzzer's driver with `fuzz` as the target.
@_cdecl("FuzzDockerConfig_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    Fuzz.runDriver(argc, argv) { data, size in
        guard let data else { return 0 }
        return fuzz(UnsafeRawPointer(data), size)
    }
}
