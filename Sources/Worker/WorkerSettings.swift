import Foundation
import Media
import Profiles
import Storage

/// How a worker behaves. Defaults suit one host; tests shorten the times.
public struct WorkerSettings: Sendable {
    public var layout: StorageLayout
    public var profile: Profile
    /// Unique per worker process: leases are fenced by it.
    public var owner: String
    /// A claimed job is ours for this long unless renewed; a dead worker's jobs come back after it.
    public var leaseDuration: TimeInterval = 60
    /// Renew (and report progress) this often.
    public var heartbeatInterval: TimeInterval = 15
    /// Seconds of source per video chunk job (whole segments).
    public var chunkSeconds: Double = 30
    /// The first piece of a video (its short first segment) is split into this many groups of rungs, so
    /// that many idle workers encode what a player needs first side by side. One per core of the host that
    /// plans (at most 4); 1 turns the split off.
    public var firstPieceSplit = min(max(ProcessInfo.processInfo.activeProcessorCount, 1), 4)
    /// How long to wait for new work when the queue is empty.
    public var pollInterval: TimeInterval = 1
    /// After SIGTERM: finish the running piece if it ends within this time, else give its lease back.
    public var drainTimeout: TimeInterval = 20
    /// While the audio track encodes, its finished segments are published this often, so a long video
    /// becomes playable after its first chunk instead of after its whole audio track.
    public var audioPublishInterval: TimeInterval = 2
    /// What an upload may claim (duration, picture size, frame rate, streams) before any work is planned.
    public var limits = MediaLimits.standard
    /// Most pieces (chunk jobs) one video may be split into.
    public var maxChunks = 2000
    /// A piece may run for this many times its media duration, and at least `jobTimeoutMinimum`
    /// seconds; past that it fails for good ("took longer than allowed"), so a crafted file cannot
    /// hold a worker.
    public var jobTimeoutFactor: Double = 20
    public var jobTimeoutMinimum: TimeInterval = 600
    /// A piece that reports no progress (packets read, frames made) for this long is stopped, and the
    /// heartbeat stops vouching for it, so a supervisor sees the worker as hung if it cannot stop.
    public var stallTimeout: TimeInterval = 180
    /// A piece is not started when the storage root has less free than this (its output would fill it).
    public var minFreeBytes: Int64 = 1 << 30
    /// Stop when the queue is empty instead of waiting (for scripts and tests).
    public var exitWhenIdle = false
    /// Called whenever the worker shows it is alive: at every claim attempt and every heartbeat. A
    /// supervisor that stops hearing from it (the process runs but its loops are stuck) replaces it.
    public var alive: (@Sendable () -> Void)?

    public init(layout: StorageLayout, profile: Profile, owner: String = WorkerSettings.defaultOwner()) {
        self.layout = layout
        self.profile = profile
        self.owner = owner
    }

    /// When a piece of `seconds` of media must be done by, starting now.
    func deadline(forMediaSeconds seconds: Double) -> Date {
        let allowed = max(jobTimeoutMinimum, jobTimeoutFactor * max(0, seconds.isFinite ? seconds : 0))
        return Date().addingTimeInterval(min(allowed, 7 * 86400))
    }

    public static func defaultOwner() -> String {
        "\(NodeName.current):\(getpid()):\(UUID().uuidString.prefix(8).lowercased())"
    }
}
