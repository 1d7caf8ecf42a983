import Foundation
import OCIContent
import OCISpec
import OCISync

extension ContentCache {
    /// Finds an entry: the overlay first, then the disk (discovering entries written by other processes).
    /// Returns nil on a miss, including when the entry was corrupt and has been deleted.
    func lookup(_ descriptor: Descriptor) throws -> ByteStream? {
        guard descriptor.size >= 0 else { return nil }
        let name = DiskLayout.name(of: descriptor.digest)
        if overlayLimit != nil, let bytes = state.withLock({ $0.overlay[name] }), Int64(bytes.count) == descriptor.size {
            update { s in
                s.decayIfDue(now: clock(), disk: gc, overlay: overlayGC)
                s.overlayIndex.hit(name)
            }
            metrics.memoryHits.increment()
            return overlayStream(bytes, name: name, descriptor: descriptor)
        }

        let pin = Pin(name, in: state)
        let path = layout.path(of: name)
        let file: OpenedFile
        switch OpenedFile.openFile(path) {
        case .success(let f):
            file = f
        case .failure(let e) where e.isMissing:
            update { $0.forget(name) }
            return nil
        case .failure(let e):
            throw CacheError.readFailed(path: path, reason: e.description)
        }
        guard file.status.isRegularFile, file.status.size == descriptor.size else {
            discardCorrupt(name, status: file.status,
                           reason: "it holds \(file.status.size) bytes, the descriptor says \(descriptor.size)")
            return nil
        }

        if descriptor.size <= eagerVerificationLimit {
            guard let bytes = try file.readAll(limit: descriptor.size) else {
                discardCorrupt(name, status: file.status, reason: "it grew while it was read")
                return nil
            }
            var hasher = DigestHasher(algorithm: descriptor.digest.algorithm)
            hasher.update(bytes)
            let actual = hasher.finalize()
            guard hasher.count == descriptor.size, actual == descriptor.digest else {
                discardCorrupt(name, status: file.status, reason: "its content hashes to \(actual)")
                return nil
            }
            recordDiskHit(name, status: file.status)
            pin.release()
            fillOverlay(name, bytes: bytes)
            return ByteStream(bytes: bytes)
        }

        recordDiskHit(name, status: file.status)
        let collect = overlayLimit.map { descriptor.size <= $0 } ?? false
        return ByteStream { [self] in
            let iteration = VerifiedReadIteration(
                digest: descriptor.digest, size: descriptor.size, collect: collect,
                source: { offset, count in try file.readChunk(at: offset, count: count) },
                onVerified: { [self] bytes in if let bytes { fillOverlay(name, bytes: bytes) } },
                onCorrupt: { [self] error in discardCorrupt(name, status: file.status, reason: "\(error)") },
                onEnd: { pin.release() })
            return { try iteration.next() }
        }
    }

    /// A stream over overlay bytes, verified as it is read; a mismatch drops the overlay entry.
    private func overlayStream(_ bytes: [UInt8], name: String, descriptor: Descriptor) -> ByteStream {
        ByteStream { [self] in
            let iteration = VerifiedReadIteration(
                digest: descriptor.digest, size: descriptor.size, collect: false,
                source: { offset, count in
                    let start = Int(clamping: offset)
                    guard start < bytes.count else { return [] }
                    return Array(bytes[start..<min(bytes.count, start + count)])
                },
                onVerified: { _ in },
                onCorrupt: { [self] error in
                    logger.warning("overlay entry \(name) is corrupt (\(error)); dropped")
                    update { $0.removeFromOverlay(name) }
                },
                onEnd: {})
            return { try iteration.next() }
        }
    }

    private func recordDiskHit(_ name: String, status: FileStatus) {
        update { s in
            s.decayIfDue(now: clock(), disk: gc, overlay: overlayGC)
            s.discover(name, size: status.size, modified: status.modified)
            s.disk.hit(name)
        }
        metrics.diskHits.increment()
    }

    private func fillOverlay(_ name: String, bytes: [UInt8]) {
        guard let limit = overlayLimit else { return }
        let now = clock()
        update { s in
            guard !s.closed else { return }
            s.fillOverlay(name, bytes: bytes, now: now, limit: limit, gc: overlayGC)
        }
    }

    /// Deletes a corrupt entry, unless another writer has replaced the file meanwhile.
    func discardCorrupt(_ name: String, status: FileStatus, reason: String) {
        let removed = layout.withFileLock { () -> Bool in
            let removed = layout.removeIfUnchanged(name, status: status)
            if removed { update { $0.forget(name) } }
            return removed
        }
        if removed {
            logger.warning("cache entry \(name) is corrupt (\(reason)); removed it")
        }
    }

    // MARK: Read-through

    /// Streams `descriptor` from the cache on a hit. On a miss, streams the result of `download` to the caller,
    /// verifying it and writing it to a temporary file in the same pass; the entry is committed when the stream
    /// ends verified. A mismatch, an error or an early stop commits nothing.
    ///
    /// Concurrent calls for one digest download it once: later callers wait (when they first read) and then
    /// stream the committed entry. When the cache cannot write, the download is passed through uncached.
    /// Content larger than the size limit is passed through uncached.
    public func fetch(_ descriptor: Descriptor,
                      orDownload download: @escaping @Sendable () async throws -> ByteStream) async throws -> ByteStream {
        try checkOpen()
        if let hit = cachedOrNil(descriptor) { return hit }
        if descriptor.size < 0 || (sizeLimit.map { descriptor.size > $0 } ?? false) {
            let size: Int64? = descriptor.size >= 0 ? descriptor.size : nil
            return try await download().verifying(VerificationTarget(digest: descriptor.digest, size: size))
        }
        return try await readThrough(descriptor, download: download)
    }

    /// A hit, or nil on a miss or a read failure (logged).
    private func cachedOrNil(_ descriptor: Descriptor) -> ByteStream? {
        do {
            return try lookup(descriptor)
        } catch {
            logger.warning("cache read failed, downloading instead: \(error)")
            return nil
        }
    }

    private func readThrough(_ descriptor: Descriptor,
                             download: @escaping @Sendable () async throws -> ByteStream) async throws -> ByteStream {
        switch flights.claim(DiskLayout.name(of: descriptor.digest)) {
        case .leader(let token):
            // Another caller may have committed between our miss and our claim.
            if let hit = cachedOrNil(descriptor) {
                token.finish()
                return hit
            }
            return try await downloadAndFill(descriptor, token: token, download: download)
        case .follower(let flight):
            let stall = stallTimeout
            return .deferred { [self] in
                let completed = await flight.waitForCompletion(stallTimeout: stall)
                if let hit = cachedOrNil(descriptor) { return hit }
                if completed { return try await readThrough(descriptor, download: download) }
                logger.debug("the download of \(descriptor.digest) by another caller stalled; downloading too")
                return try await downloadAndFill(descriptor, token: .independent(), download: download)
            }
        }
    }

    private func downloadAndFill(_ descriptor: Descriptor, token: LeaderToken,
                                 download: @escaping @Sendable () async throws -> ByteStream) async throws -> ByteStream {
        let upstream: ByteStream
        do {
            upstream = try await download()
        } catch {
            token.finish()
            throw error
        }
        let firstIteration = Locked(true)
        return ByteStream { [self] in
            let isFirst = firstIteration.withLock { first -> Bool in
                defer { first = false }
                return first
            }
            if isFirst {
                let iteration = TeeIteration(cache: self, descriptor: descriptor, upstream: upstream, token: token)
                return { try await iteration.next() }
            }
            // A network stream can be read once; later iterations go through the cache again.
            let iteration = DeferredIteration { [self] in try await fetch(descriptor, orDownload: download) }
            return { try await iteration.next() }
        }
    }
}
