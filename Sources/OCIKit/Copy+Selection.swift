import OCIContent
import OCISpec

extension OCI {
    /// The root a copy with `selection` writes for the source root `root`: `root` itself for `.all` or a single
    /// manifest, the chosen child for `.one`, the new index of the chosen children for `.some` (its digest is
    /// what the destination will have). Costs a fetch of the index for `.one` and `.some`. A mirror compares it
    /// with the destination's digest to tell an unchanged tag.
    public static func selectedRoot(_ selection: PlatformSelection, of root: Descriptor,
                                    in source: any ReadOnlyTarget) async throws -> Descriptor {
        try await select(selection, of: root, in: source, staging: MemoryStore())
    }
}
