import Foundation
import OCIRegistry
import OCISpec
import OCITesting
import OCITestFixtures
import XCTest

/// F24: refusals (404, 401, 403) name their HTTP status code in the text, with each of the registry's
/// code/message/detail when the body is a distribution error document, and the status code alone when it is not.
final class ErrorStatusTests: XCTestCase {
    /// Faults for an in-process registry: `/v2/json/…` answers `status` with an error document, `/v2/text/…` with
    /// an HTML page.
    private func refusing(_ status: Int, code: String) -> [InProcessRegistry.Fault] {
        let json = #"{"errors":[{"code":"\#(code)","message":"said \#(status)","detail":{"Tag":"v1"}}]}"#
        return [
            .init(nil, "/v2/json/**", .respond(status: status, headers: ["Content-Type": "application/json"], body: Array(json.utf8))),
            .init(nil, "/v2/text/**", .respond(status: status, headers: ["Content-Type": "text/html"],
                                               body: Array("<html><body>\(status) nope</body></html>".utf8))),
        ]
    }

    /// The error of fetching `name:v1`'s manifest.
    private func failure(_ client: RegistryClient, _ registry: InProcessRegistry, _ name: String) async throws -> RegistryError {
        do {
            _ = try await client.repository(host: registry.host, name: name).fetchManifest("v1")
        } catch let error as RegistryError {
            return error
        }
        throw OCITestingError("fetching \(name):v1 succeeded")
    }

    private func assertJSON(_ error: RegistryError, _ status: Int, _ word: String, _ code: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        let text = error.description
        for part in [word, "status code \(status)", code, "said \(status)", #"{"Tag":"v1"}"#] {
            XCTAssertTrue(text.contains(part), "\(part.debugDescription) missing in: \(text)", file: file, line: line)
        }
        XCTAssertEqual(error.statusCode, status, file: file, line: line)
        XCTAssertEqual(error.codes, [code], file: file, line: line)
    }

    private func assertText(_ error: RegistryError, _ status: Int, _ word: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        let text = error.description
        XCTAssertTrue(text.contains(word), "\(word.debugDescription) missing in: \(text)", file: file, line: line)
        XCTAssertTrue(text.contains("status code \(status)"), text, file: file, line: line)
        XCTAssertEqual(error.statusCode, status, file: file, line: line)
        XCTAssertEqual(error.codes, [], file: file, line: line)
    }

    func testNotFoundNamesStatusCode404() async throws {
        try await withInProcess(faults: refusing(404, code: "MANIFEST_UNKNOWN")) { registry, client in
            let json = try await failure(client, registry, "json")
            guard case .notFound = json else { return XCTFail("\(json)") }
            assertJSON(json, 404, "not found", "MANIFEST_UNKNOWN")
            let text = try await failure(client, registry, "text")
            guard case .notFound = text else { return XCTFail("\(text)") }
            assertText(text, 404, "not found")
            // resolve's HEAD has no body at all.
            do {
                _ = try await client.repository(host: registry.host, name: "json").resolve("v1")
                XCTFail("resolve succeeded")
            } catch let error as RegistryError {
                guard case .notFound = error else { return XCTFail("\(error)") }
                assertText(error, 404, "not found")
            }
        }
    }

    func testUnauthorizedNamesStatusCode401() async throws {
        try await withInProcess(faults: refusing(401, code: "UNAUTHORIZED")) { registry, client in
            let json = try await failure(client, registry, "json")
            guard case .unauthorized = json else { return XCTFail("\(json)") }
            assertJSON(json, 401, "unauthorized", "UNAUTHORIZED")
            let text = try await failure(client, registry, "text")
            guard case .unauthorized = text else { return XCTFail("\(text)") }
            assertText(text, 401, "unauthorized")
        }
    }

    func testDeniedNamesStatusCode403() async throws {
        try await withInProcess(faults: refusing(403, code: "DENIED")) { registry, client in
            let json = try await failure(client, registry, "json")
            guard case .denied = json else { return XCTFail("\(json)") }
            assertJSON(json, 403, "denied", "DENIED")
            let text = try await failure(client, registry, "text")
            guard case .denied = text else { return XCTFail("\(text)") }
            assertText(text, 403, "denied")
        }
    }

    /// A 401 that means "denied" (the registry's `DENIED` code, or a token lacking the scope) keeps its 401.
    func testDeniedByA401NamesStatusCode401() async throws {
        try await withInProcess(faults: refusing(401, code: "DENIED")) { registry, client in
            let json = try await failure(client, registry, "json")
            guard case .denied = json else { return XCTFail("\(json)") }
            assertJSON(json, 401, "denied", "DENIED")
            XCTAssertFalse(json.description.contains("status code 403"), json.description)
        }
    }
}
