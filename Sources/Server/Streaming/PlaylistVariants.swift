import NIOCore
import Synchronization

/// Tailored masters and gzip'd playlists, made once per file version (the ETag names the version) and
/// served from here after that: a playlist polled by every viewer is tailored and compressed once, not
/// per request. Bounded; when full it starts over (versions change rarely, rebuilding is cheap).
final class PlaylistVariants: Sendable {
    private struct State {
        /// nil: the variant is the file itself (tailoring changed nothing, or gzip failed).
        var entries: [String: ByteBuffer?] = [:]
        var bytes = 0
    }

    static let maximumEntries = 4096
    static let maximumBytes = 32 << 20

    private let state = Mutex(State())

    /// The tailored text of `file` for `key` (a device class and rules version), or nil when it is the
    /// file as stored.
    func variant(of file: StoredFile, key: String, make: (String) -> String?) -> ByteBuffer? {
        let name = file.etag + key
        if let known = state.withLock({ $0.entries[name] }) { return known }
        let made = make(String(buffer: file.bytes)).map { ByteBuffer(string: $0) }
        remember(name, made)
        return made
    }

    /// `bytes` (the file, or its variant `key`) gzip'd, or nil if it cannot be.
    func gzipped(_ bytes: ByteBuffer, of file: StoredFile, key: String) -> ByteBuffer? {
        let name = file.etag + key + "-gz"
        if let known = state.withLock({ $0.entries[name] }) { return known }
        let made = Gzip.compress(Array(buffer: bytes)).map { ByteBuffer(bytes: $0) }
        remember(name, made)
        return made
    }

    private func remember(_ name: String, _ value: ByteBuffer?) {
        let size = value?.readableBytes ?? 0
        guard size <= Self.maximumBytes / 8 else { return }
        state.withLock { state in
            if state.entries.count >= Self.maximumEntries || state.bytes + size > Self.maximumBytes {
                state.entries.removeAll()
                state.bytes = 0
            }
            if state.entries.updateValue(value, forKey: name) == nil { state.bytes += size }
        }
    }
}
