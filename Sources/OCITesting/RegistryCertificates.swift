import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

extension InProcessRegistry {
    /// HTTPS for the registry (and its blob host).
    public enum TLS: Sendable, Hashable {
        /// A test CA and a server certificate for `127.0.0.1`, `::1`, `localhost` (and the bound host) generated in
        /// process at start (P-256, valid for a week from an hour ago). Clients trust
        /// ``InProcessRegistry/caCertificatePEM`` (or the file ``InProcessRegistry/caCertificatePath``).
        case generated
        /// A server certificate chain (leaf first) and its private key, both PEM.
        case pem(certificateChain: String, privateKey: String)

        /// ``pem(certificateChain:privateKey:)`` read from files (e.g. `--tls-cert` and `--tls-key` of a serve command).
        public static func pemFiles(certificateChain: String, privateKey: String) throws -> TLS {
            guard let chain = FileManager.default.contents(atPath: certificateChain) else {
                throw InProcessRegistryError("cannot read the certificate chain \(certificateChain)")
            }
            guard let key = FileManager.default.contents(atPath: privateKey) else {
                throw InProcessRegistryError("cannot read the private key \(privateKey)")
            }
            return .pem(certificateChain: String(decoding: chain, as: UTF8.self), privateKey: String(decoding: key, as: UTF8.self))
        }
    }
}

/// A CA and a server certificate signed by it.
struct RegistryGeneratedCertificates: Sendable {
    var caPEM: String
    var serverChainPEM: String
    var serverKeyPEM: String

    static func make(hosts: [String]) throws -> RegistryGeneratedCertificates {
        let now = Date()
        let notBefore = now.addingTimeInterval(-3600)
        let notAfter = now.addingTimeInterval(7 * 24 * 3600)

        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName {
            OrganizationName("swift-ociclient")
            CommonName("InProcessRegistry test CA")
        }
        let caPublicKey = Certificate.PublicKey(caKey.publicKey)
        let caCertificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: caPublicKey,
            notValidBefore: notBefore, notValidAfter: notAfter, issuer: caName, subject: caName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: caPublicKey)
            },
            issuerPrivateKey: Certificate.PrivateKey(caKey))

        let serverKey = P256.Signing.PrivateKey()
        let serverPublicKey = Certificate.PublicKey(serverKey.publicKey)
        var names: [GeneralName] = []
        var seen = Set<String>()
        for host in ["127.0.0.1", "::1", "localhost"] + hosts where seen.insert(host).inserted {
            if let ip = ipBytes(host) {
                names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(ip))))
            } else if !host.isEmpty {
                names.append(.dnsName(host))
            }
        }
        let serverName = try DistinguishedName {
            OrganizationName("swift-ociclient")
            CommonName("127.0.0.1")
        }
        let caKeyIdentifier = SubjectKeyIdentifier(hash: caPublicKey).keyIdentifier
        let serverCertificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: serverPublicKey,
            notValidBefore: notBefore, notValidAfter: notAfter, issuer: caName, subject: serverName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
                AuthorityKeyIdentifier(keyIdentifier: caKeyIdentifier)
            },
            issuerPrivateKey: Certificate.PrivateKey(caKey))

        return RegistryGeneratedCertificates(
            caPEM: try caCertificate.serializeAsPEM().pemString + "\n",
            serverChainPEM: try serverCertificate.serializeAsPEM().pemString + "\n",
            serverKeyPEM: serverKey.pemRepresentation + "\n")
    }

    /// The address bytes of an IPv4 or IPv6 literal.
    static func ipBytes(_ host: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }
}

extension InProcessRegistry.TLS {
    /// The server context, and the CA PEM when generated.
    func makeContext(hosts: [String]) throws -> (NIOSSLContext, caPEM: String?) {
        let chainPEM: String, keyPEM: String, caPEM: String?
        switch self {
        case .generated:
            let generated = try RegistryGeneratedCertificates.make(hosts: hosts)
            chainPEM = generated.serverChainPEM
            keyPEM = generated.serverKeyPEM
            caPEM = generated.caPEM
        case .pem(let chain, let key):
            chainPEM = chain
            keyPEM = key
            caPEM = nil
        }
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(chainPEM.utf8)).map { NIOSSLCertificateSource.certificate($0) }
        guard !chain.isEmpty else { throw InProcessRegistryError("the TLS certificate chain holds no certificate") }
        let key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        let configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        return (try NIOSSLContext(configuration: configuration), caPEM)
    }
}
