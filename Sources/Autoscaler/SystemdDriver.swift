import Foundation
import Logging

/// Workers as systemd template units `reel-worker@1.service` … `reel-worker@<max>.service`. systemd runs
/// them (restart policy, logs, hardening); this driver only starts and stops instances. `systemctl stop`
/// sends SIGTERM and waits the unit's `TimeoutStopSec`, so scale-in drains like the child driver does.
/// Instances are numbered, so scale-in stops the highest numbers (systemd cannot tell idle from busy).
public struct SystemdDriver: WorkerDriver {
    let maxWorkers: Int
    let unitPrefix: String
    let systemctl: String
    let logger: Logger

    public init(maxWorkers: Int, unitPrefix: String = "reel-worker@", systemctl: String = "/usr/bin/systemctl", logger: Logger) {
        self.maxWorkers = maxWorkers
        self.unitPrefix = unitPrefix
        self.systemctl = systemctl
        self.logger = logger
    }

    func unit(_ n: Int) -> String { "\(unitPrefix)\(n).service" }

    public func workers() async -> [ManagedWorker] { show().running }

    /// Running instances, and the names of failed ones (start limit hit: not to be started again blindly).
    private func show() -> (running: [ManagedWorker], failed: Set<String>) {
        // Every instance that exists, not only 1…max: lowering max must not orphan @5 and @6.
        let listed = run(["list-units", "--all", "--plain", "--no-legend", "--type=service", "\(unitPrefix)*"]) ?? ""
        var units = Set(listed.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
        units.formUnion((1...max(1, maxWorkers)).map(unit))
        guard let output = run(["show", "--property=Id,ActiveState,MainPID,ActiveEnterTimestampMonotonic"] + units.sorted()) else {
            return ([], [])
        }
        return (Self.parseShow(output, now: Date(), uptime: Self.uptime()), Self.failedUnits(output))
    }

    static func failedUnits(_ output: String) -> Set<String> {
        Set(output.components(separatedBy: "\n\n").compactMap { block -> String? in
            let lines = block.split(separator: "\n")
            guard lines.contains("ActiveState=failed") else { return nil }
            return lines.first { $0.hasPrefix("Id=") }.map { String($0.dropFirst(3)) }
        })
    }

    /// `systemctl show` prints one block of `Key=Value` lines per unit, blocks separated by blank lines.
    static func parseShow(_ output: String, now: Date, uptime: TimeInterval) -> [ManagedWorker] {
        output.components(separatedBy: "\n\n").compactMap { block -> ManagedWorker? in
            var fields: [String: String] = [:]
            for line in block.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
            }
            guard let id = fields["Id"], fields["ActiveState"] == "active" || fields["ActiveState"] == "activating" else { return nil }
            let pid = fields["MainPID"].flatMap(Int32.init).flatMap { $0 > 0 ? $0 : nil }
            // Monotonic microseconds since boot → wall time; 0 (not entered yet) means "just now".
            let monotonic = fields["ActiveEnterTimestampMonotonic"].flatMap(Double.init) ?? 0
            let enteredAt = monotonic > 0 ? monotonic / 1e6 : uptime
            return ManagedWorker(id: id, pid: pid, started: now.addingTimeInterval(enteredAt - uptime))
        }.sorted { $0.id < $1.id }
    }

    public func scale(to count: Int, busy: Set<Int32>) async throws {
        let (running, failed) = show()
        if running.count < count {
            // The lowest free numbers, skipping failed ones (an operator looks at those); `start` waits
            // until the unit runs or fails, so a failure is seen and logged.
            let taken = Set(running.map(\.id)).union(failed)
            let free = (1...).lazy.map(unit).filter { !taken.contains($0) }.prefix(count - running.count)
            for name in free {
                logger.info("starting \(name)")
                guard run(["start", name]) != nil else { throw SystemdDriverError("systemctl start \(name) failed (see systemctl status \(name))") }
            }
        } else if running.count > count {
            // Idle workers first (systemd cannot tell, the leases can), then the highest numbers.
            let victims = running.sorted { a, b in
                let aBusy = a.pid.map(busy.contains) ?? false, bBusy = b.pid.map(busy.contains) ?? false
                return aBusy != bBusy ? !aBusy : a.id > b.id
            }.prefix(running.count - count)
            for worker in victims {
                logger.info("stopping \(worker.id) (it drains before it exits)")
                // --no-block: the drain takes up to TimeoutStopSec; systemd carries it out.
                guard run(["stop", "--no-block", worker.id]) != nil else { throw SystemdDriverError("systemctl stop \(worker.id) failed") }
            }
        }
    }

    /// systemd's own watchdog (`WatchdogSec=`) is the tool for hung units; not wired up yet.
    /// systemd detects hung workers itself: reel-worker@.service has `WatchdogSec=` and the worker sends
    /// WATCHDOG=1 at every sign of life, so there is nothing for the autoscaler to find here.
    public func hung(after: TimeInterval) async -> [ManagedWorker] { [] }

    public func replace(_ worker: ManagedWorker) async {
        logger.warning("killing hung worker; systemd restarts it", metadata: ["unit": "\(worker.id)"])
        _ = run(["kill", "--signal=SIGKILL", worker.id])
    }

    /// The units keep running without the autoscaler; `systemctl stop reel.target` stops them.
    public func stopAll() async {}

    private func run(_ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: systemctl)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch {
            logger.error("cannot run systemctl", metadata: ["error": "\(error)"])
            return nil
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
    }

    static func uptime() -> TimeInterval {
        (try? String(contentsOfFile: "/proc/uptime", encoding: .utf8))?.split(separator: " ").first.flatMap { Double($0) } ?? 0
    }
}

public struct SystemdDriverError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
