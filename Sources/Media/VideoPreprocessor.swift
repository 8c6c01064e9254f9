import CFFmpeg
import CFFmpegFilters

/// Turns decoded pictures upright and progressive before scaling: deinterlaces (bwdif) interlaced
/// sources and applies the display-matrix rotation of phone videos. A libavfilter graph, built lazily
/// from the first frame's real format (libavfilter itself is loaded only then: CFFmpegFilters); frames
/// pass straight through when nothing is needed.
final class VideoPreprocessor {
    private let rotation: Int
    private let deinterlace: Bool
    private let timeBase: AVRational
    private var graph: UnsafeMutablePointer<AVFilterGraph>?
    private var source: UnsafeMutablePointer<AVFilterContext>?
    private var sink: UnsafeMutablePointer<AVFilterContext>?
    private let filtered: UnsafeMutablePointer<AVFrame>
    private var inputKey: (Int32, Int32, Int32)?

    init(rotation: Int, deinterlace: Bool, timeBase: AVRational) {
        self.rotation = rotation
        self.deinterlace = deinterlace
        self.timeBase = timeBase
        filtered = av_frame_alloc()
    }

    deinit {
        reel_avfilter_graph_free(&graph)
        var f: UnsafeMutablePointer<AVFrame>? = filtered
        av_frame_free(&f)
    }

    /// Deinterlacing looks at the pictures before and after: none of them may be left out.
    var needsEveryPicture: Bool { deinterlace }
    var isPassThrough: Bool { rotation == 0 && !deinterlace }

    private var filterChain: String {
        var filters: [String] = []
        if deinterlace { filters.append("bwdif=mode=send_frame:parity=auto:deint=all") }
        switch rotation {
        case 90: filters.append("transpose=clock")
        case 180: filters.append("hflip,vflip")
        case 270: filters.append("transpose=cclock")
        default: break
        }
        return filters.isEmpty ? "null" : filters.joined(separator: ",")
    }

    /// Pushes a frame (nil at the end) and calls `body` with each processed frame.
    func process(_ frame: UnsafeMutablePointer<AVFrame>?, _ body: (UnsafeMutablePointer<AVFrame>) throws(MediaError) -> Void) throws(MediaError) {
        if isPassThrough {
            if let frame { try body(frame) }
            return
        }
        if let frame {
            let key = (frame.pointee.width, frame.pointee.height, frame.pointee.format)
            if inputKey.map({ $0 != key }) ?? true {
                if graph != nil { try pushAndPull(nil, body) }
                try build(for: frame)
                inputKey = key
            }
        } else if graph == nil {
            return
        }
        try pushAndPull(frame, body)
    }

    private func pushAndPull(_ frame: UnsafeMutablePointer<AVFrame>?, _ body: (UnsafeMutablePointer<AVFrame>) throws(MediaError) -> Void) throws(MediaError) {
        let status = reel_av_buffersrc_add_frame_flags(source, frame, Int32(AV_BUFFERSRC_FLAG_KEEP_REF))
        if status < 0 { throw .internalFailure("preparing pictures (\(filterChain)): \(ffmpegErrorText(status))") }
        while true {
            let got = reel_av_buffersink_get_frame(sink, filtered)
            if got == averrorEAGAIN || got == averrorEOF { return }
            if got < 0 { throw .internalFailure("preparing pictures (\(filterChain)): \(ffmpegErrorText(got))") }
            defer { av_frame_unref(filtered) }
            // Filters may change the time base (bwdif halves it); hand frames back on the stream's clock.
            let outBase = reel_av_buffersink_get_time_base(sink)
            if filtered.pointee.pts != noPTS { filtered.pointee.pts = av_rescale_q(filtered.pointee.pts, outBase, timeBase) }
            filtered.pointee.pkt_duration = av_rescale_q(filtered.pointee.pkt_duration, outBase, timeBase)
            try body(filtered)
        }
    }

    private func build(for frame: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
        var reason = [CChar](repeating: 0, count: 256)
        if reel_filters_load(&reason, reason.count) != 0 {
            throw .internalFailure("preparing pictures (\(filterChain)) needs libavfilter: \(String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        reel_avfilter_graph_free(&graph)
        guard let graph = reel_avfilter_graph_alloc() else { throw .internalFailure("out of memory building a filter graph") }
        self.graph = graph
        graph.pointee.nb_threads = 1
        let sar = frame.pointee.sample_aspect_ratio
        let args = "video_size=\(frame.pointee.width)x\(frame.pointee.height):pix_fmt=\(frame.pointee.format)"
            + ":time_base=\(timeBase.num)/\(max(timeBase.den, 1)):pixel_aspect=\(max(sar.num, 0))/\(max(sar.den, 1))"
        var src: UnsafeMutablePointer<AVFilterContext>?
        var snk: UnsafeMutablePointer<AVFilterContext>?
        guard reel_avfilter_graph_create_filter(&src, reel_avfilter_get_by_name("buffer"), "in", args, nil, graph) >= 0,
              reel_avfilter_graph_create_filter(&snk, reel_avfilter_get_by_name("buffersink"), "out", nil, nil, graph) >= 0
        else { throw .internalFailure("cannot set up picture preparation for \(args)") }
        var outputs = reel_avfilter_inout_alloc()
        var inputs = reel_avfilter_inout_alloc()
        defer { reel_avfilter_inout_free(&outputs); reel_avfilter_inout_free(&inputs) }
        outputs?.pointee.name = av_strdup("in"); outputs?.pointee.filter_ctx = src; outputs?.pointee.pad_idx = 0
        inputs?.pointee.name = av_strdup("out"); inputs?.pointee.filter_ctx = snk; inputs?.pointee.pad_idx = 0
        let parsed = reel_avfilter_graph_parse_ptr(graph, filterChain, &inputs, &outputs, nil)
        let configured = parsed >= 0 ? reel_avfilter_graph_config(graph, nil) : parsed
        if configured < 0 { throw .internalFailure("cannot build the filter chain \(filterChain): \(ffmpegErrorText(configured))") }
        source = src
        sink = snk
    }
}
