import Catalog
import Foundation
import Synchronization

/// Visibility and state of videos, as the streaming handler needs them on every request, kept for a
/// couple of seconds so that serving a segment does not cost a catalog query.
final class VideoStatusCache: Sendable {
    struct Status: Sendable {
        var visibility: Visibility
        var state: VideoState
        /// For the file name of a download.
        var title: String = ""
    }

    private let catalog: any Catalog
    private let lifetime: Duration
    /// Fetched on the monotonic clock: a wall clock stepped back must not keep an entry fresh.
    private let entries = Mutex<[String: (status: Status?, fetched: ContinuousClock.Instant)]>([:])

    init(catalog: any Catalog, lifetime: TimeInterval = 2) {
        self.catalog = catalog
        self.lifetime = .milliseconds(Int64(lifetime * 1000))
    }

    /// Nil when there is no such video.
    func status(of id: String) async throws -> Status? {
        let now = ContinuousClock.now
        if let hit = entries.withLock({ $0[id] }), now - hit.fetched < lifetime { return hit.status }
        let status = try await catalog.video(id: id).map { Status(visibility: $0.visibility, state: $0.state, title: $0.title) }
        entries.withLock { entries in
            if entries.count > 10_000 { entries.removeAll() }
            entries[id] = (status, now)
        }
        return status
    }

    /// The status while it is fresh, without waiting: `.some(nil)` for a video known not to exist,
    /// nil when the catalog must be asked (`status(of:)`).
    func fresh(_ id: String) -> Status?? {
        let now = ContinuousClock.now
        guard let hit = entries.withLock({ $0[id] }), now - hit.fetched < lifetime else { return nil }
        return .some(hit.status)
    }

    func forget(_ id: String) {
        _ = entries.withLock { $0.removeValue(forKey: id) }
    }
}
