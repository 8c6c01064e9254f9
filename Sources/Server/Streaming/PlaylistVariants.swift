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
    /// file as stored. Without `make` (on an event loop) only one already made; else `NotAtHand`.
    func variant(of file: StoredFile, key: String, make: ((String) -> String?)?) throws -> ByteBuffer? {
        let name = file.etag + key
        if let known = state.withLock({ $0.entries[name] }) { return known }
        guard let make else { throw NotAtHand() }
        let made = make(String(buffer: file.bytes)).map { ByteBuffer(string: $0) }
        remember(name, made)
        return made
    }

    /// `bytes` (the file, or its variant `key`) gzip'd, or nil if it cannot be. Unless `make`, only
    /// one already made; else `NotAtHand`.
    func gzipped(_ bytes: ByteBuffer, of file: StoredFile, key: String, make: Bool) throws -> ByteBuffer? {
        let name = file.etag + key + "-gz"
        if let known = state.withLock({ $0.entries[name] }) { return known }
        guard make else { throw NotAtHand() }
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

/// What the fast path needs is not made yet (a tailoring, a compression, a device decision): the router
/// makes it, off the event loop, and the next request finds it.
struct NotAtHand: Error {}
