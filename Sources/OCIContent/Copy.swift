import OCISpec
import OCISync

/// What `copy(from:reference:to:tag:options:)` did.
public struct CopyResult: Sendable {
    /// The root that was copied (the chosen platform's manifest when a platform was selected).
    public var root: Descriptor
    /// Nodes copied, skipped and mounted.
    public var copied = 0
    public var skipped = 0
    public var mounted = 0
    /// Bytes of blob content transferred.
    public var bytes: Int64 = 0
}

/// Copies the image, index or artifact that `reference` names in `source` to `destination`, children first,
/// and points `tag` (when given) at it. With `platform`, one platform's manifest of an index is copied instead
/// of the whole index.
extension OCI {
public static func copy(
    from source: any ReadOnlyTarget, reference: String, to destination: any Target, tag: String?,
    platform: Platform? = nil, options: CopyOptions = CopyOptions()
) async throws -> CopyResult {
    try await OCI.copy(from: source, root: try await source.resolve(reference), to: destination, tag: tag,
                   platform: platform, options: options)
}

/// Copies the graph under an already resolved `root` from `source` to `destination`, as
/// `copy(from:reference:to:tag:platform:options:)` does after resolving.
public static func copy(
    from source: any ContentFetcher, root resolved: Descriptor, to destination: any Target, tag: String?,
    platform: Platform? = nil, options: CopyOptions = CopyOptions()
) async throws -> CopyResult {
    var root = resolved
    let reference = resolved.digest.description
    if let platform, MediaType.isMultiArch(root.mediaType) {
        let bytes = try await source.fetchAll(root)
        guard case .index(let index) = try ManifestDocument.decode(bytes, mediaType: root.mediaType) else {
            throw ContentError.unsupported("\(reference) is not an index")
        }
        guard let child = index.manifests.first(where: { $0.platform.map(platform.matches) ?? false }) else {
            let available = index.manifests.compactMap { $0.platform?.description }.joined(separator: ", ")
            throw ContentError.notFound("platform \(platform) in \(reference) (available: \(available.isEmpty ? "none" : available))")
        }
        root = child
    }
    let stats = CopyStatistics()
    var counted = options
    let userHandler = options.onEvent
    counted.onEvent = { event in
        stats.record(event)
        userHandler?(event)
    }
    try await OCI.copyGraph(from: source, to: destination, root: root, options: counted)
    if let tag {
        try await destination.tag(root, as: tag)
    }
    var result = stats.result
    result.root = root
    return result
}
}

/// Counts copy events (thread-safe).
final class CopyStatistics: Sendable {
    private let value = Locked(CopyResult(root: EmptyJSON.descriptor))

    func record(_ event: CopyEvent) {
        value.withLock { value in
            switch event {
            case .copied(let d):
                value.copied += 1
                if !MediaType.isManifest(d.mediaType) { value.bytes += max(0, d.size) }
            case .skipped: value.skipped += 1
            case .mounted: value.mounted += 1
            case .started, .progress: break
            }
        }
    }

    var result: CopyResult { value.current }
}
