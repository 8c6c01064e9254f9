import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether a path lives on a local disk or on a filesystem shared over a network.
///
/// It matters for SQLite: WAL mode keeps its index in shared memory (the `-shm` file, mmapped by every
/// connection), which only works when all connections run on one host over a filesystem with coherent
/// shared mmap. On a network filesystem the catalog falls back to a rollback journal.
public enum FilesystemKind: Sendable, Equatable, CustomStringConvertible {
    case local
    /// A network (or otherwise shared) filesystem; the associated value names it, e.g. "nfs".
    case network(String)

    public var isNetwork: Bool {
        if case .network = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .local: "local"
        case let .network(name): "network (\(name))"
        }
    }

    /// The kind of filesystem holding `path`. When `path` does not exist yet, its nearest existing
    /// ancestor is examined (a database file is usually created after this check). When nothing can be
    /// examined at all, the answer is `.local`.
    public static func of(path: String) -> FilesystemKind {
        var url = URL(fileURLWithPath: path).standardizedFileURL
        while true {
            if let kind = examine(url.path) { return kind }
            let parent = url.deletingLastPathComponent()
            if parent.path == url.path { return .local }
            url = parent
        }
    }

    #if os(Linux)
    /// `f_type` magic numbers from linux/magic.h and the filesystems' own sources.
    ///
    /// Decisions beyond the obvious NFS/SMB/CIFS:
    /// - FUSE counts as network. It carries sshfs, s3fs, rclone, GlusterFS and similar; shared mmap on a
    ///   FUSE mount is not reliably coherent (and impossible with `direct_io`). Local FUSE filesystems
    ///   (ntfs-3g, gocryptfs, mergerfs) then get a rollback journal too: slower under contention, never
    ///   unsafe. The warning tells the user why.
    /// - 9p (WSL2's Windows drives, QEMU shares) and virtiofs (Docker Desktop and VM shared folders) are
    ///   shared with another kernel, so they count as network as well.
    /// - Cluster filesystems (Ceph, GFS2, OCFS2, Lustre, AFS, Coda) are network by nature.
    static let networkMagic: [UInt32: String] = [
        0x6969: "nfs",
        0x517B: "smb",
        0xFF53_4D42: "cifs",
        0xFE53_4D42: "smb2",
        0x6573_5546: "fuse",
        0x0102_1997: "9p",
        0x6A65_6A63: "virtiofs",
        0x00C3_6400: "ceph",
        0x0116_1970: "gfs2",
        0x7461_636F: "ocfs2",
        0x0BD0_0BD0: "lustre",
        0x5346_414F: "afs",
        0x6B41_4653: "afs",
        0x7375_7245: "coda",
        0x564C: "ncp",
    ]

    /// The kind for a `statfs` `f_type` magic number.
    public static func classify(magic: UInt32) -> FilesystemKind {
        if let name = networkMagic[magic] { return .network(name) }
        return .local
    }

    /// `statfs(2)` from the C library. Swift's Glibc module does not import `<sys/vfs.h>`, so the function
    /// is looked up at run time and its result read as raw memory: `f_type` (`__fsword_t`, one machine
    /// word) is the first member of `struct statfs` on every Linux architecture, and the struct is far
    /// smaller than the buffer given to it (120 bytes on 64-bit glibc and musl).
    private typealias StatfsFunction = @convention(c) (UnsafePointer<CChar>, UnsafeMutableRawPointer) -> Int32

    private static let statfsFunction: StatfsFunction? = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "statfs") else { return nil }
        return unsafeBitCast(symbol, to: StatfsFunction.self)
    }()

    private static func examine(_ path: String) -> FilesystemKind? {
        guard let statfs = statfsFunction else { return nil }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1024, alignment: 16)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: 1024)
        guard statfs(path, buffer) == 0 else { return nil }
        return classify(magic: UInt32(truncatingIfNeeded: buffer.load(as: Int.self)))
    }
    #elseif canImport(Darwin)
    static let networkTypeNames: Set<String> = ["nfs", "smbfs", "afpfs", "webdav", "cifs", "ftp", "macfuse", "osxfuse", "fusefs"]

    private static func examine(_ path: String) -> FilesystemKind? {
        var info = statfs()
        guard statfs(path, &info) == 0 else { return nil }
        let name = withUnsafeBytes(of: &info.f_fstypename) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if networkTypeNames.contains(name) || info.f_flags & UInt32(MNT_LOCAL) == 0 {
            return .network(name)
        }
        return .local
    }
    #else
    private static func examine(_ path: String) -> FilesystemKind? { .local }
    #endif
}
