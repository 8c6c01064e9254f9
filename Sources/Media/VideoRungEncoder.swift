import CFFmpeg
import Foundation
import Profiles

/// One rung of the ladder: scales each frame to the rung's size with libswscale, encodes it with libx264
/// (IDR frames forced exactly on the shared keyframe timeline, no scene-cut keyframes, closed GOPs), and
/// hands the packets to its `RenditionWriter`. Owns FFmpeg handles: use it on one thread only.
final class VideoRungEncoder {
    let rung: PlannedRung
    private let codec: UnsafeMutablePointer<AVCodecContext>
    private var scaler: OpaquePointer?
    private let scaled: UnsafeMutablePointer<AVFrame>
    private let packet: UnsafeMutablePointer<AVPacket>
    /// Ticks of the shared video timescale per output frame of this rung.
    let ticksPerFrame: Int64
    let timescale: Int64
    private var offsetTicks: Int64 = 0
    private var writer: RenditionWriter?
    private(set) var framesEncoded = 0

    /// Frame period of this rung in seconds.
    var framePeriod: Rational { Rational(Int64(rung.frameRate.den), Int64(rung.frameRate.num)) }

    /// libx264 frame threads for each of `encoders` encoders running side by side. On its own, x264 takes
    /// 1.5 × cores per encoder, so a ladder runs rungs × that many frames in flight, each with its own
    /// buffers, for no more speed: the rungs already keep the cores busy between them. Two is the least
    /// that lets an encoder work while the next rung is fed. (Holdout clip, 2 cores: the same wall time,
    /// 13 MiB less peak RSS on the 3-rung ladder and 24 MiB on the 5-rung one.)
    static func threads(encoders: Int, cores: Int) -> Int {
        max(2, Int((Double(max(cores, 1)) * 1.5 / Double(max(encoders, 1))).rounded(.up)))
    }

    /// `threads`: libx264 frame threads (nil: x264 chooses, 1.5 × cores).
    init(rung: PlannedRung, profile: Profile, timescale: Int64, keyframeInterval: Rational, threads: Int? = nil) throws(MediaError) {
        self.rung = rung
        self.timescale = timescale
        let period = Rational(Int64(rung.frameRate.den), Int64(rung.frameRate.num))
        ticksPerFrame = (period * Rational(timescale)).num
        guard let encoder = avcodec_find_encoder_by_name("libx264") else {
            throw .internalFailure("this FFmpeg build has no libx264 encoder")
        }
        var allocatedContext = avcodec_alloc_context3(encoder)
        var allocatedFrame = av_frame_alloc()
        var allocatedPacket = av_packet_alloc()
        guard let ctx = allocatedContext, let frame = allocatedFrame, let pkt = allocatedPacket else {
            // `deinit` does not run for a half-made object: free what was allocated.
            avcodec_free_context(&allocatedContext); av_frame_free(&allocatedFrame); av_packet_free(&allocatedPacket)
            throw .internalFailure("out of memory allocating the \(rung.name) encoder")
        }
        codec = ctx; scaled = frame; packet = pkt
        // Every stored property is set: `deinit` frees the handles if anything below throws.
        // Sizes and rates derive from the file: refuse what does not fit FFmpeg's 32-bit fields.
        guard let width = Int32(exactly: rung.width), let height = Int32(exactly: rung.height),
              let rateNum = Int32(exactly: rung.frameRate.num), let rateDen = Int32(exactly: rung.frameRate.den),
              width > 0, height > 0, rateNum > 0, rateDen > 0 else {
            throw .internalFailure("the \(rung.name) rung's size \(rung.width)×\(rung.height) or rate \(rung.frameRate.num)/\(rung.frameRate.den) is out of range")
        }
        ctx.pointee.width = width
        ctx.pointee.height = height
        ctx.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        ctx.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
        ctx.pointee.time_base = AVRational(num: rateDen, den: rateNum)
        ctx.pointee.framerate = AVRational(num: rateNum, den: rateDen)
        ctx.pointee.bit_rate = Int64(rung.videoBitrate)
        ctx.pointee.rc_max_rate = Int64(rung.peakBitrate)
        ctx.pointee.rc_buffer_size = Int32(clamping: rung.videoBitrate * 2)
        // Forced keyframes decide the GOP; x264's own limit only has to stay out of the way.
        let framesPerInterval = (keyframeInterval / period).ceil
        ctx.pointee.gop_size = Int32(clamping: framesPerInterval * 2 + 1)
        ctx.pointee.flags |= Int32(AV_CODEC_FLAG_GLOBAL_HEADER)
        var options: [(String, String)] = [
            ("preset", profile.preset),
            ("profile", rung.codecProfile),
            ("level", rung.level),
            ("forced-idr", "1"),
            ("x264-params", "scenecut=0:open-gop=0"),
        ]
        if let threads { options.append(("threads", String(threads))) }
        var dict: OpaquePointer? = nil
        for (key, value) in options { av_dict_set(&dict, key, value, 0) }
        let status = avcodec_open2(ctx, encoder, &dict)
        av_dict_free(&dict)
        if status < 0 {
            throw .internalFailure("cannot open libx264 for \(rung.name) (\(rung.codecProfile) \(rung.level)): \(ffmpegErrorText(status))")
        }
    }

    deinit {
        sws_freeContext(scaler)
        var ctx: UnsafeMutablePointer<AVCodecContext>? = codec
        avcodec_free_context(&ctx)
        var frame: UnsafeMutablePointer<AVFrame>? = scaled
        av_frame_free(&frame)
        var pkt: UnsafeMutablePointer<AVPacket>? = packet
        av_packet_free(&pkt)
    }

    /// Frames the encoder holds back for B-frame reordering: the output timeline must start late enough
    /// that no decode time is negative.
    var reorderDelay: Rational { Rational(Int64(max(codec.pointee.has_b_frames, 0))) * framePeriod }

    /// The largest reorder delay (seconds) among `rungs`, found by opening a tiny encoder with each
    /// rung's settings: it depends on the preset and H.264 profile only, not on the picture size, so
    /// every piece of a video computes the same value without opening the real encoders.
    static func reorderDelay(of rungs: [PlannedRung], preset: String) throws(MediaError) -> Rational {
        var delays: [String: Int64] = [:]
        var worst = Rational(0)
        for rung in rungs {
            let frames: Int64
            if let known = delays[rung.codecProfile] {
                frames = known
            } else {
                var probe = rung
                (probe.width, probe.height) = (64, 64)
                let profile = Profile(name: "probe", rungs: [], audio: .standard, segmentDuration: 6, keyframeInterval: 2, preset: preset)
                let encoder = try VideoRungEncoder(rung: probe, profile: profile, timescale: Int64(rung.frameRate.num),
                                                   keyframeInterval: Rational(2))
                frames = Int64(max(encoder.codec.pointee.has_b_frames, 0))
                delays[rung.codecProfile] = frames
            }
            worst = max(worst, Rational(frames) * Rational(Int64(rung.frameRate.den), Int64(rung.frameRate.num)))
        }
        return worst
    }

    /// The SPS/PPS the encoder will use, once opened.
    var codecConfig: CodecConfig? {
        guard let extradata = codec.pointee.extradata, codec.pointee.extradata_size > 0 else { return nil }
        let bytes = Array(UnsafeBufferPointer(start: extradata, count: Int(codec.pointee.extradata_size)))
        return AVCDecoderConfig(annexB: bytes).map { .avc($0, width: rung.width, height: rung.height) }
    }

    /// The picture last given to the encoder, at this rung's size (valid until the next `encode`).
    var picture: UnsafeMutablePointer<AVFrame> { scaled }

    func attach(writer: RenditionWriter, offsetTicks: Int64) {
        self.writer = writer
        self.offsetTicks = offsetTicks
    }

    /// Scales `source` to this rung and encodes it as output frame number `slot`.
    func encode(_ source: UnsafeMutablePointer<AVFrame>, slot: Int64, keyframe: Bool) throws(MediaError) {
        if source.pointee.width == Int32(rung.width) && source.pointee.height == Int32(rung.height)
            && source.pointee.format == AV_PIX_FMT_YUV420P.rawValue {
            // Already the right size and format: encode the decoded picture itself, no copy.
            av_frame_unref(scaled)
            try check(av_frame_ref(scaled, source), "referencing a frame")
        } else {
            try scale(source)
        }
        scaled.pointee.pts = slot
        scaled.pointee.pict_type = keyframe ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE
        scaled.pointee.key_frame = keyframe ? 1 : 0
        scaled.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
        try check(avcodec_send_frame(codec, scaled), "encoding")
        framesEncoded += 1
        try drain()
    }

    private func scale(_ source: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
        try ScaleCascade.scale(source, into: scaled, width: rung.width, height: rung.height, scaler: &scaler, rung: rung.name)
    }

    /// Flushes the encoder and the rendition.
    func finish() throws(MediaError) {
        try check(avcodec_send_frame(codec, nil), "flushing")
        try drain()
        try writer?.finish()
    }

    private func drain() throws(MediaError) {
        while true {
            let status = avcodec_receive_packet(codec, packet)
            if status == averrorEAGAIN || status == averrorEOF { return }
            try check(status, "encoding")
            defer { av_packet_unref(packet) }
            let p = packet.pointee
            let data = AnnexB.lengthPrefixed(UnsafeBufferPointer(start: p.data, count: Int(p.size)))
            let sample = MediaSample(
                data: data,
                dts: p.dts * ticksPerFrame + offsetTicks,
                pts: p.pts * ticksPerFrame + offsetTicks,
                isSync: p.flags & AV_PKT_FLAG_KEY != 0,
                duration: ticksPerFrame)
            try writer?.write(sample, at: Rational(p.pts) * framePeriod)
        }
    }

    private func check(_ status: Int32, _ what: String) throws(MediaError) {
        if status < 0 { throw .internalFailure("\(what) \(rung.name): \(ffmpegErrorText(status))") }
    }
}
