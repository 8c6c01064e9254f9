import Foundation
import Logging

/// Workers as child processes of this one (`reel up`, or `reel autoscale --driver child`). A worker that
/// exits unexpectedly (crash, kill -9) is started again in its slot, with a growing pause if it keeps
/// dying — like an Auto Scaling Group replacing an instance that failed its health check.
public actor ChildProcessDriver: WorkerDriver {
    private struct Slot {
        var pid: Int32?
        var started: Date
        /// Being drained: not restarted when it exits.
        var retiring = false
    }

    private let executable: URL
    private let arguments: [String]
    private let drainTimeout: TimeInterval
    private let logger: Logger
    private var slots: [Int: Slot] = [:]
    private var nextSlot = 1
    private var supervisors: [Int: Task<Void, Never>] = [:]
    private var stopping = false

    /// `arguments` follow `worker`; `--supervised` is added (ignore Ctrl-C, exit if this process dies).
    public init(executable: URL, arguments: [String], drainTimeout: TimeInterval, logger: Logger) {
        self.executable = executable
        self.arguments = arguments
        self.drainTimeout = drainTimeout
        self.logger = logger
    }

    public static func currentExecutable() -> URL {
        URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
    }

    public func workers() -> [ManagedWorker] {
        slots.filter { !$0.value.retiring }.sorted { $0.key < $1.key }
            .map { ManagedWorker(id: "\($0.key)", pid: $0.value.pid, started: $0.value.started) }
    }

    public func scale(to count: Int, busy: Set<Int32>) async throws {
        guard !stopping else { return }
        var active = slots.filter { !$0.value.retiring }
        while active.count < count {
            let slot = nextSlot
            nextSlot += 1
            slots[slot] = Slot(pid: nil, started: Date())
            active[slot] = slots[slot]
            supervisors[slot] = Task { await self.supervise(slot) }
        }
        if active.count > count {
            // Idle workers first, then the youngest (the oldest have warm caches and steady heartbeats).
            let victims = active.sorted { a, b in
                let aBusy = a.value.pid.map(busy.contains) ?? false, bBusy = b.value.pid.map(busy.contains) ?? false
                return aBusy != bBusy ? !aBusy : a.value.started > b.value.started
            }.prefix(active.count - count)
            for (slot, state) in victims {
                slots[slot]?.retiring = true
                if let pid = state.pid {
                    logger.info("draining worker", metadata: ["slot": "\(slot)", "pid": "\(pid)", "busy": "\(busy.contains(pid))"])
                    kill(pid, SIGTERM)
                }
            }
        }
    }

    public func replace(_ worker: ManagedWorker) {
        guard let pid = worker.pid else { return }
        logger.warning("killing hung worker; a new one takes its slot", metadata: ["slot": "\(worker.id)", "pid": "\(pid)"])
        kill(pid, SIGKILL)
    }

    public func stopAll() async {
        stopping = true
        for slot in slots.keys { slots[slot]?.retiring = true }
        let pids = slots.values.compactMap(\.pid)
        logger.info("stopping workers", metadata: ["count": "\(pids.count)"])
        for pid in pids { kill(pid, SIGTERM) }
        // Workers that do not drain in time are killed; their leases expire and others redo the piece.
        let grace = drainTimeout + 10
        let killer = Task { [logger] in
            try? await Task.sleep(for: .seconds(grace))
            guard !Task.isCancelled else { return }
            for pid in pids where kill(pid, 0) == 0 {
                logger.warning("worker did not drain in time; killing it", metadata: ["pid": "\(pid)"])
                kill(pid, SIGKILL)
            }
        }
        for task in supervisors.values { await task.value }
        killer.cancel()
    }

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
            process.executableURL = executable
            process.arguments = ["worker", "--supervised", "--drain-timeout", "\(Int(drainTimeout))"] + arguments
            let began = Date()
            let status: Int32 = await withCheckedContinuation { continuation in
                process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
                do {
                    try process.run()
                    let pid = process.processIdentifier
                    slots[slot]?.pid = pid
                    slots[slot]?.started = Date()
                    logger.info("worker started", metadata: ["slot": "\(slot)", "pid": "\(pid)"])
                    // Retired (or shutting down) while it was starting: drain it straight away.
                    if slots[slot]?.retiring ?? true { kill(pid, SIGTERM) }
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
        }
    }
}
