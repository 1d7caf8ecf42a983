import OCIArchive
import OCILayout
import OCIReference
import OCISpec

/// Where a verb reads or writes, as users write it: a registry reference (`ghcr.io/acme/app:1.0`) or an OCI
/// image layout directory (`ocidir://PATH[:TAG|@DIGEST]`) or a tar of one (`oci-archive://FILE.tar[:TAG|@DIGEST]`).
public enum OCILocation: Sendable, Hashable, CustomStringConvertible {
    case registry(Reference)
    case layout(path: String, reference: String?)
    /// A tar of an OCI image layout, as skopeo's `oci-archive:`.
    case archive(path: String, reference: String?)

    /// Parses a location; a registry reference without tag or digest gets `defaultTag`.
    public init(parsing text: String, defaultTag: String? = "latest") throws {
        if text.hasPrefix(OCILayoutStore.scheme) {
            let (path, reference) = OCILayoutStore.parse(text)
            guard !path.isEmpty else { throw OCIClientError.invalidArgument("\(text): no layout directory") }
            self = .layout(path: path, reference: reference)
        } else if text.hasPrefix(OCIArchiveStore.scheme) {
            let (path, reference) = OCIArchiveStore.parse(text)
            guard !path.isEmpty else { throw OCIClientError.invalidArgument("\(text): no archive file") }
            self = .archive(path: path, reference: reference)
        } else {
            self = .registry(try Reference(parsing: text, defaultTag: defaultTag))
        }
    }

    /// The tag or digest this location names (`latest` when a layout location names none).
    public var reference: String? {
        switch self {
        case .registry(let r): return r.manifestReference
        case .layout(_, let r), .archive(_, let r): return r ?? "latest"
        }
    }

    /// The tag to set at a destination, if the location names one (`latest` for a layout that names none).
    public var tag: String? {
        switch self {
        case .registry(let r): return r.tag
        case .layout(_, let r), .archive(_, let r): return r.flatMap { OCIDigest($0) == nil ? $0 : nil } ?? (r == nil ? "latest" : nil)
        }
    }

    public var description: String {
        switch self {
        case .registry(let r): return r.description
        case .layout(let path, let r): return OCILayoutStore.scheme + path + (r.map { OCIDigest($0) == nil ? ":\($0)" : "@\($0)" } ?? "")
        case .archive(let path, let r): return OCIArchiveStore.scheme + path + (r.map { OCIDigest($0) == nil ? ":\($0)" : "@\($0)" } ?? "")
        }
    }
}
