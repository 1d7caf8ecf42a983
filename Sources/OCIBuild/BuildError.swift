import OCISpec

/// Errors of building and editing images: bad inputs (paths, options), files that change while they are read,
/// and documents that cannot be edited as asked.
public struct BuildError: OCIError, Equatable {
    public var kind: OCIErrorKind
    /// What failed, with what, and what to do.
    public var message: String

    public init(_ kind: OCIErrorKind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// An input or option that cannot be used.
    public static func invalidArgument(_ message: String) -> BuildError { BuildError(.invalidArgument, message) }
    /// A file-system operation on an input or output failed.
    public static func io(_ operation: String, _ path: String, _ reason: String) -> BuildError {
        BuildError(.io, "cannot \(operation) \(path): \(reason)")
    }
    /// Something the build cannot do with this input (a media type, a kind of file).
    public static func unsupported(_ message: String) -> BuildError { BuildError(.unsupported, message) }
    /// A platform, layer or entry that is not there.
    public static func notFound(_ message: String) -> BuildError { BuildError(.notFound, message) }
}
