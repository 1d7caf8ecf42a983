import OCISpec

/// A read-only view of two stores: what `overlay` holds is served from it, everything else from `base`.
/// Used to copy content that exists only in memory (a converted manifest and config) together with the blobs of
/// the repository it was made from.
public struct OverlayTarget: ReadOnlyTarget {
    public let overlay: any ReadOnlyTarget
    public let base: any ReadOnlyTarget

    public init(overlay: any ReadOnlyTarget, base: any ReadOnlyTarget) {
        self.overlay = overlay
        self.base = base
    }

    public func fetch(_ descriptor: Descriptor) async throws -> ByteStream {
        try await overlay.exists(descriptor) ? overlay.fetch(descriptor) : base.fetch(descriptor)
    }

    public func fetch(_ descriptor: Descriptor, offset: Int64) async throws -> ByteStream {
        try await overlay.exists(descriptor) ? overlay.fetch(descriptor, offset: offset) : base.fetch(descriptor, offset: offset)
    }

    public func exists(_ descriptor: Descriptor) async throws -> Bool {
        try await overlay.exists(descriptor) ? true : base.exists(descriptor)
    }

    /// Resolves in the overlay first; a reference the overlay does not know goes to the base.
    public func resolve(_ reference: String) async throws -> Descriptor {
        do {
            return try await overlay.resolve(reference)
        } catch {
            return try await base.resolve(reference)
        }
    }
}
