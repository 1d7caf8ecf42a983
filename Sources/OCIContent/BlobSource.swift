import OCISpec
import OCISync

/// Opens a blob's content at a byte offset, so that an interrupted upload can resume instead of starting over.
/// A stream opened at offset 0 is verified against the descriptor; one opened later cannot be (the registry
/// checks the digest of the whole upload).
public struct BlobSource: Sendable {
    private let openAt: @Sendable (Int64) async throws -> ByteStream

    public init(_ open: @escaping @Sendable (_ offset: Int64) async throws -> ByteStream) { self.openAt = open }

    public func open(at offset: Int64 = 0) async throws -> ByteStream { try await openAt(offset) }

    /// A source over a fetcher's content.
    public static func fetching(_ descriptor: Descriptor, from fetcher: any ContentFetcher) -> BlobSource {
        BlobSource { offset in try await fetcher.fetch(descriptor, offset: offset) }
    }

    /// A source that can be opened once, at offset 0 (for streams that cannot be replayed).
    public static func once(_ stream: ByteStream) -> BlobSource {
        let used = UsedFlag()
        return BlobSource { offset in
            guard offset == 0, used.take() else {
                throw ContentError.unsupported("the content stream cannot be replayed to resume at byte \(offset)")
            }
            return stream
        }
    }
}

final class UsedFlag: Sendable {
    private let used = Locked(false)
    func take() -> Bool { used.withLock { used in defer { used = true }; return !used } }
}

extension ContentFetcher {
    /// Streams content from `offset` on. The default fetches from the start and skips; stores that can seek
    /// (files, HTTP ranges) do better.
    public func fetch(_ descriptor: Descriptor, offset: Int64) async throws -> ByteStream {
        let stream = try await fetch(descriptor)
        return offset > 0 ? stream.dropping(offset) : stream
    }
}

extension ContentPusher {
    /// Pushes content from a source that can be reopened at an offset. The default opens it once at 0.
    public func push(_ descriptor: Descriptor, source: BlobSource) async throws {
        try await push(descriptor, content: try await source.open(at: 0))
    }
}

extension ByteStream {
    /// The stream without its first `count` bytes.
    public func dropping(_ count: Int64) -> ByteStream {
        let upstream = self
        return ByteStream {
            let box = IteratorBox(upstream.makeAsyncIterator())
            let remaining = ByteCounter()
            _ = remaining.add(Int(count))
            return {
                while true {
                    guard let chunk = try await box.next() else { return nil }
                    let left = remaining.value
                    if left <= 0 { return chunk }
                    if Int64(chunk.count) <= left {
                        _ = remaining.add(-chunk.count)
                        continue
                    }
                    _ = remaining.add(-Int(left))
                    return Array(chunk[Int(left)...])
                }
            }
        }
    }
}

/// Reads a stream in pieces of a requested size, keeping what is left of a chunk for the next read.
package final class ChunkReader: @unchecked Sendable {
    private let box: IteratorBox<ByteStream.AsyncIterator>
    private var pending: ArraySlice<UInt8> = []
    private var finished = false

    package init(_ stream: ByteStream) { box = IteratorBox(stream.makeAsyncIterator()) }

    /// Up to `max` bytes; nil at the end of the stream.
    package func read(max: Int) async throws -> [UInt8]? {
        while pending.isEmpty {
            if finished { return nil }
            guard let chunk = try await box.next() else { finished = true; return nil }
            pending = chunk[...]
        }
        let n = Swift.min(max, pending.count)
        let out = Array(pending.prefix(n))
        pending = pending.dropFirst(n)
        return out
    }
}
