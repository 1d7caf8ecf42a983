import XCTest
import OCIReference
import OCISpec

let hex64 = "77af4d6b9913e693e8d0b4b294fa62ade6054e6b2f1ffb617ac955dd63fb0182"
let digest64 = "sha256:" + hex64

func parse(_ input: String, defaultTag: String? = "latest") throws -> Reference {
    try Reference(parsing: input, defaultTag: defaultTag)
}

/// The error `Reference(parsing:)` throws for `input`, or nil (with a failure) when it parses.
func referenceError(_ input: String, file: StaticString = #filePath, line: UInt = #line) -> ReferenceError? {
    do {
        let r = try Reference(parsing: input)
        XCTFail("expected \(input.debugDescription) to be rejected, got \(r.host) | \(r.repository) | \(r.tag ?? "-") | \(r.digest?.description ?? "-")",
                file: file, line: line)
        return nil
    } catch {
        return error
    }
}

/// The case name of a `ReferenceError`, to compare cases whose payload is a message.
func caseName(_ e: ReferenceError?) -> String {
    switch e {
    case nil: return "nil"
    case .empty?: return "empty"
    case .invalidDigest?: return "invalidDigest"
    case .invalidTag?: return "invalidTag"
    case .invalidHost?: return "invalidHost"
    case .invalidRepository?: return "invalidRepository"
    case .uppercaseRepository?: return "uppercaseRepository"
    case .hexIdentifier?: return "hexIdentifier"
    case .nameTooLong?: return "nameTooLong"
    }
}
