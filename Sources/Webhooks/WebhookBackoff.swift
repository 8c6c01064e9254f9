/// The retry schedule: "exponential backoff for up to a day, then marked failed".
///
/// Retry n (n = 1 after the first attempt failed) waits `min(base · 2^(n-1), cap)`, shortened by up to
/// `jitter` of itself so that deliveries that failed together (a receiver that was down) do not all come
/// back in the same second. Jitter only shortens, so the cap holds. No retry is scheduled that would start
/// later than `span` after the first attempt: the delivery is failed instead.
///
/// With the defaults (30 s, cap 2 h, 24 h) and no jitter: 30 s, 1, 2, 4, 8, 16, 32, 64 min, then every
/// 2 h — 19 attempts over 22 h 7 min 30 s.
public struct WebhookBackoff: Sendable, Equatable {
    public var base: Duration
    public var cap: Duration
    public var span: Duration
    /// The largest fraction of a delay that jitter takes off, in 0...0.9 (a wait never shrinks to nothing).
    public var jitter: Double

    public init(base: Duration = .seconds(30), cap: Duration = .seconds(2 * 3600),
                span: Duration = .seconds(24 * 3600), jitter: Double = 0.2) {
        self.base = base
        self.cap = cap
        self.span = span
        self.jitter = min(max(jitter, 0), 0.9)
    }

    /// The wait before retry `retry` (1-based), given `random` in 0..<1 (injected, for tests); or nil when
    /// that retry would start more than `span` after the first attempt, `elapsed` being the time from the
    /// first attempt to the failure just seen.
    public func delay(beforeRetry retry: Int, elapsed: Duration, random: Double) -> Duration? {
        precondition(retry >= 1, "retries count from 1")
        // base · 2^(retry-1), without overflowing: past 2^40 it is over any cap.
        let doubled = retry - 1 >= 40 ? cap : base * (1 << (retry - 1))
        let full = min(doubled, cap)
        let wait = full - full * (jitter * min(max(random, 0), 1))
        guard elapsed + wait <= span else { return nil }
        return wait
    }

    /// The whole schedule: the waits before each retry, for attempts that take no time, with one random
    /// draw per retry from `random` (for the docs and tests).
    public func schedule(random: () -> Double = { 0 }) -> [Duration] {
        var waits: [Duration] = []
        var elapsed = Duration.zero
        while let wait = delay(beforeRetry: waits.count + 1, elapsed: elapsed, random: random()) {
            waits.append(wait)
            elapsed += wait
        }
        return waits
    }
}
