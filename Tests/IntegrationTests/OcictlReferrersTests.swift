import Foundation
import OCITesting
import XCTest

/// ocictl's OCI 1.1 commands against registry 2.8, where the referrers tag schema runs for real.
final class OcictlReferrersTests: XCTestCase {
    func testSubjectReferrersCopyAndDelete() async throws {
        try Requirements.registry(.plain)
        let ocictl = try OCICtl()
        defer { ocictl.cleanup() }
        try await TestRegistry.withRegistry(.plain) { registry in
            let files = try TempDir(prefix: "referrers")
            defer { files.remove() }
            let app = try files.write("app.bin", Bytes.random(20_000))
            let sig = try files.write("sig.txt", Array("signature".utf8))
            let image = "\(registry.host)/ref/app:v1"
            let imageDigest = try await ocictl.ok(["push", image, app]).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            let sigDigest = try await ocictl.ok(["push", "\(registry.host)/ref/app:sig", sig, "--subject", image,
                                                 "--artifact-type", "application/vnd.example.sig"])
                .stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)

            let listed = try await ocictl.ok(["referrers", image])
            XCTAssertTrue(listed.stdoutText.contains("\(sigDigest) application/vnd.example.sig"), listed.stdoutText)
            let filtered = try await ocictl.ok(["referrers", image, "--artifact-type", "application/vnd.other"])
            XCTAssertEqual(filtered.stdoutText, "")

            try await ocictl.ok(["copy", "--referrers", image, "\(registry.host)/ref/copy:v1"])
            let copied = try await ocictl.ok(["referrers", "\(registry.host)/ref/copy:v1", "--json"])
            XCTAssertTrue(copied.stdoutText.contains(sigDigest), copied.stdoutText)

            try await ocictl.ok(["delete", "--tag-only", "\(registry.host)/ref/app:sig"])
            let tags = try await ocictl.ok(["tags", "\(registry.host)/ref/app"])
            XCTAssertFalse(tags.stdoutText.split(separator: "\n").contains("sig"), tags.stdoutText)
            let stillThere = try await ocictl.ok(["referrers", image])
            XCTAssertTrue(stillThere.stdoutText.contains(sigDigest), "untagging keeps the manifest")

            try await ocictl.ok(["delete", "\(registry.host)/ref/app@\(sigDigest)"])
            let after = try await ocictl.ok(["referrers", image])
            XCTAssertEqual(after.stdoutText, "")
            let resolved = try await ocictl.ok(["resolve", image])
            XCTAssertTrue(resolved.stdoutText.hasPrefix(imageDigest))
        }
    }
}
