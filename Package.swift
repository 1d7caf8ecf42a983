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
        .library(name: "OCIArchive", targets: ["OCIArchive"]),
        .library(name: "OCIRegistry", targets: ["OCIRegistry"]),
        .library(name: "OCISchema1", targets: ["OCISchema1"]),
        .library(name: "OCITar", targets: ["OCITar"]),
        .library(name: "OCIBuild", targets: ["OCIBuild"]),
        .library(name: "OCIKit", targets: ["OCIKit"]),
        .library(name: "OCIGoCompat", targets: ["OCIGoCompat"]),
        .library(name: "OCIMirror", targets: ["OCIMirror"]),
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
        // `swift package generate-documentation --target OCIKit` builds the DocC catalog.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", from: "1.5.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        // containers' registries.conf (TOML) for per-registry settings and mirrors.
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        // The shared primitives below every other module: a lock-guarded value, the atomic file writer and the
        // cross-process file lock. Foundation only.
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
        .target(name: "OCILayout", dependencies: ["OCISync", "OCISpec", "OCIReference", "OCIContent"]),
        // A tar of an OCI image layout (skopeo's oci-archive:) as a content target: read from the tar's offsets
        // without extracting, written straight into a new tar that replaces the old one atomically.
        .target(name: "OCIArchive", dependencies: ["OCISync", "OCISpec", "OCIContent", "OCILayout", "OCITar"]),
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
            "OCISpec", "OCIReference",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The registry client: transport, auth, the distribution API.
        .target(name: "OCIRegistry", dependencies: [
            "OCISync",
            "OCISpec", "OCIReference", "OCIContent", "OCICredentials",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "TOMLKit", package: "TOMLKit"),
        ]),
        // The system libzstd (zstd.h), linked through pkg-config; OCISchema1 decompresses zstd layers with it.
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]),
        // The system libarchive (archive.h), linked through pkg-config; OCITar reads and writes tar with it.
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"]), .brew(["libarchive"])]),
        // Tar archives: a streaming pax writer and a reader of every tar dialect, over libarchive.
        .target(name: "OCITar", dependencies: ["OCISpec", "CArchive"]),
        // Docker schema1 manifests converted to OCI images (layers streamed through zlib or libzstd for their
        // diffIDs).
        .target(name: "OCISchema1", dependencies: [
            "OCISync", "OCISpec", "OCIContent", "CZstd",
            .product(name: "CompressNIO", package: "compress-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // Building and editing images without a daemon: layers from files (tar through OCITar, gzip through
        // CompressNIO, zstd through libzstd), config edits, rebase, flatten, indexes, export.
        .target(name: "OCIBuild", dependencies: [
            "OCISync", "OCISpec", "OCIContent", "OCITar", "CZstd",
            .product(name: "CompressNIO", package: "compress-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // The product users import: the verbs (copy, pull, push, inspect, tag) over any two targets, and
        // OCIClient, which runs them by location string with one configuration and a scoped lifetime.
        .target(name: "OCIKit", dependencies: [
            "OCISync",
            "OCISpec", "OCIReference", "OCIContent", "OCICredentials", "OCIRegistry", "OCILayout", "OCICache", "OCISchema1",
            "OCIArchive", "OCIBuild", "OCITar",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The Go ociclient API (Client, ExtendedClient, Store, GenericStore, Copy, helpers) over the verbs.
        .target(name: "OCIGoCompat", dependencies: [
            "OCISync",
            "OCIKit", "OCISpec", "OCIReference", "OCIContent", "OCICredentials", "OCIRegistry", "OCICache", "OCISchema1",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Mirroring at scale: `ocictl sync`'s engine. A YAML configuration (Yams) of sources, destinations, tag
        // filters, platforms, referrers and per-host limits; a plan (copy, skip, delete) from one HEAD per tag and
        // side; shards by a stable hash; a report.
        .target(name: "OCIMirror", dependencies: [
            "OCISync", "OCIKit", "OCIArchive",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The system's crypt(3), for htpasswd hashes (bcrypt) of the in-process registry.
        .systemLibrary(name: "CCrypt", providers: [.apt(["libcrypt-dev"])]),
        // Test support: real registry processes, a token server, an in-process HTTP fake and an in-process
        // OCI distribution registry (InProcessRegistry).
        .target(name: "OCITesting", dependencies: [
            "OCISync", "CCrypt", "OCIKit", "OCIGoCompat",
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
        // ocictl's pure parts, testable without the executable: the progress display's state and its rendering.
        .target(name: "OCICtlSupport", dependencies: ["OCISpec", "OCIContent"]),
        .executableTarget(name: "ocictl", dependencies: [
            "OCISync", "OCICtlSupport",
            "OCIKit", "OCISpec", "OCIReference", "OCIContent", "OCICredentials", "OCIRegistry", "OCIGoCompat", "OCILayout", "OCICache",
            "OCIMirror", "OCITesting",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Fixtures every test target shares: temporary directories, test images, byte streams, the fake registry.
        .target(name: "OCITestFixtures", dependencies: [
            "OCISync", "OCISpec", "OCIContent", "OCICredentials", "OCIRegistry", "OCITesting",
        ], path: "Tests/Fixtures"),
        .testTarget(name: "OCISyncTests", dependencies: ["OCISync"]),
        .testTarget(name: "OCISpecTests", dependencies: ["OCISpec"]),
        .testTarget(name: "OCITarTests", dependencies: ["OCITar", "OCISpec"]),
        .testTarget(name: "OCICtlSupportTests", dependencies: ["OCICtlSupport", "OCISpec", "OCIContent"]),
        .testTarget(name: "OCIReferenceTests", dependencies: ["OCIReference", "OCIGoCompat", "OCIKit", "OCISchema1"]),
        .testTarget(name: "OCICredentialsTests", dependencies: ["OCISync", "OCICredentials"]),
        .testTarget(name: "OCILayoutTests", dependencies: ["OCITestFixtures", "OCILayout", "OCIContent", "OCISpec", "OCITesting"]),
        .testTarget(name: "OCICacheTests", dependencies: [
            "OCISync",
            "OCICache", "OCIContent", "OCISpec",
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "OCIContentTests", dependencies: [
            "OCITestFixtures", "OCISync", "OCISpec", "OCIContent", "OCILayout", "OCIRegistry", "OCITesting", "OCIKit",
        ]),
        .testTarget(name: "OCIBuildTests", dependencies: [
            "OCITestFixtures", "OCIBuild", "OCITar", "OCIContent", "OCISpec", "OCILayout",
        ]),
        .testTarget(name: "OCIKitTests", dependencies: [
            "OCITestFixtures", "OCISync", "OCIKit", "OCIGoCompat", "OCISchema1", "OCITesting",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "OCIRegistryTests", dependencies: [
            "OCITestFixtures", "OCISync",
            "OCIRegistry", "OCIGoCompat", "OCIKit", "OCISchema1", "OCITesting", "OCIContent", "OCICredentials", "OCISpec", "OCIReference", "OCILayout",
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
        .testTarget(name: "OCIMirrorTests", dependencies: [
            "OCITestFixtures", "OCISync", "OCIMirror", "OCIKit", "OCITesting",
        ]),
        .testTarget(name: "IntegrationTests", dependencies: [
            "OCITestFixtures", "OCISync", "OCIMirror", "OCILayout",
            "OCIRegistry", "OCIGoCompat", "OCIKit", "OCISchema1", "OCITesting", "OCIContent", "OCICredentials", "OCISpec", "OCIReference",
        ]),
    ],
    swiftLanguageModes: [.v6]
)
