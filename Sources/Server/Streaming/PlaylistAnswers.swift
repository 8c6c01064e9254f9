/// Whole answers to plain GETs of playlists (no range, no validators sent), by everything they depend
/// on: the file's version, signed or not, the video ready or not, the device class and gzip. A playlist
/// polled by every viewer is then one lookup, not a header list built per request.
struct PlaylistAnswers: Sendable {
    struct Key: Hashable, Sendable {
        var path: String
        var identity: FileIdentity
        var signed: Bool
        var ready: Bool
        /// `DeviceChoice.tag` for a master, empty otherwise.
        var device: String
        var gzip: Bool
    }

    private let memo = BoundedMemo<Key, StreamingAnswer>()

    func answer(_ key: Key) -> StreamingAnswer? { memo[key] }

    /// Keeps `answer` (a GET's, with its body).
    func remember(_ key: Key, _ answer: StreamingAnswer) {
        let size = answer.body.reduce(0) { total, piece in
            if case .bytes(let bytes) = piece { return total + bytes.readableBytes }
            return total
        }
        memo.remember(key, answer, bytes: size)
    }
}
