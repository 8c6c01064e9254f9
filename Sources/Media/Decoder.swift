import CFFmpeg

/// Decodes one stream. Owns its `AVCodecContext`; use it on one thread only.
final class Decoder {
    let stream: UnsafeMutablePointer<AVStream>
    let context: UnsafeMutablePointer<AVCodecContext>
    let frame: UnsafeMutablePointer<AVFrame>
    /// Packets the decoder rejected as damaged; a few are tolerated like FFmpeg's own tools do.
    private(set) var damagedPackets = 0
    private(set) var framesDecoded = 0

    /// Pictures larger than this are refused by the decoder itself (a header can say 320×240 and the
    /// frames 16000×16000); nil for audio.
    private let maxPixels: Int?
    private let path: String

    init(stream: UnsafeMutablePointer<AVStream>, path: String, maxPixels: Int? = nil) throws(MediaError) {
        self.stream = stream
        self.maxPixels = maxPixels
        self.path = path
        guard let decoder = avcodec_find_decoder(stream.parameters.codec_id) else {
            throw .unsupportedCodec(path: path, codec: stream.codecName)
        }
        var ctx = avcodec_alloc_context3(decoder)
        var frame = av_frame_alloc()
        guard let ctx, let frame else {
            avcodec_free_context(&ctx); av_frame_free(&frame)
            throw .internalFailure("out of memory allocating a decoder")
        }
        context = ctx
        self.frame = frame
        // Every stored property is set: `deinit` frees both handles if opening fails below.
        if avcodec_parameters_to_context(ctx, stream.pointee.codecpar) < 0 {
            throw .unsupportedCodec(path: path, codec: stream.codecName)
        }
        ctx.pointee.pkt_timebase = stream.pointee.time_base
        ctx.pointee.thread_count = 0      // one thread per core
        if let maxPixels { ctx.pointee.max_pixels = Int64(maxPixels) }
        let status = avcodec_open2(ctx, decoder, nil)
        if status < 0 { throw .unsupportedCodec(path: path, codec: "\(stream.codecName) (\(ffmpegErrorText(status)))") }
    }

    deinit {
        var ctx: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&ctx)
        var f: UnsafeMutablePointer<AVFrame>? = frame
        av_frame_free(&f)
    }

    /// Whether the decoder may skip pictures nothing else refers to (`AVDISCARD_NONREF`), for the packets
    /// sent from now on. Frame threads copy the setting with each packet.
    func skipNonReference(_ skip: Bool) {
        context.pointee.skip_frame = skip ? AVDISCARD_NONREF : AVDISCARD_DEFAULT
    }

    /// Sends a packet (nil flushes) and calls `body` with each frame that comes out. The frame is only
    /// valid during the call.
    func decode(_ packet: UnsafeMutablePointer<AVPacket>?, _ body: (UnsafeMutablePointer<AVFrame>) throws(MediaError) -> Void) throws(MediaError) {
        var status = avcodec_send_packet(context, packet)
        if status == reel_averror_invaliddata() {
            damagedPackets += 1
            status = 0
        }
        if status < 0 && status != averrorEOF && status != averrorEAGAIN {
            throw failure(status)
        }
        while true {
            let received = avcodec_receive_frame(context, frame)
            if received == averrorEAGAIN || received == averrorEOF { return }
            if received == reel_averror_invaliddata() { damagedPackets += 1; continue }
            if received < 0 { throw failure(received) }
            framesDecoded += 1
            defer { av_frame_unref(frame) }
            try body(frame)
        }
    }

    /// With a pixel bound, FFmpeg refuses an oversized picture with EINVAL: that is the file's doing.
    private func failure(_ status: Int32) -> MediaError {
        if let maxPixels, status == reel_averror(EINVAL) {
            return .exceedsLimit(path: path, detail: "a picture in it is larger than the \(maxPixels / 1_000_000) megapixels allowed (or damaged)")
        }
        return .internalFailure("decoding \(stream.codecName): \(ffmpegErrorText(status))")
    }

    /// A frame's start in seconds on the stream's own clock, when known.
    func time(of frame: UnsafeMutablePointer<AVFrame>) -> Rational? {
        let ts = frame.pointee.best_effort_timestamp
        guard ts != noPTS else { return nil }
        return Rational(ts) * Rational(stream.pointee.time_base)
    }
}
