import CFuzzDriver
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Helpers shared by the fuzz targets.
public enum Fuzz {
    /// The input as bytes.
    public static func bytes(_ start: UnsafeRawPointer, _ count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: start, count: count))
    }

    /// The input as text (invalid UTF-8 repaired, as the client repairs header values and arguments).
    public static func text(_ start: UnsafeRawPointer, _ count: Int) -> String {
        String(decoding: bytes(start, count), as: UTF8.self)
    }

    /// An invariant of the code under test: when it does not hold, the input is a bug. Prints why and aborts,
    /// which libFuzzer reports as a crash and saves the input for.
    public static func check(_ condition: Bool, _ message: @autoclosure () -> String,
                             file: StaticString = #fileID, line: UInt = #line) {
        guard !condition else { return }
        let text = "fuzz invariant violated at \(file):\(line): \(message())\n"
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
        abort()
    }
}


extension Fuzz {
    /// Runs libFuzzer's driver with the process arguments and `callback` as the target (see CFuzzDriver.h).
    public static func runDriver(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
                                 _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt {
        var count = argc
        var vector: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
        return LLVMFuzzerRunDriver(&count, &vector, callback)
    }
}
