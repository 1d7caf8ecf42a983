import OCIContent
import OCIReference
import OCIRegistry
import OCISpec
import OCIKit
import OCISchema1

extension GoClient {
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

    /// Whether an error from pushing a schema1 manifest means the destination does not take schema1
    /// (see `OCI.isSchema1Refusal`).
    public static func isSchema1Refusal(_ error: any Error) -> Bool { OCI.isSchema1Refusal(error) }
}

extension GoClient {
    /// Converts the schema1 manifest `bytes` of `ref` (as returned by the registry, signed or not) into an OCI
    /// image manifest, reading the layers from `ref`'s repository (Go: `ConvertV1ManifestToV2`). When `cache` is
    /// given, the converted config and manifest are pushed to it.
    public func convertSchema1(_ ref: String, descriptor: Descriptor? = nil, bytes: [UInt8],
                               cache: (any ContentPusher)? = nil) async throws -> Schema1ConversionResult {
        let reference = try Reference(parsing: ref)
        let converter = Schema1Converter(fetcher: registry.repository(reference),
                                         concurrency: registry.configuration.concurrency)
        return try await converter.convert(bytes, source: descriptor, into: cache)
    }
}
