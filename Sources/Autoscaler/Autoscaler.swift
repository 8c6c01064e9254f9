import Catalog
import Foundation
import Logging
import Storage

/// The loop: sample host CPU every `interval`, read the backlog from the catalog, ask `ScalingPolicy`,
/// act through the driver, replace dead or hung workers, log every decision and publish the status.
public struct Autoscaler: Sendable {
    public var config: ScalingConfig
    /// Seconds between samples (and decisions).
    public var interval: TimeInterval = 5
    /// A worker that showed no sign of life (claim attempt or heartbeat) for this long is hung.
    public var hangAfter: TimeInterval = 120
    public var dryRun = false
    public var driverName: String
    let catalog: any Catalog
    let driver: any WorkerDriver
    let layout: StorageLayout
    let logger: Logger
    let sampler = CPUSampler()

    public init(config: ScalingConfig, driverName: String, catalog: any Catalog, driver: any WorkerDriver,
                layout: StorageLayout, logger: Logger) {
        self.config = config; self.driverName = driverName; self.catalog = catalog; self.driver = driver
        self.layout = layout; self.logger = logger
    }

    /// Runs until the task is cancelled; then drains the workers (child driver) and returns.
    public func run() async {
        let host = NodeName.current
        let clock = ContinuousClock()
        let origin = clock.now
        func now() -> TimeInterval { let d = origin.duration(to: clock.now); return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

        var window = CPUWindow(length: config.window)
        var previous = try? sampler.read()
        var state = ScalingState(desired: config.minWorkers)
        var status = AutoscalerStatus(host: host, driver: driverName, dryRun: dryRun, minWorkers: config.minWorkers,
                                      maxWorkers: config.maxWorkers, desired: state.desired, running: 0, cpu: nil, backlog: 0,
                                      lastAction: "start", lastReason: "starting with the minimum of \(config.minWorkers)",
                                      lastReasonKind: "start", lastDecisionAt: Date(), scaleOuts: 0, scaleIns: 0, replacements: 0, updatedAt: Date())
        logger.info("autoscaler started", metadata: [
            "driver": "\(driverName)", "min": "\(config.minWorkers)", "max": "\(config.maxWorkers)",
            "targetCPU": "\(config.targetCPU)", "dryRun": "\(dryRun)"])
        // Workers already running (systemd units that outlived a restart of the autoscaler) are kept.
        let existing = await driver.workers().count
        if existing > 0 { state.desired = min(max(existing, config.minWorkers), config.maxWorkers) }
        if !dryRun { try? await driver.scale(to: state.desired, busy: []) }
        var lastHold = ""

        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(interval))
            if Task.isCancelled { break }
            let t = now()
            if let reading = try? sampler.read() {
                if let previous, let value = CPUSampler.utilisation(from: previous, to: reading) { window.add(value, at: t) }
                previous = reading
            }
            if !dryRun {
                for worker in await driver.hung(after: hangAfter) {
                    logger.warning("worker \(worker.id) (pid \(worker.pid.map(String.init) ?? "?")) showed no sign of life for \(Int(hangAfter)) s; replacing it")
                    await driver.replace(worker)
                    status.replacements += 1
                }
            }
            let running: [JobRecord]
            let backlog: Int
            do {
                running = try await catalog.jobs(videoId: nil, states: [.running], limit: 10_000)
                backlog = try await catalog.claimableJobs()
            } catch {
                // A queue that cannot be read is not an empty one: read as empty, an outage of the
                // database would scale in, and count busy workers as idle. Keep the workers as they are.
                if lastHold != "queue unreadable" {
                    logger.warning("hold at \(state.desired) worker\(state.desired == 1 ? "" : "s"): cannot read the queue: \(error)")
                    lastHold = "queue unreadable"
                }
                continue
            }
            let ours = Self.pidsOnThisHost(running, host: host)
            let workers = await driver.workers()
            let warming = workers.filter { Date().timeIntervalSince($0.started) < config.warmup }.count
            let busy = workers.filter { $0.pid.map(ours.contains) ?? false }.count
            let seen = ScalingObservation(time: t, cpu: window.average(at: t), backlog: backlog, warmingUp: warming,
                                          busyWorkers: busy)
            let decision = ScalingPolicy.decide(state, seen, config)
            state = ScalingPolicy.apply(decision, to: state, at: t)

            if decision.action != .hold {
                let count = "\(decision.desired) worker\(decision.desired == 1 ? "" : "s")"
                logger.notice("\(decision.action.rawValue) to \(count): \(decision.reason)\(dryRun ? " (dry run: not acting)" : "")")
                if decision.action == .scaleOut { status.scaleOuts += 1 } else { status.scaleIns += 1 }
                status.lastAction = decision.action.rawValue
                status.lastReason = decision.reason
                status.lastReasonKind = String(decision.reason.prefix { $0 != ":" })
                status.lastDecisionAt = Date()
                lastHold = ""
            } else {
                // Holds are logged when their kind changes, not every few seconds.
                let kind = String(decision.reason.prefix { $0 != ":" && $0 != "(" })
                if kind != lastHold {
                    logger.info("hold at \(decision.desired) worker\(decision.desired == 1 ? "" : "s"): \(decision.reason)")
                    lastHold = kind
                }
            }
            if !dryRun, !Task.isCancelled {
                do { try await driver.scale(to: state.desired, busy: ours) } catch {
                    logger.error("could not apply the decision", metadata: ["error": "\(error)"])
                }
            }
            status.desired = state.desired
            status.running = workers.count
            status.cpu = seen.cpu
            status.backlog = backlog
            status.updatedAt = Date()
            publish(status)
        }
        if !dryRun { await driver.stopAll() }
        logger.info("autoscaler stopped")
    }

    /// Pids of workers on this host that hold a lease (owner is `host:pid:random`).
    static func pidsOnThisHost(_ jobs: [JobRecord], host: String) -> Set<Int32> {
        pidsOnThisHost(owners: jobs.compactMap(\.leaseOwner), host: host)
    }

    static func pidsOnThisHost(owners: [String], host: String) -> Set<Int32> {
        Set(owners.compactMap { owner -> Int32? in
            let parts = owner.split(separator: ":")
            guard parts.count >= 3, parts[0] == host else { return nil }
            return Int32(parts[1])
        })
    }

    private func publish(_ status: AutoscalerStatus) {
        try? status.write(in: layout)
    }
}
