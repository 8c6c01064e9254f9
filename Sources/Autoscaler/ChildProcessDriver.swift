import Foundation
import Logging

/// Workers as child processes of this one (`reel up`, or `reel autoscale --driver child`). A worker that
/// exits unexpectedly (crash, kill -9) is started again in its slot, with a growing pause if it keeps
/// dying, and one that stops showing signs of life (its liveness file goes stale: a hung process) is
/// killed and started again — like an Auto Scaling Group replacing an instance that failed its health
/// check. Scale-in and shutdown send SIGTERM (the worker finishes or gives back its piece) and SIGKILL
/// only to a worker still there after its drain bound.
public actor ChildProcessDriver: WorkerDriver {
    private struct Slot {
        var pid: Int32?
        /// When the slot was added: new capacity warms up; a restart in an existing slot does not.
        var created: Date
        /// When the current process was started (health checks give a new process time to start).
        var spawned: Date?
        /// Being drained: not restarted when it exits.
        var retiring = false
    }

    private let arguments: [String]
    private let drainTimeout: TimeInterval
    private let logger: Logger
    private let livenessDirectory: URL
    private var slots: [Int: Slot] = [:]
    private var nextSlot = 1
    private var supervisors: [Int: Task<Void, Never>] = [:]
    private var stopping = false

    /// `arguments` follow `worker`; `--supervised`, a liveness file and the drain bound are added.
    public init(arguments: [String], drainTimeout: TimeInterval, logger: Logger) {
        self.arguments = arguments
        self.drainTimeout = drainTimeout
        self.logger = logger
        livenessDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("reel-workers-\(getpid())", isDirectory: true)
        try? FileManager.default.createDirectory(at: livenessDirectory, withIntermediateDirectories: true)
    }

    /// Seconds a draining worker gets before SIGKILL: its own drain bound plus time to hand back its lease.
    private var killAfter: TimeInterval { drainTimeout + 10 }

    public func workers() -> [ManagedWorker] {
        slots.filter { !$0.value.retiring && $0.value.pid != nil }.sorted { $0.key < $1.key }
            .map { ManagedWorker(id: "\($0.key)", pid: $0.value.pid, started: $0.value.created) }
    }

    public func scale(to count: Int, busy: Set<Int32>) async throws {
        guard !stopping else { return }
        let active = slots.filter { !$0.value.retiring }
        if active.count < count {
            for _ in active.count..<count {
                let slot = nextSlot
                nextSlot += 1
                slots[slot] = Slot(created: Date())
                supervisors[slot] = Task { await self.supervise(slot) }
            }
        } else if active.count > count {
            // Idle workers first (a slot between restarts is idle), then the youngest.
            let victims = active.sorted { a, b in
                let aBusy = a.value.pid.map(busy.contains) ?? false, bBusy = b.value.pid.map(busy.contains) ?? false
                return aBusy != bBusy ? !aBusy : a.value.created > b.value.created
            }.prefix(active.count - count)
            for (slot, state) in victims {
                slots[slot]?.retiring = true
                guard let pid = state.pid else { continue }
                logger.info("draining worker", metadata: ["slot": "\(slot)", "pid": "\(pid)", "busy": "\(busy.contains(pid))"])
                kill(pid, SIGTERM)
                killIfStillThere(slot: slot, pid: pid, after: killAfter)
            }
        }
    }

    /// Kills a worker that stopped showing signs of life, if its slot still runs that very process.
    public func replace(_ worker: ManagedWorker) {
        guard let slot = Int(worker.id), let pid = slots[slot]?.pid, pid == worker.pid else { return }
        logger.warning("killing hung worker; a new one takes its slot", metadata: ["slot": "\(slot)", "pid": "\(pid)"])
        kill(pid, SIGKILL)
    }

    /// Workers whose liveness file is older than `hangAfter` (and that have run at least that long).
    public func hung(after hangAfter: TimeInterval) -> [ManagedWorker] {
        let now = Date()
        return slots.compactMap { slot, state -> ManagedWorker? in
            guard !state.retiring, let pid = state.pid, let spawned = state.spawned,
                  now.timeIntervalSince(spawned) > hangAfter else { return nil }
            let touched = (try? FileManager.default.attributesOfItem(atPath: livenessFile(slot).path)[.modificationDate]) as? Date
            guard now.timeIntervalSince(touched ?? spawned) > hangAfter else { return nil }
            return ManagedWorker(id: "\(slot)", pid: pid, started: state.created)
        }
    }

    public func stopAll() async {
        stopping = true
        for slot in slots.keys { slots[slot]?.retiring = true }
        let pids = slots.values.compactMap(\.pid)
        logger.info("stopping workers", metadata: ["count": "\(pids.count)"])
        for (slot, state) in slots {
            guard let pid = state.pid else { continue }
            kill(pid, SIGTERM)
            killIfStillThere(slot: slot, pid: pid, after: killAfter)
        }
        for task in supervisors.values { await task.value }
        try? FileManager.default.removeItem(at: livenessDirectory)
    }

    private func killIfStillThere(slot: Int, pid: Int32, after delay: TimeInterval) {
        Task {
            try? await Task.sleep(for: .seconds(delay))
            await self.killIfCurrent(slot: slot, pid: pid)
        }
    }

    /// SIGKILL only if the slot still runs that process (the pid was not reaped and reused meanwhile).
    private func killIfCurrent(slot: Int, pid: Int32) {
        guard slots[slot]?.pid == pid else { return }
        logger.warning("worker did not drain in time; killing it", metadata: ["slot": "\(slot)", "pid": "\(pid)"])
        kill(pid, SIGKILL)
    }

    private func livenessFile(_ slot: Int) -> URL { livenessDirectory.appendingPathComponent("\(slot).alive") }

    private func exited(_ slot: Int) -> Bool {
        slots[slot]?.pid = nil
        let retiring = slots[slot]?.retiring ?? true
        if retiring {
            slots[slot] = nil
            supervisors[slot] = nil
        }
        return retiring
    }

    /// Runs one slot's worker until the slot is retired, restarting it when it exits on its own.
    private func supervise(_ slot: Int) async {
        var pause: TimeInterval = 1
        while true {
            let process = Process()
            // /proc/self/exe, not the path it points to: after an upgrade replaced the binary, that path
            // names the new file, and `readlink` would say "… (deleted)".
            process.executableURL = URL(fileURLWithPath: "/proc/self/exe")
            let liveness = livenessFile(slot)
            try? FileManager.default.removeItem(at: liveness)
            process.arguments = ["worker", "--supervised", "--liveness-file", liveness.path] + arguments
                + ["--drain-timeout", "\(drainTimeout)"]  // last, so it wins over one in `arguments`
            let began = Date()
            let status: Int32 = await withCheckedContinuation { continuation in
                process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
                do {
                    try process.run()
                    let pid = process.processIdentifier
                    slots[slot]?.pid = pid
                    slots[slot]?.spawned = Date()
                    logger.info("worker started", metadata: ["slot": "\(slot)", "pid": "\(pid)"])
                    // Retired (or shutting down) while it was starting: drain it straight away.
                    if slots[slot]?.retiring ?? true {
                        kill(pid, SIGTERM)
                        killIfStillThere(slot: slot, pid: pid, after: killAfter)
                    }
                } catch {
                    process.terminationHandler = nil
                    logger.error("cannot start worker", metadata: ["error": "\(error)"])
                    continuation.resume(returning: -1)
                }
            }
            if exited(slot) { return }
            pause = Date().timeIntervalSince(began) > 60 ? 1 : min(pause * 2, 30)
            logger.warning("worker exited; starting another in its slot",
                           metadata: ["slot": "\(slot)", "status": "\(status)", "pause": "\(pause)s"])
            let until = Date().addingTimeInterval(pause)
            while Date() < until, !(slots[slot]?.retiring ?? true) {
                try? await Task.sleep(for: .milliseconds(200))
            }
            // Retired during the pause: do not start a worker only to stop it.
            if slots[slot]?.retiring ?? true, exited(slot) { return }
        }
    }
}
