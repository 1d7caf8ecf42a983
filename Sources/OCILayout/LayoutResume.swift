import Foundation
import OCIContent
import OCISpec
import OCISync

/// Crash-safe, resumable blob writes: a blob pushed from a `BlobSource` goes to `blobs/<alg>/.<hex>.partial`,
/// claimed with a lock for as long as it is written. A writer that dies (killed, out of power) leaves the
/// partial file; the next writer of the same blob claims it, rehashes what it holds and asks the source for
/// the rest only (`BlobSource.open(at:)`: an HTTP `Range` for a registry), so a killed multi-gigabyte pull
/// resumes where it stopped. A failure the writer sees itself (a broken transfer, a cancellation) removes the
/// partial file, so that nothing partial is left. The whole blob is verified before the rename; a resumed prefix that turns out
/// wrong is thrown away and the blob fetched again from the start. I/O errors (a full disk, a read-only
/// directory) remove the partial file and name the path and the operating system's message.
extension OCILayoutStore {
    /// How long a partial blob that no writer holds is kept for resumption: a day, after which opening the
    /// layout for writing removes it (as it removes partial blobs whose blob was completed another way).
    public static let partialBlobMaxAge: TimeInterval = 24 * 3600

    /// Stores a blob from a source that can be reopened at an offset, resuming a partial file a writer left.
    public nonisolated func push(_ descriptor: Descriptor, source: BlobSource) async throws {
        if blobExists(descriptor) { return }
        let file = blobPath(for: descriptor.digest)
        let directory = (file as NSString).deletingLastPathComponent
        try LayoutFiles.makeDirectory(directory)
        guard let partial = try await claimPartial(file, descriptor: descriptor) else { return }
        do {
            try await write(descriptor, into: partial, from: source, resume: true)
        } catch let error as FileSystemError {
            partial.discard()
            throw OCILayoutError.io(path: error.path, operation: error.operation, reason: error.reason)
        } catch {
            // A failure this process sees (a broken transfer, a cancellation, wrong content) leaves nothing; only
            // a writer that dies without seeing it leaves its partial file, for the next writer to resume.
            partial.discard()
            throw error
        }
    }

    /// Claims the blob's partial file. While another writer (a task or a process) holds it, waits for it to
    /// finish; nil when the blob appeared meanwhile.
    nonisolated func claimPartial(_ file: String, descriptor: Descriptor) async throws -> PartialFile? {
        var waited = 0
        while true {
            let claim: PartialFile?
            do { claim = try PartialFile.claim(destination: file) } catch {
                throw OCILayoutError.io(path: error.path, operation: error.operation, reason: error.reason)
            }
            if let claim {
                if blobExists(descriptor) {
                    claim.discard()
                    return nil
                }
                return claim
            }
            if blobExists(descriptor) { return nil }
            waited += 1
            try await Task.sleep(for: .milliseconds(min(200, 10 * waited)))
        }
    }

    /// Writes the blob into the claimed partial file (rehashing and keeping what it holds when `resume`),
    /// verifies it and renames it into place.
    nonisolated func write(_ descriptor: Descriptor, into partial: PartialFile, from source: BlobSource,
                           resume: Bool) async throws {
        var hasher = DigestHasher(algorithm: descriptor.digest.algorithm)
        var offset: Int64 = 0
        if resume, partial.size > 0, descriptor.size < 0 || partial.size <= descriptor.size {
            while offset < partial.size {
                let chunk = try partial.read(at: offset, count: 1 << 20)
                if chunk.isEmpty { break }
                hasher.update(chunk)
                offset += Int64(chunk.count)
            }
        } else if partial.size > 0 {
            try partial.truncate()
        }
        var stream: ByteStream
        if offset > 0, offset == descriptor.size {
            stream = .empty
        } else if offset > 0 {
            do {
                stream = try await source.open(at: offset)
            } catch where !(error is CancellationError) {
                // The source cannot resume: start over.
                try partial.truncate()
                return try await write(descriptor, into: partial, from: source, resume: false)
            }
        } else {
            // From the start, the source's verified stream checks size and digest; no second hash.
            stream = try await source.open(at: 0).verifying(Self.verificationTarget(descriptor))
        }
        for try await chunk in stream where !chunk.isEmpty {
            if offset > 0 {
                hasher.update(chunk)
                if descriptor.size >= 0, hasher.count > descriptor.size {
                    throw ContentError.sizeMismatch(digest: descriptor.digest, expected: descriptor.size, actual: hasher.count)
                }
            }
            try partial.append(chunk)
        }
        if offset > 0 {
            let actual = hasher.finalize()
            let sizeOK = descriptor.size < 0 || hasher.count == descriptor.size
            if !sizeOK || actual != descriptor.digest {
                // The kept prefix (or the source's range) was wrong: fetch the whole blob once more.
                try partial.truncate()
                return try await write(descriptor, into: partial, from: source, resume: false)
            }
        }
        try partial.commit()
    }

    /// Removes partial blobs no writer holds that are no use any more (see `partialBlobMaxAge`).
    static func removeStalePartials(root: String) {
        for algorithm in (try? FileManager.default.contentsOfDirectory(atPath: root + "/blobs")) ?? [] {
            PartialFile.removeStale(in: root + "/blobs/" + algorithm, maxAge: partialBlobMaxAge)
        }
    }
}
