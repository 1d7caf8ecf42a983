import Metrics

/// The five `ociclient_cache_*` series of the Go package, with dimension `id` = the cache id.
struct CacheMetrics: Sendable {
    static let memoryUsageLabel = "ociclient_cache_memory_usage_bytes"
    static let diskUsageLabel = "ociclient_cache_disk_usage_bytes"
    static let itemsLabel = "ociclient_cache_items_total"
    static let diskHitsLabel = "ociclient_cache_disk_hits_total"
    static let memoryHitsLabel = "ociclient_cache_memory_hits_total"

    let memoryUsage: Gauge
    let diskUsage: Gauge
    let items: Gauge
    let diskHits: Counter
    let memoryHits: Counter

    init(id: String, factory: any MetricsFactory) {
        let dimensions = [("id", id)]
        memoryUsage = Gauge(label: Self.memoryUsageLabel, dimensions: dimensions, factory: factory)
        diskUsage = Gauge(label: Self.diskUsageLabel, dimensions: dimensions, factory: factory)
        items = Gauge(label: Self.itemsLabel, dimensions: dimensions, factory: factory)
        diskHits = Counter(label: Self.diskHitsLabel, dimensions: dimensions, factory: factory)
        memoryHits = Counter(label: Self.memoryHitsLabel, dimensions: dimensions, factory: factory)
    }

    /// Publishes the disk layer's size and item count.
    func publishDisk(size: Int64, items count: Int) {
        diskUsage.record(size)
        items.record(count)
    }

    /// Publishes the overlay's size.
    func publishOverlay(size: Int64) {
        memoryUsage.record(size)
    }
}
