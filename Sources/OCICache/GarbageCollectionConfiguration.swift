/// When and how a size-limited cache layer evicts entries.
///
/// Garbage collection starts when usage reaches `highThreshold` of the limit and evicts the lowest-priority
/// entries until usage is at most `lowThreshold`. Hit counts decay every `resetInterval`: the hits from before the
/// last decay are multiplied by `preservedHitsProportion` (rounded down) and the recent hits are kept.
public struct GarbageCollectionConfiguration: Sendable, Equatable {
    /// Usage fraction of the limit that starts a collection (default 0.85).
    public var highThreshold: Double
    /// Usage fraction of the limit that a collection stops at (default 0.80).
    public var lowThreshold: Double
    /// How often hit counts decay (default one hour); zero disables the decay.
    public var resetInterval: Duration
    /// The fraction of old hits kept at each decay (default 0.5).
    public var preservedHitsProportion: Double

    /// The Go package's defaults: 0.85, 0.80, one hour, 0.5.
    public init(highThreshold: Double = 0.85, lowThreshold: Double = 0.80,
                resetInterval: Duration = .seconds(3600), preservedHitsProportion: Double = 0.5) {
        self.highThreshold = highThreshold
        self.lowThreshold = lowThreshold
        self.resetInterval = resetInterval
        self.preservedHitsProportion = preservedHitsProportion
    }

    /// Checks that the thresholds and the proportion are usable.
    func validate(_ name: String) throws(CacheError) {
        guard highThreshold > 0, highThreshold <= 1 else {
            throw .invalidConfiguration("\(name) high threshold \(highThreshold) must be in (0, 1]")
        }
        guard lowThreshold >= 0, lowThreshold <= highThreshold else {
            throw .invalidConfiguration("\(name) low threshold \(lowThreshold) must be in [0, high threshold \(highThreshold)]")
        }
        guard preservedHitsProportion >= 0, preservedHitsProportion <= 1 else {
            throw .invalidConfiguration("\(name) preserved hits proportion \(preservedHitsProportion) must be in [0, 1]")
        }
        guard resetInterval >= .zero else {
            throw .invalidConfiguration("\(name) reset interval must not be negative")
        }
    }

    /// The reset interval in seconds.
    var resetSeconds: Double {
        let c = resetInterval.components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}
