import OCISpec

/// The small text pieces of ocictl's progress display: byte counts in binary units, rates, durations, ETAs,
/// names of blobs, and fitting text into a width. Pure functions, no I/O.
package enum ProgressFormat {
    private static let units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]

    /// `count` in binary units with one decimal: `512 B`, `1.5 KiB`, `12.4 MiB` (a negative count is `0 B`).
    package static func bytes(_ count: Int64) -> String {
        bytes(Double(max(0, count)))
    }

    /// `count` (bytes, or bytes per second) in binary units with one decimal.
    package static func bytes(_ count: Double) -> String {
        guard count.isFinite, count >= 0 else { return "0 B" }
        if count.rounded() < 1024 { return "\(Int64(count.rounded())) B" }
        var value = count / 1024
        var index = 0
        // Move up a unit when the rounded value would read 1024.0 (1023.96 KiB is 1.0 MiB).
        while index < units.count - 1, (value * 10).rounded() >= 10_240 {
            value /= 1024
            index += 1
        }
        let tenths = Int64((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) \(units[index])"
    }

    /// A rate: `1.2 MiB/s`; `--/s` when unknown.
    package static func rate(_ bytesPerSecond: Double?) -> String {
        guard let bytesPerSecond, bytesPerSecond.isFinite, bytesPerSecond >= 0 else { return "--/s" }
        return bytes(bytesPerSecond) + "/s"
    }

    /// A duration as seconds.
    package static func seconds(_ duration: Duration) -> Double {
        let c = duration.components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }

    /// An elapsed time: `0.4 s`, `12.3 s`, `1m05s`, `2h03m`.
    package static func elapsed(_ duration: Duration) -> String {
        let s = max(0, seconds(duration))
        if s < 59.95 {
            let tenths = Int((s * 10).rounded())
            return "\(tenths / 10).\(tenths % 10) s"
        }
        return clock(Int(s.rounded()))
    }

    /// An estimated time left: `ETA 8s`, `ETA 1m05s`, `ETA 2h03m`; `ETA --` when unknown (or beyond 99 hours).
    package static func eta(_ seconds: Double?) -> String {
        guard let seconds, seconds.isFinite, seconds >= 0, seconds < 99 * 3600 else { return "ETA --" }
        let whole = Int(seconds.rounded(.up))
        return "ETA " + (whole < 60 ? "\(whole)s" : clock(whole))
    }

    /// `1m05s` under an hour, `2h03m` above.
    private static func clock(_ seconds: Int) -> String {
        if seconds < 3600 { return "\(seconds / 60)m" + twoDigits(seconds % 60) + "s" }
        return "\(seconds / 3600)h" + twoDigits(seconds % 3600 / 60) + "m"
    }

    private static func twoDigits(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// The name a person knows a node by: its title annotation (`org.opencontainers.image.title`, made safe for
    /// a terminal) when it has a non-empty one, else its short digest (`sha256:abcd1234`).
    package static func name(_ descriptor: Descriptor) -> String {
        if let title = descriptor.title {
            let safe = sanitized(title).trimmingWhitespace
            if !safe.isEmpty { return safe }
        }
        return shortDigest(descriptor.digest)
    }

    /// `sha256:` and the first 8 characters of the encoded digest.
    package static func shortDigest(_ digest: OCIDigest) -> String {
        "\(digest.algorithm.rawValue):\(digest.encoded.prefix(8))"
    }

    /// `text` with every control character (C0, DEL, C1: escape sequences included), line or paragraph separator
    /// and bidirectional override replaced by `?`, so that text from a registry (a layer's title) cannot move the
    /// cursor, recolour the terminal or break a line.
    package static func sanitized(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control, .lineSeparator, .paragraphSeparator:
                out.append("?")
            default:
                if (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value) {
                    out.append("?")
                } else {
                    out.append(scalar)
                }
            }
        }
        return String(out)
    }

    /// `text` cut to at most `width` characters, ending in `…` when cut.
    package static func truncated(_ text: String, to width: Int) -> String {
        guard width > 0 else { return "" }
        guard text.count > width else { return text }
        return String(text.prefix(width - 1)) + "…"
    }

    /// `text` cut or padded with spaces on the right to exactly `width` characters.
    package static func padded(_ text: String, to width: Int) -> String {
        let cut = truncated(text, to: width)
        return cut + String(repeating: " ", count: max(0, width - cut.count))
    }

    /// `text` padded with spaces on the left to at least `width` characters (never cut).
    package static func rightAligned(_ text: String, to width: Int) -> String {
        String(repeating: " ", count: max(0, width - text.count)) + text
    }

    /// `1 blob`, `2 blobs`.
    package static func count(_ n: Int, _ singular: String, _ plural: String? = nil) -> String {
        "\(n) " + (n == 1 ? singular : plural ?? singular + "s")
    }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
