/// Constant-frame-rate output from any input timing. Output frame n of a rung covers
/// `[n/rate, (n+1)/rate)` and shows the source picture on screen at the middle of that interval, so
/// variable-rate sources come out at a steady rate with pictures duplicated or dropped as needed, and a
/// rung capped below the source rate keeps every k-th picture.
struct FrameSlotter {
    let period: Rational
    private(set) var next: Int64 = 0

    init(period: Rational, first: Int64 = 0) {
        self.period = period
        self.next = first
    }

    /// The output frames whose middle falls before `time`: they show the picture current until then.
    mutating func slots(before time: Rational) -> Range<Int64> {
        // n + 1/2 < time / period  ⇔  n < time/period − 1/2
        let limit = (time / period - Rational(1, 2)).ceil
        let end = max(limit, next)
        defer { next = end }
        return next..<end
    }
}
