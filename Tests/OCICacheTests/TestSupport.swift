import Foundation
import Metrics
@testable import OCICache
import OCIContent
import OCISpec
import OCISync
import XCTest

/// A fresh directory under the temporary directory, removed by the test's teardown.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> String {
    let path = NSTemporaryDirectory() + "ocicache-tests-" + UUID().uuidString.lowercased()
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

func randomBytes(_ count: Int) -> [UInt8] {
    var g = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &g) }
}

func blob(_ count: Int) -> (Descriptor, [UInt8]) {
    let bytes = randomBytes(count)
    return (Descriptor.of(bytes, mediaType: "application/octet-stream"), bytes)
}

func entryPath(_ cache: ContentCache, _ descriptor: Descriptor) -> String {
    "\(cache.directory)/blobs/\(descriptor.digest.algorithm.rawValue)/\(descriptor.digest.encoded)"
}

/// Every file under `blobs/` (entries and temporary files).
func filesInCache(_ directory: String) -> [String] {
    let blobs = directory + "/blobs"
    guard let sub = try? FileManager.default.contentsOfDirectory(atPath: blobs) else { return [] }
    return sub.flatMap { alg in
        ((try? FileManager.default.contentsOfDirectory(atPath: blobs + "/" + alg)) ?? []).map { "\(alg)/\($0)" }
    }.sorted()
}

func options(_ directory: String?, _ configure: (inout CacheOptions) -> Void = { _ in }) -> CacheOptions {
    var o = CacheOptions(directory: directory)
    o.metricsFactory = TestMetricsFactory()
    configure(&o)
    return o
}

/// Asserts that `body` throws, and passes the error to `check`.
func assertThrowsAsync<T>(_ body: () async throws -> T, file: StaticString = #filePath, line: UInt = #line,
                          _ check: (any Error) -> Void = { _ in }) async {
    do {
        _ = try await body()
        XCTFail("expected an error", file: file, line: line)
    } catch {
        check(error)
    }
}

func isNotFound(_ error: any Error) -> Bool {
    if case ContentError.notFound = error { return true }
    return false
}

/// Streams bytes in chunks, sleeping before each chunk, so concurrent readers overlap.
func slowStream(_ bytes: [UInt8], chunkSize: Int, delay: Duration) -> ByteStream {
    ByteStream {
        let offset = Locked(0)
        return {
            try await Task.sleep(for: delay)
            return offset.withLock { o -> [UInt8]? in
                guard o < bytes.count else { return nil }
                let end = min(bytes.count, o + chunkSize)
                defer { o = end }
                return Array(bytes[o..<end])
            }
        }
    }
}

/// An upstream that serves fixed content per digest and counts downloads.
final class CountingUpstream: Sendable {
    let content: Locked<[OCIDigest: [UInt8]]>
    let calls = Locked([OCIDigest: Int]())
    let chunkSize: Int
    let delay: Duration?

    init(_ content: [OCIDigest: [UInt8]] = [:], chunkSize: Int = 1 << 20, delay: Duration? = nil) {
        self.content = Locked(content)
        self.chunkSize = chunkSize
        self.delay = delay
    }

    func calls(_ d: Descriptor) -> Int { calls.withLock { $0[d.digest, default: 0] } }
    var totalCalls: Int { calls.withLock { $0.values.reduce(0, +) } }

    /// The download closure for `fetch(_:orDownload:)`.
    func download(_ d: Descriptor) -> @Sendable () async throws -> ByteStream {
        { [self] in
            calls.withLock { $0[d.digest, default: 0] += 1 }
            guard let bytes = content.withLock({ $0[d.digest] }) else { throw ContentError.notFound("upstream \(d.digest)") }
            if let delay { return slowStream(bytes, chunkSize: chunkSize, delay: delay) }
            return ByteStream(bytes: bytes, chunkSize: chunkSize)
        }
    }
}

/// A `ContentFetcher` that counts fetches, over a `MemoryStore`.
struct CountingFetcher: ContentFetcher {
    let store: MemoryStore
    let fetches = Locked(0)
    func fetch(_ descriptor: Descriptor) async throws -> ByteStream {
        fetches.withLock { $0 += 1 }
        return try await store.fetch(descriptor)
    }
    func exists(_ descriptor: Descriptor) async throws -> Bool { try await store.exists(descriptor) }
}

// MARK: Metrics

/// A metrics backend that remembers the last value of every gauge and the total of every counter,
/// by label and `id` dimension. Injected through `CacheOptions.metricsFactory`; nothing is bootstrapped globally.
final class TestMetricsFactory: MetricsFactory, @unchecked Sendable {
    final class Value: CounterHandler, FloatingPointCounterHandler, RecorderHandler, MeterHandler, TimerHandler,
        @unchecked Sendable {
        private let lock = NSLock()
        private var storage: Double = 0
        var value: Double { lock.lock(); defer { lock.unlock() }; return storage }
        private func mutate(_ f: (inout Double) -> Void) { lock.lock(); f(&storage); lock.unlock() }
        func increment(by v: Int64) { mutate { $0 += Double(v) } }
        func increment(by v: Double) { mutate { $0 += v } }
        func decrement(by v: Double) { mutate { $0 -= v } }
        func reset() { mutate { $0 = 0 } }
        func record(_ v: Int64) { mutate { $0 = Double(v) } }
        func record(_ v: Double) { mutate { $0 = v } }
        func set(_ v: Int64) { mutate { $0 = Double(v) } }
        func set(_ v: Double) { mutate { $0 = v } }
        func recordNanoseconds(_ d: Int64) { mutate { $0 = Double(d) } }
    }

    private let lock = NSLock()
    private var values: [String: Value] = [:]

    private func handler(_ label: String, _ dimensions: [(String, String)]) -> Value {
        let key = label + "|" + dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        lock.lock()
        defer { lock.unlock() }
        if let v = values[key] { return v }
        let v = Value()
        values[key] = v
        return v
    }

    /// The current value of a series; nil when it was never created.
    func value(_ label: String, id: String) -> Double? {
        lock.lock()
        defer { lock.unlock() }
        return values[label + "|id=" + id]?.value
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { handler(label, dimensions) }
    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        handler(label, dimensions)
    }
    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler { handler(label, dimensions) }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        handler(label, dimensions)
    }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { handler(label, dimensions) }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyMeter(_ handler: any MeterHandler) {}
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}

/// `XCTAssertEqual` for async expressions.
func assertEqualAsync<T: Equatable>(_ actual: @autoclosure () async throws -> T, _ expected: @autoclosure () async throws -> T,
                                    _ message: String = "", file: StaticString = #filePath, line: UInt = #line) async {
    do {
        let a = try await actual()
        let e = try await expected()
        XCTAssertEqual(a, e, message, file: file, line: line)
    } catch {
        XCTFail("unexpected error: \(error) \(message)", file: file, line: line)
    }
}
