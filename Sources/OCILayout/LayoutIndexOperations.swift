import OCIContent
import OCIReference
import OCISpec

/// Tags and index.json entries: resolve, tag, untag, list, delete, add untagged manifests.
extension OCILayoutStore {
    /// Resolves a tag (an entry's `org.opencontainers.image.ref.name`; the last entry wins when several share
    /// it) or a digest (an index.json entry with that digest, else the manifest blob itself, its media type
    /// sniffed). The returned descriptor is the entry without its ref.name annotation.
    public func resolve(_ reference: String) async throws -> Descriptor {
        let doc = try loadIndex()
        if let entry = doc.entries.last(where: { $0.refName == reference }) {
            return Self.withoutRefName(entry.descriptor)
        }
        if let digest = OCIDigest(reference) {
            if let entry = doc.entries.last(where: { $0.descriptor.digest == digest }) {
                return Self.withoutRefName(entry.descriptor)
            }
            return try describeManifestBlob(digest)
        }
        if let colon = reference.firstIndex(of: ":"), OCIDigest.Algorithm(rawValue: String(reference[..<colon])) != nil {
            throw OCILayoutError.invalidDigest(reference, reason: Self.digestError(reference))
        }
        throw ContentError.notFound("tag \"\(reference)\" in OCI layout \(path)")
    }

    /// Points `reference` at `descriptor`, whose blob must be in the layout: entries with that ref.name are
    /// replaced by one new entry (the descriptor plus the ref.name annotation), appended to index.json.
    public func tag(_ descriptor: Descriptor, as reference: String) async throws {
        guard Self.isValidTag(reference) else { throw OCILayoutError.invalidTag(reference) }
        guard blobExists(descriptor) else {
            throw ContentError.notFound("blob \(descriptor.digest) in OCI layout \(path) (push it before tagging it)")
        }
        var entry = descriptor
        var annotations = entry.annotations ?? [:]
        annotations[Annotation.refName] = reference
        entry.annotations = annotations
        try updateIndex { doc in
            doc.entries.removeAll { $0.refName == reference }
            try doc.append(entry)
        }
    }

    /// Removes every index.json entry named `name`; the blobs stay. Throws `ContentError.notFound` when none.
    public func untag(_ name: String) throws {
        var removed = false
        try updateIndex { doc in
            let before = doc.entries.count
            doc.entries.removeAll { $0.refName == name }
            removed = doc.entries.count != before
        }
        guard removed else { throw ContentError.notFound("tag \"\(name)\" in OCI layout \(path)") }
    }

    /// Lists an untagged entry for `descriptor` (whose blob must be in the layout) in index.json, making it a
    /// root of the layout without a name. A no-op when an untagged entry with that digest is already there.
    public func addManifest(_ descriptor: Descriptor) throws {
        guard blobExists(descriptor) else {
            throw ContentError.notFound("blob \(descriptor.digest) in OCI layout \(path) (push it before adding it)")
        }
        let entry = Self.withoutRefName(descriptor)
        try updateIndex { doc in
            guard !doc.entries.contains(where: { $0.refName == nil && $0.descriptor.digest == entry.digest }) else {
                return
            }
            try doc.append(entry)
        }
    }

    /// The ref names in index.json, sorted, without duplicates.
    public func tags() async throws -> [String] {
        Set(try loadIndex().entries.compactMap(\.refName)).sorted()
    }

    /// Removes every index.json entry with the descriptor's digest, then the blob. Children of a deleted
    /// manifest are not removed (`collectGarbage` removes what nothing reaches any more). Throws
    /// `ContentError.notFound` when there was neither an entry nor a blob.
    public func delete(_ descriptor: Descriptor) async throws {
        var removedEntries = false
        try updateIndex { doc in
            let before = doc.entries.count
            doc.entries.removeAll { $0.descriptor.digest == descriptor.digest }
            removedEntries = doc.entries.count != before
        }
        let removedBlob = try LayoutFiles.remove(blobPath(for: descriptor.digest))
        guard removedEntries || removedBlob else {
            throw ContentError.notFound("blob \(descriptor.digest) in OCI layout \(path)")
        }
    }

    /// The layout's index.json, read afresh (when it cannot be read, as last read or written by this store).
    public func index() -> ImageIndex {
        ((try? loadIndex()) ?? document).index
    }

    /// Whether this store writes `name` as a tag: a Docker tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`) without
    /// "..". Reading accepts any ref.name other tools wrote.
    public static func isValidTag(_ name: String) -> Bool {
        Reference.isValidTag(name) && !name.contains("..")
    }

    static func withoutRefName(_ descriptor: Descriptor) -> Descriptor {
        var d = descriptor
        d.annotations?.removeValue(forKey: Annotation.refName)
        if d.annotations?.isEmpty == true { d.annotations = nil }
        return d
    }

    private static func digestError(_ reference: String) -> String {
        do {
            _ = try OCIDigest(parsing: reference)
            return ""
        } catch {
            return error.description
        }
    }
}
