import Foundation
import OCICredentials
import OCIKit
import OCIRegistry
import OCITesting
import XCTest

/// `.netrc` credentials against the htpasswd registry.
final class NetrcIntegrationTests: XCTestCase {
    func testNetrcCredentialsInTheLibraryAndOcictl() async throws {
        try NetworkTools.registry(.htpasswd)
        let registry = try await TestRegistry.start(.htpasswd)
        let dir = try TempDir(prefix: "netrc")
        let ocictl = try OCICtl()
        defer {
            dir.remove()
            ocictl.cleanup()
        }
        do {
            let user = try XCTUnwrap(registry.username), password = try XCTUnwrap(registry.password)
            // A machine entry names the host without the port: it serves every port.
            let netrc = try dir.write("netrc", Bytes.utf8("machine 127.0.0.1\n  login \(user)\n  password \(password)\n"))
            let ref = "\(registry.host)/netrc/app:1"
            var configuration = Sample.configuration()
            configuration.registry.credentials = try KeyringBuilder(environment: ["NETRC": netrc]).disableDefaultConfig().build()
            let files = try Sample.files(in: dir)
            let pushed = try await OCIClient.withClient(configuration: configuration) { try await $0.push(files: files, to: ref) }

            var anonymous = Sample.configuration()
            anonymous.registry.credentials = try KeyringBuilder(environment: [:]).disableDefaultConfig().build()
            await assertRegistryError("anonymous", {
                try await OCIClient.withClient(configuration: anonymous) { _ = try await $0.resolve(ref) }
            }, matches: { $0.isUnauthorized })

            let viaEnv = try await ocictl.ok(["resolve", ref], environment: ["NETRC": netrc])
            XCTAssertTrue(viaEnv.stdoutText.hasPrefix(pushed.digest.description), viaEnv.summary)
            let viaFlag = try await ocictl.ok(["resolve", ref, "--netrc-file", netrc])
            XCTAssertTrue(viaFlag.stdoutText.hasPrefix(pushed.digest.description), viaFlag.summary)
            // ~/.netrc of the (isolated) home.
            try FileManager.default.copyItem(atPath: netrc, toPath: ocictl.home.file(".netrc"))
            try await ocictl.ok(["resolve", ref])

            let broken = try dir.write("broken", Bytes.utf8("machine 127.0.0.1 login \(user)\npasswd \(password)\n"))
            let failed = try await ocictl.run(["resolve", ref, "--netrc-file", broken])
            XCTAssertNotEqual(failed.status, 0)
            XCTAssertTrue(failed.stderrText.contains("line 2"), failed.stderrText)
            XCTAssertFalse(failed.stderrText.contains(password), "the password leaked into the error")
        } catch {
            await registry.stop()
            throw error
        }
        await registry.stop()
    }
}

/// Pulls through registries.conf mirrors: served by the mirror, a digest-only mirror skipped for tags, a stopped mirror
/// falling back to the origin, pushes to the origin only, blocked registries refused.
final class MirrorTests: XCTestCase {
    struct Setup {
        var origin: TestRegistry
        var mirror: TestRegistry
        var digest: String
        var dir: TempDir

        func conf(pullFromMirror: String = "all", blockedOrigin: Bool = false) throws -> String {
            try dir.write("registries-\(pullFromMirror)-\(blockedOrigin).conf", Bytes.utf8("""
                unqualified-search-registries = []

                [[registry]]
                location = "\(origin.host)"
                blocked = \(blockedOrigin)

                [[registry.mirror]]
                location = "\(mirror.host)/cache"
                pull-from-mirror = "\(pullFromMirror)"

                """))
        }

        func stop() async {
            await origin.stop()
            await mirror.stop()
            dir.remove()
        }
    }

    /// An origin with `mirrored/app:1`, and a mirror holding a copy under `cache/mirrored/app:1`.
    func makeSetup() async throws -> Setup {
        try NetworkTools.registry(.plain)
        let origin = try await TestRegistry.start(.plain)
        let mirror: TestRegistry
        do { mirror = try await TestRegistry.start(.plain) } catch {
            await origin.stop()
            throw error
        }
        let dir = try TempDir(prefix: "mirror")
        let files = try Sample.files(in: dir)
        let descriptor = try await OCIClient.withClient(configuration: Sample.configuration()) { client in
            let pushed = try await client.push(files: files, to: "\(origin.host)/mirrored/app:1")
            try await client.copy(from: "\(origin.host)/mirrored/app:1", to: "\(mirror.host)/cache/mirrored/app:1")
            return pushed
        }
        return Setup(origin: origin, mirror: mirror, digest: descriptor.digest.description, dir: dir)
    }

    func blobGETs(_ log: String, repository: String) -> Int {
        log.split(separator: "\n").filter { $0.contains("\"GET /v2/\(repository)/blobs/") }.count
    }

    func testPullIsServedByTheMirrorAndFallsBackWhenItStops() async throws {
        let setup = try await makeSetup()
        do {
            let logs = LogCollector()
            var configuration = Sample.configuration(logger: logs.logger)
            configuration.registry.registries = try RegistriesConfiguration.load(file: try setup.conf())
            let ref = "\(setup.origin.host)/mirrored/app:1"
            var originStart = Sample.logSize(setup.origin)
            var mirrorStart = Sample.logSize(setup.mirror)
            let pulled = try await OCIClient.withClient(configuration: configuration) { try await $0.pull(ref, into: setup.dir.file("one")) }
            XCTAssertEqual(pulled.descriptor.digest.description, setup.digest)
            XCTAssertEqual(blobGETs(Sample.log(setup.origin, from: originStart), repository: "mirrored/app"), 0,
                           "the origin served no blob:\n\(Sample.log(setup.origin, from: originStart))")
            let waited1 = await Sample.log(setup.mirror, from: mirrorStart, waitingFor: "/cache/mirrored/app/blobs/")
            XCTAssertGreaterThan(blobGETs(waited1, repository: "cache/mirrored/app"), 0)
            XCTAssertTrue(logs.text.contains("served by mirror \(setup.mirror.host)/cache/mirrored/app"), logs.text)

            // Pushes go to the origin only.
            mirrorStart = Sample.logSize(setup.mirror)
            let files = try Sample.files(in: setup.dir)
            try await OCIClient.withClient(configuration: configuration) { _ = try await $0.push(files: files, to: "\(setup.origin.host)/mirrored/app:2") }
            XCTAssertFalse(Sample.log(setup.mirror, from: mirrorStart).contains("/v2/"), "a push touched the mirror")

            // The mirror stops: the origin serves.
            await setup.mirror.stopProcess()
            originStart = Sample.logSize(setup.origin)
            let fallback = try await OCIClient.withClient(configuration: configuration) { try await $0.pull(ref, into: setup.dir.file("two")) }
            XCTAssertEqual(fallback.descriptor.digest.description, setup.digest)
            let waited2 = await Sample.log(setup.origin, from: originStart, waitingFor: "/mirrored/app/blobs/")
            XCTAssertGreaterThan(blobGETs(waited2, repository: "mirrored/app"), 0)
            XCTAssertTrue(logs.text.contains("served by origin \(setup.origin.host)/mirrored/app"), logs.text)
        } catch {
            await setup.stop()
            throw error
        }
        await setup.stop()
    }

    func testDigestOnlyMirrorIsSkippedForTagsAndBlockedRegistriesAreRefused() async throws {
        let setup = try await makeSetup()
        do {
            var configuration = Sample.configuration()
            configuration.registry.registries = try RegistriesConfiguration.load(file: try setup.conf(pullFromMirror: "digest-only"))
            var mirrorStart = Sample.logSize(setup.mirror)
            let byTag = try await OCIClient.withClient(configuration: configuration) { try await $0.pull("\(setup.origin.host)/mirrored/app:1", into: setup.dir.file("tag")) }
            XCTAssertEqual(byTag.descriptor.digest.description, setup.digest)
            XCTAssertFalse(Sample.log(setup.mirror, from: mirrorStart).contains("/v2/cache"), "the digest-only mirror was asked for a tag")
            mirrorStart = Sample.logSize(setup.mirror)
            let originStart = Sample.logSize(setup.origin)
            _ = try await OCIClient.withClient(configuration: configuration) { try await $0.pull("\(setup.origin.host)/mirrored/app@\(setup.digest)", into: setup.dir.file("digest")) }
            let waited3 = await Sample.log(setup.mirror, from: mirrorStart, waitingFor: "/cache/mirrored/app/blobs/")
            XCTAssertGreaterThan(blobGETs(waited3, repository: "cache/mirrored/app"), 0)
            XCTAssertEqual(blobGETs(Sample.log(setup.origin, from: originStart), repository: "mirrored/app"), 0)

            configuration.registry.registries = try RegistriesConfiguration.load(file: try setup.conf(blockedOrigin: true))
            for operation in ["pull", "push"] {
                await assertRegistryError("blocked \(operation)", {
                    try await OCIClient.withClient(configuration: configuration) { client in
                        if operation == "pull" {
                            _ = try await client.resolve("\(setup.origin.host)/mirrored/app:1")
                        } else {
                            _ = try await client.push(files: try Sample.files(in: setup.dir), to: "\(setup.origin.host)/mirrored/app:3")
                        }
                    }
                }, matches: { if case .blocked = $0 { return true }; return false })
            }
        } catch {
            await setup.stop()
            throw error
        }
        await setup.stop()
    }

    func testOcictlReadsRegistriesConf() async throws {
        let setup = try await makeSetup()
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        do {
            let conf = try setup.conf()
            let ref = "\(setup.origin.host)/mirrored/app:1"
            let originStart = Sample.logSize(setup.origin)
            let pulled = try await ocictl.ok(["pull", ref, "-o", setup.dir.file("ctl"), "-q", "-v", "--registries-conf", conf])
            XCTAssertTrue(pulled.stderrText.contains("served by mirror \(setup.mirror.host)/cache/mirrored/app"), pulled.stderrText)
            XCTAssertEqual(blobGETs(Sample.log(setup.origin, from: originStart), repository: "mirrored/app"), 0)
            let viaEnv = try await ocictl.ok(["pull", ref, "-o", setup.dir.file("ctl2"), "-q", "-v"],
                                             environment: ["CONTAINERS_REGISTRIES_CONF": conf])
            XCTAssertTrue(viaEnv.stderrText.contains("served by mirror"), viaEnv.stderrText)
            let blocked = try await ocictl.run(["resolve", ref, "--registries-conf", try setup.conf(blockedOrigin: true)])
            XCTAssertNotEqual(blocked.status, 0)
            XCTAssertTrue(blocked.stderrText.contains("blocked"), blocked.stderrText)
        } catch {
            await setup.stop()
            throw error
        }
        await setup.stop()
    }
}

/// A docker config naming only a `credsStore` (amazon-ecr-credential-helper's setup) asks that helper for every
/// registry, through ocictl; registries.conf `insecure` gives plain HTTP and skip-verify per host.
final class CredsStoreAndInsecureTests: XCTestCase {
    func testCredsStoreOnlyConfigServesEveryRegistryThroughOcictl() async throws {
        try NetworkTools.registry(.htpasswd)
        let registry = try await TestRegistry.start(.htpasswd)
        let ocictl = try OCICtl()
        let bin = try TempDir(prefix: "credsstore-bin")
        defer {
            ocictl.cleanup()
            bin.remove()
        }
        do {
            let user = try XCTUnwrap(registry.username), password = try XCTUnwrap(registry.password)
            let script = """
                #!/bin/sh
                [ "$1" = get ] || exit 2
                url=$(cat)
                echo "$url" >> '\(bin.path)/asked'
                if [ "$url" = '\(registry.host)' ]; then
                  printf '{"ServerURL":"%s","Username":"\(user)","Secret":"\(password)"}' "$url"; exit 0
                fi
                echo "credentials not found in native keychain"; exit 1
                """
            let helper = try bin.write("docker-credential-teststore", Bytes.utf8(script))
            chmod(helper, 0o755)
            _ = try ocictl.home.write(".docker/config.json", Bytes.utf8(#"{"credsStore": "teststore"}"#))
            let path = bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
            let file = try ocictl.home.write("f.txt", Bytes.random(300))
            try await ocictl.ok(["push", "\(registry.host)/store/app:1", file, "-q"], environment: ["PATH": path])
            try await ocictl.ok(["resolve", "\(registry.host)/store/app:1"], environment: ["PATH": path])
            XCTAssertTrue((bin.read("asked").map(Bytes.text) ?? "").contains(registry.host), "the store was asked for the host")
        } catch {
            await registry.stop()
            throw error
        }
        await registry.stop()
    }

    func testInsecureInRegistriesConfAllowsPlainHTTPAndSkipsVerification() async throws {
        try NetworkTools.registry(.tls)
        try NetworkTools.registry(.plain)
        let tls = try await TestRegistry.start(.tls)
        let plain: TestRegistry
        do { plain = try await TestRegistry.start(.plain) } catch {
            await tls.stop()
            throw error
        }
        let dir = try TempDir(prefix: "insecure-conf")
        let ocictl = try OCICtl()
        defer {
            dir.remove()
            ocictl.cleanup()
        }
        do {
            let conf = try dir.write("registries.conf", Bytes.utf8("""
                [[registry]]
                location = "\(tls.host)"
                insecure = true

                [[registry]]
                location = "\(plain.host)"
                insecure = true

                """))
            let files = try Sample.files(in: dir)
            var strict = Sample.configuration()
            strict.registry.plainHTTP = .never
            await assertRegistryError("untrusted CA without the file", {
                try await OCIClient.withClient(configuration: strict) { _ = try await $0.push(files: files, to: "\(tls.host)/insecure/app:1") }
            }, matches: { $0.isTLS })
            var configured = strict
            configured.registry.registries = try RegistriesConfiguration.load(file: conf)
            try await OCIClient.withClient(configuration: configured) { client in
                _ = try await client.push(files: files, to: "\(tls.host)/insecure/app:1")
                _ = try await client.push(files: files, to: "\(plain.host)/insecure/app:1")
            }
            let refused = try await ocictl.run(["resolve", "\(tls.host)/insecure/app:1"])
            XCTAssertNotEqual(refused.status, 0, "without the file the test CA is not trusted")
            try await ocictl.ok(["resolve", "\(tls.host)/insecure/app:1", "--registries-conf", conf])
        } catch {
            await tls.stop()
            await plain.stop()
            throw error
        }
        await tls.stop()
        await plain.stop()
    }
}
