import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One running registry process plus its optional watchdog.
///
/// The watchdog is `/bin/sh` blocked in `read` on a pipe whose only write end lives in this (the test) process,
/// marked close-on-exec so no other child inherits it. If the test process dies without stopping the registry,
/// the kernel closes the write end, `read` returns and the watchdog terminates the registry (and removes the
/// instance's temp directory).
final class RegistryChild: @unchecked Sendable {
    private let process: Process
    private let watchdog: Process?
    private let lock = NSLock()
    private var watchdogWriteFD: Int32
    let pid: Int32

    private init(process: Process, watchdog: Process?, watchdogWriteFD: Int32) {
        self.process = process
        self.watchdog = watchdog
        self.watchdogWriteFD = watchdogWriteFD
        self.pid = process.processIdentifier
    }

    var isRunning: Bool { process.isRunning }

    var exitStatus: Int32 { process.isRunning ? -1 : process.terminationStatus }

    /// Starts `binary serve config` with stdout and stderr appended to `log`. The watchdog (if enabled) also removes
    /// `cleanupDirectory` after killing the registry.
    static func launch(binary: String, config: String, log: String, directory: String, watchdog: Bool,
                       cleanupDirectory: String?, arguments: [String]? = nil) throws -> RegistryChild {
        let logFD = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard logFD >= 0 else { throw OCITestingError("cannot open log file \(log): errno \(errno)") }
        let logHandle = FileHandle(fileDescriptor: logFD, closeOnDealloc: true)
        defer { try? logHandle.close() }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments ?? ["serve", config]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        // REGISTRY_* variables override the config file; never let the caller's environment leak in.
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("REGISTRY_") }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = logHandle
        process.standardError = logHandle
        try process.run()

        guard watchdog, let shell = FileSupport.findExecutable("sh") else {
            return RegistryChild(process: process, watchdog: nil, watchdogWriteFD: -1)
        }
        do {
            let (dog, fd) = try launchWatchdog(shell: shell, target: process.processIdentifier, cleanup: cleanupDirectory)
            return RegistryChild(process: process, watchdog: dog, watchdogWriteFD: fd)
        } catch {
            // Without a watchdog the registry still works; stop() and deinit remain responsible.
            return RegistryChild(process: process, watchdog: nil, watchdogWriteFD: -1)
        }
    }

    private static func launchWatchdog(shell: String, target: Int32, cleanup: String?) throws -> (Process, Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw OCITestingError("pipe failed: errno \(errno)") }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        let readHandle = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true)
        defer { try? readHandle.close() }
        let dog = Process()
        dog.executableURL = URL(fileURLWithPath: shell)
        let script = """
            read -r _ignored
            kill -TERM "$1" 2>/dev/null || exit 0
            i=0
            while [ $i -lt 40 ] && kill -0 "$1" 2>/dev/null; do sleep 0.25; i=$((i+1)); done
            kill -KILL "$1" 2>/dev/null
            case "$2" in */oci-test-registry-*) rm -rf -- "$2" ;; esac
            exit 0
            """
        dog.arguments = ["-c", script, "oci-test-registry-watchdog", String(target), cleanup ?? ""]
        dog.standardInput = readHandle
        dog.standardOutput = FileHandle.nullDevice
        dog.standardError = FileHandle.nullDevice
        do {
            try dog.run()
        } catch {
            close(fds[1])
            throw error
        }
        return (dog, fds[1])
    }

    /// Disarms the watchdog: kills it (it is blocked in a shell builtin, so it has no children) and closes the pipe.
    private func stopWatchdog() async {
        let fd: Int32 = lock.withLock {
            defer { watchdogWriteFD = -1 }
            return watchdogWriteFD
        }
        guard let watchdog else { return }
        if watchdog.isRunning {
            kill(watchdog.processIdentifier, SIGKILL)
        }
        await Self.waitForExit(watchdog, timeout: .seconds(5))
        if fd >= 0 { close(fd) }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL; returns once the process has exited. Idempotent.
    func terminate(grace: Duration) async {
        await stopWatchdog()
        if process.isRunning {
            kill(pid, SIGTERM)
        }
        if await Self.waitForExit(process, timeout: grace) { return }
        if process.isRunning {
            kill(pid, SIGKILL)
        }
        await Self.waitForExit(process, timeout: .seconds(10))
    }

    /// Synchronous last resort (deinit): SIGKILL both processes without waiting.
    func killNow() {
        let fd: Int32 = lock.withLock {
            defer { watchdogWriteFD = -1 }
            return watchdogWriteFD
        }
        if let watchdog, watchdog.isRunning {
            kill(watchdog.processIdentifier, SIGKILL)
        }
        if process.isRunning {
            kill(pid, SIGKILL)
        }
        if fd >= 0 { close(fd) }
    }

    @discardableResult
    private static func waitForExit(_ process: Process, timeout: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while process.isRunning {
            if clock.now >= deadline { return false }
            // Not Task.sleep: stopping must work (and not spin) even in a cancelled task.
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(20)) { c.resume() }
            }
        }
        return true
    }

    deinit {
        if watchdogWriteFD >= 0 { close(watchdogWriteFD) }
    }
}
