import OCISpec

/// What goes into a layer.
public enum LayerSource: Sendable, Hashable {
    /// A directory's contents, placed under `destination` in the image (`/` for the root). The directory's
    /// own entry is written for a destination other than `/`.
    case directory(String, destination: String = "/")
    /// One file, directory (not descended into) or symbolic link, at `destination` in the image.
    case file(String, destination: String)
    /// A tar file that becomes the layer as it is (uncompressed, or gzip or zstd, which is undone and redone
    /// with the layer's compression). Cannot be mixed with other sources in one layer.
    case tar(String)
}

/// What a build does with special files (devices, FIFOs, sockets) it meets in an input directory.
public enum SpecialFilePolicy: String, Sendable, Hashable, CaseIterable {
    /// Fail, naming the file (the default: an image should not carry a host's device nodes by accident).
    case refuse
    /// Leave them out.
    case skip
}

/// How a layer is written. The defaults make the same inputs give the same digest on every machine: owner
/// and group 0:0 without names, every time `SOURCE_DATE_EPOCH` (else the Unix epoch), entries sorted.
public struct LayerOptions: Sendable, Hashable {
    public var compression: LayerCompression
    /// The media-type family of the layer's media type.
    public var family: MediaTypeFamily
    public var uid: Int
    public var gid: Int
    public var userName: String
    public var groupName: String
    /// The modification time of every entry (seconds since the epoch).
    public var modificationTime: Int64
    public var specialFiles: SpecialFilePolicy
    /// Write entries for the parent directories of destinations (mode 0755, the layer's owner), so that an
    /// unpacker never has to invent them.
    public var parentDirectories: Bool

    public init(compression: LayerCompression = .gzip, family: MediaTypeFamily = .oci, uid: Int = 0, gid: Int = 0,
                userName: String = "", groupName: String = "", modificationTime: Int64 = BuildTime.sourceDateEpoch,
                specialFiles: SpecialFilePolicy = .refuse, parentDirectories: Bool = true) {
        self.compression = compression
        self.family = family
        self.uid = uid
        self.gid = gid
        self.userName = userName
        self.groupName = groupName
        self.modificationTime = modificationTime
        self.specialFiles = specialFiles
        self.parentDirectories = parentDirectories
    }
}

/// A layer that was written: its descriptor (compressed digest and size, media type) and its diffID (the
/// digest of the uncompressed tar), from one streaming pass.
public struct BuiltLayer: Sendable, Hashable {
    public var descriptor: Descriptor
    public var diffID: OCIDigest
    /// The size of the uncompressed tar.
    public var uncompressedSize: Int64

    public init(descriptor: Descriptor, diffID: OCIDigest, uncompressedSize: Int64) {
        self.descriptor = descriptor
        self.diffID = diffID
        self.uncompressedSize = uncompressedSize
    }
}

/// Destination paths inside an image: normalised (`.` and `..` resolved, no empty parts, no leading `/`), and
/// refused when they climb out of the root.
public enum ImagePath {
    /// `usr/local/bin/app` for `/usr/local/bin/app`, `./usr/local//bin/app`, `/usr/lib/../local/bin/app`;
    /// "" for the root. Throws for a path that climbs above the root (`../etc`, `/a/../../etc`) or holds NUL.
    public static func normalise(_ path: String) throws(BuildError) -> String {
        guard !path.utf8.contains(0) else { throw .invalidArgument("destination path \"\(path)\" contains a NUL byte") }
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..":
                guard !parts.isEmpty else {
                    throw .invalidArgument("destination path \"\(path)\" climbs out of the image's root with \"..\"")
                }
                parts.removeLast()
            default: parts.append(part)
            }
        }
        return parts.joined(separator: "/")
    }
}
