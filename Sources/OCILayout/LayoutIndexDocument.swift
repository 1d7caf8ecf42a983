import OCISpec

/// The content of `index.json`: the typed descriptors together with the JSON they were read from, so that a
/// rewrite keeps fields this store does not model (at the top level and inside each entry).
struct LayoutIndexDocument: Sendable, Equatable {
    /// One `manifests` entry: its descriptor and its JSON as read (or as generated for new entries).
    struct Entry: Sendable, Equatable {
        var descriptor: Descriptor
        var json: LayoutJSON

        /// The entry's `org.opencontainers.image.ref.name`, if any.
        var refName: String? { descriptor.annotations?[Annotation.refName] }
    }

    /// Top-level fields other than `manifests`, kept as read.
    var fields: [String: LayoutJSON]
    var entries: [Entry]

    /// An empty OCI index.
    static let empty = LayoutIndexDocument(
        fields: ["schemaVersion": .integer(2), "mediaType": .string(MediaType.ociIndex)], entries: [])

    /// The document as an `Index`.
    var index: ImageIndex {
        var index = ImageIndex(manifests: entries.map(\.descriptor))
        if case .integer(let v)? = fields["schemaVersion"] { index.schemaVersion = Int(clamping: v) }
        if case .string(let mt)? = fields["mediaType"] { index.mediaType = mt } else { index.mediaType = nil }
        if case .string(let at)? = fields["artifactType"] { index.artifactType = at }
        if let subject = fields["subject"], let bytes = try? JSONCoding.encode(subject) {
            index.subject = try? JSONCoding.decode(Descriptor.self, from: bytes)
        }
        if let annotations = fields["annotations"], let bytes = try? JSONCoding.encode(annotations) {
            index.annotations = try? JSONCoding.decode([String: String].self, from: bytes)
        }
        return index
    }

    /// Parses index.json. `path` only names the file in errors.
    static func decode(_ bytes: [UInt8], path: String) throws(OCILayoutError) -> LayoutIndexDocument {
        let typed: ImageIndex
        let raw: LayoutJSON
        do {
            typed = try JSONCoding.decode(ImageIndex.self, from: bytes)
            raw = try JSONCoding.decode(LayoutJSON.self, from: bytes)
        } catch {
            throw .invalidIndex(path: path, reason: error.description)
        }
        guard case .object(var fields) = raw else {
            throw .invalidIndex(path: path, reason: "the document is not a JSON object")
        }
        let rawEntries: [LayoutJSON]
        switch fields.removeValue(forKey: "manifests") {
        case nil, .null?: rawEntries = []
        case .array(let a)?: rawEntries = a
        default: throw .invalidIndex(path: path, reason: "\"manifests\" is not an array")
        }
        guard rawEntries.count == typed.manifests.count else {
            throw .invalidIndex(path: path, reason: "\"manifests\" could not be read entry by entry")
        }
        let entries = zip(typed.manifests, rawEntries).map { Entry(descriptor: $0, json: $1) }
        return LayoutIndexDocument(fields: fields, entries: entries)
    }

    /// Serialises the document (sorted keys, like every JSON document this project writes).
    func encode() throws(SpecError) -> [UInt8] {
        var object = fields
        object["manifests"] = .array(entries.map(\.json))
        return try JSONCoding.encode(LayoutJSON.object(object))
    }

    /// Appends a new entry for `descriptor`.
    mutating func append(_ descriptor: Descriptor) throws(SpecError) {
        entries.append(Entry(descriptor: descriptor, json: try LayoutJSON.of(descriptor)))
    }
}
