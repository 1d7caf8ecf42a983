import OCIContent

/// A verb running in the background, with its events as an `AsyncSequence`:
///
/// ```swift
/// let transfer = client.startCopy(from: "ghcr.io/acme/app:1.0", to: "ocidir://out:1.0")
/// for await event in transfer.events { print(event) }
/// let result = try await transfer.result
/// ```
///
/// The event stream ends when the verb does; `cancel()` cancels the verb.
public struct Transfer<Result: Sendable>: Sendable {
    /// Every event of the transfer, in the order they happened; the stream buffers them all, so a consumer
    /// that starts late misses none.
    public let events: AsyncStream<CopyEvent>
    private let task: Task<Result, any Error>

    /// Starts `work` with an event handler that feeds `events`.
    public init(_ work: @escaping @Sendable (_ onEvent: @escaping @Sendable (CopyEvent) -> Void) async throws -> Result) {
        let (stream, continuation) = AsyncStream<CopyEvent>.makeStream()
        events = stream
        task = Task {
            defer { continuation.finish() }
            return try await work { continuation.yield($0) }
        }
    }

    /// The verb's result, once it has finished.
    public var result: Result {
        get async throws { try await task.value }
    }

    /// Cancels the verb.
    public func cancel() { task.cancel() }
}
