import CFFmpeg

/// `reel probe`: what a file holds, or a `MediaError` that says why it cannot be used.
public enum Prober {
    /// Opens `path` as any worker would (accepted containers only, local files only) and checks what it
    /// claims against `limits`.
    public static func probe(path: String, limits: MediaLimits = .standard) throws(MediaError) -> ProbeResult {
        let input = try InputFile(path: path, limits: limits)
        return try describe(input)
    }

    static func describe(_ input: InputFile) throws(MediaError) -> ProbeResult {
        if input.indexPointsPastEnd() {
            throw .truncated(path: input.path, detail: "the file ends before the data its index lists")
        }
        let bestVideo = input.bestStream(AVMEDIA_TYPE_VIDEO)
        let bestAudio = input.bestStream(AVMEDIA_TYPE_AUDIO)
        let streams = input.streams.map { stream in
            describe(stream, isDefault: stream == bestVideo || stream == bestAudio,
                     timing: stream == bestVideo ? input.frameTiming(stream) : nil)
        }
        if bestVideo == nil && bestAudio == nil {
            let kinds = streams.map { "\($0.kind.rawValue) (\($0.codec))" }
            let detail = kinds.isEmpty ? "the container holds no streams" : "it holds only " + kinds.joined(separator: ", ")
            throw .noUsableStream(path: input.path, detail: detail)
        }
        for stream in [bestVideo, bestAudio].compactMap({ $0 }) where avcodec_find_decoder(stream.parameters.codec_id) == nil {
            throw .unsupportedCodec(path: input.path, codec: stream.codecName)
        }
        let bitrate = input.context.pointee.bit_rate
        let result = ProbeResult(
            path: input.path,
            container: input.formatName,
            containerLongName: input.formatLongName,
            sizeBytes: input.fileSize,
            duration: input.duration,
            bitrate: bitrate > 0 ? Int(bitrate) : nil,
            streams: streams
        )
        if let violation = input.limits.violation(of: result, streamCount: streams.count) {
            throw .exceedsLimit(path: input.path, detail: violation)
        }
        return result
    }

    private static func describe(_ stream: UnsafeMutablePointer<AVStream>, isDefault: Bool, timing: FrameTiming?) -> StreamInfo {
        let par = stream.parameters
        let descriptor = avcodec_descriptor_get(par.codec_id)
        let profileName = avcodec_profile_name(par.codec_id, par.profile).map { String(cString: $0) }
        var info = StreamInfo(
            index: Int(stream.pointee.index),
            kind: kind(par.codec_type),
            codec: stream.codecName,
            codecLongName: descriptor?.pointee.long_name.map { String(cString: $0) },
            profile: profileName,
            bitrate: par.bit_rate > 0 ? Int(par.bit_rate) : nil,
            isDefaultChoice: isDefault,
            video: nil,
            audio: nil
        )
        if par.codec_type == AVMEDIA_TYPE_VIDEO {
            let format = AVPixelFormat(rawValue: par.format)
            let pixDesc = av_pix_fmt_desc_get(format)
            let display = stream.displaySize
            let rate = timing?.average ?? stream.averageFrameRate
            info.video = VideoDetails(
                pixelFormat: av_get_pix_fmt_name(format).map { String(cString: $0) },
                bitDepth: pixDesc.map { Int($0.pointee.comp.0.depth) },
                chromaSubsampling: pixDesc.map { chromaName($0.pointee) },
                codedWidth: Int(par.width),
                codedHeight: Int(par.height),
                rotation: stream.uprightRotation,
                displayWidth: display.width,
                displayHeight: display.height,
                sampleAspectRatio: stream.sampleAspectRatio?.description,
                frameRate: rate?.description,
                frameRateValue: rate?.seconds,
                variableFrameRate: timing?.isVariable ?? stream.isVariableFrameRate,
                fieldOrder: stream.fieldOrderName
            )
        } else if par.codec_type == AVMEDIA_TYPE_AUDIO {
            info.audio = AudioDetails(
                sampleRate: Int(par.sample_rate),
                channels: Int(par.ch_layout.nb_channels),
                channelLayout: channelLayoutName(par.ch_layout),
                sampleFormat: av_get_sample_fmt_name(AVSampleFormat(rawValue: par.format)).map { String(cString: $0) }
            )
        }
        return info
    }

    private static func kind(_ type: AVMediaType) -> StreamInfo.Kind {
        switch type {
        case AVMEDIA_TYPE_VIDEO: .video
        case AVMEDIA_TYPE_AUDIO: .audio
        case AVMEDIA_TYPE_SUBTITLE: .subtitle
        case AVMEDIA_TYPE_DATA: .data
        case AVMEDIA_TYPE_ATTACHMENT: .attachment
        default: .other
        }
    }

    private static func chromaName(_ desc: AVPixFmtDescriptor) -> String {
        if desc.nb_components < 3 { return "gray" }
        switch (desc.log2_chroma_w, desc.log2_chroma_h) {
        case (1, 1): return "4:2:0"
        case (1, 0): return "4:2:2"
        case (0, 0): return "4:4:4"
        case (2, 0): return "4:1:1"
        default: return "other"
        }
    }
}
