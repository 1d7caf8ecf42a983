/// What kind of failure an error is. Every error the package throws has one, whatever store or layer it comes
/// from, so generic code over any `Target` can branch on it without knowing the concrete error type:
///
/// ```swift
/// do { _ = try await target.resolve("v1") } catch where error.ociErrorKind == .notFound { ... }
/// ```
///
/// A struct with static members rather than an enum, so that new kinds can be added without breaking a
/// caller's exhaustive `switch`.
public struct OCIErrorKind: Hashable, Sendable, CustomStringConvertible {
    private let name: String
    private init(_ name: String) { self.name = name }
    public var description: String { name }

    /// The manifest, blob, tag, repository, platform or file does not exist.
    public static let notFound = OCIErrorKind("not found")
    /// Credentials are missing or were refused.
    public static let unauthorized = OCIErrorKind("unauthorized")
    /// The credentials are valid but lack the rights, or the registry or policy forbids the operation.
    public static let denied = OCIErrorKind("denied")
    /// The store, registry or media type cannot do this.
    public static let unsupported = OCIErrorKind("unsupported")
    /// Content does not match its digest or size.
    public static let integrity = OCIErrorKind("integrity")
    /// Content is larger than a limit that applies to it.
    public static let tooLarge = OCIErrorKind("too large")
    /// A file-system operation failed (the error carries the path and the operating system's message).
    public static let io = OCIErrorKind("I/O")
    /// An argument, reference, digest or configuration is invalid.
    public static let invalidArgument = OCIErrorKind("invalid argument")
    /// A server's answer breaks the protocol, or a document is malformed.
    public static let invalidResponse = OCIErrorKind("invalid response")
    /// A host could not be reached, TLS failed, or a transfer broke off.
    public static let network = OCIErrorKind("network")
}

/// The protocol every error type of the package conforms to: a kind from the shared vocabulary and a
/// description that says what failed, with what, and what to do.
public protocol OCIError: Error, Sendable, CustomStringConvertible {
    var kind: OCIErrorKind { get }
}

extension Error {
    /// The shared kind of this error when the package threw it, nil for other errors.
    public var ociErrorKind: OCIErrorKind? { (self as? any OCIError)?.kind }
}
