import OCISpec

/// One entry of a tar archive: what its header says, without the data.
public struct TarHeader: Sendable, Equatable {
    /// The entry's file type.
    public enum Kind: Sendable, Equatable {
        case regular, directory, symbolicLink, hardLink, characterDevice, blockDevice, fifo
    }

    /// The path inside the archive, as stored (no leading `/` is added or removed).
    public var path: String
    public var kind: Kind
    /// The data size of a regular file; 0 for every other kind.
    public var size: Int64
    /// Permission bits including setuid, setgid and sticky (`& 0o7777`).
    public var mode: UInt32
    public var uid: Int
    public var gid: Int
    public var userName: String
    public var groupName: String
    /// Seconds since the Unix epoch.
    public var modificationTime: Int64
    /// The target of a symbolic link, or the earlier entry's path a hard link points to.
    public var linkTarget: String?
    /// Device numbers of a character or block device.
    public var deviceMajor: Int
    public var deviceMinor: Int

    public init(path: String, kind: Kind = .regular, size: Int64 = 0, mode: UInt32 = 0o644, uid: Int = 0,
                gid: Int = 0, userName: String = "", groupName: String = "", modificationTime: Int64 = 0,
                linkTarget: String? = nil, deviceMajor: Int = 0, deviceMinor: Int = 0) {
        self.path = path
        self.kind = kind
        self.size = size
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.userName = userName
        self.groupName = groupName
        self.modificationTime = modificationTime
        self.linkTarget = linkTarget
        self.deviceMajor = deviceMajor
        self.deviceMinor = deviceMinor
    }
}

/// A tar archive could not be read or written.
public struct TarError: OCIError {
    public let kind: OCIErrorKind
    /// What failed, with what.
    public let message: String

    public init(_ kind: OCIErrorKind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// libarchive's file-type constants (`AE_IF*`, macros with casts that Swift does not import).
enum FileTypeBits {
    static let regular: UInt32 = 0o100000
    static let symbolicLink: UInt32 = 0o120000
    static let characterDevice: UInt32 = 0o020000
    static let blockDevice: UInt32 = 0o060000
    static let directory: UInt32 = 0o040000
    static let fifo: UInt32 = 0o010000
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body` with this thread's character type set to UTF-8, so that libarchive stores and reads names in
/// UTF-8 whatever the process's locale (a process in the C locale would otherwise fail on any non-ASCII name).
func withUTF8Locale<T>(_ body: () throws -> T) rethrows -> T {
    guard let utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", nil) ?? newlocale(LC_CTYPE_MASK, "en_US.UTF-8", nil) else {
        return try body()
    }
    let previous = uselocale(utf8)
    defer {
        uselocale(previous)
        freelocale(utf8)
    }
    return try body()
}
