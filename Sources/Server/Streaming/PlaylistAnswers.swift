import NIOCore
import Synchronization

/// Whole answers to plain GETs of playlists (no range, no validators sent), by everything they depend
/// on: the file's version, signed or not, the video ready or not, the device class and gzip. A playlist
/// polled by every viewer is then one lookup, not a header list built per request. Bounded like
/// `PlaylistVariants`; an entry of an old file version is never matched again and goes at the next reset.
final class PlaylistAnswers: Sendable {
    struct Key: Hashable {
        var path: String
        var identity: FileIdentity
        var signed: Bool
        var ready: Bool
        /// `DeviceChoice.tag` for a master, empty otherwise.
        var device: String
        var gzip: Bool
    }

    private struct State {
        var entries: [Key: StreamingAnswer] = [:]
        var bytes = 0
    }

    static let maximumEntries = 4096
    static let maximumBytes = 32 << 20

    private let state = Mutex(State())

    func answer(_ key: Key) -> StreamingAnswer? { state.withLock { $0.entries[key] } }

    /// Keeps `answer` (a GET's, with its body).
    func remember(_ key: Key, _ answer: StreamingAnswer) {
        let size = answer.body.reduce(0) { total, piece in
            if case .bytes(let bytes) = piece { return total + bytes.readableBytes }
            return total
        }
        state.withLock { state in
            if state.entries.count >= Self.maximumEntries || state.bytes + size > Self.maximumBytes {
                state.entries.removeAll()
                state.bytes = 0
            }
            if state.entries.updateValue(answer, forKey: key) == nil { state.bytes += size }
        }
    }
}
