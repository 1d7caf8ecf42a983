import Foundation

extension ContentCache {
    /// Runs garbage collection now: if disk usage is at or above the high watermark, evicts the lowest-priority
    /// entries that are not being read or written until usage is at most the low watermark. Returns the number of
    /// entries evicted. Also runs after every write, so calling it is only needed after changing files by hand.
    @discardableResult
    public func runGarbageCollection() -> Int {
        collectGarbage()
    }

    @discardableResult
    func collectGarbage() -> Int {
        guard let limit = sizeLimit else { return 0 }
        let high = gc.highThreshold * Double(limit)
        let low = gc.lowThreshold * Double(limit)
        let now = clock()
        let due = update { s -> Bool in
            s.decayIfDue(now: now, disk: gc, overlay: overlayGC)
            return Double(s.diskSize) >= high && !s.closed
        }
        guard due else { return 0 }

        let layout = self.layout
        let maxAge = temporaryMaxAge
        let evicted = layout.withFileLock { () -> [String] in
            // Reconcile with the directory: other processes add and remove entries too.
            let onDisk = layout.scan(now: now, temporaryMaxAge: maxAge)
            let order = update { s -> [String] in
                let present = Set(onDisk.map(\.name))
                for entry in onDisk { s.discover(entry.name, size: entry.size, modified: entry.modified) }
                for name in s.disk.entries.keys where !present.contains(name) { s.forget(name) }
                return s.disk.priorityList().map(\.name)
            }
            var evicted: [String] = []
            for name in order {
                let stop = update { s -> Bool in
                    if Double(s.diskSize) <= low { return true }
                    guard !s.isPinned(name) else { return false }
                    layout.remove(name)
                    s.forget(name)
                    evicted.append(name)
                    return false
                }
                if stop { break }
            }
            return evicted
        }
        let remaining = info().currentSize
        if Double(remaining) > low {
            logger.debug("cache garbage collection stopped at \(remaining) bytes: the remaining entries are in use")
        }
        if !evicted.isEmpty {
            logger.debug("cache garbage collection evicted \(evicted.count) entries, \(remaining) bytes remain")
        }
        return evicted.count
    }
}
