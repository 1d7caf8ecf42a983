import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-buffer reads and writes on a file descriptor, retried on EINTR: the loops every file writer of the package
/// shares (atomic files, partial blobs, cache entries).
package enum DescriptorIO {
    /// Writes all of `bytes` at the descriptor's offset; returns the `errno` of a failure, nil when all was written.
    package static func writeAll<Bytes: ContiguousBytes>(_ fd: Int32, _ bytes: Bytes) -> Int32? {
        bytes.withUnsafeBytes { raw -> Int32? in
            guard let base = raw.baseAddress else { return nil }
            var done = 0
            while done < raw.count {
                let n = systemWrite(fd, base + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                done += n
            }
            return nil
        }
    }

    /// Reads up to `count` bytes at `offset` (fewer at the end of the file); the `errno` of a failure is thrown
    /// to `onError`'s error.
    package static func read<E: Error>(_ fd: Int32, at offset: Int64, count: Int,
                                       onError: (Int32) -> E) throws(E) -> [UInt8] {
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: max(0, count)) { storage, filled in
            filled = 0
            guard let base = storage.baseAddress else { return }
            while filled < storage.count {
                let n = pread(fd, base + filled, storage.count - filled, off_t(offset) + off_t(filled))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                if n == 0 { return }
                filled += n
            }
        }
        if failure != 0 { throw onError(failure) }
        return bytes
    }
}

/// `write(2)`, named apart from the package's `write` methods.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, buffer, count)
    #elseif canImport(Musl)
    return Musl.write(fd, buffer, count)
    #else
    return Darwin.write(fd, buffer, count)
    #endif
}
