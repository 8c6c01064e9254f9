import Testing
@testable import Media

@Suite("Keyframe and segment timeline")
struct TimelineTests {
    @Test("keyframes fall every interval on a 30 fps grid")
    func thirtyFPS() {
        let t = SegmentTimeline(interval: Rational(2), segmentKeyframes: 3, framePeriods: [Rational(1, 30)])
        #expect((0..<5).map { t.keyframeTime($0) } == [0, 2, 4, 6, 8].map { Rational($0) })
        // Segment 0 is one keyframe interval; the others are three.
        #expect((0..<4).map { t.segmentStart($0) } == [0, 2, 8, 14].map { Rational($0) })
        #expect(t.segmentIndex(at: Rational(199, 100)) == 0)
        #expect(t.segmentIndex(at: Rational(2)) == 1)
        #expect(t.segmentIndex(at: Rational(799, 100)) == 1)
        #expect(t.segmentIndex(at: Rational(8)) == 2)
    }

    @Test("a first segment of several keyframe intervals, and segments of one interval")
    func leadLengths() {
        let even = SegmentTimeline(interval: Rational(2), segmentKeyframes: 3, framePeriods: [Rational(1, 30)], leadKeyframes: 3)
        #expect((0..<3).map { even.segmentStart($0) } == [0, 6, 12].map { Rational($0) })
        #expect(even.segmentIndex(at: Rational(599, 100)) == 0)
        #expect(even.segmentIndex(at: Rational(6)) == 1)
        let single = SegmentTimeline(interval: Rational(2), segmentKeyframes: 1, framePeriods: [Rational(1, 30)])
        #expect((0..<3).map { single.segmentStart($0) } == [0, 2, 4].map { Rational($0) })
        for k in Int64(0)..<40 {
            #expect(single.segment(ofKeyframe: k) == k)
            #expect(segmentHolds(k))
        }
    }

    /// Keyframe `k` lies inside the segment `segment(ofKeyframe:)` names.
    private func segmentHolds(_ k: Int64) -> Bool {
        let timeline = SegmentTimeline(interval: Rational(2), segmentKeyframes: 3, framePeriods: [Rational(1, 30)])
        let j = timeline.segment(ofKeyframe: k)
        return timeline.firstKeyframe(ofSegment: j) <= k && k < timeline.firstKeyframe(ofSegment: j + 1)
    }

    @Test("NTSC rates: keyframes land on a frame of every rung, identical across rungs")
    func ntscRates() {
        let periods = [Rational(1001, 30000), Rational(1001, 60000)]
        let t = SegmentTimeline(interval: Rational(2), segmentKeyframes: 3, framePeriods: periods)
        #expect(t.gridPeriod == Rational(1001, 30000))
        for k in Int64(0)..<50 {
            let time = t.keyframeTime(k)
            #expect(time >= Rational(2 * k))
            #expect(time - Rational(2 * k) < Rational(1001, 30000))
            for p in periods { #expect((time / p).den == 1, "keyframe \(k) is not on the \(p) grid") }
        }
    }

    @Test("mixed rates that do not divide each other share a common grid")
    func mixedRates() {
        let t = SegmentTimeline(interval: Rational(2), segmentKeyframes: 3, framePeriods: [Rational(1, 24), Rational(1, 30)])
        #expect(t.gridPeriod == Rational(1, 6))
        #expect(t.keyframeTime(3) == Rational(6))
    }

    @Test("keyframeIndex inverts keyframeTime", arguments: [Int64(0), 1, 2, 7, 100, 1234])
    func inverse(k: Int64) {
        let t = SegmentTimeline(interval: Rational(2), segmentKeyframes: 3, framePeriods: [Rational(1001, 30000)])
        let time = t.keyframeTime(k)
        #expect(t.keyframeIndex(at: time) == k)
        if k > 0 { #expect(t.keyframeIndex(at: time - Rational(1, 1_000_000)) == k - 1) }
    }
}

@Suite("Constant frame rate output")
struct FrameSlotterTests {
    @Test("same rate in and out: one output frame per input frame")
    func sameRate() {
        var s = FrameSlotter(period: Rational(1, 30))
        var shown: [Range<Int64>] = []
        for i in 1...4 { shown.append(s.slots(before: Rational(Int64(i), 30))) }
        #expect(shown == [0..<1, 1..<2, 2..<3, 3..<4])
    }

    @Test("60 fps to 30 fps keeps every other picture")
    func halve() {
        var s = FrameSlotter(period: Rational(1, 30))
        let counts = (1...8).map { s.slots(before: Rational(Int64($0), 60)).count }
        #expect(counts == [0, 1, 0, 1, 0, 1, 0, 1])
    }

    @Test("a gap in a variable-rate source repeats the picture on screen")
    func gap() {
        var s = FrameSlotter(period: Rational(1, 30))
        #expect(s.slots(before: Rational(1, 30)) == 0..<1)
        #expect(s.slots(before: Rational(5, 30)) == 1..<5)
    }

    @Test("timestamps going backwards emit nothing")
    func backwards() {
        var s = FrameSlotter(period: Rational(1, 25))
        _ = s.slots(before: Rational(1))
        #expect(s.slots(before: Rational(1, 2)).isEmpty)
    }
}

@Suite("Rational")
struct RationalTests {
    @Test func arithmetic() {
        #expect(Rational(1, 3) + Rational(1, 6) == Rational(1, 2))
        #expect(Rational(-3, 2).floor == -2)
        #expect(Rational(-3, 2).ceil == -1)
        #expect(Rational(7, 2).ceil == 4)
        #expect(Rational(1001, 30000).ticks(90000) == 3003)
        #expect(Rational(2, -4) == Rational(-1, 2))
    }
}

@Suite("Cutting a plan into chunks")
struct ChunkPlanTests {
    func plan(segments: Int) -> TranscodePlan {
        let probe = ProbeResult(path: "x", container: "mov", containerLongName: "mov", sizeBytes: 1, duration: Double(segments * 6),
                                bitrate: nil, streams: [])
        return TranscodePlan(probe: probe, hasVideo: true, hasAudio: true, duration: Double(segments * 6),
                             segmentStarts: (0..<segments).map { Double($0 * 6) }, rungs: ["360p"])
    }

    @Test("a short first chunk, then chunks of about the asked length, the last one open-ended")
    func chunks() {
        let ranges = plan(segments: 14).chunks(ofAbout: 30).map { "\($0.first)-\($0.end.map(String.init) ?? "end")" }
        #expect(ranges == ["0-1", "1-6", "6-11", "11-end"])
        // 12 s left over, less than half a chunk: it joins the chunk before.
        let merged = plan(segments: 13).chunks(ofAbout: 30).map { "\($0.first)-\($0.end.map(String.init) ?? "end")" }
        #expect(merged == ["0-1", "1-6", "6-end"])
    }

    @Test("chunks are cut by time: a short first segment does not shorten the others")
    func shortFirstSegment() {
        var p = plan(segments: 12)
        p.segmentStarts = [0] + (0..<11).map { 2 + Double($0 * 6) }
        let ranges = p.chunks(ofAbout: 30).map { "\($0.first)-\($0.end.map(String.init) ?? "end")" }
        #expect(ranges == ["0-1", "1-6", "6-end"])
        #expect(p.chunks(ofAbout: 12).map(\.first) == [0, 1, 3, 5, 7, 9, 11])
    }

    @Test("with the source's keyframes known, cuts go where a piece has least to decode before its start")
    func cutsNearSourceKeyframes() {
        var p = plan(segments: 12)
        p.duration = 63
        p.segmentStarts = [0] + (0..<11).map { 2 + Double($0 * 6) }   // 0, 2, 8, …, 62
        // A camera's keyframes: seconds apart, nowhere near the even cuts at 32 and 62.
        let keyframes = [0, 8.3, 9.57, 11.3, 13.3, 15.13, 16.97, 25.27, 33.57, 36.13, 44.43, 52.73, 54, 62.33]
        p.preRoll = TranscodePlan.preRoll(segmentStarts: p.segmentStarts, keyframes: keyframes)
        #expect(abs(p.preRoll[5] - 0.73) < 1e-9 && abs(p.preRoll[6] - 6.73) < 1e-9)
        let ranges = p.chunks(ofAbout: 30).map { "\($0.first)-\($0.end.map(String.init) ?? "end")" }
        // 26 s (0.73 s back to a keyframe) instead of 32 s (6.73 s); then 56 s would leave 7 s, which joins.
        #expect(ranges == ["0-1", "1-5", "5-end"])
        // Keyframes on every boundary: nothing to choose between, so the even cuts stay.
        p.preRoll = TranscodePlan.preRoll(segmentStarts: p.segmentStarts, keyframes: p.segmentStarts)
        #expect(p.preRoll.allSatisfy { $0 == 0 })
        #expect(p.chunks(ofAbout: 30).map(\.first) == [0, 1, 6])
        // A cut never strays more than a quarter of the chunk from the even one.
        p.preRoll = (0..<12).map { $0 == 2 ? 0 : 5 }
        #expect(p.chunks(ofAbout: 30).map(\.first) == [0, 1, 6])
    }

    @Test("pre-roll reaches back to the start of the file when no keyframe precedes a segment")
    func preRollBeforeFirstKeyframe() {
        #expect(TranscodePlan.preRoll(segmentStarts: [0, 2, 8], keyframes: [1, 7.5]) == [0, 1, 0.5])
        #expect(TranscodePlan.preRoll(segmentStarts: [0, 2], keyframes: []).isEmpty)
    }

    @Test("rungs split into groups of about equal work, the plan's order kept within each")
    func rungGroups() {
        var p = plan(segments: 3)
        p.rungs = ["234p", "360p", "432p", "540p", "720p"]
        let pixels: [Int] = [416 * 234, 640 * 360, 768 * 432, 960 * 540, 1280 * 720]
        p.rungWork = pixels.map { Double($0) * 30 }
        #expect(p.rungGroups(1) == [p.rungs])
        #expect(p.rungGroups(2) == [["234p", "720p"], ["360p", "432p", "540p"]])
        #expect(Set(p.rungGroups(3).flatMap { $0 }) == Set(p.rungs))
        #expect(p.rungGroups(9).count == 5)
        p.rungs = ["360p"]; p.rungWork = [1]
        #expect(p.rungGroups(4) == [["360p"]])
    }

    @Test("a one-segment video is a single open-ended chunk")
    func single() {
        let ranges = plan(segments: 1).chunks(ofAbout: 30)
        #expect(ranges.count == 1 && ranges[0].first == 0 && ranges[0].end == nil)
    }
}
