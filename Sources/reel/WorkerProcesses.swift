import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A fixed number of `reel worker` child processes (the autoscaler will vary the number). A child that
/// exits is started again, with a growing pause if it keeps dying; on shutdown (or cancellation of the
/// service group) every child gets SIGTERM and time to drain — finish or give back its piece — then
/// SIGKILL. Children run with `--supervised`: they ignore SIGINT (Ctrl-C reaches the whole process group;
/// only this supervisor decides when they stop) and exit by themselves if this process dies.
struct WorkerProcesses: Service {
    let count: Int
    let arguments: [String]
    let drainTimeout: TimeInterval
    let logger: Logger

    private final class Children: Sendable {
        let pids = Mutex<Set<Int32>>([])
        let stopping = Atomic<Bool>(false)

        /// SIGTERM to every child now and to any started later; SIGKILL to those still alive after `grace`.
        func stop(grace: TimeInterval, logger: Logger) {
            guard !stopping.exchange(true, ordering: .sequentiallyConsistent) else { return }
            let pids = pids.withLock { $0 }
            logger.info("stopping workers", metadata: ["count": "\(pids.count)"])
            for pid in pids { kill(pid, SIGTERM) }
            Task.detached { [self] in
                try? await Task.sleep(for: .seconds(grace))
                for pid in self.pids.withLock({ $0 }) {
                    logger.warning("worker did not drain in time; killing it", metadata: ["pid": "\(pid)"])
                    kill(pid, SIGKILL)
                }
            }
        }
    }

    func run() async throws {
        guard count > 0 else {
            // No workers on this host (another host runs them): just wait for shutdown.
            try? await gracefulShutdown()
            return
        }
        let children = Children()
        let executable = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                             ?? CommandLine.arguments[0])
        let grace = drainTimeout + 10
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    for slot in 0..<count {
                        group.addTask { await supervise(slot: slot, executable: executable, children: children) }
                    }
                }
            } onGracefulShutdown: {
                children.stop(grace: grace, logger: logger)
            }
        } onCancel: {
            children.stop(grace: grace, logger: logger)
        }
    }

    private func supervise(slot: Int, executable: URL, children: Children) async {
        var pause: TimeInterval = 1
        while !children.stopping.load(ordering: .sequentiallyConsistent) {
            let process = Process()
            process.executableURL = executable
            process.arguments = ["worker", "--supervised", "--drain-timeout", "\(Int(drainTimeout))"] + arguments
            let started = Date()
            let status: Int32 = await withCheckedContinuation { continuation in
                process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
                do {
                    try process.run()
                    children.pids.withLock { _ = $0.insert(process.processIdentifier) }
                    // Shutdown may have begun between the loop's check and the insert above.
                    if children.stopping.load(ordering: .sequentiallyConsistent) { kill(process.processIdentifier, SIGTERM) }
                    logger.info("worker started", metadata: ["slot": "\(slot)", "pid": "\(process.processIdentifier)"])
                } catch {
                    process.terminationHandler = nil
                    logger.error("cannot start worker", metadata: ["error": "\(error)"])
                    continuation.resume(returning: -1)
                }
            }
            children.pids.withLock { _ = $0.remove(process.processIdentifier) }
            if children.stopping.load(ordering: .sequentiallyConsistent) { return }
            // Dying straight after start means something is wrong (bad profile, database): back off.
            pause = Date().timeIntervalSince(started) > 60 ? 1 : min(pause * 2, 30)
            logger.warning("worker exited; starting another", metadata: ["slot": "\(slot)", "status": "\(status)", "pause": "\(pause)s"])
            // Sleep in short steps so that shutdown does not wait out a long pause.
            let until = Date().addingTimeInterval(pause)
            while Date() < until, !children.stopping.load(ordering: .sequentiallyConsistent) {
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }
}
