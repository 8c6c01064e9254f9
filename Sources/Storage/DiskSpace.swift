import Foundation

public enum DiskSpace {
    /// Bytes an unprivileged writer may still use on the filesystem holding `path`.
    public static func available(at path: String) -> Int64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }
}
