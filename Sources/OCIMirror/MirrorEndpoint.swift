import Foundation
import OCIKit

/// A source or destination of a job as written: a repository (with a tag, or all tags), a registry prefix, a
/// layout or an archive.
enum MirrorEndpoint: Sendable, Hashable {
    case repository(Reference)
    case prefix(host: String, path: String)
    case layout(path: String, tag: String?)
    case archive(path: String, tag: String?)

    static let archiveScheme = OCIArchiveStore.scheme

    init(parsing text: String) throws {
        if text.hasPrefix(OCILayoutStore.scheme) {
            let (path, tag) = OCILayoutStore.parse(text)
            guard !path.isEmpty else { throw MirrorError.unsupportedEndpoint(text, "no layout directory") }
            self = .layout(path: path, tag: tag)
        } else if text.hasPrefix(Self.archiveScheme) {
            let rest = String(text.dropFirst(Self.archiveScheme.count))
            if rest.hasSuffix("/") {
                self = .archive(path: rest, tag: nil)
                return
            }
            let (path, tag) = OCILayoutStore.parse(rest)
            guard !path.isEmpty else { throw MirrorError.unsupportedEndpoint(text, "no archive file") }
            self = .archive(path: path, tag: tag)
        } else if text.hasSuffix("/") {
            var rest = Substring(text)
            if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
            let parts = rest.split(separator: "/", maxSplits: 1)
            guard let host = parts.first, !host.isEmpty else {
                throw MirrorError.unsupportedEndpoint(text, "a prefix is HOST/ or HOST/PATH/")
            }
            let path = parts.count > 1 ? String(parts[1]).trimmingCharacters(in: CharacterSet(charactersIn: "/")) : ""
            // Validate the host as references do.
            _ = try Reference(parsing: "\(host)/x", defaultTag: nil)
            self = .prefix(host: String(host), path: path)
        } else {
            let reference = try Reference(parsing: text, defaultTag: nil)
            guard reference.digest == nil else {
                throw MirrorError.unsupportedEndpoint(text, "a sync copies tags; name a repository or a tag, not a digest")
            }
            self = .repository(reference)
        }
    }

    /// The tag the endpoint names, if any.
    var tag: String? {
        switch self {
        case .repository(let r): return r.tag
        case .layout(_, let t), .archive(_, let t): return t
        case .prefix: return nil
        }
    }
}

/// One concrete store of a job: a registry repository, a layout directory or an archive file.
enum MirrorStore: Sendable, Hashable, CustomStringConvertible {
    case registry(Reference)
    case layout(String)
    case archive(String)

    /// The location string of `tag` in this store.
    func location(_ tag: String) -> String {
        switch self {
        case .registry(let r): return "\(r.name):\(tag)"
        case .layout(let p): return "\(OCILayoutStore.scheme)\(p):\(tag)"
        case .archive(let p): return "\(MirrorEndpoint.archiveScheme)\(p):\(tag)"
        }
    }

    /// The name shards hash with the tag.
    var description: String {
        switch self {
        case .registry(let r): return r.name
        case .layout(let p): return OCILayoutStore.scheme + p
        case .archive(let p): return MirrorEndpoint.archiveScheme + p
        }
    }

    var registryHost: String? {
        if case .registry(let r) = self { return r.endpointHost }
        return nil
    }
}

/// A source repository of a job with its destination.
struct MirrorPair: Sendable {
    var source: MirrorStore
    var destination: MirrorStore
    /// The one tag the source names, if it names one; the destination's tag when it names another.
    var sourceTag: String?
    var destinationTag: String?
}

extension MirrorEndpoint {
    /// The destination store for a source repository at `relative` (its path below the source prefix, or its
    /// whole repository path), when the job has several source repositories (`many`) or one.
    func destination(relative: String, many: Bool, job: String) throws -> MirrorStore {
        switch self {
        case .repository(let reference):
            guard !many else {
                throw MirrorError.unsupportedEndpoint(job, "a prefix source needs a prefix destination (ending in /), ocidir:// or oci-archive://DIR/")
            }
            return .registry(reference.repositoryOnly)
        case .prefix(let host, let path):
            let name = path.isEmpty ? relative : "\(path)/\(relative)"
            return .registry(try Reference(parsing: "\(host)/\(name)", defaultTag: nil))
        case .layout(let path, _):
            return .layout(many ? "\(path)/\(relative)" : path)
        case .archive(let path, _):
            if path.hasSuffix("/") { return .archive(path + relative.replacingOccurrences(of: "/", with: "_") + ".tar") }
            guard !many else {
                throw MirrorError.unsupportedEndpoint(job, "several repositories go to oci-archive://DIR/ (one archive each), not into one archive")
            }
            return .archive(path)
        }
    }
}
