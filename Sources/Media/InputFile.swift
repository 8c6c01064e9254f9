import CFFmpeg
import Foundation

/// An opened input container. Owns its `AVFormatContext`; not Sendable: create and use it on one thread.
final class InputFile {
    let path: String
    let context: UnsafeMutablePointer<AVFormatContext>
    let fileSize: Int64

    /// Decides when reading must stop; every context opened for this input carries it.
    let gate: InputGate
    let limits: MediaLimits

    /// Opens and inspects `path`, turning every failure into a `MediaError` a person can read.
    init(path: String, limits: MediaLimits = .standard, gate: InputGate = InputGate()) throws(MediaError) {
        self.path = path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
            throw .unreadable(path: path, reason: "no such file")
        }
        guard FileManager.default.isReadableFile(atPath: path),
              let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
            throw .unreadable(path: path, reason: "permission denied")
        }
        fileSize = (attributes[.size] as? NSNumber)?.int64Value ?? 0
        if fileSize == 0 { throw .emptyFile(path: path) }
        self.gate = gate
        self.limits = limits
        context = try AcceptedInput.open(path: path, gate: gate)
        // From here every stored property is set, so `deinit` closes the context on every path below.
        let found = (0..<Int(context.pointee.nb_streams)).compactMap { context.pointee.streams[$0] }
        if let violation = limits.violation(streams: found) { throw .exceedsLimit(path: path, detail: violation) }
        // Stream info decodes a little of every stream: one thread each, and no picture above the limit.
        let count = Int(context.pointee.nb_streams)
        var options = [OpaquePointer?](repeating: nil, count: max(count, 1))
        for i in 0..<count {
            av_dict_set(&options[i], "threads", "1", 0)
            av_dict_set(&options[i], "max_pixels", "\(limits.maxPixels)", 0)
        }
        let infoStatus = options.withUnsafeMutableBufferPointer { avformat_find_stream_info(context, $0.baseAddress) }
        for i in options.indices { av_dict_free(&options[i]) }
        if infoStatus < 0 {
            if let stopped = gate.error(path: path) { throw stopped }
            throw .truncated(path: path, detail: ffmpegErrorText(infoStatus))
        }
    }

    deinit {
        var owned: UnsafeMutablePointer<AVFormatContext>? = context
        avformat_close_input(&owned)
    }

    var streams: [UnsafeMutablePointer<AVStream>] {
        (0..<Int(context.pointee.nb_streams)).compactMap { context.pointee.streams[$0] }
    }

    var formatName: String { String(cString: context.pointee.iformat.pointee.name) }
    var formatLongName: String {
        context.pointee.iformat.pointee.long_name.map { String(cString: $0) } ?? formatName
    }

    /// Container duration in seconds, when the container states one.
    var duration: Double? {
        let d = context.pointee.duration
        return d > 0 && d != noPTS ? Double(d) / Double(AV_TIME_BASE) : nil
    }

    /// The stream FFmpeg would pick for `type`, skipping cover art and streams without a decoder.
    func bestStream(_ type: AVMediaType) -> UnsafeMutablePointer<AVStream>? {
        let index = av_find_best_stream(context, type, -1, -1, nil, 0)
        guard index >= 0, let stream = context.pointee.streams[Int(index)] else { return nil }
        if stream.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC != 0 { return nil }
        let par = stream.pointee.codecpar.pointee
        if type == AVMEDIA_TYPE_VIDEO && (par.width <= 0 || par.height <= 0) { return nil }
        if type == AVMEDIA_TYPE_AUDIO && (par.sample_rate <= 0 || par.ch_layout.nb_channels <= 0) { return nil }
        return stream
    }

    /// The real frame timing of a video stream: the container's word when it is sure (average and base
    /// rate agree), otherwise measured from the packets' timestamps.
    func frameTiming(_ stream: UnsafeMutablePointer<AVStream>) -> FrameTiming {
        if let known = timingCache[stream.pointee.index] { return known }
        let declared = stream.averageFrameRate
        var timing: FrameTiming
        if let declared, stream.pointee.avg_frame_rate.num > 0, !stream.isVariableFrameRate {
            timing = FrameTiming(average: declared, isVariable: false)
        } else {
            timing = FrameTiming.measure(path: path, streamIndex: stream.pointee.index, gate: gate)
                ?? FrameTiming(average: declared ?? Rational(30), isVariable: stream.isVariableFrameRate)
        }
        timingCache[stream.pointee.index] = timing
        return timing
    }
    private var timingCache: [Int32: FrameTiming] = [:]

    /// Where the output timeline's zero lies on the source's clock: the earliest start of the streams used.
    /// It depends on the source alone, so every piece of a video agrees on it.
    func timelineOrigin(_ used: [UnsafeMutablePointer<AVStream>?]) -> Rational {
        used.compactMap { stream -> Rational? in
            guard let stream, stream.pointee.start_time != noPTS else { return nil }
            return Rational(stream.pointee.start_time) * Rational(stream.pointee.time_base)
        }.min() ?? Rational(0)
    }

    /// Seconds (on the source's clock, ascending) of the keyframes the container's index lists, read
    /// without decoding. Empty when the container keeps no index (MPEG-TS, raw streams). Index times are
    /// decode times, a frame or two before presentation: close enough to estimate where a decode must start.
    func indexedKeyframes(_ stream: UnsafeMutablePointer<AVStream>) -> [Double] {
        let base = Rational(stream.pointee.time_base).seconds
        let count = avformat_index_get_entries_count(stream)
        var times: [Double] = []
        for i in 0..<count {
            guard let entry = avformat_index_get_entry(stream, i),
                  entry.pointee.flags & AVINDEX_KEYFRAME != 0, entry.pointee.flags & AVINDEX_DISCARD_FRAME == 0 else { continue }
            let t = Double(entry.pointee.timestamp) * base
            if t >= (times.last ?? -.infinity) { times.append(t) }
        }
        return times
    }

    /// For MP4/MOV: does the sample index point past the end of the file? Then the upload was cut short.
    func indexPointsPastEnd() -> Bool {
        for stream in streams {
            let count = avformat_index_get_entries_count(stream)
            guard count > 0, let last = avformat_index_get_entry(stream, count - 1) else { continue }
            let (end, overflow) = last.pointee.pos.addingReportingOverflow(Int64(last.pointee.size))
            if overflow || end > fileSize { return true }
        }
        return false
    }
}
