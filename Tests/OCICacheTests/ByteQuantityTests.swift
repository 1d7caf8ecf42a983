import XCTest
import OCICache

final class ByteQuantityTests: XCTestCase {
    func testValidQuantities() throws {
        let table: [(String, Int64)] = [
            ("0", 0), ("1024", 1024), ("+5", 5), ("-0", 0),
            ("1Ki", 1024), ("200Mi", 200 * 1024 * 1024), ("1Gi", 1 << 30), ("2Ti", 2 << 40), ("1Pi", 1 << 50),
            ("7Ei", 7 << 60),
            ("1k", 1000), ("1M", 1_000_000), ("1G", 1_000_000_000), ("3T", 3_000_000_000_000),
            ("1P", 1_000_000_000_000_000), ("1E", 1_000_000_000_000_000_000),
            ("1e3", 1000), ("1E3", 1000), ("12e2", 1200), ("1e+3", 1000), ("5000e-3", 5), ("1e0", 1),
            ("1.5Ki", 1536), ("0.5Mi", 512 * 1024), (".5Ki", 512), ("1.0", 1), ("1.", 1), ("0.001k", 1),
            ("1000m", 1), ("1000000u", 1), ("1000000000n", 1), ("2.50k", 2500),
            ("9223372036854775807", Int64.max),
        ]
        for (text, expected) in table {
            XCTAssertEqual(try ByteQuantity.parse(text), expected, text)
        }
    }

    func testInvalidQuantities() {
        let table: [(String, QuantityError)] = [
            ("", .empty),
            ("abc", .invalidFormat("abc")), ("Ki", .invalidFormat("Ki")), ("1Kb", .invalidFormat("1Kb")),
            ("1kI", .invalidFormat("1kI")), ("1 Ki", .invalidFormat("1 Ki")), (" 1", .invalidFormat(" 1")),
            ("1.2.3", .invalidFormat("1.2.3")), ("1e", .invalidFormat("1e")), (".", .invalidFormat(".")),
            ("1KI", .invalidFormat("1KI")), ("0x10", .invalidFormat("0x10")),
            ("-1", .negative("-1")), ("-1Ki", .negative("-1Ki")),
            ("1m", .fractionalBytes("1m")), ("0.5", .fractionalBytes("0.5")), ("1.1Ki", .fractionalBytes("1.1Ki")),
            ("1e-1", .fractionalBytes("1e-1")), ("100u", .fractionalBytes("100u")),
            ("8Ei", .outOfRange("8Ei")), ("1e19", .outOfRange("1e19")), ("9223372036854775808", .outOfRange("9223372036854775808")),
            ("99999999999999999999", .outOfRange("99999999999999999999")), ("10E", .outOfRange("10E")),
        ]
        for (text, expected) in table {
            XCTAssertThrowsError(try ByteQuantity.parse(text), text) { error in
                XCTAssertEqual(error as? QuantityError, expected, text)
            }
        }
    }

    func testErrorsSayWhatToDo() {
        XCTAssertTrue(QuantityError.invalidFormat("x").description.contains("200Mi"))
    }
}
