import Foundation
import Testing
@testable import Autoscaler

/// The policy against synthetic series: every step feeds one observation and acts on the decision,
/// as the autoscaler loop does.
@Suite("Scaling policy")
struct ScalingPolicyTests {
    static var config: ScalingConfig {
        var config = ScalingConfig()
        config.minWorkers = 1
        config.maxWorkers = 4
        config.targetCPU = 60
        config.backlogPerWorker = 2
        config.scaleOutCooldown = 60
        config.scaleInCooldown = 300
        config.warmup = 60
        return config
    }

    typealias Step = (time: TimeInterval, cpu: Double?, backlog: Int, warming: Int)

    /// One observation: time, CPU (nil = unknown), jobs waiting, workers warming up.
    static func at(_ time: TimeInterval, _ cpu: Double?, _ backlog: Int, _ warming: Int = 0) -> Step { (time, cpu, backlog, warming) }

    /// Runs a series of steps and returns the desired count after each one.
    static func run(_ series: [Step], start: Int = 1, config: ScalingConfig = config)
        -> (desired: [Int], decisions: [ScalingDecision]) {
        var state = ScalingState(desired: start)
        var desired: [Int] = []
        var decisions: [ScalingDecision] = []
        for (time, cpu, backlog, warming) in series {
            let decision = ScalingPolicy.decide(state, ScalingObservation(time: time, cpu: cpu, backlog: backlog, warmingUp: warming), config)
            state = ScalingPolicy.apply(decision, to: state, at: time)
            desired.append(state.desired)
            decisions.append(decision)
        }
        return (desired, decisions)
    }

    @Test("steady load on target holds")
    func steady() {
        let series = (0..<10).map { Self.at(TimeInterval($0 * 30), 62, 2) }
        #expect(Self.run(series).desired == Array(repeating: 1, count: 10))
    }

    @Test("a spike with work waiting scales out at once, as far as asked, then waits for the cooldown")
    func spike() {
        let run = Self.run([Self.at(0, 95, 6, 0), Self.at(30, 99, 6, 0), Self.at(70, 99, 8, 0)])
        // 1 × 95/60 → 2, but 6 waiting jobs at 2 per worker ask for 3: the larger ask wins.
        #expect(run.desired == [3, 3, 4])
        #expect(run.decisions[0].action == ScalingDecision.Action.scaleOut && run.decisions[0].reason.contains("backlog above target"))
        #expect(run.decisions[1].reason.contains("cooldown"))
        #expect(run.decisions[2].action == ScalingDecision.Action.scaleOut)
    }

    @Test("busy host with an empty queue does not scale out; idle host with a deep queue does")
    func queueSignal() {
        let busy = Self.run([Self.at(0, 100, 0, 0)])
        #expect(busy.desired == [1])
        #expect(busy.decisions[0].reason.contains("nothing is waiting"))
        let idle = Self.run([Self.at(0, 5, 7, 0)])
        #expect(idle.desired == [4])
        #expect(idle.decisions[0].reason.contains("backlog"))
    }

    @Test("never above max, never below min")
    func bounds() {
        #expect(Self.run([Self.at(0, 100, 100, 0)]).desired == [4])
        #expect(Self.run([Self.at(0, 100, 100, 0)], start: 4).desired == [4])
        #expect(Self.run([Self.at(0, 1, 0, 0), Self.at(400, 1, 0, 0), Self.at(800, 1, 0, 0)], start: 1).desired == [1, 1, 1])
        // Outside the bounds (the configuration changed): corrected at once.
        #expect(Self.run([Self.at(0, 50, 0, 0)], start: 7).desired == [4])
        #expect(Self.run([Self.at(0, 50, 0, 0)], start: 0).desired == [1])
    }

    @Test("scale-in is slow: one worker per cooldown, only when CPU and backlog both agree")
    func scaleIn() {
        let series: [Step] = [
            Self.at(0, 10, 0, 0),     // cooldown since the start of this run? no activity yet → may scale in
            Self.at(100, 10, 0, 0),   // inside the 300 s scale-in cooldown
            Self.at(301, 10, 0, 0),
            Self.at(400, 10, 0, 0),
            Self.at(602, 10, 0, 0),
            Self.at(1000, 10, 0, 0),
        ]
        #expect(Self.run(series, start: 4).desired == [3, 3, 2, 2, 1, 1])
        // Low CPU but a backlog that needs the workers: no scale-in.
        #expect(Self.run([Self.at(0, 10, 8, 0)], start: 4).desired == [4])
    }

    @Test("oscillation inside the cooldown does not flap")
    func oscillation() {
        let series: [Step] = [
            Self.at(0, 95, 4, 0), Self.at(10, 20, 0, 0), Self.at(20, 95, 4, 0), Self.at(30, 20, 0, 0), Self.at(40, 95, 4, 0), Self.at(50, 20, 0, 0),
        ]
        let run = Self.run(series)
        #expect(run.desired == [2, 2, 2, 2, 2, 2])
        #expect(run.decisions.dropFirst().allSatisfy { $0.action == ScalingDecision.Action.hold })
    }

    @Test("while a new worker warms up its CPU is not judged")
    func warmup() {
        // Just scaled out; the new worker has not loaded the host yet: low CPU must not scale in,
        // and high CPU must not scale out again on CPU alone.
        let run = Self.run([Self.at(0, 90, 3, 0), Self.at(70, 10, 0, 1), Self.at(80, 99, 1, 1), Self.at(400, 10, 0, 0)])
        #expect(run.desired == [2, 2, 2, 1])
        #expect(run.decisions[1].reason.contains("warming up"))
    }

    @Test("small wobbles around the target are ignored")
    func tolerance() {
        #expect(Self.run([Self.at(0, 65, 3, 0)], start: 2).desired == [2])
        #expect(Self.run([Self.at(0, 55, 0, 0)], start: 2).desired == [2])
    }

    @Test("idle workers with nothing to claim scale in even when other programs keep the CPU busy")
    func idleWorkersScaleInDespiteForeignCPU() {
        func step(_ t: TimeInterval, busy: Int) -> ScalingObservation {
            ScalingObservation(time: t, cpu: 45, backlog: 0, warmingUp: 0, busyWorkers: busy)
        }
        var state = ScalingState(desired: 4)
        var desired: [Int] = []
        for (t, busy) in [(0.0, 0), (100, 0), (301, 0), (602, 1), (903, 1)] {
            let decision = ScalingPolicy.decide(state, step(t, busy: busy), Self.config)
            state = ScalingPolicy.apply(decision, to: state, at: t)
            desired.append(state.desired)
        }
        // 45 % on 4 workers alone would ask for 3 and then hold; idleness keeps going, down to min.
        #expect(desired == [3, 3, 2, 1, 1])
        // With every worker busy and nothing waiting, no scale-in on idleness.
        let allBusy = ScalingPolicy.decide(ScalingState(desired: 2), ScalingObservation(time: 0, cpu: 59, backlog: 0, busyWorkers: 2), Self.config)
        #expect(allBusy.action == .hold)
    }

    @Test("min 0 is reachable, and the CPU ask never exceeds the work there is")
    func minimumZeroAndCappedCPUAsk() {
        var config = Self.config
        config.minWorkers = 0
        let down = ScalingPolicy.decide(ScalingState(desired: 1), ScalingObservation(time: 0, cpu: 3, backlog: 0, busyWorkers: 0), config)
        #expect(down.action == .scaleIn && down.desired == 0)
        // 100 % CPU but one job waiting: one more worker, not four.
        let capped = ScalingPolicy.decide(ScalingState(desired: 1), ScalingObservation(time: 0, cpu: 100, backlog: 1, busyWorkers: 1), Self.config)
        #expect(capped.action == .scaleOut && capped.desired == 2)
        // Zero workers and work waiting: the backlog brings one up.
        let up = ScalingPolicy.decide(ScalingState(desired: 0), ScalingObservation(time: 0, cpu: 1, backlog: 1, busyWorkers: 0), config)
        #expect(up.action == .scaleOut && up.desired == 1)
    }

    @Test func invalidConfigurationsAreRefused() {
        var config = Self.config
        config.minWorkers = 5
        #expect(throws: ScalingConfigError.self) { try config.validated() }
        config = Self.config
        config.targetCPU = 0
        #expect(throws: ScalingConfigError.self) { try config.validated() }
        #expect(throws: Never.self) { try Self.config.validated() }
    }
}
