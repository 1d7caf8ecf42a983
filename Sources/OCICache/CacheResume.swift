import OCIContent
import OCISpec
import OCISync

/// Resumable read-through: a miss whose upstream can be opened at an offset is written to the entry's partial
/// file (`.HEX.partial`, claimed with a lock while it is written). When a download breaks off or its process
/// dies, the partial file stays; the next miss of the same blob claims it, streams what it holds to its caller
/// and asks the upstream for the rest only. The whole stream is verified; a wrong result removes the partial
/// file. Partial files nobody holds are removed once their entry exists or after `temporaryFileMaxAge`.
extension ContentCache {
    /// Streams `descriptor` from the cache, or on a miss from `download` (`offset` 0) while filling the cache,
    /// resuming a partial entry a broken download left with `download(offset)`. See `fetch(_:orDownload:)`.
    public func fetch(_ descriptor: Descriptor,
                      orDownloadFrom download: @escaping @Sendable (_ offset: Int64) async throws -> ByteStream) async throws -> ByteStream {
        try checkOpen()
        if let hit = try? lookup(descriptor) { return hit }
        guard descriptor.size > 0, !(sizeLimit.map { descriptor.size > $0 } ?? false) else {
            return try await fetch(descriptor, orDownload: { try await download(0) })
        }
        let name = DiskLayout.name(of: descriptor.digest)
        let claim: PartialFile?
        do {
            try layout.prepareDirectory(for: descriptor.digest.algorithm)
            claim = try PartialFile.claim(destination: layout.path(of: name))
        } catch {
            reportWriteFailure(descriptor.digest, error)
            claim = nil
        }
        // Another writer holds the partial file (or it cannot be made): the plain read-through.
        guard let partial = claim else { return try await fetch(descriptor, orDownload: { try await download(0) }) }
        let iteration = ResumingIteration(cache: self, descriptor: descriptor, partial: partial, download: download)
        let used = Locked(false)
        return ByteStream { [self] in
            let first = used.withLock { used -> Bool in
                defer { used = true }
                return !used
            }
            if first { return { try await iteration.next() } }
            let again = DeferredIteration { [self] in try await fetch(descriptor, orDownloadFrom: download) }
            return { try await again.next() }
        }.verifying(VerificationTarget(digest: descriptor.digest, size: descriptor.size))
    }

    /// Renames a complete partial file into place and records it, as `commit(_:_:)` does for temporary files.
    func commit(partial: PartialFile, _ descriptor: Descriptor) throws(CacheError) {
        let name = DiskLayout.name(of: descriptor.digest)
        let pin = Pin(name, in: state)
        defer { pin.release() }
        let now = clock()
        try layout.withFileLock { () throws(CacheError) -> Void in
            if state.withLock({ $0.closed }) {
                partial.release()
                throw CacheError.closed
            }
            let size = partial.size
            do throws(FileSystemError) { try partial.commit() } catch { throw .writeFailed(path: error.path, reason: error.reason) }
            update { $0.record(name, size: size, createdAt: now) }
        }
        collectGarbage()
    }
}

/// Streams the partial file's prefix, then the upstream from its end, appending what arrives and hashing the
/// whole; commits when the digest matches. One consumer at a time.
final class ResumingIteration: @unchecked Sendable {
    private let cache: ContentCache
    private let descriptor: Descriptor
    private var partial: PartialFile?
    private let download: @Sendable (Int64) async throws -> ByteStream
    private var hasher: DigestHasher
    private var prefixOffset: Int64 = 0
    private var prefixEnd: Int64
    private var upstream: ByteStream.AsyncIterator?
    private var done = false

    init(cache: ContentCache, descriptor: Descriptor, partial: PartialFile,
         download: @escaping @Sendable (Int64) async throws -> ByteStream) {
        self.cache = cache
        self.descriptor = descriptor
        self.download = download
        hasher = DigestHasher(algorithm: descriptor.digest.algorithm)
        if partial.size >= descriptor.size { try? partial.truncate() }
        prefixEnd = partial.size
        self.partial = partial
    }

    /// A broken-off stream keeps its partial file for the next reader.
    deinit { partial?.release() }

    func next() async throws -> [UInt8]? {
        guard !done else { return nil }
        do {
            if prefixOffset < prefixEnd, let partial {
                let chunk = try partial.read(at: prefixOffset, count: 1 << 20)
                if !chunk.isEmpty {
                    prefixOffset += Int64(chunk.count)
                    hasher.update(chunk)
                    return chunk
                }
                prefixEnd = prefixOffset
            }
            if upstream == nil {
                let offset = prefixEnd
                upstream = try await download(offset).makeAsyncIterator()
            }
            guard let chunk = try await upstream?.next() else {
                done = true
                try finishEntry()
                return nil
            }
            hasher.update(chunk)
            if let partial {
                do { try partial.append(chunk) } catch {
                    cache.reportWriteFailure(descriptor.digest, error)
                    self.partial = nil
                }
            }
            return chunk
        } catch {
            done = true
            partial?.release()
            partial = nil
            throw error
        }
    }

    private func finishEntry() throws {
        guard let partial else { return }
        self.partial = nil
        guard hasher.count == descriptor.size, hasher.finalize() == descriptor.digest else {
            // A wrong prefix or a wrong range: nothing of it stays (the caller's verification fails the read).
            partial.discard()
            return
        }
        do { try cache.commit(partial: partial, descriptor) } catch { cache.reportWriteFailure(descriptor.digest, error) }
    }
}
