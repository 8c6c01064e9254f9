import Foundation

/// Publishing a directory so readers see all of it or none of it: write into a hidden staging directory
/// beside the destination, sync it, then rename it into place. Works the same on a local disk and on
/// NFS, where rename within one directory is atomic and nothing relies on locks or inotify.
public enum AtomicDirectory {
    public struct Failure: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// A new, empty staging directory next to `destination` (same filesystem, so rename is atomic).
    public static func makeStaging(for destination: URL) throws -> URL {
        let parent = destination.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        let staging = parent.appendingPathComponent(".\(destination.lastPathComponent).staging-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: false)
        return staging
    }

    /// Syncs everything under `staging` and renames it to `destination`. An existing destination is
    /// moved aside first and removed afterwards, so a reader finds either the old or the new tree.
    public static func publish(_ staging: URL, to destination: URL) throws {
        try syncTree(staging)
        let fm = FileManager.default
        var old: URL?
        if fm.fileExists(atPath: destination.path) {
            let aside = destination.deletingLastPathComponent()
                .appendingPathComponent(".\(destination.lastPathComponent).old-\(UUID().uuidString.prefix(8))")
            try rename(destination, aside)
            old = aside
        }
        try rename(staging, destination)
        try syncDirectory(destination.deletingLastPathComponent())
        if let old { try? fm.removeItem(at: old) }
    }

    /// Removes a staging directory after a failure; never throws.
    public static func discard(_ staging: URL) {
        try? FileManager.default.removeItem(at: staging)
    }

    private static func rename(_ from: URL, _ to: URL) throws {
        if Foundation.rename(from.path, to.path) != 0 {
            throw Failure(path: to.path, reason: String(cString: strerror(errno)))
        }
    }

    /// fsync every regular file and directory under `root`, then `root` itself.
    static func syncTree(_ root: URL) throws {
        let fm = FileManager.default
        if let walker = fm.enumerator(at: root, includingPropertiesForKeys: [.isDirectoryKey]) {
            for case let url as URL in walker { try syncPath(url.path) }
        }
        try syncPath(root.path)
    }

    static func syncDirectory(_ url: URL) throws { try syncPath(url.path) }

    private static func syncPath(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw Failure(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        if fsync(fd) != 0 && errno != EINVAL { throw Failure(path: path, reason: String(cString: strerror(errno))) }
    }
}
