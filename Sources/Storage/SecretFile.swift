import Foundation

/// Files that hold secrets (`signing.key`, `admin.key`), written one way only: a new file under a
/// temporary name, created with `O_EXCL | O_NOFOLLOW` and mode 0600 (so no other user can read it at any
/// moment, and no planted file or symlink is reused), fsynced, then moved into place, and the directory
/// fsynced. Whatever was at the destination (a file with looser permissions, a symlink to somewhere
/// else) is never opened or written through: it is replaced, or kept, as a whole.
public enum SecretFile {
    public enum Placement: Sendable {
        /// Rename over the destination: an existing file or symlink there is replaced.
        case replace
        /// Link into place only if nothing is there yet; the first writer wins (several hosts creating
        /// one shared key at once all end up using the same one).
        case keepExisting
    }

    /// Writes `contents` to `url` as above. Returns false when `.keepExisting` found something already there.
    @discardableResult
    public static func write(_ contents: String, to url: URL, placement: Placement) throws -> Bool {
        let directory = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UUID().uuidString.prefix(8))")
        defer { unlink(temporary.path) }
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure(temporary, errno) }
        // The umask can only take bits away, but say it outright: owner read and write, nothing else.
        var failed: Int32 = fchmod(fd, 0o600) == 0 ? 0 : errno
        let bytes = Array(contents.utf8)
        var written = 0
        while failed == 0 && written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, bytes.count - written) }
            if n < 0 {
                if errno != EINTR { failed = errno }
            } else if n == 0 {
                failed = EIO
            } else {
                written += n
            }
        }
        if failed == 0 && fsync(fd) != 0 { failed = errno }
        close(fd)
        guard failed == 0 else { throw failure(url, failed) }
        switch placement {
        case .replace:
            guard rename(temporary.path, url.path) == 0 else { throw failure(url, errno) }
        case .keepExisting:
            if link(temporary.path, url.path) != 0 {
                if errno == EEXIST { return false }
                throw failure(url, errno)
            }
        }
        try AtomicDirectory.syncDirectory(directory)
        return true
    }

    private static func failure(_ url: URL, _ code: Int32) -> AtomicDirectory.Failure {
        AtomicDirectory.Failure(path: url.path, reason: String(cString: strerror(code)))
    }
}
