import Foundation
import OCIKit
import OCITesting
import XCTest

/// README.md's library example is the code of ReadmeExample.swift, and it runs against the real registry.
final class ReadmeExampleTests: XCTestCase {
    private static func block(_ text: String) -> String? {
        guard let begin = text.range(of: "// README-EXAMPLE-BEGIN\n"),
              let end = text.range(of: "// README-EXAMPLE-END", range: begin.upperBound..<text.endIndex) else { return nil }
        return String(text[begin.upperBound..<end.lowerBound])
    }

    func testReadmeShowsTheExampleVerbatim() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let source = try String(contentsOf: root.appendingPathComponent("Tests/IntegrationTests/ReadmeExample.swift"), encoding: .utf8)
        let example = try XCTUnwrap(Self.block(source))
        XCTAssertTrue(readme.contains("```swift\n" + example + "```\n"), "README.md must show ReadmeExample.swift's example verbatim:\n\(example)")
        let lines = example.split(separator: "\n", omittingEmptySubsequences: true)
        XCTAssertEqual(lines.filter { $0.hasPrefix("import ") }, ["import OCIKit"], "one import")
        XCTAssertLessThanOrEqual(lines.count - 1, 12, "at most a dozen lines besides the import")
    }

    func testReadmeExampleRunsAgainstTheRealRegistry() async throws {
        try Requirements.registry(.plain)
        let scratch = try TempDir(prefix: "it-readme")
        defer { scratch.remove() }
        let notes = Bytes.random(3000)
        let data = Bytes.random(700_000)
        _ = try scratch.write("notes.txt", notes)
        _ = try scratch.write("data.bin", data)
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(scratch.path))
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        try await TestRegistry.withRegistry(.plain) { registry in
            try await example(registry: registry.host)
            XCTAssertEqual(FileManager.default.contents(atPath: scratch.file("restored/notes.txt")).map { [UInt8]($0) }, notes)
            XCTAssertEqual(FileManager.default.contents(atPath: scratch.file("restored/data.bin")).map { [UInt8]($0) }, data)
            let tags = try await OCIClient.withClient(configuration: OCIClient.Configuration()) { client in
                try await client.tags("\(registry.host)/team/files")
            }
            XCTAssertEqual(Set(tags), ["v1", "stable", "2026-12"])
            let layout = try await OCILayoutStore(path: scratch.file("backup")).resolve("v1")
            XCTAssertEqual(layout.mediaType, MediaType.ociManifest)
        }
    }
}
