import Logging
import OCIContent
import OCISpec

/// Reads an entry (a file or overlay bytes) chunk by chunk and verifies size and digest as the chunks pass:
/// an overrun fails at once, a mismatch fails the final `next()`. Used by one consumer at a time.
final class VerifiedReadIteration: @unchecked Sendable {
    typealias Source = @Sendable (_ offset: Int64, _ count: Int) throws -> [UInt8]
    static let chunkSize = 1 << 20

    private let source: Source
    private let digest: OCIDigest
    private let size: Int64
    private var hasher: DigestHasher
    private var offset: Int64 = 0
    private var done = false
    private var collected: [UInt8]?
    private let onVerified: @Sendable ([UInt8]?) -> Void
    private let onCorrupt: @Sendable (ContentError) -> Void
    private let onEnd: @Sendable () -> Void

    /// - Parameters:
    ///   - collect: keep the bytes and hand them to `onVerified` (to fill the overlay).
    ///   - onVerified: runs when the whole entry has been read and matched.
    ///   - onCorrupt: runs when the entry does not match its descriptor.
    ///   - onEnd: runs exactly once: at the end, on an error, or when the iteration is dropped.
    init(digest: OCIDigest, size: Int64, collect: Bool, source: @escaping Source,
         onVerified: @escaping @Sendable ([UInt8]?) -> Void,
         onCorrupt: @escaping @Sendable (ContentError) -> Void,
         onEnd: @escaping @Sendable () -> Void) {
        self.source = source
        self.digest = digest
        self.size = size
        self.hasher = DigestHasher(algorithm: digest.algorithm)
        self.collected = collect ? [] : nil
        self.onVerified = onVerified
        self.onCorrupt = onCorrupt
        self.onEnd = onEnd
    }

    deinit { if !done { onEnd() } }

    func next() throws -> [UInt8]? {
        guard !done else { return nil }
        do {
            let chunk = try source(offset, Self.chunkSize)
            if chunk.isEmpty {
                done = true
                guard hasher.count == size else {
                    throw corrupt(.sizeMismatch(digest: digest, expected: size, actual: hasher.count))
                }
                let actual = hasher.finalize()
                guard actual == digest else { throw corrupt(.digestMismatch(expected: digest, actual: actual)) }
                onVerified(collected)
                collected = nil
                onEnd()
                return nil
            }
            offset += Int64(chunk.count)
            hasher.update(chunk)
            guard hasher.count <= size else {
                throw corrupt(.sizeMismatch(digest: digest, expected: size, actual: hasher.count))
            }
            collected?.append(contentsOf: chunk)
            return chunk
        } catch {
            if !done { done = true }
            collected = nil
            onEnd()
            throw error
        }
    }

    private func corrupt(_ error: ContentError) -> ContentError {
        onCorrupt(error)
        return error
    }
}

/// The read-through on a miss: passes the verified download to the caller while writing it to a temporary file;
/// the file is committed when the stream ends verified, and discarded on a mismatch, an error or an early stop.
/// A failing disk only turns caching off for this download; the caller still gets the content.
final class TeeIteration: @unchecked Sendable {
    private let cache: ContentCache
    private let descriptor: Descriptor
    private let token: LeaderToken
    private var upstream: ByteStream.AsyncIterator
    private var temporary: TemporaryFile?
    private var done = false

    init(cache: ContentCache, descriptor: Descriptor, upstream: ByteStream, token: LeaderToken) {
        self.cache = cache
        self.descriptor = descriptor
        self.token = token
        self.upstream = upstream
            .verifying(VerificationTarget(digest: descriptor.digest, size: descriptor.size))
            .makeAsyncIterator()
        do {
            temporary = try cache.layout.temporaryFile(for: DiskLayout.name(of: descriptor.digest),
                                                       algorithm: descriptor.digest.algorithm)
        } catch {
            cache.reportWriteFailure(descriptor.digest, error)
        }
    }

    deinit {
        if !done {
            temporary?.discard()
            token.finish()
        }
    }

    func next() async throws -> [UInt8]? {
        guard !done else { return nil }
        do {
            guard let chunk = try await upstream.next() else {
                done = true
                if let temporary {
                    self.temporary = nil
                    do {
                        try cache.commit(temporary, descriptor)
                    } catch {
                        cache.reportWriteFailure(descriptor.digest, error)
                    }
                }
                token.finish()
                return nil
            }
            token.flight?.advance(by: chunk.count)
            if let temporary {
                do {
                    try temporary.append(chunk)
                } catch {
                    cache.reportWriteFailure(descriptor.digest, error)
                    temporary.discard()
                    self.temporary = nil
                }
            }
            return chunk
        } catch {
            done = true
            temporary?.discard()
            temporary = nil
            token.finish()
            throw error
        }
    }
}

/// A stream whose source is decided when it is first read (after waiting for another caller's download).
final class DeferredIteration: @unchecked Sendable {
    private let resolve: @Sendable () async throws -> ByteStream
    private var inner: ByteStream.AsyncIterator?

    init(_ resolve: @escaping @Sendable () async throws -> ByteStream) { self.resolve = resolve }

    func next() async throws -> [UInt8]? {
        var iterator: ByteStream.AsyncIterator
        if let inner { iterator = inner } else { iterator = try await resolve().makeAsyncIterator() }
        let chunk = try await iterator.next()
        inner = iterator
        return chunk
    }
}

extension ByteStream {
    /// A stream resolved on first read; every iteration resolves again.
    static func deferred(_ resolve: @escaping @Sendable () async throws -> ByteStream) -> ByteStream {
        ByteStream {
            let iteration = DeferredIteration(resolve)
            return { try await iteration.next() }
        }
    }
}
