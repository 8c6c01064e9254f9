import CFFmpeg
import Foundation

/// The one way Reel opens a file it was given. FFmpeg picks a demuxer from the bytes, not the name, and
/// some demuxers open other files (an HLS playlist's segments, a concat script's entries, an image
/// sequence), so an upload could make a worker read — and publish — any file on the host. Only the
/// containers people really upload are allowed, only through the `file` protocol, and every context
/// gets the caller's interrupt gate.
enum AcceptedInput {
    /// Demuxer names (FFmpeg's short names; a demuxer whose name lists several, like
    /// "mov,mp4,m4a,3gp,3g2,mj2", matches on any of them). None of these opens another file.
    static let formats = [
        // video containers
        "mov", "mp4", "matroska", "webm", "mpegts", "mpeg", "avi", "flv", "mxf", "asf", "ogg", "dv", "gif",
        // audio containers
        "mp3", "wav", "w64", "flac", "aac", "ac3", "eac3", "aiff", "caf", "amr", "wv",
    ]

    /// What a person is told the accepted kinds are.
    static let acceptedSummary = "MP4, MOV, MKV, WebM, MPEG-TS, AVI, FLV, MXF, WMV, Ogg, MP3, WAV, FLAC, AAC…"

    /// Opens `path` with the whitelist and the gate (FFmpeg's own cap of 1000 streams bounds parsing;
    /// `MediaLimits` refuses far fewer by name); on failure,
    /// says why in a sentence for the uploader. The caller owns the returned context
    /// (`avformat_close_input`); the gate must outlive it.
    /// (`allowed` is for tests that need a forbidden demuxer to prove the gate.)
    static func open(path: String, gate: InputGate, allowed: [String] = formats) throws(MediaError) -> UnsafeMutablePointer<AVFormatContext> {
        av_log_set_level(AV_LOG_FATAL)
        guard let allocated = avformat_alloc_context() else { throw .internalFailure("out of memory opening the input") }
        allocated.pointee.interrupt_callback = gate.callback
        var ctx: UnsafeMutablePointer<AVFormatContext>? = allocated
        var options: OpaquePointer? = nil
        av_dict_set(&options, "format_whitelist", allowed.joined(separator: ","), 0)
        av_dict_set(&options, "protocol_whitelist", "file", 0)
        // A user-supplied context is freed by avformat_open_input when it fails.
        let status = avformat_open_input(&ctx, path, nil, &options)
        av_dict_free(&options)
        guard status >= 0, let opened = ctx else {
            if let stopped = gate.error(path: path) { throw stopped }
            throw classify(path: path, status: status)
        }
        return opened
    }

    static func isAccepted(formatName: String) -> Bool {
        formatName.split(separator: ",").contains { formats.contains(String($0)) }
    }

    /// Why FFmpeg could not open the file, from what its bytes look like.
    private static func classify(path: String, status: Int32) -> MediaError {
        guard let (format, score) = probe(path: path) else {
            return status == reel_averror_invaliddata() || status == reel_averror(EINVAL) ? .notMedia(path: path)
                : .unreadable(path: path, reason: ffmpegErrorText(status))
        }
        let name = String(cString: format.pointee.name)
        if !isAccepted(formatName: name) {
            let long = format.pointee.long_name.map { String(cString: $0) } ?? name
            return .notAccepted(path: path, kind: "\(long) (\(name))")
        }
        // A container we accept, recognised with confidence, that still fails to open is damaged.
        if score >= AVPROBE_SCORE_MAX / 2 {
            return .truncated(path: path, detail: "its index is missing: \(ffmpegErrorText(status))")
        }
        return status == reel_averror_invaliddata() ? .notMedia(path: path) : .unreadable(path: path, reason: ffmpegErrorText(status))
    }

    /// The demuxer FFmpeg would pick from the file's first bytes, growing the window as FFmpeg does
    /// (2 KiB up to 1 MiB) until the guess is better than a retry score. Nil when nothing claims it.
    private static func probe(path: String) -> (UnsafePointer<AVInputFormat>, Int32)? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 1 << 20)) ?? Data()
        guard !head.isEmpty else { return nil }
        var padded = head
        padded.append(Data(count: Int(AVPROBE_PADDING_SIZE)))
        var size = 2048
        while true {
            let window = min(size, head.count)
            let found: (UnsafePointer<AVInputFormat>, Int32)? = padded.withUnsafeMutableBytes { raw in
                path.withCString { name in
                    var data = AVProbeData()
                    data.buf = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
                    data.buf_size = Int32(window)
                    data.filename = name
                    var score: Int32 = 0
                    guard let format = av_probe_input_format3(&data, 1, &score) else { return nil }
                    return (format, score)
                }
            }
            if let found, found.1 > AVPROBE_SCORE_RETRY || window == head.count { return found }
            if window == head.count { return nil }
            size *= 2
        }
    }
}
