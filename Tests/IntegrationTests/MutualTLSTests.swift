import Foundation
import OCIKit
import OCIRegistry
import OCITesting
import XCTest

/// The distribution registry with `http.tls.clientcas`: refused without a client certificate, served with one given
/// in the configuration, per host, or found in a certs.d directory; and the same through ocictl.
final class MutualTLSTests: XCTestCase {
    func startRegistry() async throws -> TestRegistry {
        try NetworkTools.registry(.tls)
        var options = TestRegistry.Options()
        options.requiresClientCertificate = true
        return try await TestRegistry.start(.tls, options: options)
    }

    /// A certs.d directory for the registry: `ROOT/127.0.0.1:PORT/{ca.crt,client.cert,client.key}`.
    func certsDirectory(for registry: TestRegistry, in dir: TempDir) throws -> String {
        let root = dir.file("certs.d")
        let host = root + "/" + registry.host
        try FileManager.default.createDirectory(atPath: host, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try XCTUnwrap(registry.caCertificatePath), toPath: host + "/ca.crt")
        try FileManager.default.copyItem(atPath: try XCTUnwrap(registry.clientCertificatePath), toPath: host + "/client.cert")
        try FileManager.default.copyItem(atPath: try XCTUnwrap(registry.clientKeyPath), toPath: host + "/client.key")
        return root
    }

    /// The registry's refusal: a TLS alert (TLS 1.2) or a connection closed right after the handshake (TLS 1.3),
    /// which the error explains.
    static func isClientCertificateRefusal(_ error: RegistryError) -> Bool {
        switch error {
        case .tls: return true
        case .transport(_, let why): return why.contains("client certificate")
        default: return false
        }
    }

    func testClientCertificateFromConfigurationHostEntryAndCertsD() async throws {
        let registry = try await startRegistry()
        let dir = try TempDir(prefix: "mtls")
        defer { dir.remove() }
        do {
            let ca = try XCTUnwrap(registry.caCertificatePath)
            let certificate = RegistryClient.Configuration.ClientCertificate(certificateFile: try XCTUnwrap(registry.clientCertificatePath),
                                                keyFile: try XCTUnwrap(registry.clientKeyPath))
            let ref = "\(registry.host)/mtls/app:1"
            var without = Sample.configuration()
            without.registry.tls.caFiles = [ca]
            without.registry.plainHTTP = .never
            await assertRegistryError("no client certificate", {
                try await OCIClient.withClient(configuration: without) { _ = try await $0.resolve(ref) }
            }, matches: Self.isClientCertificateRefusal)

            var clientWide = without
            clientWide.registry.tls.clientCertificate = certificate
            let files = try Sample.files(in: dir)
            let pushed = try await OCIClient.withClient(configuration: clientWide) { try await $0.push(files: files, to: ref) }

            var perHost = without
            perHost.registry.tls.hosts = [registry.host: RegistryClient.Configuration.HostTLS(clientCertificate: certificate)]
            let viaHost = try await OCIClient.withClient(configuration: perHost) { try await $0.resolve(ref) }
            XCTAssertEqual(viaHost.digest, pushed.digest)

            var otherHost = without
            otherHost.registry.tls.hosts = ["127.0.0.1:1": RegistryClient.Configuration.HostTLS(clientCertificate: certificate)]
            await assertRegistryError("a certificate for another host is not offered", {
                try await OCIClient.withClient(configuration: otherHost) { _ = try await $0.resolve(ref) }
            }, matches: Self.isClientCertificateRefusal)

            var certsD = Sample.configuration()
            certsD.registry.plainHTTP = .never
            certsD.registry.tls.certificateDirectories = [dir.file("empty"), try certsDirectory(for: registry, in: dir)]
            let viaCertsD = try await OCIClient.withClient(configuration: certsD) { try await $0.resolve(ref) }
            XCTAssertEqual(viaCertsD.digest, pushed.digest, "ca.crt and the client pair come from certs.d")

            var badKey = without
            badKey.registry.tls.clientCertificate = RegistryClient.Configuration.ClientCertificate(certificateFile: certificate.certificateFile, keyFile: dir.file("missing.key"))
            await assertRegistryError("unreadable client key", {
                try await OCIClient.withClient(configuration: badKey) { _ = try await $0.resolve(ref) }
            }, matches: { if case .invalidArgument(let why) = $0 { return why.contains("missing.key") }; return false })
        } catch {
            await registry.stop()
            throw error
        }
        await registry.stop()
    }

    func testOcictlCertsDirAndClientCertFlags() async throws {
        let registry = try await startRegistry()
        let ocictl = try OCICtl()
        let dir = try TempDir(prefix: "mtls-ocictl")
        defer {
            ocictl.cleanup()
            dir.remove()
        }
        do {
            let ca = try XCTUnwrap(registry.caCertificatePath)
            let ref = "\(registry.host)/mtls/ctl:1"
            let file = try dir.write("f.txt", Bytes.random(500))
            let refused = try await ocictl.run(["push", ref, file, "--ca-file", ca, "-q"])
            XCTAssertNotEqual(refused.status, 0)
            XCTAssertTrue(refused.stderrText.contains("client certificate"), refused.stderrText)
            XCTAssertTrue(refused.stderrText.contains("--client-cert"), refused.stderrText)
            try await ocictl.ok(["push", ref, file, "-q", "--ca-file", ca,
                                 "--client-cert", try XCTUnwrap(registry.clientCertificatePath),
                                 "--client-key", try XCTUnwrap(registry.clientKeyPath)])
            let certsDir = try certsDirectory(for: registry, in: dir)
            let resolved = try await ocictl.ok(["resolve", ref, "--certs-dir", certsDir])
            XCTAssertTrue(resolved.stdoutText.hasPrefix("sha256:"), resolved.summary)
        } catch {
            await registry.stop()
            throw error
        }
        await registry.stop()
    }
}
