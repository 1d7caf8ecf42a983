import Foundation
import OCISync

/// Runs a short-lived program with input on stdin, collecting stdout/stderr, with a timeout.
enum ProcessRunner {
    struct Output: Sendable {
        var status: Int32
        var stdout: Data
        var stderr: Data
    }

    enum Failure: Error {
        case launch(String)
        case timedOut
        case inputTooLarge
    }

    /// Input larger than this is refused: it is written to the pipe before launch, which must not block.
    static let maxInput = 32 * 1024

    static func run(executable: String, arguments: [String], input: Data?, environment: [String: String],
                    timeout: Duration) throws(Failure) -> Output {
        if let input, input.count > maxInput { throw .inputTooLarge }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        let stdinPipe = Pipe()
        let stdoutPipe = Pipe()
        let stderrPipe = Pipe()
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe

        // Write the whole input before launch (it fits in the pipe buffer) and close our write end, so the child sees EOF
        // and a child that never reads cannot make us block or raise SIGPIPE.
        do {
            if let input, !input.isEmpty { try stdinPipe.fileHandleForWriting.write(contentsOf: input) }
            try stdinPipe.fileHandleForWriting.close()
        } catch {
            throw .launch("unable to prepare stdin: \(error.localizedDescription)")
        }

        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do {
            try process.run()
        } catch {
            throw .launch(error.localizedDescription)
        }

        // Read both pipes on their own threads (not GCD's pool, which blocked callers could starve) so a chatty child
        // never blocks on a full pipe.
        let collected = Locked((stdout: Data(), stderr: Data()))
        let readers = DispatchGroup()
        readers.enter()
        readers.enter()
        let stdoutReader = stdoutPipe.fileHandleForReading
        let stderrReader = stderrPipe.fileHandleForReading
        Thread.detachNewThread {
            let data = stdoutReader.readDataToEndOfFile()
            collected.withLock { $0.stdout = data }
            readers.leave()
        }
        Thread.detachNewThread {
            let data = stderrReader.readDataToEndOfFile()
            collected.withLock { $0.stderr = data }
            readers.leave()
        }

        if finished.wait(timeout: .now() + timeout.dispatchInterval) == .timedOut {
            process.terminate()
            if finished.wait(timeout: .now() + .seconds(2)) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                _ = finished.wait(timeout: .now() + .seconds(2))
            }
            throw .timedOut
        }
        // A grandchild may keep the pipes open; don't wait for it for long.
        _ = readers.wait(timeout: .now() + .seconds(2))
        let output = collected.withLock { $0 }
        return Output(status: process.terminationStatus, stdout: output.stdout, stderr: output.stderr)
    }
}

/// Runs blocking work on a thread of its own and awaits the result, keeping it off the cooperative pool and GCD's pool.
func runOnDedicatedThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: body()) }
    }
}

extension Duration {
    var dispatchInterval: DispatchTimeInterval {
        let (seconds, attoseconds) = components
        let nanos = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !nanos.overflow else { return .never }
        let total = nanos.partialValue.addingReportingOverflow(attoseconds / 1_000_000_000)
        guard !total.overflow else { return .never }
        return .nanoseconds(Int(clamping: max(0, total.partialValue)))
    }

    var secondsValue: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
