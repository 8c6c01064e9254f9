import CFFmpeg
import Profiles

/// The rungs chosen for a source and the shared keyframe/segment timeline they imply. Deterministic:
/// every worker that plans the same file with the same profile gets the same answer, which is what
/// lets chunks encoded by different processes join seamlessly.
struct LadderPlan: Sendable {
    var rungs: [PlannedRung]
    var timing: FrameTiming
    var timeline: SegmentTimeline

    init(rungs: [PlannedRung], timing: FrameTiming, timeline: SegmentTimeline) {
        self.rungs = rungs
        self.timing = timing
        self.timeline = timeline
    }

    static func keyframeInterval(_ profile: Profile) -> Rational {
        Rational(Int64((profile.keyframeInterval * 1000).rounded()), 1000)
    }

    static func keyframesPerSegment(_ profile: Profile) -> Int64 {
        Int64((profile.segmentDuration / profile.keyframeInterval).rounded())
    }

    /// Plans the video ladder of `stream`.
    static func video(input: InputFile, stream: UnsafeMutablePointer<AVStream>, profile: Profile) throws(MediaError) -> LadderPlan {
        let display = stream.displaySize
        let timing = input.frameTiming(stream)
        let rate = timing.nominal
        let rungs = RungPlanner.plan(profile: profile, source: SourceGeometry(
            displayWidth: display.width, displayHeight: display.height,
            frameRate: FrameRate(num: Int(rate.num), den: Int(rate.den))))
        guard !rungs.isEmpty else { throw .noUsableStream(path: input.path, detail: "no rung of the ladder fits this video") }
        let periods = rungs.map { Rational(Int64($0.frameRate.den), Int64($0.frameRate.num)) }
        let timeline = SegmentTimeline(interval: keyframeInterval(profile), segmentKeyframes: keyframesPerSegment(profile),
                                       framePeriods: Array(Set(periods)))
        return LadderPlan(rungs: rungs, timing: timing, timeline: timeline)
    }

    /// The timeline of an audio-only source: segment boundaries every keyframe interval, on the sample grid.
    static func audioTimeline(profile: Profile) -> SegmentTimeline {
        SegmentTimeline(interval: keyframeInterval(profile), segmentKeyframes: keyframesPerSegment(profile),
                        framePeriods: [Rational(1, Int64(profile.audio.sampleRate))])
    }
}
