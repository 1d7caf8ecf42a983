import OCISpec

/// What a garbage collection of a store removed (or, in a dry run, would remove).
public struct GarbageCollection: Sendable, Equatable {
    /// The blobs removed, sorted by digest.
    public var removed: [OCIDigest]
    /// Their bytes in all.
    public var bytes: Int64

    public init(removed: [OCIDigest] = [], bytes: Int64 = 0) {
        self.removed = removed
        self.bytes = bytes
    }
}

/// Which blobs of a store are still in use: those reachable from its roots (the index's entries) through
/// manifests and indexes, and the referrers (manifests with a `subject`) of reachable manifests, recursively,
/// since a layout or an archive lists no referrer in its index. Used by the garbage collection of layouts and
/// archives; the rule is the same for both.
public enum ContentReachability {
    /// The digests among `blobs` (digest -> size) that `roots` reach. `read` returns a blob's bytes (nil when it
    /// cannot be had; it is called only for blobs of at most `ContentLimits.maxManifestBytes`).
    ///
    /// A reachable manifest that cannot be read or parsed makes the whole answer unknown: this throws
    /// `ContentError.unsupported` rather than let a caller delete what that manifest may reference.
    public static func reachable(roots: [Descriptor], blobs: [OCIDigest: Int64],
                                 read: (OCIDigest) throws -> [UInt8]?) throws -> Set<OCIDigest> {
        var reached: Set<OCIDigest> = []
        // Index entries and an index's children are manifests even when their media type is missing or unknown
        // (then it is sniffed); a manifest's config and layers are read only when their media type says manifest.
        var pending = roots.map { (descriptor: $0, listed: true) }
        func drain() throws {
            while let (next, listed) = pending.popLast() {
                guard reached.insert(next.digest).inserted else { continue }
                let declared = MediaType.isManifest(next.mediaType)
                guard declared || listed, let size = blobs[next.digest] else { continue }
                guard size <= Int64(ContentLimits.maxManifestBytes), let bytes = try read(next.digest) else {
                    if !declared { continue }
                    throw ContentError.unsupported("manifest \(next.digest) cannot be read; nothing was collected")
                }
                let mediaType = declared ? next.mediaType : ManifestDocument.sniffMediaType(bytes) ?? next.mediaType
                guard MediaType.isManifest(mediaType) else { continue }
                let document: ManifestDocument
                do { document = try ManifestDocument.decode(bytes, mediaType: mediaType) } catch {
                    throw ContentError.unsupported("manifest \(next.digest) cannot be parsed (\(error)); nothing was collected")
                }
                if case .index = document {
                    pending += document.children.map { ($0, true) }
                } else {
                    pending += document.children.map { ($0, false) }
                }
            }
        }
        try drain()
        // Referrers: the manifests among the other small blobs that name a subject, read once each.
        var referrers: [(descriptor: Descriptor, subject: OCIDigest)] = []
        for (digest, size) in blobs where !reached.contains(digest) && size <= Int64(ContentLimits.maxManifestBytes) {
            guard let bytes = try? read(digest), Self.looksLikeJSON(bytes),
                  let mediaType = ManifestDocument.sniffMediaType(bytes), MediaType.isManifest(mediaType),
                  let document = try? ManifestDocument.decode(bytes, mediaType: mediaType),
                  let subject = document.subject else { continue }
            referrers.append((Descriptor(mediaType: mediaType, digest: digest, size: size), subject.digest))
        }
        var changed = true
        while changed {
            changed = false
            for referrer in referrers where !reached.contains(referrer.descriptor.digest) && reached.contains(referrer.subject) {
                pending.append((referrer.descriptor, true))
                try drain()
                changed = true
            }
        }
        return reached.intersection(blobs.keys)
    }

    /// Whether the bytes start (after white space) with `{`: a cheap test before decoding a blob as JSON.
    static func looksLikeJSON(_ bytes: [UInt8]) -> Bool {
        for byte in bytes {
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D: continue
            case 0x7B: return true
            default: return false
            }
        }
        return false
    }
}
