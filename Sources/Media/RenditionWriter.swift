import Foundation

/// A published segment of one rendition.
struct SegmentRecord: Sendable {
    var index: Int64
    var uri: String
    var duration: Double
    var bytes: Int
}

/// One keyframe inside a segment, for the I-frame playlist.
struct IFrameRecord: Sendable {
    var uri: String
    var offset: Int
    var length: Int
    var duration: Double
}

/// Everything a playlist needs to know about a finished rendition.
struct RenditionSummary: Sendable {
    var name: String
    var directory: String
    var codecs: String
    var width: Int?
    var height: Int?
    var frameRate: Double?
    var channels: Int?
    var segments: [SegmentRecord]
    var iframes: [IFrameRecord]

    var totalDuration: Double { segments.reduce(0) { $0 + $1.duration } }
    var totalBytes: Int { segments.reduce(0) { $0 + $1.bytes } }
    /// Peak segment bit rate, as Apple's authoring spec defines BANDWIDTH.
    var peakBitrate: Int {
        Int(segments.map { $0.duration > 0 ? Double($0.bytes * 8) / $0.duration : 0 }.max() ?? 0)
    }
    var averageBitrate: Int { totalDuration > 0 ? Int(Double(totalBytes * 8) / totalDuration) : 0 }
    var iframePeakBitrate: Int {
        Int(iframes.map { $0.duration > 0 ? Double($0.length * 8) / $0.duration : 0 }.max() ?? 0)
    }
}

/// Cuts one track into CMAF segments on the shared timeline and writes them into its directory:
/// `init.mp4` and `seg-NNNNN.m4s`, one fragment per keyframe interval, one file per segment.
final class RenditionWriter {
    let name: String
    let directory: URL
    private var track: FragmentedMP4Track
    private let timeline: SegmentTimeline
    private let requireSyncAtFragmentStart: Bool
    private var currentKeyframe: Int64 = -1
    private var currentSegment: Int64 = -1
    private var segmentFile: SegmentFile?
    private(set) var segments: [SegmentRecord] = []
    private(set) var iframes: [IFrameRecord] = []

    init(name: String, root: URL, config: CodecConfig, timescale: Int64, timeline: SegmentTimeline) throws(MediaError) {
        self.name = name
        self.directory = root.appendingPathComponent(name, isDirectory: true)
        self.track = FragmentedMP4Track(config: config, timescale: timescale)
        self.timeline = timeline
        self.requireSyncAtFragmentStart = config.isVideo
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(track.initSegment()).write(to: directory.appendingPathComponent("init.mp4"))
        } catch {
            throw .outputFailed(path: directory.path, reason: error.localizedDescription)
        }
    }

    var codecs: String { track.config.codecString }
    private var timescale: Double { Double(track.timescale) }

    /// Adds a sample whose presentation time (seconds from the output's start, before the constant
    /// offset) is `time`. Samples arrive in decode order.
    func write(_ sample: MediaSample, at time: Rational) throws(MediaError) {
        let k = timeline.keyframeIndex(at: time)
        if k > currentKeyframe {
            try flushFragment(nextDTS: sample.dts)
            if requireSyncAtFragmentStart && !sample.isSync {
                throw .internalFailure("rendition \(name): the encoder did not start keyframe interval \(k) with a keyframe")
            }
            currentKeyframe = k
            let j = k / timeline.keyframesPerSegment
            if j != currentSegment {
                try closeSegment()
                currentSegment = j
                segmentFile = try SegmentFile(directory: directory, index: j)
            }
        }
        track.append(sample)
    }

    /// Writes what is pending and closes the last segment.
    func finish() throws(MediaError) {
        try flushFragment(nextDTS: nil)
        try closeSegment()
    }

    private func flushFragment(nextDTS: Int64?) throws(MediaError) {
        guard let file = segmentFile,
              let fragment = track.takeFragment(sequence: UInt32(truncatingIfNeeded: currentKeyframe + 1), nextDTS: nextDTS)
        else { return }
        let offset = try file.append(fragment.bytes)
        let duration = Double(fragment.duration) / timescale
        file.duration += duration
        if requireSyncAtFragmentStart {
            iframes.append(IFrameRecord(uri: file.uri, offset: offset, length: fragment.firstSampleEnd, duration: duration))
        }
    }

    private func closeSegment() throws(MediaError) {
        guard let file = segmentFile else { return }
        try file.close()
        segments.append(SegmentRecord(index: file.index, uri: file.uri, duration: file.duration, bytes: file.bytes))
        segmentFile = nil
    }
}

/// A segment file being written: created in full, synced to disk, then closed.
private final class SegmentFile {
    let index: Int64
    let uri: String
    let path: String
    private var fd: Int32
    private(set) var bytes = 0
    var duration = 0.0

    init(directory: URL, index: Int64) throws(MediaError) {
        self.index = index
        self.uri = String(format: "seg-%05lld.m4s", index)
        self.path = directory.appendingPathComponent(uri).path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw .outputFailed(path: path, reason: String(cString: strerror(errno))) }
    }

    /// Appends bytes and returns the offset they start at.
    func append(_ data: [UInt8]) throws(MediaError) -> Int {
        let start = bytes
        var written = 0
        while written < data.count {
            let n = data.withUnsafeBytes { write(fd, $0.baseAddress! + written, data.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .outputFailed(path: path, reason: String(cString: strerror(errno)))
            }
            written += n
        }
        bytes += data.count
        return start
    }

    func close() throws(MediaError) {
        defer { _ = Glibc.close(fd); fd = -1 }
        if fsync(fd) != 0 { throw .outputFailed(path: path, reason: String(cString: strerror(errno))) }
    }

    deinit {
        // Only after a failure: the transcode is abandoned and its staging directory removed.
        if fd >= 0 { _ = Glibc.close(fd) }
    }
}
