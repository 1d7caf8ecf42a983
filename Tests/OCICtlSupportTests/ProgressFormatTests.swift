import OCICtlSupport
import OCISpec
import XCTest

/// The text pieces of the progress display: binary units, rates, durations, ETAs, names, width fitting.
final class ProgressFormatTests: XCTestCase {
    func testBytesInBinaryUnits() {
        XCTAssertEqual(ProgressFormat.bytes(Int64(0)), "0 B")
        XCTAssertEqual(ProgressFormat.bytes(Int64(-5)), "0 B")
        XCTAssertEqual(ProgressFormat.bytes(Int64(2)), "2 B")
        XCTAssertEqual(ProgressFormat.bytes(Int64(1023)), "1023 B")
        XCTAssertEqual(ProgressFormat.bytes(Int64(1024)), "1.0 KiB")
        XCTAssertEqual(ProgressFormat.bytes(Int64(1536)), "1.5 KiB")
        XCTAssertEqual(ProgressFormat.bytes(Int64(64 * 1024)), "64.0 KiB")
        XCTAssertEqual(ProgressFormat.bytes(Int64(1_048_576)), "1.0 MiB")
        XCTAssertEqual(ProgressFormat.bytes(Int64(13_002_342)), "12.4 MiB")
        XCTAssertEqual(ProgressFormat.bytes(Int64(5) << 30), "5.0 GiB")
        XCTAssertEqual(ProgressFormat.bytes(Int64(3) << 40), "3.0 TiB")
        XCTAssertEqual(ProgressFormat.bytes(Int64.max), "8.0 EiB")
    }

    func testBytesNeverReads1024OfAUnit() {
        // 1023.96 KiB rounds to 1024.0 KiB: it is shown as the next unit.
        XCTAssertEqual(ProgressFormat.bytes(Int64(1_048_535)), "1.0 MiB")
        XCTAssertEqual(ProgressFormat.bytes(Int64(1_048_000)), "1023.4 KiB")
        // 1023.6 B rounds to 1024 B: 1.0 KiB.
        XCTAssertEqual(ProgressFormat.bytes(1023.6), "1.0 KiB")
        for exponent in 1...5 {
            let edge = (Int64(1) << (10 * Int64(exponent + 1))) - 1
            XCTAssertFalse(ProgressFormat.bytes(edge).hasPrefix("1024"), ProgressFormat.bytes(edge))
        }
    }

    func testRates() {
        XCTAssertEqual(ProgressFormat.rate(1_310_720), "1.3 MiB/s")
        XCTAssertEqual(ProgressFormat.rate(100), "100 B/s")
        XCTAssertEqual(ProgressFormat.rate(nil), "--/s")
        XCTAssertEqual(ProgressFormat.rate(.infinity), "--/s")
        XCTAssertEqual(ProgressFormat.rate(.nan), "--/s")
    }

    func testElapsed() {
        XCTAssertEqual(ProgressFormat.elapsed(.zero), "0.0 s")
        XCTAssertEqual(ProgressFormat.elapsed(.milliseconds(1234)), "1.2 s")
        XCTAssertEqual(ProgressFormat.elapsed(.milliseconds(12_345)), "12.3 s")
        XCTAssertEqual(ProgressFormat.elapsed(.seconds(65)), "1m05s")
        XCTAssertEqual(ProgressFormat.elapsed(.milliseconds(59_960)), "1m00s")
        XCTAssertEqual(ProgressFormat.elapsed(.seconds(2 * 3600 + 3 * 60 + 4)), "2h03m")
        XCTAssertEqual(ProgressFormat.elapsed(.seconds(-3)), "0.0 s")
    }

    func testETA() {
        XCTAssertEqual(ProgressFormat.eta(nil), "ETA --")
        XCTAssertEqual(ProgressFormat.eta(.infinity), "ETA --")
        XCTAssertEqual(ProgressFormat.eta(-1), "ETA --")
        XCTAssertEqual(ProgressFormat.eta(0), "ETA 0s")
        XCTAssertEqual(ProgressFormat.eta(7.2), "ETA 8s", "rounded up: never promises less than is left")
        XCTAssertEqual(ProgressFormat.eta(59), "ETA 59s")
        XCTAssertEqual(ProgressFormat.eta(65), "ETA 1m05s")
        XCTAssertEqual(ProgressFormat.eta(3600 + 120), "ETA 1h02m")
        XCTAssertEqual(ProgressFormat.eta(100 * 3600), "ETA --")
    }

    func testNameIsTheTitleElseTheShortDigest() throws {
        let digest = OCIDigest.of(Array("hello".utf8))
        let plain = Descriptor(mediaType: MediaType.ociLayer, digest: digest, size: 5)
        XCTAssertEqual(ProgressFormat.name(plain), "sha256:" + String(digest.encoded.prefix(8)))
        XCTAssertEqual(ProgressFormat.name(plain).count, 15)
        var titled = plain
        titled.annotations = [Annotation.title: "data.bin"]
        XCTAssertEqual(ProgressFormat.name(titled), "data.bin")
        titled.annotations = [Annotation.title: "  "]
        XCTAssertEqual(ProgressFormat.name(titled), ProgressFormat.shortDigest(digest), "a blank title is no name")
    }

    func testTitlesCannotControlTheTerminal() {
        let hostile = "evil\u{1B}[2J\u{1B}]0;title\u{07}\r\nname\u{9B}31m\u{202E}txt.exe\u{2028}"
        let safe = ProgressFormat.sanitized(hostile)
        XCTAssertFalse(safe.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }, safe)
        XCTAssertFalse(safe.unicodeScalars.contains { $0.value == 0x202E || $0.value == 0x2028 }, safe)
        XCTAssertTrue(safe.hasPrefix("evil?[2J"), safe)
        XCTAssertEqual(ProgressFormat.sanitized("café-日本.tar"), "café-日本.tar", "printable text is kept")
        let descriptor = Descriptor(mediaType: MediaType.ociLayer, digest: OCIDigest.of([1]), size: 1,
                                    annotations: [Annotation.title: hostile])
        XCTAssertFalse(ProgressFormat.name(descriptor).unicodeScalars.contains { $0.value == 0x1B })
    }

    func testTruncationAndPadding() {
        XCTAssertEqual(ProgressFormat.truncated("abcdef", to: 10), "abcdef")
        XCTAssertEqual(ProgressFormat.truncated("abcdef", to: 6), "abcdef")
        XCTAssertEqual(ProgressFormat.truncated("abcdef", to: 4), "abc…")
        XCTAssertEqual(ProgressFormat.truncated("abcdef", to: 1), "…")
        XCTAssertEqual(ProgressFormat.truncated("abcdef", to: 0), "")
        XCTAssertEqual(ProgressFormat.truncated("日本語のファイル", to: 4), "日本語…")
        XCTAssertEqual(ProgressFormat.padded("ab", to: 4), "ab  ")
        XCTAssertEqual(ProgressFormat.padded("abcdef", to: 4), "abc…")
        XCTAssertEqual(ProgressFormat.rightAligned("ab", to: 4), "  ab")
        XCTAssertEqual(ProgressFormat.rightAligned("abcdef", to: 4), "abcdef")
        XCTAssertEqual(ProgressFormat.count(1, "blob"), "1 blob")
        XCTAssertEqual(ProgressFormat.count(0, "blob"), "0 blobs")
        XCTAssertEqual(ProgressFormat.count(3, "manifest"), "3 manifests")
    }
}
