/// The `ocidir://PATH[:TAG|@DIGEST]` names the CLI uses for layouts.
extension OCILayoutStore {
    /// The scheme prefix of layout names.
    public static let scheme = "ocidir://"

    /// Splits `ocidir://PATH[:TAG|@DIGEST]` (the `ocidir://` prefix is optional) into the layout path and the
    /// tag or digest, if any.
    ///
    /// Grammar: the reference is taken from the last path component only (the text after the last `/`):
    /// everything after its first `@` is a digest, otherwise everything after its first `:` is a tag. So
    /// directories before the last `/` may contain `:` and `@` freely; a last component containing `:` or `@`
    /// is named by ending PATH with `/` (`ocidir://a:b/` is the directory `a:b/`, `ocidir://a:b/:v1` tags it).
    /// `PATH:TAG@DIGEST` is accepted: the digest wins and the tag is dropped. An empty tag or digest (`dir:`)
    /// means none. The reference is not validated here: `resolve` and `tag` do that.
    public static func parse(_ spec: String) -> (path: String, reference: String?) {
        var rest = Substring(spec)
        if rest.hasPrefix(scheme) { rest = rest.dropFirst(scheme.count) }
        let lastStart = rest.lastIndex(of: "/").map { rest.index(after: $0) } ?? rest.startIndex
        let directory = rest[..<lastStart]
        var last = rest[lastStart...]
        var reference: Substring?
        if let at = last.firstIndex(of: "@") {
            reference = last[last.index(after: at)...]
            last = last[..<at]
        }
        if let colon = last.firstIndex(of: ":") {
            if reference == nil { reference = last[last.index(after: colon)...] }
            last = last[..<colon]
        }
        let ref = reference.flatMap { $0.isEmpty ? nil : String($0) }
        return (String(directory) + String(last), ref)
    }
}
