import Foundation
import XCTest
import OCISpec

/// Asserts that `body` throws exactly `expected` (typed throws keep the error type precise).
func assertThrows<E: Error & Equatable, T>(
    _ expected: E, _ message: @autoclosure () -> String = "",
    file: StaticString = #filePath, line: UInt = #line, _ body: () throws(E) -> T
) {
    do {
        let value = try body()
        XCTFail("expected \(expected), got value \(value). \(message())", file: file, line: line)
    } catch {
        XCTAssertEqual(error, expected, message(), file: file, line: line)
    }
}

/// Runs `body`, which must throw a `SpecError`, and returns that error (nil and a failure otherwise).
@discardableResult
func specError<T>(file: StaticString = #filePath, line: UInt = #line, _ body: () throws(SpecError) -> T) -> SpecError? {
    do {
        let value = try body()
        XCTFail("expected a SpecError, got \(value)", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func string(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

/// Base64url without padding, as JWS uses.
func base64URL(_ b: [UInt8]) -> String {
    Data(b).base64EncodedString()
        .replacingOccurrences(of: "+", with: "-")
        .replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

enum Vectors {
    static let sha256Empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    static let sha256EmptyJSON = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    static let sha256ABC = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    static let sha384ABC = "sha384:cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"
    static let sha512ABC = "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
    static let sha384Empty = "sha384:38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b"
    static let sha512Empty = "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
    static let sha256Fox = "sha256:d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"

    static func digest(_ s: String) -> OCIDigest { try! OCIDigest(parsing: s) }
}
