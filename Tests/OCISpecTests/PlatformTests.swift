import XCTest
import OCISpec

/// `Platform(parsing:)`, `description` and `matches`.
final class PlatformTests: XCTestCase {
    func testParsing() {
        let valid: [(String, Platform)] = [
            ("linux/amd64", Platform(architecture: "amd64", os: "linux")),
            ("linux/arm64/v8", Platform(architecture: "arm64", os: "linux", variant: "v8")),
            ("linux/arm/v7", Platform(architecture: "arm", os: "linux", variant: "v7")),
            ("windows/amd64", Platform(architecture: "amd64", os: "windows")),
            // An empty variant is no variant.
            ("linux/arm/", Platform(architecture: "arm", os: "linux")),
        ]
        for (input, expected) in valid {
            let p = Platform(parsing: input)
            XCTAssertEqual(p, expected, input)
            XCTAssertNil(p?.osVersion, input)
            XCTAssertNil(p?.osFeatures, input)
            XCTAssertNil(p?.features, input)
        }
        for input in ["", "linux", "linux/", "/amd64", "/", "//", "linux/arm/v7/extra", "a/b/c/d", "/arm/v7", "linux//v7"] {
            XCTAssertNil(Platform(parsing: input), input.debugDescription)
        }
    }

    func testDescriptionRoundTrips() {
        for s in ["linux/amd64", "linux/arm64/v8", "windows/amd64", "linux/arm/v6"] {
            XCTAssertEqual(Platform(parsing: s)?.description, s)
        }
        XCTAssertEqual(Platform(architecture: "arm", os: "linux", variant: "v7").description, "linux/arm/v7")
        XCTAssertEqual(Platform(architecture: "amd64", os: "windows", osVersion: "10.0").description, "windows/amd64")
    }

    func testOSVersion() {
        let windows = Platform(parsing: "windows/amd64:10.0.17763.1234")
        XCTAssertEqual(windows, Platform(architecture: "amd64", os: "windows", osVersion: "10.0.17763.1234"))
        XCTAssertNil(Platform(parsing: "windows/amd64:"))
        let offered = Platform(architecture: "amd64", os: "windows", osVersion: "10.0.17763.1234")
        XCTAssertEqual(windows?.matches(offered), true)
        XCTAssertEqual(windows?.matches(Platform(architecture: "amd64", os: "windows", osVersion: "10.0.20348.1")), false)
    }

    func testMatches() {
        func p(_ s: String) -> Platform { Platform(parsing: s)! }
        let rows: [(wanted: String, offered: Platform, matches: Bool)] = [
            ("linux/amd64", p("linux/amd64"), true),
            ("linux/arm64", p("linux/arm64/v8"), true),   // a wanted platform without variant accepts any variant
            ("linux/arm/v7", p("linux/arm/v7"), true),
            ("linux/arm/v7", p("linux/arm/v6"), false),
            ("linux/arm/v7", p("linux/arm"), false),      // a wanted variant needs that variant
            ("linux/amd64", p("windows/amd64"), false),
            ("linux/amd64", p("linux/arm64"), false),
            ("linux/amd64", Platform(architecture: "amd64", os: "linux", osVersion: "x", features: ["f"]), true),
            ("windows/amd64", Platform(architecture: "amd64", os: "windows", osVersion: "10.0.17763.1"), true),
            ("Linux/amd64", p("linux/amd64"), false),     // exact, case-sensitive
        ]
        for row in rows {
            XCTAssertEqual(p(row.wanted).matches(row.offered), row.matches, "\(row.wanted) vs \(row.offered)")
        }
    }
}
