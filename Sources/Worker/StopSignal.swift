import Foundation
import Synchronization

/// Set when the process is asked to stop (SIGTERM/SIGINT): the worker claims nothing new and drains.
public final class StopSignal: Sendable {
    private let requested = Atomic<Bool>(false)

    public init() {}

    public var isRequested: Bool { requested.load(ordering: .acquiring) }
    public func request() { requested.store(true, ordering: .releasing) }

    /// Sleeps up to `seconds`, waking early when a stop is requested or the task is cancelled.
    public func sleep(_ seconds: TimeInterval) async {
        let deadline = Date().addingTimeInterval(seconds)
        while !isRequested && !Task.isCancelled && Date() < deadline {
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
    }
}

/// A job's cancellation flag and last progress, shared by the async worker and the FFmpeg thread.
final class JobControl: Sendable {
    private let cancelled = Atomic<Bool>(false)
    private let stalledFlag = Atomic<Bool>(false)
    private let progressBits = Atomic<UInt64>(0)
    /// Monotonic time (ns) of the last sign of progress: the start, then every report from the work.
    private let lastProgressNanos = Atomic<UInt64>(DispatchTime.now().uptimeNanoseconds)

    var isCancelled: Bool { cancelled.load(ordering: .acquiring) }
    func cancel() { cancelled.store(true, ordering: .releasing) }

    /// Cancelled because the work stopped moving (not by a drain or a lost lease).
    var stalled: Bool { stalledFlag.load(ordering: .acquiring) }
    func cancelAsStalled() {
        stalledFlag.store(true, ordering: .releasing)
        cancel()
    }

    var progress: Double { Double(bitPattern: progressBits.load(ordering: .relaxed)) }
    func report(_ fraction: Double) {
        progressBits.store(fraction.bitPattern, ordering: .relaxed)
        lastProgressNanos.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
    }

    /// Seconds since the work last reported progress (or started).
    var quietSeconds: Double {
        Double(DispatchTime.now().uptimeNanoseconds &- lastProgressNanos.load(ordering: .relaxed)) / 1e9
    }
}
