import Foundation
import OCIContent
import OCISpec
import OCISync

/// Garbage collection: the blobs that no index.json entry reaches (through manifests and indexes, and the
/// referrers of reachable manifests) are removed, as after `untag`, `delete` or a pruning sync.
extension OCILayoutStore {
    /// Removes the blobs no index.json entry reaches (`ContentReachability`: children of reachable manifests and
    /// the referrers of reachable manifests are kept); returns what was removed (with `dryRun`, what would be).
    ///
    /// Runs under the layout's directory lock, as index.json updates do. A writer in another process pushes blobs
    /// before it tags them, without that lock: blobs modified after `sparingModifiedAfter` (the start of the run
    /// that prunes, say) are kept, so a copy under way elsewhere keeps what it wrote. A blob such a copy found
    /// already present and did not write again is not protected; do not collect a layout that other processes
    /// are writing. Partial and temporary files are left to their own cleanup. A reachable manifest that cannot
    /// be read or parsed stops the collection (nothing is removed).
    public func collectGarbage(dryRun: Bool = false, sparingModifiedAfter: Date? = nil) throws -> GarbageCollection {
        try FileLock.withExclusiveLock(path, creatingWith: nil) { () throws -> GarbageCollection in
            let roots = try loadIndex().entries.map(\.descriptor)
            var sizes: [OCIDigest: Int64] = [:]
            var spared: Set<OCIDigest> = []
            let blobs = path + "/blobs"
            for algorithm in (try? FileManager.default.contentsOfDirectory(atPath: blobs)) ?? [] {
                for name in (try? FileManager.default.contentsOfDirectory(atPath: blobs + "/" + algorithm)) ?? []
                    where !name.hasPrefix(".") {
                    guard let digest = OCIDigest("\(algorithm):\(name)") else { continue }
                    let file = blobPath(for: digest)
                    guard let attributes = try? FileManager.default.attributesOfItem(atPath: file),
                          (attributes[.type] as? FileAttributeType) == .typeRegular,
                          let size = (attributes[.size] as? NSNumber)?.int64Value else { continue }
                    sizes[digest] = size
                    if let sparingModifiedAfter, let modified = attributes[.modificationDate] as? Date,
                       modified >= sparingModifiedAfter {
                        spared.insert(digest)
                    }
                }
            }
            let reachable = try ContentReachability.reachable(roots: roots, blobs: sizes) { digest in
                try LayoutFiles.read(blobPath(for: digest), limit: ContentLimits.maxManifestBytes)
            }
            let garbage = sizes.keys.filter { !reachable.contains($0) && !spared.contains($0) }
                .sorted { $0.description < $1.description }
            var result = GarbageCollection()
            for digest in garbage {
                if !dryRun {
                    guard try LayoutFiles.remove(blobPath(for: digest)) else { continue }
                }
                result.removed.append(digest)
                result.bytes += sizes[digest] ?? 0
            }
            return result
        }
    }
}
