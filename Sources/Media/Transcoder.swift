import CFFmpeg
import Foundation
import Profiles

/// Where a transcode is, reported a few times a second.
public struct TranscodeProgress: Sendable {
    /// 0…1 of the work in scope.
    public var fraction: Double
    /// Output frames of the top rung so far.
    public var frames: Int
    /// Seconds of media processed per second of wall time.
    public var speed: Double
    /// The renditions in scope with the segments finished so far (each file complete on disk).
    public var parts: [RenditionSummary] = []
}

/// What a transcode produced, relative to its output directory.
public struct TranscodeResult: Sendable, Codable, Equatable {
    public struct Rendition: Sendable, Codable, Equatable {
        public var name: String
        public var kind: String           // "video" or "audio"
        public var width: Int?
        public var height: Int?
        public var frameRate: Double?
        public var codecs: String
        public var peakBitrate: Int
        public var averageBitrate: Int
        public var segments: Int
        public var duration: Double

        init(_ s: RenditionSummary) {
            self.init(name: s.name, kind: s.kind, width: s.width, height: s.height, frameRate: s.frameRate, codecs: s.codecs,
                      peakBitrate: s.peakBitrate, averageBitrate: s.averageBitrate, segments: s.segments.count, duration: s.totalDuration)
        }

        init(name: String, kind: String, width: Int?, height: Int?, frameRate: Double?, codecs: String,
             peakBitrate: Int, averageBitrate: Int, segments: Int, duration: Double) {
            self.name = name; self.kind = kind; self.width = width; self.height = height; self.frameRate = frameRate
            self.codecs = codecs; self.peakBitrate = peakBitrate; self.averageBitrate = averageBitrate
            self.segments = segments; self.duration = duration
        }
    }
    public var masterPlaylist: String
    public var poster: String?
    public var duration: Double
    public var renditions: [Rendition]
    /// The segments written, per rendition: what `HLSAssembler` needs to put chunks together.
    public var parts: [RenditionSummary]
    /// The storyboard thumbnails this piece made (their sheets are on disk); nil when it makes none.
    /// A whole-file transcode also writes `storyboard.vtt`.
    public var storyboard: StoryboardPart? = nil
}

/// How a source will be cut: its global segment timeline, for splitting the work into pieces.
public struct TranscodePlan: Sendable, Codable, Equatable {
    public var probe: ProbeResult
    public var hasVideo: Bool
    public var hasAudio: Bool
    /// Seconds, as the container states it (0 when unknown).
    public var duration: Double
    /// Start of each segment in seconds on the output timeline, up to the stated duration.
    public var segmentStarts: [Double]
    /// The rungs' names, in the plan's order (smallest first).
    public var rungs: [String]
    /// Encoding work per rung, as pixels per second (width × height × frame rate), in `rungs` order.
    public var rungWork: [Double] = []

    /// Per segment, the seconds of source a piece starting there decodes before its first frame: back to
    /// the source keyframe at or before the segment's start. Empty when the source's keyframes are unknown.
    public var preRoll: [Double] = []

    /// Ranges of whole segments: the first `firstSegments` (one by default — the short segment 0, so the
    /// video becomes playable soon), then about `seconds` of media each. The last range is open-ended
    /// (nil end), so a duration the container under-stated still gets encoded to the real end.
    ///
    /// Where the source's keyframes are known, each cut goes to the segment boundary within a quarter of
    /// `seconds` of the even cut whose piece has the least to decode before it: a source with keyframes
    /// seconds apart would otherwise decode up to a whole source GOP twice at every join.
    public func chunks(ofAbout seconds: Double, firstSegments: Int = 1) -> [(first: Int64, end: Int64?)] {
        let count = segmentStarts.count
        guard count > 1 else { return [(0, nil)] }
        var result: [(Int64, Int64?)] = []
        var first = 0
        var end = min(max(1, firstSegments), count)
        while end < count {
            result.append((Int64(first), Int64(end)))
            first = end
            end = cut(after: first, seconds: seconds)
        }
        // A remainder shorter than half a chunk joins the chunk before it: a piece costs a seek, a decode
        // from the keyframe before it and fresh encoders, too much for a second or two of media.
        if let last = result.last, result.count > 1, let end = last.1,
           (duration > 0 ? duration : segmentStarts[count - 1]) - segmentStarts[Int(end)] < seconds / 2 {
            result[result.count - 1] = (last.0, nil)
            return result
        }
        result.append((Int64(first), nil))
        return result
    }

    /// Where the piece starting at segment `first` ends: whole segments until it is at least `seconds` long
    /// (less half a segment); then, if keyframes are known, the boundary nearby with the shortest pre-roll.
    private func cut(after first: Int, seconds: Double) -> Int {
        let count = segmentStarts.count
        func length(_ end: Int) -> Double { segmentStarts[end] - segmentStarts[first] }
        var even = first + 1
        while even < count, length(even) < seconds - (segmentStarts[even] - segmentStarts[even - 1]) / 2 { even += 1 }
        guard even < count, preRoll.count == count else { return even }
        let window = (seconds * 0.75)...(seconds * 1.25)
        let candidates = (first + 1..<count).filter { $0 == even || window.contains(length($0)) }
        return candidates.min { (preRoll[$0], abs(length($0) - seconds)) < (preRoll[$1], abs(length($1) - seconds)) } ?? even
    }

    /// Pre-roll per segment start (both on the output's clock, ascending): the distance back to the latest
    /// keyframe at or before it, or to the start of the file when there is none. Empty when `keyframes` is.
    static func preRoll(segmentStarts: [Double], keyframes: [Double]) -> [Double] {
        guard !keyframes.isEmpty else { return [] }
        var k = 0
        return segmentStarts.map { start in
            while k + 1 < keyframes.count, keyframes[k + 1] <= start + 1e-6 { k += 1 }
            return keyframes[k] <= start + 1e-6 ? max(start - keyframes[k], 0) : max(start, 0)
        }
    }

    /// The rungs split into at most `count` groups of about equal work (the largest first, each into the
    /// group with the least so far), so several workers can encode the same piece side by side. Groups keep
    /// the plan's order of rungs; empty groups are dropped.
    public func rungGroups(_ count: Int) -> [[String]] {
        let n = max(1, min(count, rungs.count))
        var load = [Double](repeating: 0, count: n)
        var members = [[Int]](repeating: [], count: n)
        let byWork = rungs.indices.sorted { (rungWork[safe: $0] ?? 0, $1) > (rungWork[safe: $1] ?? 0, $0) }
        for i in byWork {
            let g = load.indices.min { load[$0] < load[$1] } ?? 0
            load[g] += rungWork[safe: i] ?? 0
            members[g].append(i)
        }
        return members.filter { !$0.isEmpty }.map { $0.sorted().map { rungs[$0] } }
    }
}

extension Array {
    fileprivate subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}

/// The transcoding engine's front door. Decodes the source once, fans each picture out to every rung of
/// the ladder, encodes audio once, and writes CMAF segments (and, for a whole file, playlists) into
/// `directory` — which the caller publishes atomically. FFmpeg work runs on a dedicated thread, never on
/// Swift's cooperative pool; all FFmpeg handles are created and freed on that thread.
public enum Transcoder {
    public static func transcode(
        input: String,
        into directory: URL,
        profile: Profile,
        scope: TranscodeScope = .whole,
        limits: MediaLimits = .standard,
        deadline: Date? = nil,
        progress: (@Sendable (TranscodeProgress) -> Void)? = nil,
        isCancelled: @escaping @Sendable () -> Bool = { false }
    ) async throws(MediaError) -> TranscodeResult {
        try await onOwnThread { () throws(MediaError) in
            let session = try TranscodeSession(input: input, directory: directory, profile: profile, scope: scope,
                                               limits: limits, deadline: deadline, progress: progress, isCancelled: isCancelled)
            return try session.run()
        }
    }

    /// Probes `input` and works out its segment timeline without encoding anything.
    /// `deadline` bounds the probe's reading like a transcode's.
    public static func plan(input: String, profile: Profile, limits: MediaLimits = .standard, deadline: Date? = nil,
                            isCancelled: @escaping @Sendable () -> Bool = { false }) async throws(MediaError) -> TranscodePlan {
        try await onOwnThread { () throws(MediaError) in
            try planNow(input: input, profile: profile, limits: limits, gate: InputGate(isCancelled: isCancelled, deadline: deadline))
        }
    }

    static func planNow(input path: String, profile: Profile, limits: MediaLimits = .standard,
                        gate: InputGate = InputGate()) throws(MediaError) -> TranscodePlan {
        let input = try InputFile(path: path, limits: limits, gate: gate)
        let probe = try Prober.describe(input)
        let video = input.bestStream(AVMEDIA_TYPE_VIDEO)
        let plan = try video.map { stream throws(MediaError) in try LadderPlan.video(input: input, stream: stream, profile: profile) }
        let timeline = plan?.timeline ?? LadderPlan.audioTimeline(profile: profile)
        let duration = probe.duration ?? 0
        var starts: [Double] = []
        var j: Int64 = 0
        while true {
            let t = timeline.segmentStart(j).seconds
            if j > 0 && t >= duration - 0.001 { break }
            starts.append(t)
            j += 1
        }
        var preRoll: [Double] = []
        if let video {
            let origin = input.timelineOrigin([video, input.bestStream(AVMEDIA_TYPE_AUDIO)]).seconds
            preRoll = TranscodePlan.preRoll(segmentStarts: starts, keyframes: input.indexedKeyframes(video).map { $0 - origin })
        }
        return TranscodePlan(probe: probe, hasVideo: video != nil, hasAudio: probe.audio != nil, duration: duration,
                             segmentStarts: starts, rungs: plan?.rungs.map(\.name) ?? [],
                             rungWork: plan?.rungs.map { Double($0.width * $0.height) * $0.frameRate.value } ?? [],
                             preRoll: preRoll)
    }

    /// Runs blocking FFmpeg work on a dedicated thread and resumes the caller with its result.
    static func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws(MediaError) -> T) async throws(MediaError) -> T {
        let outcome: Result<T, MediaError> = await withCheckedContinuation { continuation in
            let thread = Thread {
                let result = Result { () throws(MediaError) -> T in try work() }
                // glibc keeps what the piece freed in its per-thread arenas: a worker running piece after
                // piece would hold ~100 MiB more than one transcode needs.
                reel_release_free_heap()
                continuation.resume(returning: result)
            }
            thread.name = "reel-ffmpeg"
            thread.stackSize = 8 << 20
            thread.start()
        }
        return try outcome.get()
    }
}
