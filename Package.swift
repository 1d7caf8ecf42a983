// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "swift-ociclient",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "OCISpec", targets: ["OCISpec"]),
        .library(name: "OCIReference", targets: ["OCIReference"]),
        .library(name: "OCIContent", targets: ["OCIContent"]),
        .library(name: "OCICredentials", targets: ["OCICredentials"]),
        .library(name: "OCILayout", targets: ["OCILayout"]),
        .library(name: "OCICache", targets: ["OCICache"]),
        .library(name: "OCIRegistry", targets: ["OCIRegistry"]),
        .library(name: "OCIClient", targets: ["OCIClient"]),
        .library(name: "OCITesting", targets: ["OCITesting"]),
        .executable(name: "ocictl", targets: ["ocictl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
    ],
    targets: [
        // A lock-guarded value, shared by every module that keeps mutable state in a Sendable class.
        .target(name: "OCISync"),
        // Spec types: digests, media types, descriptors, manifests. No I/O.
        .target(name: "OCISpec", dependencies: [
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Distribution references: parsing and normalisation.
        .target(name: "OCIReference", dependencies: ["OCISpec"]),
        // The content protocols every store implements, byte streams, verification, the memory store.
        .target(name: "OCIContent", dependencies: ["OCISync", "OCISpec", "OCIReference"]),
        // The OCI image layout directory as a content target.
        .target(name: "OCILayout", dependencies: ["OCISpec", "OCIReference", "OCIContent"]),
        // The verified content cache: filesystem store, in-memory overlay, GC, metrics.
        .target(name: "OCICache", dependencies: [
            "OCISync",
            "OCISpec", "OCIContent",
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Credentials: docker config files and the keyring.
        .target(name: "OCICredentials", dependencies: [
            "OCISync",
            "OCIReference",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The registry client: transport, auth, the distribution API.
        .target(name: "OCIRegistry", dependencies: [
            "OCISync",
            "OCISpec", "OCIReference", "OCIContent", "OCICredentials",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The Go ociclient API on top of the registry client.
        .target(name: "OCIClient", dependencies: [
            "OCISpec", "OCIReference", "OCIContent", "OCICredentials", "OCIRegistry", "OCICache",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Test support: real registry processes, a token server, an in-process HTTP fake and an in-process
        // OCI distribution registry (InProcessRegistry).
        .target(name: "OCITesting", dependencies: [
            "OCISync",
            "OCISpec",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        .executableTarget(name: "ocictl", dependencies: [
            "OCISync",
            "OCISpec", "OCIReference", "OCIContent", "OCICredentials", "OCIRegistry", "OCIClient", "OCILayout", "OCICache",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "OCISpecTests", dependencies: ["OCISpec"]),
        .testTarget(name: "OCIReferenceTests", dependencies: ["OCIReference", "OCIClient"]),
        .testTarget(name: "OCICredentialsTests", dependencies: ["OCISync", "OCICredentials"]),
        .testTarget(name: "OCILayoutTests", dependencies: ["OCILayout", "OCIContent", "OCISpec", "OCITesting"]),
        .testTarget(name: "OCICacheTests", dependencies: [
            "OCISync",
            "OCICache", "OCIContent", "OCISpec",
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "OCIRegistryTests", dependencies: [
            "OCISync",
            "OCIRegistry", "OCIClient", "OCITesting", "OCIContent", "OCICredentials", "OCISpec", "OCIReference", "OCILayout",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "InProcessRegistryTests", dependencies: [
            "OCISync",
            "OCIRegistry", "OCITesting", "OCIContent", "OCISpec", "OCIReference", "OCICredentials",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .testTarget(name: "IntegrationTests", dependencies: [
            "OCISync",
            "OCIRegistry", "OCIClient", "OCITesting", "OCIContent", "OCICredentials", "OCISpec", "OCIReference",
        ]),
    ],
    swiftLanguageModes: [.v6]
)
