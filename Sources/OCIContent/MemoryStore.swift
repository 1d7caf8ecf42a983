import OCISpec

/// An in-memory target, for tests and small artifacts. Content is verified on push.
public actor MemoryStore: Target, TagLister, ContentDeleter {
    private var blobs: [OCIDigest: (descriptor: Descriptor, bytes: [UInt8])] = [:]
    private var tagged: [String: Descriptor] = [:]

    public init() {}

    public func fetch(_ descriptor: Descriptor) async throws -> ByteStream {
        guard let entry = blobs[descriptor.digest] else { throw ContentError.notFound(descriptor.digest.description) }
        return ByteStream(bytes: entry.bytes).verifying(VerificationTarget(digest: descriptor.digest, size: descriptor.size))
    }

    public func exists(_ descriptor: Descriptor) async throws -> Bool { blobs[descriptor.digest] != nil }

    public func push(_ descriptor: Descriptor, content: ByteStream) async throws {
        let verified = content.verifying(VerificationTarget(digest: descriptor.digest, size: descriptor.size))
        let limit = Int(clamping: max(0, descriptor.size))
        let bytes = try await verified.collect(upTo: limit)
        blobs[descriptor.digest] = (descriptor, bytes)
    }

    /// Stores bytes directly, computing the descriptor.
    @discardableResult
    public func push(bytes: [UInt8], mediaType: String) -> Descriptor {
        let d = Descriptor.of(bytes, mediaType: mediaType)
        blobs[d.digest] = (d, bytes)
        return d
    }

    public func resolve(_ reference: String) async throws -> Descriptor {
        if let d = tagged[reference] { return d }
        if let digest = OCIDigest(reference), let entry = blobs[digest] { return entry.descriptor }
        throw ContentError.notFound(reference)
    }

    public func tag(_ descriptor: Descriptor, as reference: String) async throws {
        guard blobs[descriptor.digest] != nil else { throw ContentError.notFound(descriptor.digest.description) }
        tagged[reference] = descriptor
    }

    public func tags() async throws -> [String] { tagged.keys.sorted() }

    public func delete(_ descriptor: Descriptor) async throws {
        guard blobs.removeValue(forKey: descriptor.digest) != nil else {
            throw ContentError.notFound(descriptor.digest.description)
        }
        tagged = tagged.filter { $0.value.digest != descriptor.digest }
    }

    /// The stored bytes for a digest, if any.
    public func bytes(for digest: OCIDigest) -> [UInt8]? { blobs[digest]?.bytes }

    /// The number of stored items.
    public var count: Int { blobs.count }
}
