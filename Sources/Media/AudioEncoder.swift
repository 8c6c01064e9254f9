import CFFmpeg
import Foundation
import Profiles

/// The single audio rendition: resamples decoded audio of any layout to stereo (or the profile's channel
/// count) with libswresample, re-blocks it into AAC frames, encodes AAC-LC once for the whole ladder and
/// hands packets to its `RenditionWriter`. Owns FFmpeg handles: use it on one thread only.
final class AudioEncoder {
    private let codec: UnsafeMutablePointer<AVCodecContext>
    private var resampler: OpaquePointer?
    private var resamplerInput: (rate: Int32, format: Int32, layout: String)?
    /// Set once the encoder is open (its frame size sizes the buffer).
    private var fifo: OpaquePointer?
    private let frame: UnsafeMutablePointer<AVFrame>
    private let packet: UnsafeMutablePointer<AVPacket>
    private let spec: AudioSpec
    private var writer: RenditionWriter?
    private var offsetTicks: Int64 = 0
    /// Samples (at the output rate) handed to the encoder so far: the next frame's pts.
    private var samplesQueued: Int64 = 0
    private var started = false
    /// Samples put into the FIFO so far, and how many the source declares (decoders keep the padding
    /// of the last AAC/MP3 frame; the container's duration says where the real audio ends).
    private var samplesBuffered: Int64 = 0
    var sampleLimit: Int64?
    /// Asked between blocks of leading silence, which can be long; with the path for its error.
    var gate: (InputGate, path: String)?

    var sampleRate: Int64 { Int64(spec.sampleRate) }

    init(spec: AudioSpec) throws(MediaError) {
        self.spec = spec
        guard let encoder = avcodec_find_encoder(AV_CODEC_ID_AAC) else {
            throw .internalFailure("this FFmpeg build has no AAC encoder")
        }
        var ctx = avcodec_alloc_context3(encoder)
        var frame = av_frame_alloc()
        var pkt = av_packet_alloc()
        guard let ctx, let frame, let pkt else {
            // Free whichever allocations succeeded: `deinit` does not run for a half-made object.
            avcodec_free_context(&ctx); av_frame_free(&frame); av_packet_free(&pkt)
            throw .internalFailure("out of memory allocating the audio encoder")
        }
        codec = ctx; self.frame = frame; packet = pkt
        // Every stored property is set from here on, so `deinit` frees the handles if anything below throws.
        ctx.pointee.sample_rate = Int32(spec.sampleRate)
        ctx.pointee.sample_fmt = AV_SAMPLE_FMT_FLTP
        av_channel_layout_default(&ctx.pointee.ch_layout, Int32(spec.channels))
        ctx.pointee.bit_rate = Int64(spec.bitrate)
        ctx.pointee.profile = FF_PROFILE_AAC_LOW
        ctx.pointee.time_base = AVRational(num: 1, den: Int32(spec.sampleRate))
        ctx.pointee.flags |= Int32(AV_CODEC_FLAG_GLOBAL_HEADER)
        let status = avcodec_open2(ctx, encoder, nil)
        if status < 0 { throw .internalFailure("cannot open the AAC encoder: \(ffmpegErrorText(status))") }
        guard let fifo = av_audio_fifo_alloc(AV_SAMPLE_FMT_FLTP, Int32(spec.channels), ctx.pointee.frame_size * 4) else {
            throw .internalFailure("out of memory allocating the audio buffer")
        }
        self.fifo = fifo
    }

    deinit {
        swr_free(&resampler)
        if let fifo { av_audio_fifo_free(fifo) }
        var ctx: UnsafeMutablePointer<AVCodecContext>? = codec
        avcodec_free_context(&ctx)
        var f: UnsafeMutablePointer<AVFrame>? = frame
        av_frame_free(&f)
        var p: UnsafeMutablePointer<AVPacket>? = packet
        av_packet_free(&p)
    }

    /// Encoder priming: FFmpeg's native AAC encoder always emits 1024 samples before the first real one.
    /// A constant (not read from an opened encoder) so that a video chunk without audio computes the
    /// same timestamp offset as the audio job.
    static func priming(sampleRate: Int) -> Rational { Rational(1024, Int64(sampleRate)) }

    var codecConfig: CodecConfig {
        let asc = codec.pointee.extradata.map { Array(UnsafeBufferPointer(start: $0, count: Int(codec.pointee.extradata_size))) } ?? []
        return .aac(audioSpecificConfig: asc, channels: spec.channels, sampleRate: spec.sampleRate, bitrate: spec.bitrate)
    }

    func attach(writer: RenditionWriter, offsetTicks: Int64) {
        self.writer = writer
        self.offsetTicks = offsetTicks
    }

    /// Adds a decoded frame that starts `start` seconds into the output. The first frame is padded with
    /// silence back to zero so audio and video share one origin.
    func add(_ decoded: UnsafeMutablePointer<AVFrame>, start: Rational) throws(MediaError) {
        try configureResampler(for: decoded)
        if !started {
            started = true
            let lead = (start * Rational(sampleRate)).floor
            if lead > 0 { try queueSilence(lead) }
        }
        let planes = UnsafeMutableRawPointer(decoded.pointee.extended_data).map { $0.assumingMemoryBound(to: UnsafePointer<UInt8>?.self) }
        try convert(input: planes, count: decoded.pointee.nb_samples)
        try encodeWhole(frames: false)
    }

    func finish() throws(MediaError) {
        if resampler != nil { try convert(input: nil, count: 0) }
        try encodeWhole(frames: true)
        try check(avcodec_send_frame(codec, nil), "flushing audio")
        try drain()
        try writer?.finish()
    }

    private func configureResampler(for decoded: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
        let key = (rate: decoded.pointee.sample_rate, format: decoded.pointee.format, layout: channelLayoutName(decoded.pointee.ch_layout))
        if let current = resamplerInput, current == key { return }
        if resampler != nil { try convert(input: nil, count: 0) }   // keep what the old one still holds
        swr_free(&resampler)
        var inLayout = decoded.pointee.ch_layout
        if inLayout.order == AV_CHANNEL_ORDER_UNSPEC { av_channel_layout_default(&inLayout, inLayout.nb_channels) }
        let status = swr_alloc_set_opts2(
            &resampler, &codec.pointee.ch_layout, AV_SAMPLE_FMT_FLTP, codec.pointee.sample_rate,
            &inLayout, AVSampleFormat(rawValue: decoded.pointee.format), decoded.pointee.sample_rate, 0, nil)
        guard status >= 0, swr_init(resampler) >= 0 else {
            throw .internalFailure("cannot convert \(key.layout) audio at \(key.rate) Hz to \(spec.channels) channels")
        }
        resamplerInput = key
    }

    private func convert(input: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, count: Int32) throws(MediaError) {
        let capacity = swr_get_out_samples(resampler, count) + 32
        guard capacity > 0 else { return }
        var buffers: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>? = nil
        try check(av_samples_alloc_array_and_samples(&buffers, nil, Int32(spec.channels), capacity, AV_SAMPLE_FMT_FLTP, 0), "allocating audio")
        defer { av_freep(&buffers![0]); av_freep(&buffers) }
        let produced = swr_convert(resampler, buffers, capacity, input, count)
        try check(produced, "resampling audio")
        let keep = sampleLimit.map { Int32(clamping: max(0, min(Int64(produced), $0 - samplesBuffered))) } ?? produced
        guard keep > 0 else { return }
        try buffers!.withMemoryRebound(to: UnsafeMutableRawPointer?.self, capacity: spec.channels) { raw throws(MediaError) in
            if av_audio_fifo_write(fifo, raw, keep) < keep { throw .internalFailure("audio buffer full") }
        }
        samplesBuffered += Int64(keep)
    }

    /// Queues `count` samples of silence, a second at a time, encoding as it goes: a late first
    /// sample (the file says where it starts) must not become one huge allocation.
    private func queueSilence(_ count: Int64) throws(MediaError) {
        var remaining = count
        while remaining > 0 {
            if let (gate, path) = gate { try gate.check(path: path) }
            let block = Int32(min(remaining, sampleRate))
            var buffers: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>? = nil
            try check(av_samples_alloc_array_and_samples(&buffers, nil, Int32(spec.channels), block, AV_SAMPLE_FMT_FLTP, 0), "allocating audio")
            defer { av_freep(&buffers![0]); av_freep(&buffers) }
            av_samples_set_silence(buffers, 0, block, Int32(spec.channels), AV_SAMPLE_FMT_FLTP)
            try buffers!.withMemoryRebound(to: UnsafeMutableRawPointer?.self, capacity: spec.channels) { raw throws(MediaError) in
                if av_audio_fifo_write(fifo, raw, block) < block { throw .internalFailure("audio buffer full") }
            }
            samplesBuffered += Int64(block)
            remaining -= Int64(block)
            try encodeWhole(frames: false)
        }
    }

    /// Encodes whole AAC frames from the FIFO; at the end also the short remainder.
    private func encodeWhole(frames final: Bool) throws(MediaError) {
        let frameSize = codec.pointee.frame_size
        while av_audio_fifo_size(fifo) >= frameSize || (final && av_audio_fifo_size(fifo) > 0) {
            let count = min(frameSize, av_audio_fifo_size(fifo))
            av_frame_unref(frame)
            frame.pointee.nb_samples = count
            frame.pointee.format = AV_SAMPLE_FMT_FLTP.rawValue
            frame.pointee.sample_rate = codec.pointee.sample_rate
            try check(av_channel_layout_copy(&frame.pointee.ch_layout, &codec.pointee.ch_layout), "audio layout")
            try check(av_frame_get_buffer(frame, 0), "allocating audio")
            let read = frame.pointee.extended_data.withMemoryRebound(to: UnsafeMutableRawPointer?.self, capacity: spec.channels) {
                av_audio_fifo_read(fifo, $0, count)
            }
            if read < count { throw .internalFailure("audio buffer underrun") }
            frame.pointee.pts = samplesQueued
            samplesQueued += Int64(count)
            try check(avcodec_send_frame(codec, frame), "encoding audio")
            try drain()
        }
    }

    private func drain() throws(MediaError) {
        while true {
            let status = avcodec_receive_packet(codec, packet)
            if status == averrorEAGAIN || status == averrorEOF { return }
            try check(status, "encoding audio")
            defer { av_packet_unref(packet) }
            let p = packet.pointee
            // The last packet is padded to a whole AAC frame; end the track where the real audio ends.
            let nominal = p.duration > 0 ? p.duration : Int64(codec.pointee.frame_size)
            let sample = MediaSample(
                data: Array(UnsafeBufferPointer(start: p.data, count: Int(p.size))),
                dts: p.dts + offsetTicks,
                pts: p.pts + offsetTicks,
                isSync: true,
                duration: max(1, min(nominal, samplesQueued - p.pts)))
            try writer?.write(sample, at: Rational(p.pts, sampleRate))
        }
    }

    private func check(_ status: Int32, _ what: String) throws(MediaError) {
        if status < 0 { throw .internalFailure("\(what): \(ffmpegErrorText(status))") }
    }
}
