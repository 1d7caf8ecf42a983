import OCIContent
import OCISpec

/// Puts a `ContentCache` in front of any fetcher: hits stream from the cache, misses download once through the
/// upstream and fill the cache while the caller reads.
public struct CachingFetcher: ContentFetcher {
    /// Where misses are downloaded from.
    public let upstream: any ContentFetcher
    /// The cache in front of `upstream`.
    public let cache: ContentCache

    /// A fetcher that serves `upstream`'s content through `cache`.
    public init(upstream: any ContentFetcher, cache: ContentCache) {
        self.upstream = upstream
        self.cache = cache
    }

    /// Streams from the cache on a hit; on a miss downloads from `upstream` once and fills the cache. The miss is
    /// resumable (`ContentCache.fetch(_:orDownloadFrom:)`): a partial entry that a killed process left is
    /// continued with `upstream.fetch(_:offset:)` (an HTTP `Range` request for a registry) instead of started over.
    public func fetch(_ descriptor: Descriptor) async throws -> ByteStream {
        let upstream = self.upstream
        return try await cache.fetch(descriptor, orDownloadFrom: { offset in
            offset > 0 ? try await upstream.fetch(descriptor, offset: offset) : try await upstream.fetch(descriptor)
        })
    }

    /// True when the cache holds the content, else asks the upstream.
    public func exists(_ descriptor: Descriptor) async throws -> Bool {
        if (try? await cache.exists(descriptor)) == true { return true }
        return try await upstream.exists(descriptor)
    }
}
