import Foundation

/// Knobs that tests (and operators) may change, the same for every backend. Fixed for a catalog's lifetime.
public struct CatalogOptions: Sendable {
    /// The clock. Tests inject one they can move instead of sleeping.
    public var now: @Sendable () -> Date
    /// Retry backoff: `min(retryBaseDelay × 2^(attempt−1), retryMaxDelay) × jitter()`.
    public var retryBaseDelay: TimeInterval
    public var retryMaxDelay: TimeInterval
    /// A factor in [0.5, 1] by default ("equal jitter"), so retries of many jobs that failed together
    /// spread out instead of returning in lockstep.
    public var jitter: @Sendable () -> Double
    /// SQLite: how long a write waits for another connection's lock before failing with SQLITE_BUSY. Generous:
    /// on a loaded 2-core host, with a rollback journal and many workers, seconds pass between turns.
    public var busyTimeout: TimeInterval

    public init(now: @escaping @Sendable () -> Date = { Date() },
                retryBaseDelay: TimeInterval = 2,
                retryMaxDelay: TimeInterval = 300,
                jitter: @escaping @Sendable () -> Double = { Double.random(in: 0.5...1.0) },
                busyTimeout: TimeInterval = 30) {
        self.now = now
        self.retryBaseDelay = retryBaseDelay
        self.retryMaxDelay = retryMaxDelay
        self.jitter = jitter
        self.busyTimeout = busyTimeout
    }

    /// The retry delay after failed attempt number `attempt` (1-based): `min(base × 2^(attempt−1), cap) × jitter`.
    /// The cap applies before the jitter, so capped retries still spread over [cap/2, cap].
    public static func backoff(attempt: Int, base: TimeInterval, cap: TimeInterval, jitter: Double) -> TimeInterval {
        let exponent = Double(max(attempt, 1) - 1)
        let raw = base * pow(2, min(exponent, 62))
        return min(raw, cap) * jitter
    }

    /// How long a job waits after its failed attempt number `attempt`, with this catalog's jitter.
    public func retryDelay(afterAttempt attempt: Int) -> TimeInterval {
        Self.backoff(attempt: attempt, base: retryBaseDelay, cap: retryMaxDelay, jitter: jitter())
    }
}
