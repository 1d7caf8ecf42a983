import Foundation

/// A value guarded by a lock: the one place where this package's `Sendable` reference types keep mutable state.
///
/// It wraps `NSLock` (a pthread mutex on Linux) rather than `Synchronization.Mutex` for two reasons: it runs on
/// every platform the package supports, and ThreadSanitizer understands pthread locking, while on Linux it cannot
/// see the futex-based `Mutex` and reports false races. Keep the critical sections short and never `await` in one.
package final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    /// Wraps `value`.
    package init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with exclusive access to the value and returns its result.
    package func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    /// A copy of the value, read under the lock.
    package var current: Value {
        withLock { $0 }
    }
}
