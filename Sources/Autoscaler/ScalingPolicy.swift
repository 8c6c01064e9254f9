import Foundation

/// How the autoscaler behaves: an AWS Auto Scaling Group's target-tracking policy, for worker processes.
public struct ScalingConfig: Sendable, Equatable, Codable {
    public var minWorkers = 1
    public var maxWorkers = 4
    /// Host CPU utilisation (0…100) the policy steers towards.
    public var targetCPU = 60.0
    /// Waiting jobs per worker the policy steers towards (AWS's "backlog per instance" for queue workers).
    public var backlogPerWorker = 2.0
    /// No scale-out sooner than this after the previous scale-out.
    public var scaleOutCooldown: TimeInterval = 60
    /// No scale-in sooner than this after any scaling activity.
    public var scaleInCooldown: TimeInterval = 300
    /// A new worker's effect on CPU is not judged until it has run this long.
    public var warmup: TimeInterval = 60
    /// Seconds of CPU samples averaged into one figure.
    public var window: TimeInterval = 60
    /// |cpu − target| within this fraction of the target counts as on target (no flapping on noise).
    public var tolerance = 0.1

    public init() {}

    public func validated() throws -> ScalingConfig {
        guard minWorkers >= 0, maxWorkers >= max(1, minWorkers) else {
            throw ScalingConfigError("need 0 ≤ min ≤ max and max ≥ 1 (min \(minWorkers), max \(maxWorkers))")
        }
        guard targetCPU > 0, targetCPU <= 100 else { throw ScalingConfigError("target CPU must be in (0, 100]") }
        guard backlogPerWorker > 0 else { throw ScalingConfigError("backlog per worker must be positive") }
        guard scaleOutCooldown >= 0, scaleInCooldown >= 0, warmup >= 0, window > 0 else {
            throw ScalingConfigError("cooldowns and warm-up must not be negative, the window must be positive")
        }
        return self
    }
}

public struct ScalingConfigError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// What the autoscaler saw at one moment.
public struct ScalingObservation: Sendable, Equatable {
    /// Seconds on the autoscaler's clock.
    public var time: TimeInterval
    /// Host CPU utilisation averaged over the window (0…100); nil until a window of samples exists.
    public var cpu: Double?
    /// Jobs a worker could claim now (due, not waiting out a retry backoff).
    public var backlog: Int
    /// Workers added less than `warmup` ago (restarts of an existing worker do not count).
    public var warmingUp: Int
    /// Workers holding a piece of work; nil when unknown (then all are taken to be busy).
    public var busyWorkers: Int?

    public init(time: TimeInterval, cpu: Double?, backlog: Int, warmingUp: Int = 0, busyWorkers: Int? = nil) {
        self.time = time; self.cpu = cpu; self.backlog = backlog; self.warmingUp = warmingUp; self.busyWorkers = busyWorkers
    }
}

/// What the policy remembers between decisions.
public struct ScalingState: Sendable, Equatable {
    public var desired: Int
    public var lastScaleOut: TimeInterval?
    public var lastScaleIn: TimeInterval?

    public init(desired: Int, lastScaleOut: TimeInterval? = nil, lastScaleIn: TimeInterval? = nil) {
        self.desired = desired; self.lastScaleOut = lastScaleOut; self.lastScaleIn = lastScaleIn
    }
}

public struct ScalingDecision: Sendable, Equatable {
    public enum Action: String, Sendable { case scaleOut = "scale-out", scaleIn = "scale-in", hold }
    public var action: Action
    public var desired: Int
    /// One sentence an operator can read at 3 a.m.
    public var reason: String
}

/// The policy, as a pure function of what was seen, what was decided before, and the configuration.
///
/// - Two signals, as AWS recommends for queue workers: host CPU (target tracking: capacity × cpu ÷ target)
///   and backlog per worker (waiting jobs ÷ target per worker). Scale out when either asks for more, as far
///   as the larger ask, at once; scale in only when both agree, one worker at a time.
/// - CPU alone never scales out an empty queue, nor beyond one worker per job that could run: a host
///   busy with something else gains nothing from more workers. A deep queue scales out an idle host.
/// - With nothing to claim and idle workers, the queue alone scales in (CPU used by other programs must
///   not keep idle workers forever).
/// - Cooldowns: scale-out waits `scaleOutCooldown` after a scale-out; scale-in waits `scaleInCooldown`
///   after any scaling. While a new worker warms up, CPU is not trusted (it has not loaded the host yet).
public enum ScalingPolicy {
    public static func decide(_ state: ScalingState, _ seen: ScalingObservation, _ config: ScalingConfig) -> ScalingDecision {
        let current = state.desired
        // Bounds first: a configuration change or a start-up outside them is corrected at once.
        if current < config.minWorkers {
            return ScalingDecision(action: .scaleOut, desired: config.minWorkers,
                                   reason: "below the minimum of \(config.minWorkers) workers")
        }
        if current > config.maxWorkers {
            return ScalingDecision(action: .scaleIn, desired: config.maxWorkers,
                                   reason: "above the maximum of \(config.maxWorkers) workers")
        }

        let warming = seen.warmingUp > 0
        let cpu = warming ? nil : seen.cpu
        let cpuText = seen.cpu.map { String(format: "CPU %.0f%%", $0) } ?? "CPU unknown"
        let cpuWant: Int? = cpu.map { cpu in
            let ratio = cpu / config.targetCPU
            if abs(ratio - 1) <= config.tolerance { return current }
            return min(Int((Double(current) * ratio).rounded(.up)), current + seen.backlog)
        }
        let idle = max(0, current - (seen.busyWorkers ?? current))
        let backlogWant = Int((Double(seen.backlog) / config.backlogPerWorker).rounded(.up))
        let facts = "\(cpuText) (target \(Int(config.targetCPU))%), backlog \(seen.backlog) (target \(String(format: "%g", config.backlogPerWorker)) per worker), \(current) worker\(current == 1 ? "" : "s")"
            + (seen.busyWorkers.map { ", \($0) busy" } ?? "") + (warming ? ", \(seen.warmingUp) warming up" : "")

        // Scale out: either signal wants more, and there is work waiting.
        let outWant = max(cpuWant ?? 0, backlogWant)
        if seen.backlog > 0, outWant > current {
            let target = min(outWant, config.maxWorkers)
            guard target > current else {
                return ScalingDecision(action: .hold, desired: current, reason: "at the maximum of \(config.maxWorkers): \(facts)")
            }
            if let last = state.lastScaleOut, seen.time - last < config.scaleOutCooldown {
                return ScalingDecision(action: .hold, desired: current,
                                       reason: "scale-out cooldown (\(Int(config.scaleOutCooldown - (seen.time - last))) s left): \(facts)")
            }
            let why = (cpuWant ?? 0) >= backlogWant ? "CPU above target" : "backlog above target"
            return ScalingDecision(action: .scaleOut, desired: target, reason: "\(why): \(facts)")
        }

        // Scale in: both signals agree there is too much capacity (CPU known and settled), or nothing can
        // be claimed while some workers sit idle.
        let signalsAgree = (cpuWant.map { $0 < current } ?? false) && backlogWant < current
        let idleWithNothingToDo = seen.backlog == 0 && idle > 0 && !warming
        if signalsAgree || idleWithNothingToDo, current > config.minWorkers {
            let lastActivity = max(state.lastScaleOut ?? -.infinity, state.lastScaleIn ?? -.infinity)
            if seen.time - lastActivity < config.scaleInCooldown {
                return ScalingDecision(action: .hold, desired: current,
                                       reason: "scale-in cooldown (\(Int(config.scaleInCooldown - (seen.time - lastActivity))) s left): \(facts)")
            }
            let why = signalsAgree ? "CPU and backlog below target" : "nothing to claim and \(idle) idle"
            return ScalingDecision(action: .scaleIn, desired: current - 1, reason: "\(why): \(facts)")
        }
        if seen.backlog == 0, let cpu, cpu > config.targetCPU * (1 + config.tolerance) {
            return ScalingDecision(action: .hold, desired: current, reason: "CPU above target but nothing is waiting: \(facts)")
        }
        if warming {
            return ScalingDecision(action: .hold, desired: current, reason: "new workers warming up, CPU not judged yet: \(facts)")
        }
        return ScalingDecision(action: .hold, desired: current, reason: "on target: \(facts)")
    }

    /// The state after acting on a decision at `time`.
    public static func apply(_ decision: ScalingDecision, to state: ScalingState, at time: TimeInterval) -> ScalingState {
        var next = state
        next.desired = decision.desired
        switch decision.action {
        case .scaleOut: next.lastScaleOut = time
        case .scaleIn: next.lastScaleIn = time
        case .hold: break
        }
        return next
    }
}
