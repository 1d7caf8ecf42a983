import Foundation
import OCIContent
import OCISpec

/// Blob access: fetch, exists and push work on files only, outside the actor, so transfers run in parallel.
extension OCILayoutStore {
    /// Streams `blobs/<alg>/<hex>`, verified against the descriptor's size and digest while it is read.
    /// A missing blob is `ContentError.notFound`; a file of the wrong size fails at once with `sizeMismatch`.
    public nonisolated func fetch(_ descriptor: Descriptor) async throws -> ByteStream {
        let file = blobPath(for: descriptor.digest)
        guard let size = LayoutFiles.regularFileSize(file) else {
            throw ContentError.notFound("blob \(descriptor.digest) in OCI layout \(path) (\(file))")
        }
        if descriptor.size >= 0, size != descriptor.size {
            throw ContentError.sizeMismatch(digest: descriptor.digest, expected: descriptor.size, actual: size)
        }
        return ByteStream(fileAt: file).verifying(Self.verificationTarget(descriptor))
    }

    /// Whether the blob file exists (with the descriptor's size, when that is not negative).
    public nonisolated func exists(_ descriptor: Descriptor) async throws -> Bool {
        blobExists(descriptor)
    }

    /// Stores `content` as the blob of `descriptor`: it is streamed, chunk by chunk, into a temporary file in
    /// the blob's directory while size and digest are checked, and renamed into place only when both match.
    /// On any failure (mismatch, stream error, cancellation) the temporary file is removed and the error
    /// rethrown. A blob that already exists is not written again and `content` is not read.
    public nonisolated func push(_ descriptor: Descriptor, content: ByteStream) async throws {
        if blobExists(descriptor) { return }
        let file = blobPath(for: descriptor.digest)
        let writer: AtomicFileWriter
        do {
            writer = try AtomicFileWriter(destination: file)
        } catch {
            throw OCILayoutError.io(file, "create a temporary file for", error)
        }
        do {
            for try await chunk in content.verifying(Self.verificationTarget(descriptor)) where !chunk.isEmpty {
                do { try writer.write(chunk) } catch {
                    throw OCILayoutError.io(file, "write", error)
                }
            }
            try writer.commit()
        } catch {
            writer.discard()
            throw error
        }
    }

    nonisolated func blobExists(_ descriptor: Descriptor) -> Bool {
        guard let size = LayoutFiles.regularFileSize(blobPath(for: descriptor.digest)) else { return false }
        return descriptor.size < 0 || size == descriptor.size
    }

    /// Describes the manifest stored as the blob `digest` (for digests that index.json does not list):
    /// reads it (at most 4 MiB), checks its digest and sniffs its media type.
    nonisolated func describeManifestBlob(_ digest: OCIDigest) throws -> Descriptor {
        let file = blobPath(for: digest)
        guard let size = LayoutFiles.regularFileSize(file) else {
            throw ContentError.notFound("manifest \(digest) in OCI layout \(path)")
        }
        guard size <= Int64(ContentLimits.maxManifestBytes),
              let bytes = try LayoutFiles.read(file, limit: ContentLimits.maxManifestBytes) else {
            throw OCILayoutError.notAManifest(digest: digest.description, path: file)
        }
        let actual = OCIDigest.of(bytes, algorithm: digest.algorithm)
        guard actual == digest else { throw ContentError.digestMismatch(expected: digest, actual: actual) }
        guard let mediaType = ManifestDocument.sniffMediaType(bytes) else {
            throw OCILayoutError.notAManifest(digest: digest.description, path: file)
        }
        return Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count))
    }

    static func verificationTarget(_ descriptor: Descriptor) -> VerificationTarget {
        VerificationTarget(digest: descriptor.digest, size: descriptor.size >= 0 ? descriptor.size : nil)
    }
}
