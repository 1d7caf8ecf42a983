/// The lines of ocictl's progress display, from a snapshot and a width. Pure functions, no I/O.
///
/// On a terminal (`terminalLines`) every blob in flight gets a line and the transfer an overall line below them:
///
///     data.bin  [=======>                              ]    1.8 MiB /    8.0 MiB     1.2 MiB/s  ETA 5s
///     notes.bin [=================================>    ]    1.8 MiB /    2.0 MiB     1.2 MiB/s  ETA 1s
///     1/3 blobs  3.6 MiB / 10.0 MiB  2.5 MiB/s  1.5 s
///
/// `frame` turns them into the bytes that redraw them in place. Without a terminal, `plainLine` says what
/// happened to each node and `plainStatus` gives the periodic overall line; `summary` is the final line of both.
package enum ProgressRendering {
    /// The widest a name column gets.
    package static let maxNameWidth = 28
    /// The narrowest a name column gets.
    package static let minNameWidth = 8
    /// The widest a bar gets (brackets included).
    package static let maxBarWidth = 40
    /// The narrowest bar worth drawing (brackets included); below this the line has no bar.
    package static let minBarWidth = 7

    /// The lines for a terminal `width` characters wide, at most `maxLines` of them (at least one: the overall
    /// line): a line per blob in flight (the last one saying how many more when they do not all fit), then the
    /// overall line. Every line is at most `width` characters.
    package static func terminalLines(_ snapshot: ProgressSnapshot, width: Int, maxLines: Int) -> [String] {
        let width = max(1, width)
        let room = max(0, maxLines - 1)
        var shown = snapshot.active
        var hidden = 0
        if shown.count > room {
            let keep = max(0, room - 1)
            hidden = shown.count - keep
            shown = Array(shown.prefix(keep))
        }
        let nameWidth = min(maxNameWidth, max(minNameWidth, shown.map(\.name.count).max() ?? 0))
        var lines = shown.map { blobLine($0, width: width, nameWidth: nameWidth) }
        if hidden > 0 && room > 0 { lines.append(ProgressFormat.truncated("… and \(hidden) more", to: width)) }
        lines.append(overallLine(snapshot, width: width))
        return lines
    }

    /// One blob: name, bar (when it fits), bytes done / total, rate, ETA.
    package static func blobLine(_ blob: ProgressSnapshot.Blob, width: Int, nameWidth: Int) -> String {
        let name = ProgressFormat.padded(blob.name, to: nameWidth)
        let total = blob.total.map { ProgressFormat.bytes($0) } ?? "?"
        let stats = ProgressFormat.rightAligned(ProgressFormat.bytes(blob.done), to: 10) + " / "
            + ProgressFormat.rightAligned(total, to: 10) + "  "
            + ProgressFormat.rightAligned(ProgressFormat.rate(blob.rate), to: 12) + "  "
            + ProgressFormat.eta(blob.secondsLeft)
        let barWidth = min(maxBarWidth, width - nameWidth - 1 - stats.count - 1)
        let line = barWidth >= minBarWidth
            ? name + " " + bar(blob.fraction, width: barWidth) + " " + stats
            : name + " " + stats
        return ProgressFormat.truncated(line, to: width)
    }

    /// `[=====>    ]`, `width` characters with the brackets; empty when the fraction is unknown.
    package static func bar(_ fraction: Double?, width: Int) -> String {
        let inner = max(0, width - 2)
        guard let fraction, inner > 0 else { return "[" + String(repeating: " ", count: inner) + "]" }
        let filled = min(inner, Int((Double(inner) * fraction).rounded(.down)))
        if filled == inner { return "[" + String(repeating: "=", count: inner) + "]" }
        let head = filled > 0 ? ">" : ""
        let body = String(repeating: "=", count: max(0, filled - 1)) + head
        return "[" + body + String(repeating: " ", count: inner - body.count) + "]"
    }

    /// `1/3 blobs  2.1 MiB / 6.0 MiB  1.6 MiB/s  1 skipped  2 mounted  1.3 s`.
    package static func overallLine(_ snapshot: ProgressSnapshot, width: Int) -> String {
        var parts = ["\(snapshot.blobsDone)/\(snapshot.blobsSeen) blobs",
                     ProgressFormat.bytes(snapshot.bytesDone) + " / " + ProgressFormat.bytes(snapshot.bytesTotal),
                     ProgressFormat.rate(snapshot.rate)]
        if snapshot.skipped > 0 { parts.append("\(snapshot.skipped) skipped") }
        if snapshot.mounted > 0 { parts.append("\(snapshot.mounted) mounted") }
        parts.append(ProgressFormat.elapsed(snapshot.transferElapsed))
        return ProgressFormat.truncated(parts.joined(separator: "  "), to: width)
    }

    /// The periodic line of plain mode: `progress: 1/3 blobs, 2.1 MiB / 6.0 MiB, 1.6 MiB/s, 12.3 s`.
    package static func plainStatus(_ snapshot: ProgressSnapshot) -> String {
        var parts = ["\(snapshot.blobsDone)/\(snapshot.blobsSeen) blobs",
                     ProgressFormat.bytes(snapshot.bytesDone) + " / " + ProgressFormat.bytes(snapshot.bytesTotal),
                     ProgressFormat.rate(snapshot.rate)]
        if snapshot.skipped > 0 { parts.append("\(snapshot.skipped) skipped") }
        if snapshot.mounted > 0 { parts.append("\(snapshot.mounted) mounted") }
        parts.append(ProgressFormat.elapsed(snapshot.transferElapsed))
        return "progress: " + parts.joined(separator: ", ")
    }

    /// What happened to one node: `copied data.bin 4.0 MiB`, `skipped sha256:abcd1234 2 B (exists)`,
    /// `mounted data.bin 4.0 MiB from team/base`. The size is left out when unknown (negative).
    package static func plainLine(_ verb: String, _ name: String, size: Int64, note: String? = nil) -> String {
        var line = verb + " " + name
        if size >= 0 { line += " " + ProgressFormat.bytes(size) }
        if let note { line += " " + note }
        return line
    }

    /// The final line: `copied 3 blobs (12.4 MiB) and 1 manifest in 1.2 s, 1 skipped, 2 mounted`.
    package static func summary(_ totals: ProgressTotals) -> String {
        var line = "copied " + ProgressFormat.count(totals.copiedBlobs, "blob") + " (" + ProgressFormat.bytes(totals.copiedBytes) + ")"
        if totals.copiedManifests > 0 { line += " and " + ProgressFormat.count(totals.copiedManifests, "manifest") }
        line += " in " + ProgressFormat.elapsed(totals.elapsed)
        if totals.skipped > 0 { line += ", \(totals.skipped) skipped" }
        if totals.mounted > 0 { line += ", \(totals.mounted) mounted" }
        return line
    }

    // MARK: Terminal control

    private static let escape = "\u{1B}["

    /// The bytes that replace the `previous` lines drawn last (the cursor below them) with `lines`: back to the
    /// first column, up `previous` lines, each line cleared and written, and whatever was below cleared (when
    /// there are fewer lines than before). The cursor ends below the new lines.
    package static func frame(_ lines: [String], replacing previous: Int) -> String {
        var out = "\r"
        if previous > 0 { out += escape + "\(previous)A" }
        for line in lines { out += escape + "2K" + line + "\n" }
        out += escape + "J"
        return out
    }

    /// The bytes that erase the `previous` lines drawn last, leaving the cursor where the first of them began.
    package static func clear(previous: Int) -> String {
        guard previous > 0 else { return "" }
        return "\r" + escape + "\(previous)A" + escape + "J"
    }
}
