import Foundation
import OCISpec

extension ByteStream {
    /// Streams a file in chunks; each iteration reopens it, so the stream can be replayed.
    public init(fileAt path: String, offset: Int64 = 0, chunkSize: Int = 1 << 20) {
        self.init {
            let reader = FileChunkReader(path: path, chunkSize: chunkSize, offset: offset)
            return { try reader.next() }
        }
    }
}

extension BlobSource {
    /// A source reading a file, reopened at any offset.
    public static func file(_ path: String) -> BlobSource {
        BlobSource { offset in ByteStream(fileAt: path, offset: offset) }
    }

    /// A source over bytes in memory.
    public static func bytes(_ bytes: [UInt8]) -> BlobSource {
        BlobSource { offset in
            ByteStream(bytes: offset > 0 ? Array(bytes.dropFirst(Int(min(offset, Int64(bytes.count))))) : bytes)
        }
    }
}

/// Reads a file chunk by chunk.
final class FileChunkReader: @unchecked Sendable {
    private let path: String
    private let chunkSize: Int
    private var handle: FileHandle?
    private var done = false

    private let offset: Int64

    init(path: String, chunkSize: Int, offset: Int64 = 0) {
        self.path = path
        self.chunkSize = max(4096, chunkSize)
        self.offset = max(0, offset)
    }

    deinit { try? handle?.close() }

    func next() throws -> [UInt8]? {
        if done { return nil }
        if handle == nil {
            guard let h = FileHandle(forReadingAtPath: path) else {
                throw ContentError.notFound("file \(path)")
            }
            if offset > 0 { try h.seek(toOffset: UInt64(offset)) }
            handle = h
        }
        guard let h = handle, let data = try h.read(upToCount: chunkSize), !data.isEmpty else {
            done = true
            try? handle?.close()
            handle = nil
            return nil
        }
        return [UInt8](data)
    }
}

/// Writes a file atomically: content goes to a temporary file beside the destination, which is renamed over
/// the destination only by `commit()`. `discard()` (or dropping the writer) removes the temporary file.
public final class AtomicFileWriter: @unchecked Sendable {
    public let destination: String
    let temporary: String
    private var handle: FileHandle?

    public init(destination: String) throws {
        self.destination = destination
        let dir = (destination as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir.isEmpty ? "." : dir, withIntermediateDirectories: true)
        let base = (destination as NSString).lastPathComponent
        temporary = (dir.isEmpty ? "." : dir) + "/.\(base).tmp-\(UUID().uuidString)"
        guard FileManager.default.createFile(atPath: temporary, contents: nil),
              let h = FileHandle(forWritingAtPath: temporary) else {
            throw ContentError.unsupported("cannot create \(temporary): check that the directory is writable")
        }
        handle = h
    }

    deinit { discard() }

    public func write(_ bytes: [UInt8]) throws {
        guard let handle else { throw ContentError.unsupported("write after commit to \(destination)") }
        try handle.write(contentsOf: bytes)
    }

    /// Flushes and renames the temporary file over the destination.
    public func commit() throws {
        guard let h = handle else { return }
        try h.synchronize()
        try h.close()
        handle = nil
        if rename(temporary, destination) != 0 {
            let why = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw ContentError.unsupported("cannot move the download into \(destination): \(why)")
        }
    }

    /// Removes the temporary file; the destination is untouched.
    public func discard() {
        if let h = handle {
            try? h.close()
            handle = nil
            try? FileManager.default.removeItem(atPath: temporary)
        }
    }

    /// Writes a whole stream and commits it; on any error nothing is left behind.
    public static func write(_ stream: ByteStream, to destination: String) async throws {
        let writer = try AtomicFileWriter(destination: destination)
        do {
            for try await chunk in stream where !chunk.isEmpty { try writer.write(chunk) }
            try writer.commit()
        } catch {
            writer.discard()
            throw error
        }
    }
}
