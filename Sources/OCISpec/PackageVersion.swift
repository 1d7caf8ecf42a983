/// The package's version, in one place: ocictl's `--version` and the default User-Agent read it.
public enum OCIPackageVersion {
    public static let current = "0.2.0"
}
