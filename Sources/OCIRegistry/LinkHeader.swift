import Foundation

/// RFC 8288 `Link` header handling for paginated listings.
@_spi(Parsers) public enum LinkHeader {
    /// The `rel="next"` target of a `Link` header, resolved against the request URL (absolute and relative
    /// targets both work). Nil when there is no next link.
    public static func nextURL(_ header: String, relativeTo base: URL) -> URL? {
        for part in splitLinks(header) {
            guard let open = part.firstIndex(of: "<"), let close = part.firstIndex(of: ">"), open < close else { continue }
            let target = String(part[part.index(after: open)..<close])
            let params = part[part.index(after: close)...].split(separator: ";")
            var isNext = params.isEmpty  // a bare link (no rel) is taken as next, as registries in the wild send it
            for p in params {
                let kv = p.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if kv.count == 2, kv[0].lowercased() == "rel" {
                    let rels = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")).lowercased()
                        .split(separator: " ")
                    isNext = rels.contains("next")
                }
            }
            if isNext, let url = URL(string: target, relativeTo: base)?.absoluteURL { return url }
        }
        return nil
    }

    /// Splits on commas that are outside `<…>`.
    private static func splitLinks(_ header: String) -> [Substring] {
        var parts: [Substring] = []
        var depth = 0
        var start = header.startIndex
        for idx in header.indices {
            switch header[idx] {
            case "<": depth += 1
            case ">": depth = max(0, depth - 1)
            case "," where depth == 0:
                parts.append(header[start..<idx]); start = header.index(after: idx)
            default: break
            }
        }
        parts.append(header[start...])
        return parts
    }
}
