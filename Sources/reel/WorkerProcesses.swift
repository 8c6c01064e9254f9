import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A fixed number of `reel worker` child processes (the autoscaler will vary the number). A child that
/// exits is started again, with a growing pause if it keeps dying; on shutdown every child gets SIGTERM
/// and time to drain (finish or give back its piece), then SIGKILL.
struct WorkerProcesses: Service {
    let count: Int
    let arguments: [String]
    let drainTimeout: TimeInterval
    let logger: Logger

    private final class Children: Sendable {
        let pids = Mutex<Set<Int32>>([])
        let stopping = Atomic<Bool>(false)
    }

    func run() async throws {
        let children = Children()
        let executable = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                             ?? CommandLine.arguments[0])
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for slot in 0..<count {
                    group.addTask { await supervise(slot: slot, executable: executable, children: children) }
                }
            }
        } onGracefulShutdown: {
            children.stopping.store(true, ordering: .sequentiallyConsistent)
            let pids = children.pids.withLock { $0 }
            logger.info("stopping workers", metadata: ["count": "\(pids.count)"])
            for pid in pids { kill(pid, SIGTERM) }
            // Children that do not drain in time are killed; their leases expire and others redo the piece.
            let deadline = drainTimeout + 10
            Task.detached {
                try? await Task.sleep(for: .seconds(deadline))
                for pid in children.pids.withLock({ $0 }) { kill(pid, SIGKILL) }
            }
        }
    }

    private func supervise(slot: Int, executable: URL, children: Children) async {
        var pause: TimeInterval = 1
        while !children.stopping.load(ordering: .sequentiallyConsistent) {
            let process = Process()
            process.executableURL = executable
            process.arguments = ["worker"] + arguments
            let started = Date()
            let status: Int32 = await withCheckedContinuation { continuation in
                process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
                do {
                    try process.run()
                    children.pids.withLock { _ = $0.insert(process.processIdentifier) }
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
            try? await Task.sleep(for: .seconds(pause))
        }
    }
}
