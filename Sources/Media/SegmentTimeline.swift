/// Where keyframes and segment boundaries fall, in seconds from the start of the output.
///
/// Keyframe k sits at the first instant at or after `k × interval` that lies on every rung's frame grid,
/// so all rungs put their IDR frames at exactly the same time even when their frame rates differ.
/// Segment j starts at keyframe `j × keyframesPerSegment`. Numbers are global: a chunk of the source
/// encoded on its own produces the same segment numbers as the whole file would.
struct SegmentTimeline: Sendable, Equatable {
    /// Seconds between forced keyframes.
    let interval: Rational
    /// The coarsest period that every rung's frame period divides (seconds).
    let gridPeriod: Rational
    let keyframesPerSegment: Int64

    init(interval: Rational, segmentKeyframes: Int64, framePeriods: [Rational]) {
        self.interval = interval
        self.keyframesPerSegment = max(segmentKeyframes, 1)
        self.gridPeriod = framePeriods.reduce(nil as Rational?) { acc, p in
            guard let acc else { return p }
            return Rational(Rational.lcm(acc.num, p.num), Rational.gcd(acc.den, p.den))
        } ?? Rational(1, 1000)
    }

    /// Time of keyframe `k`.
    func keyframeTime(_ k: Int64) -> Rational {
        let periods = (Rational(k) * interval / gridPeriod).ceil
        return Rational(periods) * gridPeriod
    }

    /// Index of the last keyframe at or before `t` (0 for times before the start).
    func keyframeIndex(at t: Rational) -> Int64 {
        guard t > Rational(0) else { return 0 }
        var k = max((t / interval).floor - 1, 0)
        while keyframeTime(k + 1) <= t { k += 1 }
        return k
    }

    func segmentStart(_ j: Int64) -> Rational { keyframeTime(j * keyframesPerSegment) }
    func segmentIndex(at t: Rational) -> Int64 { keyframeIndex(at: t) / keyframesPerSegment }
}
