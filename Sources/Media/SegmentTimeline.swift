/// Where keyframes and segment boundaries fall, in seconds from the start of the output.
///
/// Keyframe k sits at the first instant at or after `k × interval` that lies on every rung's frame grid,
/// so all rungs put their IDR frames at exactly the same time even when their frame rates differ.
/// Segment 0 is `leadKeyframes` keyframe intervals long (one, by default: the smallest piece a player
/// can start on, so a video becomes playable as soon as that much is encoded); segment j > 0 starts at
/// keyframe `leadKeyframes + (j − 1) × keyframesPerSegment`. HLS allows segments shorter than the target
/// duration. Numbers are global: a chunk of the source encoded on its own produces the same segment
/// numbers as the whole file would.
struct SegmentTimeline: Sendable, Equatable {
    /// Seconds between forced keyframes.
    let interval: Rational
    /// The coarsest period that every rung's frame period divides (seconds).
    let gridPeriod: Rational
    let keyframesPerSegment: Int64
    /// Keyframe intervals in segment 0.
    let leadKeyframes: Int64

    init(interval: Rational, segmentKeyframes: Int64, framePeriods: [Rational], leadKeyframes: Int64 = 1) {
        self.interval = interval
        self.keyframesPerSegment = max(segmentKeyframes, 1)
        self.leadKeyframes = min(max(leadKeyframes, 1), self.keyframesPerSegment)
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

    /// The keyframe segment `j` starts at.
    func firstKeyframe(ofSegment j: Int64) -> Int64 {
        j <= 0 ? 0 : leadKeyframes + (j - 1) * keyframesPerSegment
    }

    /// The segment keyframe `k` belongs to.
    func segment(ofKeyframe k: Int64) -> Int64 {
        k < leadKeyframes ? 0 : 1 + (k - leadKeyframes) / keyframesPerSegment
    }

    func segmentStart(_ j: Int64) -> Rational { keyframeTime(firstKeyframe(ofSegment: j)) }
    func segmentIndex(at t: Rational) -> Int64 { segment(ofKeyframe: keyframeIndex(at: t)) }
}
