import Foundation

/// A worker the autoscaler manages.
public struct ManagedWorker: Sendable, Equatable {
    /// Slot number (child processes) or unit name (systemd).
    public var id: String
    public var pid: Int32?
    public var started: Date
}

/// Starts and stops worker processes. Stopping is always a drain (SIGTERM: the worker finishes or gives
/// back its piece within its drain timeout), never a kill in the middle of work; only a worker found hung
/// (its lease expired while it still runs) is killed, and then replaced.
public protocol WorkerDriver: Sendable {
    /// Workers running now (not those draining).
    func workers() async -> [ManagedWorker]
    /// Starts or drains workers until `count` run; drains idle workers (pid not in `busy`) first.
    func scale(to count: Int, busy: Set<Int32>) async throws
    /// Workers that stopped showing signs of life for `after` seconds while their process runs.
    func hung(after: TimeInterval) async -> [ManagedWorker]
    /// Kills a hung worker; the driver starts a replacement.
    func replace(_ worker: ManagedWorker) async
    /// Drains every worker this driver runs and waits for them (child processes) or leaves them to
    /// their service manager (systemd).
    func stopAll() async
}
