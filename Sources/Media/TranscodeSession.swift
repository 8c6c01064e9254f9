import CFFmpeg
import Foundation
import Profiles

/// One transcode (or one piece of one), from open to the last segment. Lives on one thread and owns
/// every FFmpeg handle it uses.
final class TranscodeSession {
    private let input: InputFile
    private let directory: URL
    private let profile: Profile
    private let scope: TranscodeScope
    private let progress: (@Sendable (TranscodeProgress) -> Void)?
    private let gate: InputGate
    private let limits: MediaLimits
    private let duration: Double?
    /// How far output may go, from the limits, the stated duration and the file's size.
    private let bounds: OutputBounds

    private let videoStream: UnsafeMutablePointer<AVStream>?
    private let audioStream: UnsafeMutablePointer<AVStream>?
    /// Source time that becomes output time zero.
    private let origin: Rational
    private let timeline: SegmentTimeline
    private let ladderPlan: LadderPlan?
    private let start: Rational
    private let end: Rational?

    private var ladder: VideoLadder?
    private var audio: AudioEncoder?
    private var audioWriter: RenditionWriter?
    private var audioDecoder: Decoder?
    private var audioEnd = Rational(0)

    /// See `VideoLadder.skipsHiddenPreRoll`; set before `run`.
    var skipsHiddenPreRoll = true
    /// See `VideoLadder.onPicture`; set before `run`.
    var onPicture: ((Int64, Int) -> Void)?

    private var lastReport = Date.distantPast
    private let started = Date()

    init(input path: String, directory: URL, profile: Profile, scope: TranscodeScope,
         limits: MediaLimits, deadline: Date?,
         progress: (@Sendable (TranscodeProgress) -> Void)?, isCancelled: @escaping @Sendable () -> Bool) throws(MediaError) {
        gate = InputGate(isCancelled: isCancelled, deadline: deadline)
        self.limits = limits
        input = try InputFile(path: path, limits: limits, gate: gate)
        let probe = try Prober.describe(input)
        self.directory = directory
        self.profile = profile
        self.scope = scope
        self.progress = progress
        duration = probe.duration
        bounds = OutputBounds(limits: limits, statedDuration: probe.duration, fileSize: input.fileSize)
        let video = input.bestStream(AVMEDIA_TYPE_VIDEO)
        let audio = input.bestStream(AVMEDIA_TYPE_AUDIO)
        // The origin and the timeline depend on the source alone, never on the scope: every piece of a
        // video agrees on them.
        origin = input.timelineOrigin([video, audio])
        if let video {
            let plan = try LadderPlan.video(input: input, stream: video, profile: profile)
            ladderPlan = plan
            timeline = plan.timeline
        } else {
            ladderPlan = nil
            timeline = LadderPlan.audioTimeline(profile: profile)
        }
        let used = [scope.video ? video : nil, scope.audio ? audio : nil]
        videoStream = used[0]
        audioStream = used[1]
        for stream in input.streams where !used.contains(stream) {
            stream.pointee.discard = AVDISCARD_ALL
        }
        let grid = timeline
        start = grid.segmentStart(scope.firstSegment)
        end = scope.endSegment.map { grid.segmentStart($0) }
    }

    func run() throws(MediaError) -> TranscodeResult {
        try prepare()
        let packet = av_packet_alloc()!
        defer { var p: UnsafeMutablePointer<AVPacket>? = packet; av_packet_free(&p) }
        var first = try seekToStart()
        defer { if first != nil { av_packet_free(&first) } }
        while !(ladder?.isComplete ?? false) || audio != nil {
            try gate.check(path: input.path)
            if let pending = first {
                av_packet_move_ref(packet, pending)
                av_packet_free(&first)
            } else {
                let status = av_read_frame(input.context, packet)
                if status == averrorEOF { break }
                try gate.check(path: input.path)
                if status < 0 {
                    if status == reel_averror_invaliddata() { continue }
                    throw .truncated(path: input.path, detail: "reading stopped at \(String(format: "%.1f", reached.seconds)) s: \(ffmpegErrorText(status))")
                }
            }
            defer { av_packet_unref(packet) }
            if let ladder, packet.pointee.stream_index == videoStream?.pointee.index {
                try ladder.decode(packet)
            } else if let audioDecoder, packet.pointee.stream_index == audioStream?.pointee.index {
                try audioDecoder.decode(packet) { frame throws(MediaError) in try addAudio(frame) }
            }
            report()
        }
        if let ladder, !ladder.isComplete { try ladder.decode(nil) }
        try audioDecoder?.decode(nil) { frame throws(MediaError) in try addAudio(frame) }
        try ladder?.finish(wholeFile: scope.isWholeFile)
        try audio?.finish()
        if end == nil { try checkComplete() }
        return try finishOutput()
    }

    /// Source pictures decoded so far.
    var picturesDecoded: Int { ladder?.picturesDecoded ?? 0 }

    /// The constant shift of every timestamp (`prepare`).
    private var timeOffset = Rational(0)

    private var reached: Rational { max(ladder?.reached ?? Rational(0), audioEnd) }

    // MARK: setup

    private func prepare() throws(MediaError) {
        // Every timestamp is shifted by one constant so no decode time is negative (B-frame reordering,
        // AAC priming). It is a whole number of grid periods, so it is exact on every rung's clock, and
        // it depends only on the source and the profile, so every piece of a video agrees on it.
        var delay = AudioEncoder.priming(sampleRate: profile.audio.sampleRate)
        if let ladderPlan {
            delay = max(delay, try VideoRungEncoder.reorderDelay(of: ladderPlan.rungs, preset: profile.preset))
        }
        let offset = Rational((delay / timeline.gridPeriod).ceil) * timeline.gridPeriod
        timeOffset = offset
        if let videoStream, let ladderPlan {
            let ladder = try VideoLadder(stream: videoStream, plan: ladderPlan, only: scope.rungs, path: input.path, profile: profile,
                                         origin: origin, poster: directory.appendingPathComponent("poster.jpg"),
                                         gate: gate, bounds: bounds)
            ladder.skipsHiddenPreRoll = skipsHiddenPreRoll
            ladder.onPicture = onPicture
            try ladder.start(offset: offset, root: directory, from: start, to: end)
            self.ladder = ladder
        }
        if let audioStream {
            audioDecoder = try Decoder(stream: audioStream, path: input.path)
            let encoder = try AudioEncoder(spec: profile.audio)
            encoder.gate = (gate, input.path)
            if audioStream.pointee.duration > 0, audioStream.pointee.start_time != noPTS {
                let end = (Rational(audioStream.pointee.start_time) + Rational(audioStream.pointee.duration))
                    * Rational(audioStream.pointee.time_base) - origin
                encoder.sampleLimit = end.ticks(encoder.sampleRate)
            }
            let template = RenditionSummary(name: "audio", kind: "audio", codecs: "", width: nil, height: nil, frameRate: nil,
                                            channels: profile.audio.channels, segments: [], iframes: [])
            let writer = try RenditionWriter(template, root: directory, config: encoder.codecConfig,
                                             timescale: encoder.sampleRate, timeline: timeline)
            encoder.attach(writer: writer, offsetTicks: offset.ticks(encoder.sampleRate))
            audio = encoder
            audioWriter = writer
        }
    }

    /// For a chunk that starts later in the file: positions the demuxer on a video keyframe at or before
    /// the chunk's first output frame, stepping further back when the container's index is coarse.
    /// Returns that keyframe's packet, already read.
    private func seekToStart() throws(MediaError) -> UnsafeMutablePointer<AVPacket>? {
        guard start > Rational(0), let videoStream else { return nil }
        let base = Rational(videoStream.pointee.time_base)
        let target = ((start + origin) / base).floor
        var margin = Rational(0)
        while true {
            let ts = ((start + origin - margin) / base).floor
            let status = avformat_seek_file(input.context, videoStream.pointee.index, Int64.min, ts, ts, 0)
            if status < 0 {
                av_seek_frame(input.context, videoStream.pointee.index, Int64.min, AVSEEK_FLAG_BACKWARD)
            }
            var packet: UnsafeMutablePointer<AVPacket>? = av_packet_alloc()
            guard let current = packet else { throw .internalFailure("out of memory") }
            while av_read_frame(input.context, current) >= 0 {
                if current.pointee.stream_index == videoStream.pointee.index && current.pointee.flags & AV_PKT_FLAG_KEY != 0 {
                    let time = current.pointee.pts != noPTS ? current.pointee.pts : current.pointee.dts
                    if time <= target || status < 0 { return current }
                    break
                }
                av_packet_unref(current)
            }
            av_packet_free(&packet)
            if start + origin - margin <= Rational(0) || status < 0 {
                throw .internalFailure("cannot find a keyframe before \(start.seconds) s")
            }
            margin = max(Rational(1), margin * Rational(2))
        }
    }

    private func addAudio(_ frame: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
        guard let audio, let audioDecoder else { return }
        let start = (audioDecoder.time(of: frame) ?? audioEnd + origin) - origin
        try bounds.check(start: start, path: input.path, what: "its audio")
        try audio.add(frame, start: start)
        let length = Rational(Int64(frame.pointee.nb_samples), Int64(max(frame.pointee.sample_rate, 1)))
        audioEnd = max(audioEnd, start + length)
    }

    private func report() {
        guard let progress, Date().timeIntervalSince(lastReport) >= 0.25 else { return }
        lastReport = Date()
        let from = start.seconds
        let to = end?.seconds ?? duration ?? 0
        let done = reached.seconds - from
        let elapsed = max(Date().timeIntervalSince(started), 0.001)
        let fraction = to > from ? min(max(done / (to - from), 0), 1) : 0
        progress(TranscodeProgress(fraction: fraction, frames: ladder?.framesOut ?? 0, speed: done / elapsed,
                                   parts: (ladder?.summaries ?? []) + [audioWriter?.summary].compactMap { $0 }))
    }

    // MARK: finish

    /// A container that promised more than it delivered was cut short: say so instead of publishing half a video.
    private func checkComplete() throws(MediaError) {
        if let ladder, ladder.framesOut == 0, scope.firstSegment == 0 {
            throw .truncated(path: input.path, detail: "no picture could be decoded")
        }
        guard let duration, input.context.pointee.duration_estimation_method != AVFMT_DURATION_FROM_BITRATE else { return }
        let got = reached.seconds
        if got < duration - max(1.0, duration * 0.05) {
            throw .truncated(path: input.path, detail: String(format: "the data ends at %.1f s of %.1f s", got, duration))
        }
    }

    private func finishOutput() throws(MediaError) -> TranscodeResult {
        var parts = ladder?.summaries ?? []
        if let audioWriter, !audioWriter.segments.isEmpty { parts.append(audioWriter.summary) }
        for i in parts.indices { parts[i].timeOffset = timeOffset.seconds }
        if scope.isWholeFile && parts.allSatisfy(\.segments.isEmpty) {
            throw .noUsableStream(path: input.path, detail: "nothing could be decoded")
        }
        if scope.writePlaylists {
            try HLSAssembler.write(parts, to: directory, final: true, segmentDuration: profile.segmentDuration)
        }
        let posterExists = FileManager.default.fileExists(atPath: directory.appendingPathComponent("poster.jpg").path)
        let duration = (parts.first { $0.kind == "video" } ?? parts.first)?.totalDuration ?? 0
        var storyboard = ladder?.storyboardPart
        if scope.writePlaylists, let part = storyboard, !part.tiles.isEmpty {
            do {
                try StoryboardIndex.write(tiles: part.tiles, interval: part.interval, duration: duration, to: directory)
            } catch {
                storyboard?.error = "\(error)"
            }
        }
        return TranscodeResult(
            masterPlaylist: "master.m3u8",
            poster: posterExists ? "poster.jpg" : nil,
            duration: duration,
            renditions: parts.map(TranscodeResult.Rendition.init),
            parts: parts,
            storyboard: storyboard)
    }
}
