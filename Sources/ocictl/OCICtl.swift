import ArgumentParser
import Foundation
import OCIKit

@main
struct OCICtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ocictl",
        abstract: "Pull, push, copy and inspect OCI images and artifacts in registries.",
        version: OCIPackageVersion.current,
        subcommands: [
            Resolve.self, ManifestCommand.self, BlobCommand.self, Push.self, Pull.self, Copy.self, Tags.self,
            Repos.self, Referrers.self, Delete.self, RateLimitCommand.self, CacheCommand.self, Login.self, Logout.self, RegistryCommand.self,
            Inspect.self, ConfigCommand.self, Tag.self, Sync.self, DigestCommand.self, Completion.self,
            ImageCommand.self, IndexCommand.self, Export.self,
        ]
    )

    /// One clear line on stderr and a non-zero exit for every failure.
    static func main() async {
        do {
            var command = try parseAsRoot(Self.movingGlobalOptions(Array(CommandLine.arguments.dropFirst())))
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if let exit = error as? ExitCode { Self.exit(withError: exit) }
            if error is CleanExit || error is ValidationError || String(describing: type(of: error)).contains("CommandError") {
                // Usage errors exit 2 (argument-parser's own default is EX_USAGE, 64), as docs/cli.md says.
                guard exitCode(for: error) == .validationFailure else { Self.exit(withError: error) }
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Self.exit(withError: ExitCode(ExitStatus.usage))
            }
            FileHandle.standardError.write(Data("ocictl: \(describe(error))\n".utf8))
            Self.exit(withError: ExitCode(exitStatus(for: error)))
        }
    }

    /// Global options given before the subcommand (`ocictl -v copy A B`) are moved after it, where
    /// argument-parser takes them; everything from the first subcommand name on keeps its order.
    static func movingGlobalOptions(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            let name = argument.split(separator: "=", maxSplits: 1).first.map(String.init) ?? argument
            guard let takesValue = GlobalOptions.optionArity[name] else { break }
            leading.append(argument)
            if takesValue, !argument.contains("="), index + 1 < arguments.count {
                leading.append(arguments[index + 1])
                index += 1
            }
            index += 1
        }
        guard !leading.isEmpty, index < arguments.count else { return arguments }
        var rest = Array(arguments[index...])
        if let terminator = rest.firstIndex(of: "--") {
            rest.insert(contentsOf: leading, at: terminator)
        } else {
            rest.append(contentsOf: leading)
        }
        return rest
    }

    /// 3 for "not found", 4 for missing or refused credentials, 1 for any other failure (2, usage errors, comes
    /// from argument-parser).
    static func exitStatus(for error: any Error) -> Int32 {
        switch error.ociErrorKind {
        case .notFound?: return ExitStatus.notFound
        case .unauthorized?, .denied?: return ExitStatus.unauthorized
        default: return ExitStatus.failure
        }
    }

    /// The library's message, plus the ocictl flag that would help, for the errors a flag can fix.
    static func describe(_ error: any Error) -> String {
        let message = String(describing: error)
        switch error {
        case RegistryError.tls:
            return message + " (ocictl: trust its CA with --ca-file or --certs-dir, give a client certificate with --client-cert/--client-key or --certs-dir, or skip verification with --insecure)"
        case RegistryError.plainHTTPNotAllowed:
            return message + " (ocictl: allow plain HTTP with --plain-http if the registry is yours)"
        case RegistryError.transport(_, let why) where why.contains("client certificate"):
            return message + " (ocictl: --client-cert/--client-key, or --certs-dir with HOST:PORT/client.cert and client.key)"
        case RegistryError.proxy:
            return message + " (ocictl: name the proxy with --proxy http://USER:PASSWORD@HOST:PORT, or go direct with --no-proxy)"
        case RegistryError.unauthorized:
            return message + " (ocictl: log in with ocictl login, or name a config with --registry-config)"
        default:
            return message
        }
    }
}
