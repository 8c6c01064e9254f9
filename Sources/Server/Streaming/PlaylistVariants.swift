import NIOCore

/// Tailored masters and gzip'd playlists, made once per file version (the ETag names the version) and
/// served from here after that: a playlist polled by every viewer is tailored and compressed once, not
/// per request (`BoundedMemo`).
struct PlaylistVariants: Sendable {
    /// nil: the variant is the file itself (tailoring changed nothing, or gzip failed).
    private let memo = BoundedMemo<String, ByteBuffer?>()

    /// The tailored text of `file` for `key` (a device class and rules version), or nil when it is the
    /// file as stored. Without `make` (on an event loop) only one already made; else `NotAtHand`.
    func variant(of file: StoredFile, key: String, make: ((String) -> String?)?) throws -> ByteBuffer? {
        let name = file.etag + key
        if let known = memo[name] { return known }
        guard let make else { throw NotAtHand() }
        let made = make(String(buffer: file.bytes)).map { ByteBuffer(string: $0) }
        memo.remember(name, made, bytes: made?.readableBytes ?? 0)
        return made
    }

    /// `bytes` (the file, or its variant `key`) gzip'd, or nil if it cannot be. Unless `make`, only
    /// one already made; else `NotAtHand`.
    func gzipped(_ bytes: ByteBuffer, of file: StoredFile, key: String, make: Bool) throws -> ByteBuffer? {
        let name = file.etag + key + "-gz"
        if let known = memo[name] { return known }
        guard make else { throw NotAtHand() }
        let made = Gzip.compress(Array(buffer: bytes)).map { ByteBuffer(bytes: $0) }
        memo.remember(name, made, bytes: made?.readableBytes ?? 0)
        return made
    }
}

/// What the fast path needs is not made yet (a tailoring, a compression, a device decision): the router
/// makes it, off the event loop, and the next request finds it.
struct NotAtHand: Error {}
