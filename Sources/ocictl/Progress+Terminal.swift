import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The little of the terminal the progress display needs: whether stderr is one, its size, and unbuffered writes.
enum Terminal {
    /// Whether `fd` is a terminal that understands cursor movement (not `TERM=dumb`).
    static func isTerminal(_ fd: Int32) -> Bool {
        isatty(fd) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }

    /// The terminal's columns and rows (TIOCGWINSZ); `$COLUMNS`/`$LINES`, else 80×24, when it does not say.
    static func size(_ fd: Int32) -> (columns: Int, rows: Int) {
        var ws = winsize()
        #if canImport(Darwin)
        let request: UInt = 0x4008_7468  // TIOCGWINSZ: _IOR('t', 104, struct winsize)
        #else
        let request = UInt(TIOCGWINSZ)
        #endif
        let environment = ProcessInfo.processInfo.environment
        var columns = environment["COLUMNS"].flatMap { Int($0) } ?? 80
        var rows = environment["LINES"].flatMap { Int($0) } ?? 24
        if ioctl(fd, request, &ws) == 0 {
            if ws.ws_col > 0 { columns = Int(ws.ws_col) }
            if ws.ws_row > 0 { rows = Int(ws.ws_row) }
        }
        return (max(20, columns), max(3, rows))
    }

    /// Writes `text` to stderr in one go where the system allows (no buffering, errors ignored).
    static func write(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                systemWrite(2, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
            }
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}

/// write(2) (named apart from `Terminal.write`).
private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
    write(fd, bytes, count)
}
