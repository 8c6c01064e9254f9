import CFFmpeg
import Foundation
import Profiles

/// One transcode, from open to playlists. Lives on one thread and owns every FFmpeg handle it uses.
final class TranscodeSession {
    private let input: InputFile
    private let directory: URL
    private let profile: Profile
    private let progress: (@Sendable (TranscodeProgress) -> Void)?
    private let isCancelled: @Sendable () -> Bool
    private let duration: Double?

    private let videoStream: UnsafeMutablePointer<AVStream>?
    private let audioStream: UnsafeMutablePointer<AVStream>?
    /// Source time that becomes output time zero.
    private let origin: Rational

    private var ladder: VideoLadder?
    private var audio: AudioEncoder?
    private var audioWriter: RenditionWriter?
    private var audioDecoder: Decoder?
    private var audioEnd = Rational(0)

    private var lastReport = Date.distantPast
    private let started = Date()

    init(input path: String, directory: URL, profile: Profile,
         progress: (@Sendable (TranscodeProgress) -> Void)?, isCancelled: @escaping @Sendable () -> Bool) throws(MediaError) {
        input = try InputFile(path: path)
        let probe = try Prober.describe(input)
        self.directory = directory
        self.profile = profile
        self.progress = progress
        self.isCancelled = isCancelled
        duration = probe.duration
        videoStream = input.bestStream(AVMEDIA_TYPE_VIDEO)
        audioStream = input.bestStream(AVMEDIA_TYPE_AUDIO)
        for stream in input.streams where stream != videoStream && stream != audioStream {
            stream.pointee.discard = AVDISCARD_ALL
        }
        origin = [videoStream, audioStream].compactMap { stream -> Rational? in
            guard let stream, stream.pointee.start_time != noPTS else { return nil }
            return Rational(stream.pointee.start_time) * Rational(stream.pointee.time_base)
        }.min() ?? Rational(0)
    }

    func run() throws(MediaError) -> TranscodeResult {
        try prepare()
        let packet = av_packet_alloc()!
        defer { var p: UnsafeMutablePointer<AVPacket>? = packet; av_packet_free(&p) }
        while true {
            if isCancelled() { throw .internalFailure("cancelled") }
            let status = av_read_frame(input.context, packet)
            if status == averrorEOF { break }
            if status < 0 {
                if status == reel_averror_invaliddata() { continue }
                throw .truncated(path: input.path, detail: "reading stopped at \(String(format: "%.1f", seconds(reached))) s: \(ffmpegErrorText(status))")
            }
            defer { av_packet_unref(packet) }
            if let ladder, packet.pointee.stream_index == videoStream?.pointee.index {
                try ladder.decode(packet)
            } else if let audioDecoder, packet.pointee.stream_index == audioStream?.pointee.index {
                try audioDecoder.decode(packet) { frame throws(MediaError) in try addAudio(frame) }
            }
            report()
        }
        try ladder?.decode(nil)
        try audioDecoder?.decode(nil) { frame throws(MediaError) in try addAudio(frame) }
        try ladder?.finish()
        if audio != nil { try audio?.finish() }
        try checkComplete()
        return try writePlaylists()
    }

    private var reached: Rational { max(ladder?.reached ?? Rational(0), audioEnd) }
    private func seconds(_ r: Rational) -> Double { r.seconds }

    // MARK: setup

    private func prepare() throws(MediaError) {
        let interval = Rational(Int64((profile.keyframeInterval * 1000).rounded()), 1000)
        let perSegment = Int64((profile.segmentDuration / profile.keyframeInterval).rounded())
        if let audioStream {
            audioDecoder = try Decoder(stream: audioStream, path: input.path)
            let encoder = try AudioEncoder(spec: profile.audio)
            if audioStream.pointee.duration > 0, audioStream.pointee.start_time != noPTS {
                let end = Rational(audioStream.pointee.start_time + audioStream.pointee.duration) * Rational(audioStream.pointee.time_base) - origin
                encoder.sampleLimit = end.ticks(encoder.sampleRate)
            }
            audio = encoder
        }
        var timeline: SegmentTimeline
        var offset: Rational
        if let videoStream {
            let ladder = try VideoLadder(stream: videoStream, timing: input.frameTiming(videoStream), path: input.path, profile: profile, origin: origin,
                                         keyframeInterval: interval, poster: directory.appendingPathComponent("poster.jpg"))
            timeline = SegmentTimeline(interval: interval, segmentKeyframes: perSegment, framePeriods: ladder.framePeriods)
            // Every timestamp is shifted by one constant so no decode time is negative (B-frame reordering,
            // AAC priming). It is a whole number of grid periods, so it is exact on every rung's clock.
            let delay = max(ladder.reorderDelay, audio?.primingDelay ?? Rational(0))
            offset = Rational((delay / timeline.gridPeriod).ceil) * timeline.gridPeriod
            try ladder.start(timeline: timeline, offset: offset, root: directory)
            self.ladder = ladder
        } else {
            timeline = SegmentTimeline(interval: interval, segmentKeyframes: perSegment,
                                       framePeriods: [Rational(1, Int64(profile.audio.sampleRate))])
            offset = audio?.primingDelay ?? Rational(0)
        }
        if let audio {
            let writer = try RenditionWriter(name: "audio", root: directory, config: audio.codecConfig,
                                             timescale: audio.sampleRate, timeline: timeline)
            audio.attach(writer: writer, offsetTicks: offset.ticks(audio.sampleRate))
            audioWriter = writer
        }
    }

    private func addAudio(_ frame: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
        guard let audio, let audioDecoder else { return }
        let start = (audioDecoder.time(of: frame) ?? audioEnd + origin) - origin
        try audio.add(frame, start: start)
        let length = Rational(Int64(frame.pointee.nb_samples), Int64(max(frame.pointee.sample_rate, 1)))
        audioEnd = max(audioEnd, start + length)
    }

    private func report() {
        guard let progress, Date().timeIntervalSince(lastReport) >= 0.25 else { return }
        lastReport = Date()
        let done = reached.seconds
        let elapsed = max(Date().timeIntervalSince(started), 0.001)
        let fraction = duration.map { $0 > 0 ? min(done / $0, 1) : 0 } ?? 0
        progress(TranscodeProgress(fraction: fraction, frames: ladder?.framesOut ?? 0, speed: done / elapsed))
    }

    // MARK: finish

    /// A container that promised more than it delivered was cut short: say so instead of publishing half a video.
    private func checkComplete() throws(MediaError) {
        if let ladder, ladder.framesOut == 0 {
            throw .truncated(path: input.path, detail: "no picture could be decoded")
        }
        guard let duration, input.context.pointee.duration_estimation_method != AVFMT_DURATION_FROM_BITRATE else { return }
        let got = reached.seconds
        if got < duration - max(1.0, duration * 0.05) {
            throw .truncated(path: input.path, detail: String(format: "the data ends at %.1f s of %.1f s", got, duration))
        }
    }

    private func writePlaylists() throws(MediaError) -> TranscodeResult {
        let videoSummaries = ladder?.summaries ?? []
        var audioSummary: RenditionSummary?
        if let audioWriter, !audioWriter.segments.isEmpty {
            audioSummary = RenditionSummary(
                name: audioWriter.name, directory: audioWriter.directory.path, codecs: audioWriter.codecs,
                width: nil, height: nil, frameRate: nil, channels: profile.audio.channels,
                segments: audioWriter.segments, iframes: [])
        }
        if videoSummaries.isEmpty && audioSummary == nil {
            throw .noUsableStream(path: input.path, detail: "nothing could be decoded")
        }
        var files: [(String, String)] = [("master.m3u8", HLSPlaylists.masterPlaylist(video: videoSummaries, audio: audioSummary))]
        for v in videoSummaries {
            files.append(("\(v.name)/index.m3u8", HLSPlaylists.mediaPlaylist(v)))
            files.append(("\(v.name)/iframes.m3u8", HLSPlaylists.iframePlaylist(v)))
        }
        if let a = audioSummary { files.append(("\(a.name)/index.m3u8", HLSPlaylists.mediaPlaylist(a))) }
        for (name, text) in files {
            let url = directory.appendingPathComponent(name)
            do { try Data(text.utf8).write(to: url) } catch { throw .outputFailed(path: url.path, reason: error.localizedDescription) }
        }
        let renditions = videoSummaries.map { rendition($0, kind: "video") } + (audioSummary.map { [rendition($0, kind: "audio")] } ?? [])
        let posterExists = FileManager.default.fileExists(atPath: directory.appendingPathComponent("poster.jpg").path)
        return TranscodeResult(
            masterPlaylist: "master.m3u8",
            poster: posterExists ? "poster.jpg" : nil,
            duration: (videoSummaries.first ?? audioSummary)?.totalDuration ?? 0,
            renditions: renditions)
    }

    private func rendition(_ s: RenditionSummary, kind: String) -> TranscodeResult.Rendition {
        .init(name: s.name, kind: kind, width: s.width, height: s.height, frameRate: s.frameRate, codecs: s.codecs,
              peakBitrate: s.peakBitrate, averageBitrate: s.averageBitrate, segments: s.segments.count, duration: s.totalDuration)
    }
}
