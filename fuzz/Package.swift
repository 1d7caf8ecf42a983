// swift-tools-version:6.0
// libFuzzer targets for the parsers that read untrusted input: references, manifests/indexes/schema1 documents,
// WWW-Authenticate and Link headers, and docker config files. A separate package so that the main build never
// sees -sanitize=fuzzer. Build and run with scripts/fuzz.sh (see docs/security.md):
//
//   swift build -c debug --package-path fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//   fuzz/.build/debug/FuzzReference fuzz/corpus/FuzzReference -max_total_time=60
//
// SwiftPM links each executable with `--defsym main=<Target>_main` (testable executables), so a target that has
// only LLVMFuzzerTestOneInput fails to link ("undefined symbol 'FuzzReference_main'"). Each target therefore
// also defines `<Target>_main`, which hands over to libFuzzer's LLVMFuzzerRunDriver (FuzzSupport/CFuzzDriver).
import PackageDescription

let fuzzTargets = ["FuzzReference", "FuzzManifest", "FuzzChallenge", "FuzzLink", "FuzzDockerConfig"]

let package = Package(
    name: "swift-ociclient-fuzz",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "swift-ociclient", path: ".."),
    ],
    targets: [
        // Shared helpers: input decoding and invariant checks that abort (a libFuzzer crash) when violated.
        .target(name: "CFuzzDriver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzDriver"]),
        .executableTarget(name: "FuzzReference", dependencies: [
            "FuzzSupport",
            .product(name: "OCIReference", package: "swift-ociclient"),
            .product(name: "OCISpec", package: "swift-ociclient"),
        ]),
        .executableTarget(name: "FuzzManifest", dependencies: [
            "FuzzSupport",
            .product(name: "OCISpec", package: "swift-ociclient"),
        ]),
        .executableTarget(name: "FuzzChallenge", dependencies: [
            "FuzzSupport",
            .product(name: "OCIRegistry", package: "swift-ociclient"),
        ]),
        .executableTarget(name: "FuzzLink", dependencies: [
            "FuzzSupport",
            .product(name: "OCIRegistry", package: "swift-ociclient"),
        ]),
        .executableTarget(name: "FuzzDockerConfig", dependencies: [
            "FuzzSupport",
            .product(name: "OCICredentials", package: "swift-ociclient"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
