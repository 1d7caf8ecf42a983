import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OCIContent
import OCIReference
import OCISpec

/// A blob download that resumes with `Range` when the connection breaks mid-body.
final class BlobDownload: @unchecked Sendable {
    private let repository: RemoteRepository
    private let url: URL
    private let target: String
    private var iterator: HTTPClientResponse.Body.AsyncIterator?
    private var offset: Int64 = 0
    private var resumes = 0
    /// Bytes of the body still to drop: a registry that ignored the first request's `Range` sends the whole blob.
    private var skip: Int64 = 0
    static let maxResumes = 5

    init(repository: RemoteRepository, url: URL, target: String, offset: Int64 = 0) {
        self.repository = repository
        self.url = url
        self.target = target
        self.offset = offset
    }

    /// Opens the download; returns the response's Content-Length, if any. With `tolerateWholeBody`, a registry
    /// that answers a `Range` request with 200 and the whole blob is read past the offset (the download moves
    /// the skipped bytes once more, and works).
    @discardableResult
    func start(tolerateWholeBody: Bool = false) async throws -> Int64? {
        let response = try await repository.openBlob(url, offset: offset, target: target, tolerateWholeBody: tolerateWholeBody)
        if offset > 0, response.status.code == 200 {
            skip = offset
            offset = 0
        }
        iterator = response.body.makeAsyncIterator()
        return response.headers.first(name: "Content-Length").flatMap { Int64($0) }
    }

    func next() async throws -> [UInt8]? {
        while true {
            guard var it = iterator else { return nil }
            do {
                let chunk = try await it.next()
                iterator = it
                guard var buffer = chunk else {
                    iterator = nil
                    return nil
                }
                offset += Int64(buffer.readableBytes)
                if skip > 0 {
                    let dropped = min(skip, Int64(buffer.readableBytes))
                    buffer.moveReaderIndex(forwardBy: Int(dropped))
                    skip -= dropped
                    if buffer.readableBytes == 0 { continue }
                }
                return buffer.readBytes(length: buffer.readableBytes) ?? []
            } catch {
                if error is CancellationError || Task.isCancelled { throw error }
                guard resumes < Self.maxResumes else { throw HTTPTransport.classify(error, host: repository.host) }
                resumes += 1
                iterator = try await repository.openBlob(url, offset: offset, target: target).body.makeAsyncIterator()
            }
        }
    }
}

/// Holds a response body iterator for a `ByteStream`.
final class BodyBox: @unchecked Sendable {
    private var iterator: HTTPClientResponse.Body.AsyncIterator
    init(_ body: HTTPClientResponse.Body) { iterator = body.makeAsyncIterator() }
    func next() async throws -> [UInt8]? {
        guard var buffer = try await iterator.next() else { return nil }
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }
}

final class RemainingCounter: @unchecked Sendable {
    private(set) var value: Int64
    init(_ value: Int64) { self.value = value }
    func subtract(_ n: Int64) { value -= n }
}
