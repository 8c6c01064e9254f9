import Synchronization

/// A memo bounded in entries and bytes that starts over when full: for things made once per file
/// version (versions change rarely, and remaking one is cheap), where an LRU's bookkeeping per hit would
/// cost more than the occasional rebuild. Entries of old versions are never asked for again and go at
/// the next reset.
final class BoundedMemo<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct State {
        var entries: [Key: Value] = [:]
        var bytes = 0
    }

    private let maximumEntries: Int
    private let maximumBytes: Int
    private let state = Mutex(State())

    init(maximumEntries: Int = 4096, maximumBytes: Int = 32 << 20) {
        self.maximumEntries = maximumEntries
        self.maximumBytes = maximumBytes
    }

    subscript(key: Key) -> Value? { state.withLock { $0.entries[key] } }

    /// Keeps `value`, which holds `bytes` of memory; one larger than an eighth of the bound is not kept.
    func remember(_ key: Key, _ value: Value, bytes: Int) {
        guard bytes <= maximumBytes / 8 else { return }
        state.withLock { state in
            if state.entries.count >= maximumEntries || state.bytes + bytes > maximumBytes {
                state.entries.removeAll()
                state.bytes = 0
            }
            if state.entries.updateValue(value, forKey: key) == nil { state.bytes += bytes }
        }
    }
}
