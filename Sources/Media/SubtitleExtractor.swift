import CFFmpeg
import Foundation

/// A text subtitle stream found in a source, decoded to timed lines.
public struct ExtractedSubtitles: Sendable, Equatable {
    public struct Line: Sendable, Equatable {
        /// Seconds on the output's timeline (the same origin as the video's first picture).
        public var start: Double
        public var end: Double
        public var text: String
    }

    public var streamIndex: Int
    public var codec: String
    /// The stream's `language` tag (ISO 639-2 such as `eng`), when it has one.
    public var language: String?
    public var title: String?
    public var isDefault: Bool
    public var lines: [Line]
}

/// Reads the text subtitle streams of a source (mov_text, SubRip, ASS/SSA, WebVTT) with FFmpeg's subtitle
/// decoders. Bitmap subtitles (PGS, DVB, VobSub) are left out: they would need OCR.
enum SubtitleExtractor {
    static let textCodecs: Set<AVCodecID> = [AV_CODEC_ID_MOV_TEXT, AV_CODEC_ID_SUBRIP, AV_CODEC_ID_SRT, AV_CODEC_ID_ASS,
                                             AV_CODEC_ID_SSA, AV_CODEC_ID_WEBVTT, AV_CODEC_ID_TEXT]
    /// Lines kept per stream; a hostile file cannot make more.
    static let maxLines = 20_000

    static func extract(input: InputFile) throws(MediaError) -> [ExtractedSubtitles] {
        let streams = input.streams.filter {
            $0.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_SUBTITLE && textCodecs.contains($0.pointee.codecpar.pointee.codec_id)
        }
        guard !streams.isEmpty else { return [] }
        let origin = input.timelineOrigin([input.bestStream(AVMEDIA_TYPE_VIDEO), input.bestStream(AVMEDIA_TYPE_AUDIO)])
        var decoders: [Int32: SubtitleDecoder] = [:]
        for stream in streams {
            if let decoder = try? SubtitleDecoder(stream: stream, origin: origin) { decoders[stream.pointee.index] = decoder }
        }
        guard !decoders.isEmpty else { return [] }
        for stream in input.streams where decoders[stream.pointee.index] == nil { stream.pointee.discard = AVDISCARD_ALL }
        var owned = av_packet_alloc()
        defer { av_packet_free(&owned) }
        guard let packet = owned else { throw .internalFailure("out of memory allocating a packet") }
        while true {
            let status = av_read_frame(input.context, packet)
            if status < 0 {
                if let stopped = input.gate.error(path: input.path) { throw stopped }
                break  // the end, or a damaged tail: keep what was read
            }
            defer { av_packet_unref(packet) }
            decoders[packet.pointee.stream_index]?.decode(packet)
        }
        return streams.compactMap { stream in
            guard let decoder = decoders[stream.pointee.index], !decoder.lines.isEmpty else { return nil }
            return ExtractedSubtitles(streamIndex: Int(stream.pointee.index), codec: String(cString: avcodec_get_name(stream.pointee.codecpar.pointee.codec_id)),
                                      language: tag(stream, "language"), title: tag(stream, "title"),
                                      isDefault: stream.pointee.disposition & AV_DISPOSITION_DEFAULT != 0, lines: decoder.lines)
        }
    }

    static func tag(_ stream: UnsafeMutablePointer<AVStream>, _ key: String) -> String? {
        guard let entry = av_dict_get(stream.pointee.metadata, key, nil, 0), let value = entry.pointee.value else { return nil }
        let text = String(cString: value).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    /// The text of an ASS event as FFmpeg's decoders give it (`ReadOrder,Layer,Style,Name,MarginL,MarginR,
    /// MarginV,Effect,Text`): the Text field, override blocks `{\…}` removed, `\N`/`\n` as line breaks.
    static func assText(_ event: String) -> String {
        var fields = 0
        var index = event.startIndex
        while fields < 8, let comma = event[index...].firstIndex(of: ",") {
            index = event.index(after: comma)
            fields += 1
        }
        var text = fields == 8 ? String(event[index...]) : event
        text = text.replacingOccurrences(of: #"\{[^}]*\}"#, with: "", options: .regularExpression)
        text = text.replacingOccurrences(of: "\\N", with: "\n").replacingOccurrences(of: "\\n", with: "\n")
            .replacingOccurrences(of: "\\h", with: " ")
        return cleaned(text)
    }

    /// Lines trimmed, empty lines dropped (a blank line would end a WebVTT cue), `-->` defused.
    static func cleaned(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: "\n").replacingOccurrences(of: "-->", with: "->")
    }
}

/// One subtitle stream's decoder. Owns its `AVCodecContext`; use it on one thread only.
private final class SubtitleDecoder {
    let stream: UnsafeMutablePointer<AVStream>
    let context: UnsafeMutablePointer<AVCodecContext>
    let origin: Rational
    private(set) var lines: [ExtractedSubtitles.Line] = []

    init(stream: UnsafeMutablePointer<AVStream>, origin: Rational) throws(MediaError) {
        self.stream = stream
        self.origin = origin
        guard let codec = avcodec_find_decoder(stream.pointee.codecpar.pointee.codec_id),
              let ctx = avcodec_alloc_context3(codec) else { throw .internalFailure("no subtitle decoder") }
        context = ctx
        guard avcodec_parameters_to_context(ctx, stream.pointee.codecpar) >= 0 else { throw .internalFailure("subtitle parameters") }
        ctx.pointee.pkt_timebase = stream.pointee.time_base
        guard avcodec_open2(ctx, codec, nil) >= 0 else { throw .internalFailure("cannot open the subtitle decoder") }
    }

    deinit {
        var ctx: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&ctx)
    }

    func decode(_ packet: UnsafeMutablePointer<AVPacket>) {
        guard lines.count < SubtitleExtractor.maxLines, packet.pointee.pts != noPTS else { return }
        var subtitle = AVSubtitle()
        var got: Int32 = 0
        guard avcodec_decode_subtitle2(context, &subtitle, &got, packet) >= 0, got != 0 else { return }
        defer { avsubtitle_free(&subtitle) }
        let base = Rational(stream.pointee.time_base)
        let at = Rational(packet.pointee.pts) * base - origin
        let start = at + Rational(Int64(subtitle.start_display_time), 1000)
        let end: Rational
        if subtitle.end_display_time > subtitle.start_display_time && subtitle.end_display_time != UInt32.max {
            end = at + Rational(Int64(subtitle.end_display_time), 1000)
        } else if packet.pointee.duration > 0 {
            end = at + Rational(packet.pointee.duration) * base
        } else {
            return
        }
        var parts: [String] = []
        for i in 0..<Int(subtitle.num_rects) {
            guard let rect = subtitle.rects[i] else { continue }
            if let ass = rect.pointee.ass {
                parts.append(SubtitleExtractor.assText(String(cString: ass)))
            } else if let text = rect.pointee.text {
                parts.append(SubtitleExtractor.cleaned(String(cString: text)))
            }
        }
        let text = parts.filter { !$0.isEmpty }.joined(separator: "\n")
        guard !text.isEmpty, end > start else { return }
        lines.append(.init(start: start.seconds, end: end.seconds, text: text))
    }
}

extension Transcoder {
    /// The text subtitle streams of `input`, decoded (reads the whole file; only subtitle packets are kept).
    public static func subtitles(input: String, limits: MediaLimits = .standard, deadline: Date? = nil,
                                 isCancelled: @escaping @Sendable () -> Bool = { false }) async throws(MediaError) -> [ExtractedSubtitles] {
        try await onOwnThread { () throws(MediaError) in
            let file = try InputFile(path: input, limits: limits, gate: InputGate(isCancelled: isCancelled, deadline: deadline))
            return try SubtitleExtractor.extract(input: file)
        }
    }
}
