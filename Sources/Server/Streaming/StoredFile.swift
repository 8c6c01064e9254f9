import Foundation
import NIOCore
import NIOPosix

/// A file under the media root read whole into memory (playlists, and files too small for sendfile to
/// pay off), together with the validators conditional requests and caches need.
struct StoredFile: Sendable {
    let bytes: ByteBuffer
    /// Changes whenever the file is replaced (atomic publishes rename a new inode into place).
    let identity: FileIdentity
    /// The validators as header values, made once per file version rather than per request.
    let etag: String
    let lastModifiedText: String
    /// A playlist that ends with `#EXT-X-ENDLIST`: final, cacheable.
    let endsList: Bool
    var lastModified: Int { identity.lastModified }

    init(bytes: ByteBuffer, identity: FileIdentity) {
        self.bytes = bytes
        self.identity = identity
        etag = identity.etag
        lastModifiedText = HTTPDate.format(epochSeconds: identity.lastModified)
        endsList = StreamingHandler.hasEndList(bytes)
    }
}

struct FileIdentity: Sendable, Hashable {
    var inode: UInt64
    var size: Int
    var modifiedNanos: Int64

    var etag: String { "\"\(String(inode, radix: 16))-\(String(size, radix: 16))-\(String(modifiedNanos, radix: 16))\"" }
    var lastModified: Int { Int(modifiedNanos / 1_000_000_000) }

    init(inode: UInt64, size: Int, modifiedNanos: Int64) {
        self.inode = inode; self.size = size; self.modifiedNanos = modifiedNanos
    }

    init(_ info: stat) {
        inode = UInt64(info.st_ino)
        size = Int(info.st_size)
        modifiedNanos = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
    }
}

enum StoredFileError: Error { case notFound, tooLarge, unreadable(String) }

extension StoredFile {
    /// Largest media file read whole into memory (and so into the `FileCache`); HLS segments are a few
    /// MiB at most. Larger files leave as file regions (sendfile), never through memory.
    static let wholeReadLimit = 8 << 20
    /// Largest playlist read into memory (playlists are tailored and gzip'd whole).
    static let maximumSize = 256 << 20

    /// Looks the file up below `root` without following symlinks anywhere below the root: a symlink (to
    /// /etc/passwd, or to a folder outside the root) is simply not there. Returns its path and identity.
    /// A folder found in the last second to be a real folder, below folders that were too, is not looked
    /// at again (`directories`): a segment request costs one `lstat`, not one per folder.
    static func find(root: String, components: [String], directories: VerifiedDirectories? = nil) throws -> (path: String, identity: FileIdentity) {
        guard let name = components.last else { throw StoredFileError.notFound }
        var info = stat()
        let parent = components.count == 1 ? root : root + "/" + components.dropLast().joined(separator: "/")
        if components.count > 1, directories?.contains(parent) != true {
            var path = root
            for component in components.dropLast() {
                path += "/" + component
                guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { throw StoredFileError.notFound }
            }
            directories?.insert(parent)
        }
        let path = parent + "/" + name
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { throw StoredFileError.notFound }
        return (path, FileIdentity(info))
    }

    /// Reads the file found at `path` into memory, or takes it from `cache` when the file on disk is still
    /// the one cached. Blocking reads run on NIO's thread pool, off Swift's cooperative pool.
    static func load(path: String, identity: FileIdentity, cache: FileCache?) async throws -> StoredFile {
        if let cached = cache?.lookup(path: path, identity: identity) { return cached }
        guard identity.size <= maximumSize else { throw StoredFileError.tooLarge }
        let file = try await NIOThreadPool.singleton.runIfActive { () throws -> StoredFile in
            try read(path: path)
        }
        cache?.store(path: path, file: file)
        return file
    }

    private static func read(path: String) throws -> StoredFile {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw StoredFileError.notFound }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { throw StoredFileError.notFound }
        let size = Int(info.st_size)
        var buffer = ByteBufferAllocator().buffer(capacity: size)
        var offset = 0
        while offset < size {
            var failure: Int32 = 0
            let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 0) { raw in
                let n = pread(fd, raw.baseAddress, min(raw.count, size - offset), off_t(offset))
                if n < 0 { failure = errno; return 0 }
                return n
            }
            if failure == EINTR { continue }
            guard failure == 0 else { throw StoredFileError.unreadable(String(cString: strerror(failure))) }
            // A file that shrank under us was replaced or truncated: not served half.
            guard count > 0 else { throw StoredFileError.unreadable("the file changed while it was read") }
            offset += count
        }
        return StoredFile(bytes: buffer, identity: FileIdentity(info))
    }
}

/// Recently served files, bounded in bytes, least recently used out first. Entries are checked against
/// a fresh `lstat` on every hit, so a replaced or deleted file is never served from here.
final class FileCache: Sendable {
    private struct State {
        var entries: [String: (file: StoredFile, lastUse: UInt64)] = [:]
        var bytes = 0
        var clock: UInt64 = 0
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacityBytes: Int) { capacity = capacityBytes }

    func lookup(path: String, identity: FileIdentity) -> StoredFile? {
        state.withLock { state in
            guard let entry = state.entries[path] else { return nil }
            guard entry.file.identity == identity else {
                state.bytes -= entry.file.bytes.readableBytes
                state.entries[path] = nil
                return nil
            }
            state.clock += 1
            state.entries[path]?.lastUse = state.clock
            return entry.file
        }
    }

    func store(path: String, file: StoredFile) {
        let size = file.bytes.readableBytes
        guard size <= capacity / 8 else { return }
        state.withLock { state in
            if let old = state.entries[path] { state.bytes -= old.file.bytes.readableBytes }
            state.clock += 1
            state.entries[path] = (file, state.clock)
            state.bytes += size
            while state.bytes > capacity, let oldest = state.entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                state.bytes -= oldest.value.file.bytes.readableBytes
                state.entries[oldest.key] = nil
            }
        }
    }
}

import Synchronization

/// Folders under the media root recently found (by `lstat`) to be folders, not symlinks, kept for a
/// second: like nginx's open_file_cache, it trades a second of staleness (a folder swapped for a symlink
/// by someone who can write the storage root) for fewer path walks on every request.
final class VerifiedDirectories: Sendable {
    private let lifetime: Duration
    private let entries = Mutex<[String: ContinuousClock.Instant]>([:])

    init(lifetime: Duration = .seconds(1)) { self.lifetime = lifetime }

    func contains(_ path: String) -> Bool {
        let now = ContinuousClock.now
        return entries.withLock { entries in
            guard let seen = entries[path] else { return false }
            if now - seen < lifetime { return true }
            entries[path] = nil
            return false
        }
    }

    func insert(_ path: String) {
        let now = ContinuousClock.now
        entries.withLock { entries in
            if entries.count >= 10_000 { entries.removeAll() }
            entries[path] = now
        }
    }
}
