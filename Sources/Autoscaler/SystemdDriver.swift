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

    public func workers() async -> [ManagedWorker] {
        let units = (1...max(1, maxWorkers)).map(unit)
        guard let output = run(["show", "--property=Id,ActiveState,MainPID,ActiveEnterTimestampMonotonic"] + units) else { return [] }
        return Self.parseShow(output, now: Date(), uptime: Self.uptime())
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
            // Monotonic microseconds since boot → wall time.
            let enteredAt = fields["ActiveEnterTimestampMonotonic"].flatMap(Double.init).map { $0 / 1e6 } ?? uptime
            return ManagedWorker(id: id, pid: pid, started: now.addingTimeInterval(enteredAt - uptime))
        }.sorted { $0.id < $1.id }
    }

    public func scale(to count: Int, busy: Set<Int32>) async throws {
        let running = Set(await workers().map(\.id))
        for n in 1...max(1, maxWorkers) {
            let name = unit(n)
            if n <= count, !running.contains(name) {
                logger.info("starting \(name)")
                guard run(["start", "--no-block", name]) != nil else { throw SystemdDriverError("systemctl start \(name) failed") }
            } else if n > count, running.contains(name) {
                logger.info("stopping \(name) (it drains before it exits)")
                guard run(["stop", "--no-block", name]) != nil else { throw SystemdDriverError("systemctl stop \(name) failed") }
            }
        }
    }

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
