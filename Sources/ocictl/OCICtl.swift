import ArgumentParser
import Foundation
import OCIContent
import OCIRegistry

@main
struct OCICtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ocictl",
        abstract: "Pull, push, copy and inspect OCI images and artifacts in registries.",
        version: "0.1.0",
        subcommands: [
            Resolve.self, ManifestCommand.self, BlobCommand.self, Push.self, Pull.self, Copy.self, Tags.self,
            Repos.self, Referrers.self, Delete.self, RateLimitCommand.self, CacheCommand.self, Login.self, Logout.self,
        ]
    )

    /// One clear line on stderr and a non-zero exit for every failure.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if let exit = error as? ExitCode { Self.exit(withError: exit) }
            if error is CleanExit || error is ValidationError || String(describing: type(of: error)).contains("CommandError") {
                Self.exit(withError: error)
            }
            FileHandle.standardError.write(Data("ocictl: \(describe(error))\n".utf8))
            Self.exit(withError: ExitCode(1))
        }
    }

    static func describe(_ error: any Error) -> String {
        String(describing: error)
    }
}
