import CFFmpeg
import Foundation

/// An opened input container. Owns its `AVFormatContext`; not Sendable: create and use it on one thread.
final class InputFile {
    let path: String
    let context: UnsafeMutablePointer<AVFormatContext>
    let fileSize: Int64

    /// Opens and inspects `path`, turning every failure into a `MediaError` a person can read.
    init(path: String) throws(MediaError) {
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

        av_log_set_level(AV_LOG_FATAL)
        var ctx: UnsafeMutablePointer<AVFormatContext>? = nil
        let status = avformat_open_input(&ctx, path, nil, nil)
        guard status >= 0, let opened = ctx else {
            // A recognised container that still fails to open is damaged, not foreign.
            if InputFile.containerIsRecognised(path: path) {
                throw .truncated(path: path, detail: "its index is missing: \(ffmpegErrorText(status))")
            }
            if status == reel_averror_invaliddata() { throw .notMedia(path: path) }
            throw .unreadable(path: path, reason: ffmpegErrorText(status))
        }
        context = opened
        let infoStatus = avformat_find_stream_info(opened, nil)
        if infoStatus < 0 {
            var owned: UnsafeMutablePointer<AVFormatContext>? = opened
            avformat_close_input(&owned)
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
            timing = FrameTiming.measure(path: path, streamIndex: stream.pointee.index)
                ?? FrameTiming(average: declared ?? Rational(30), isVariable: stream.isVariableFrameRate)
        }
        timingCache[stream.pointee.index] = timing
        return timing
    }
    private var timingCache: [Int32: FrameTiming] = [:]

    /// For MP4/MOV: does the sample index point past the end of the file? Then the upload was cut short.
    func indexPointsPastEnd() -> Bool {
        for stream in streams {
            let count = avformat_index_get_entries_count(stream)
            guard count > 0, let last = avformat_index_get_entry(stream, count - 1) else { continue }
            if last.pointee.pos + Int64(last.pointee.size) > fileSize { return true }
        }
        return false
    }

    /// Whether some demuxer claims the file with confidence, even if it then fails to open it.
    private static func containerIsRecognised(path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 4096)) ?? Data()
        guard !head.isEmpty else { return false }
        var padded = head
        padded.append(Data(count: Int(AVPROBE_PADDING_SIZE)))
        return padded.withUnsafeMutableBytes { raw -> Bool in
            "".withCString { noName -> Bool in
                var probe = AVProbeData()
                probe.buf = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
                probe.buf_size = Int32(head.count)
                probe.filename = noName
                var score: Int32 = 0
                let format = av_probe_input_format3(&probe, 1, &score)
                return format != nil && score >= AVPROBE_SCORE_MAX / 2
            }
        }
    }
}
