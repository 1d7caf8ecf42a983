import OCIContent
import OCIReference
import OCIRegistry
import OCISpec

/// What `OCIClient.copy` does with a Docker schema1 source (registries have refused schema1 pushes by default
/// since distribution 2.8, and Docker Hub, GHCR, Quay and others no longer accept them).
public enum Schema1CopyPolicy: String, Sendable, CaseIterable {
    /// Copy schema1 as it is; when the destination refuses the manifest (400/415), convert it to an OCI image
    /// manifest and copy that instead, as skopeo does.
    case auto
    /// Always convert a schema1 source to an OCI image manifest (Go: `ConvertV1ManifestToV2`).
    case convert
    /// Never convert: a refusal is the error.
    case keep
}

extension OCIClient {
    /// Converts the schema1 manifest `root` of `srcRef` to an OCI image manifest and copies that (its new config
    /// from memory, its layers from the source repository, which are the schema1 blobs unchanged) to
    /// `destination`, tagging it `tag` when given. The result's root is the converted manifest; it carries the
    /// schema1 digest in the `Schema1Converter.sourceDigestAnnotation` annotation.
    public func copyConvertingSchema1(from srcRef: String, root: Descriptor, to destination: any Target, tag: String?,
                                      options: CopyOptions = CopyOptions()) async throws -> CopyResult {
        let reference = try Reference(parsing: srcRef)
        let source = registry.repository(reference)
        let (descriptor, bytes) = try await source.fetchManifest(root.digest.description)
        guard MediaType.isSchema1(descriptor.mediaType) else {
            throw OCIClientError.invalidArgument("\(srcRef) is not a schema1 manifest (\(descriptor.mediaType))")
        }
        let converted = try await convertSchema1(srcRef, descriptor: descriptor, bytes: bytes, cache: convertedContent)
        return try await OCI.copy(from: OverlayTarget(overlay: convertedContent, base: source),
                                         root: converted.manifest, to: destination, tag: tag, options: options)
    }

    /// Whether an error from pushing a schema1 manifest means the destination does not take schema1: 400
    /// (`MANIFEST_INVALID`, most registries), 415 (unsupported media type), or a 5xx that persisted through the
    /// retries (distribution 2.8 answers a signed schema1 push with 500 `UNKNOWN` when schema1 is off). When the
    /// destination is broken rather than refusing, the converted push fails too and reports that.
    public static func isSchema1Refusal(_ error: any Error) -> Bool {
        guard case RegistryError.registry(let operation, _, let status, _, _) = error else { return false }
        return operation.contains("manifest") && (status == 400 || status == 415 || (500..<600).contains(status))
    }
}
