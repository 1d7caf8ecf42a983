import ArgumentParser
import OCIClient
import OCIContent
import OCILayout
import OCIReference
import OCIRegistry
import OCISpec

/// Where a command reads or writes: a registry repository, or an OCI image layout (`ocidir://PATH[:TAG|@DIGEST]`).
enum Endpoint {
    case registry(Reference)
    case layout(path: String, reference: String?)

    init(_ spec: String, defaultTag: String? = "latest") throws {
        if spec.hasPrefix(OCILayoutStore.scheme) {
            let (path, reference) = OCILayoutStore.parse(spec)
            guard !path.isEmpty else { throw ValidationError("\(spec): no layout directory") }
            self = .layout(path: path, reference: reference)
        } else {
            self = .registry(try Reference(parsing: spec, defaultTag: defaultTag))
        }
    }

    /// The tag or digest this endpoint names (`latest` when a layout spec names none).
    var reference: String? {
        switch self {
        case .registry(let r): return r.manifestReference
        case .layout(_, let r): return r ?? "latest"
        }
    }

    /// The tag to set at a destination, if the spec names one.
    var tag: String? {
        switch self {
        case .registry(let r): return r.tag
        case .layout(_, let r): return r.flatMap { OCIDigest($0) == nil ? $0 : nil } ?? (r == nil ? "latest" : nil)
        }
    }

    func target(_ client: OCIClient, access: RepositoryAccess = .pull, mountSources: [String] = []) throws -> any Target {
        switch self {
        case .registry(let r): return client.registry.repository(r, access: access, mountSources: mountSources)
        case .layout(let path, _): return try OCILayoutStore(path: path, create: access != .pull)
        }
    }

    var isLayout: Bool {
        if case .layout = self { return true }
        return false
    }
}

/// A manifest's descriptor and exact bytes from any target.
func fetchManifest(_ target: any Target, _ reference: String) async throws -> (descriptor: Descriptor, bytes: [UInt8]) {
    if let remote = target as? RemoteRepository { return try await remote.fetchManifest(reference) }
    let descriptor = try await target.resolve(reference)
    return (descriptor, try await target.fetchAll(descriptor))
}
