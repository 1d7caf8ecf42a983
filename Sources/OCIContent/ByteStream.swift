import OCISpec

/// A pull-based stream of byte chunks with back-pressure: the producer runs only when the consumer asks for the
/// next chunk, so memory stays flat whatever the content size.
///
/// Streams from the network may be iterated once. Streams returned by stores are verified against their
/// descriptor while they are read: a size overrun fails at once, and a digest or size mismatch fails the final
/// `next()`, so a consumer that writes to a temporary file and commits only when the stream ends without error
/// never commits bad content.
public struct ByteStream: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    public typealias Failure = any Error

    private let makeNext: @Sendable () -> (@Sendable () async throws -> [UInt8]?)
    /// What this stream already verifies while it is read (set by `verifying(_:)`, kept by `onChunk`), so that
    /// a store receiving it does not hash the same content a second time.
    public let verification: VerificationTarget?

    /// A stream produced by a `next` closure factory; each call of the factory starts a new iteration.
    public init(_ makeNext: @escaping @Sendable () -> (@Sendable () async throws -> [UInt8]?)) {
        self.makeNext = makeNext
        self.verification = nil
    }

    private init(verification: VerificationTarget?, _ makeNext: @escaping @Sendable () -> (@Sendable () async throws -> [UInt8]?)) {
        self.makeNext = makeNext
        self.verification = verification
    }

    /// A stream over bytes in memory, in chunks of at most `chunkSize`.
    public init(bytes: [UInt8], chunkSize: Int = 1 << 20) {
        let size = Swift.max(1, chunkSize)
        self.init {
            let cursor = Cursor(bytes: bytes)
            return { await cursor.next(size) }
        }
    }

    /// An empty stream.
    public static var empty: ByteStream { ByteStream(bytes: []) }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let nextChunk: @Sendable () async throws -> [UInt8]?
        public mutating func next() async throws -> [UInt8]? {
            try Task.checkCancellation()
            return try await nextChunk()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(nextChunk: makeNext()) }

    /// Reads the whole stream into memory, refusing more than `limit` bytes.
    public func collect(upTo limit: Int) async throws -> [UInt8] {
        var out: [UInt8] = []
        for try await chunk in self {
            guard out.count + chunk.count <= limit else { throw ContentError.tooLarge(limit: limit) }
            out.append(contentsOf: chunk)
        }
        return out
    }

    /// A stream that checks size and digest against `descriptor` while it is read. A stream that already
    /// verifies the same digest and size is returned as it is (its check fails the read just the same).
    public func verifying(_ descriptor: VerificationTarget) -> ByteStream {
        if let current = verification, current.digest == descriptor.digest,
           descriptor.size == nil || current.size == descriptor.size {
            return self
        }
        let upstream = self
        return ByteStream(verification: descriptor) {
            let verifier = StreamVerifier(target: descriptor)
            let iteratorBox = IteratorBox(upstream.makeAsyncIterator())
            return {
                let chunk = try await iteratorBox.next()
                return try verifier.consume(chunk)
            }
        }
    }

    /// A stream that applies `transform` to every chunk.
    public func onChunk(_ observe: @escaping @Sendable ([UInt8]) -> Void) -> ByteStream {
        let upstream = self
        return ByteStream(verification: verification) {
            let box = IteratorBox(upstream.makeAsyncIterator())
            return {
                let chunk = try await box.next()
                if let chunk { observe(chunk) }
                return chunk
            }
        }
    }
}

/// What a stream is verified against: expected digest and, when known, the size.
public struct VerificationTarget: Sendable, Hashable {
    public var digest: OCIDigest
    public var size: Int64?
    public init(digest: OCIDigest, size: Int64?) {
        self.digest = digest
        self.size = size
    }
}

/// Verifies size and digest of content as its chunks pass. Used by one consumer at a time.
final class StreamVerifier: @unchecked Sendable {
    private var hasher: DigestHasher
    private let target: VerificationTarget
    private var finished = false

    init(target: VerificationTarget) {
        self.target = target
        self.hasher = DigestHasher(algorithm: target.digest.algorithm)
    }

    /// Hashes a chunk and passes it on; at the end of the stream, throws if size or digest differ.
    func consume(_ chunk: [UInt8]?) throws -> [UInt8]? {
        guard !finished else { return nil }
        if let chunk {
            hasher.update(chunk)
            if let size = target.size, hasher.count > size {
                finished = true
                throw ContentError.sizeMismatch(digest: target.digest, expected: size, actual: hasher.count)
            }
            return chunk
        }
        finished = true
        if let size = target.size, hasher.count != size {
            throw ContentError.sizeMismatch(digest: target.digest, expected: size, actual: hasher.count)
        }
        let actual = hasher.finalize()
        guard actual == target.digest else {
            throw ContentError.digestMismatch(expected: target.digest, actual: actual)
        }
        return nil
    }
}

/// Holds a non-Sendable iterator for use from `@Sendable` closures. A stream is consumed by one task at a time.
final class IteratorBox<Base: AsyncIteratorProtocol>: @unchecked Sendable where Base.Element == [UInt8] {
    private var base: Base
    init(_ base: Base) { self.base = base }
    func next() async throws -> [UInt8]? { try await base.next() }
}

actor Cursor {
    let bytes: [UInt8]
    var offset = 0
    init(bytes: [UInt8]) { self.bytes = bytes }
    func next(_ size: Int) -> [UInt8]? {
        guard offset < bytes.count else { return nil }
        let end = min(bytes.count, offset + size)
        defer { offset = end }
        return Array(bytes[offset..<end])
    }
}
