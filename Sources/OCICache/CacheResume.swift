import OCIContent
import OCISpec
import OCISync

/// Resumable read-through: a miss whose upstream can be opened at an offset is written to the entry's partial
/// file (`.HEX.partial`, claimed with a lock while it is written). When the downloading process dies, the
/// partial file stays; the next miss of the same blob (in any process) claims it, streams what it holds to its
/// caller and asks the upstream for the rest only. The whole stream is verified; a wrong result removes the
/// partial file. A failure the process sees removes it too, unless `CacheOptions.keepsBrokenDownloads`.
/// Partial files nobody holds are removed once their entry exists or after `temporaryFileMaxAge`.
extension ContentCache {
    /// Streams `descriptor` from the cache, or on a miss from `download` (`offset` 0) while filling the cache,
    /// resuming a partial entry a dead download left with `download(offset)` (an upstream that cannot start at
    /// the offset may throw: the download then starts from 0 and skips what the partial entry holds).
    /// Concurrent misses of one digest in this process download it once, as with `fetch(_:orDownload:)`.
    public func fetch(_ descriptor: Descriptor,
                      orDownloadFrom download: @escaping @Sendable (_ offset: Int64) async throws -> ByteStream) async throws -> ByteStream {
        try checkOpen()
        if let hit = try? lookup(descriptor) { return hit }
        guard descriptor.size > 0, !(sizeLimit.map { descriptor.size > $0 } ?? false) else {
            return try await fetch(descriptor, orDownload: { try await download(0) })
        }
        switch flights.claim(DiskLayout.name(of: descriptor.digest)) {
        case .leader(let token):
            // Another caller may have committed between our miss and our claim.
            if let hit = try? lookup(descriptor) {
                token.finish()
                return hit
            }
            return try resumable(descriptor, token: token, download: download)
        case .follower(let flight):
            let stall = stallTimeout
            return .deferred { [self] in
                let completed = await flight.waitForCompletion(stallTimeout: stall)
                if let hit = try? lookup(descriptor) { return hit }
                if completed { return try await fetch(descriptor, orDownloadFrom: download) }
                // The other download stalled: this caller downloads alone (the partial entry is held by it).
                return try await fetch(descriptor, orDownload: { try await download(0) })
            }
        }
    }

    /// The leader's download: into the claimed partial entry, or (when another process holds it, or it cannot
    /// be made) through the plain read-through.
    private func resumable(_ descriptor: Descriptor, token: LeaderToken,
                           download: @escaping @Sendable (Int64) async throws -> ByteStream) throws -> ByteStream {
        let name = DiskLayout.name(of: descriptor.digest)
        let claim: PartialFile?
        do {
            try layout.prepareDirectory(for: descriptor.digest.algorithm)
            claim = try PartialFile.claim(destination: layout.path(of: name))
        } catch {
            reportWriteFailure(descriptor.digest, error)
            claim = nil
        }
        guard let partial = claim else {
            token.finish()
            return .deferred { [self] in try await fetch(descriptor, orDownload: { try await download(0) }) }
        }
        let iteration = ResumingIteration(cache: self, descriptor: descriptor, partial: partial, token: token,
                                          keepOnFailure: keepsBrokenDownloads, download: download)
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
        try commitEntry(descriptor, discard: { partial.release() }) { () throws(CacheError) -> Int64 in
            let size = partial.size
            do throws(FileSystemError) { try partial.commit() } catch { throw .writeFailed(path: error.path, reason: error.reason) }
            return size
        }
    }
}

/// Streams the partial file's prefix, then the upstream from its end, appending what arrives and hashing the
/// whole; commits when the digest matches. One consumer at a time.
final class ResumingIteration: @unchecked Sendable {
    private let cache: ContentCache
    private let descriptor: Descriptor
    private var partial: PartialFile?
    private let token: LeaderToken
    private let keepOnFailure: Bool
    private let download: @Sendable (Int64) async throws -> ByteStream
    private var hasher: DigestHasher
    private var prefixOffset: Int64 = 0
    private var prefixEnd: Int64
    private var upstream: ByteStream.AsyncIterator?
    private var done = false

    init(cache: ContentCache, descriptor: Descriptor, partial: PartialFile, token: LeaderToken, keepOnFailure: Bool,
         download: @escaping @Sendable (Int64) async throws -> ByteStream) {
        self.cache = cache
        self.descriptor = descriptor
        self.token = token
        self.keepOnFailure = keepOnFailure
        self.download = download
        hasher = DigestHasher(algorithm: descriptor.digest.algorithm)
        if partial.size >= descriptor.size { try? partial.truncate() }
        prefixEnd = partial.size
        self.partial = partial
    }

    /// A stream its reader dropped before the end: the partial file goes (or stays, with `keepOnFailure`).
    deinit {
        giveUp()
        token.finish()
    }

    /// After a failure or an early stop: keeps the partial file with `keepOnFailure`, or when this process added
    /// nothing to it (what a dead writer left stays for the next one); removes it otherwise.
    private func giveUp() {
        guard let partial else { return }
        self.partial = nil
        if keepOnFailure || upstream == nil { partial.release() } else { partial.discard() }
    }

    func next() async throws -> [UInt8]? {
        guard !done else { return nil }
        do {
            if prefixOffset < prefixEnd, let partial {
                let chunk = try partial.read(at: prefixOffset, count: 1 << 20)
                if !chunk.isEmpty {
                    prefixOffset += Int64(chunk.count)
                    hasher.update(chunk)
                    token.flight?.advance(by: chunk.count)
                    return chunk
                }
                prefixEnd = prefixOffset
            }
            if upstream == nil { upstream = try await open(at: prefixEnd).makeAsyncIterator() }
            guard let chunk = try await upstream?.next() else {
                done = true
                try finishEntry()
                token.finish()
                return nil
            }
            hasher.update(chunk)
            token.flight?.advance(by: chunk.count)
            if let partial {
                do { try partial.append(chunk) } catch {
                    // append removed the partial file (a full disk keeps no half blob); the reader still reads.
                    cache.reportWriteFailure(descriptor.digest, error)
                    self.partial = nil
                }
            }
            return chunk
        } catch {
            done = true
            giveUp()
            token.finish()
            throw error
        }
    }

    /// The upstream from `offset`; when it cannot start there (a registry without range support, say), from
    /// the start with the first `offset` bytes skipped.
    private func open(at offset: Int64) async throws -> ByteStream {
        guard offset > 0 else { return try await download(0) }
        do {
            return try await download(offset)
        } catch {
            try Task.checkCancellation()
            cache.logger.debug("cannot resume \(descriptor.digest) at byte \(offset) (\(error)); downloading it from the start")
            return try await download(0).dropping(offset)
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
