import Foundation

/// A published segment of one rendition.
public struct SegmentRecord: Sendable, Codable, Equatable {
    public var index: Int64
    public var uri: String
    public var duration: Double
    public var bytes: Int
}

/// One keyframe inside a segment, for the I-frame playlist.
public struct IFrameRecord: Sendable, Codable, Equatable {
    public var uri: String
    public var offset: Int
    public var length: Int
    public var duration: Double
}

/// Everything a playlist needs to know about (part of) a rendition. Chunks of the same rendition,
/// encoded separately, merge into one by concatenating their segments.
public struct RenditionSummary: Sendable, Codable, Equatable {
    public var name: String
    public var kind: String          // "video" | "audio"
    public var codecs: String
    public var width: Int?
    public var height: Int?
    public var frameRate: Double?
    public var channels: Int?
    public var segments: [SegmentRecord]
    public var iframes: [IFrameRecord]
    /// Seconds every timestamp was shifted by (the constant offset of the whole video), so captions can be
    /// lined up with the fMP4 timeline. Absent in manifests from before it was recorded.
    public var timeOffset: Double? = nil

    public var totalDuration: Double { segments.reduce(0) { $0 + $1.duration } }
    public var totalBytes: Int { segments.reduce(0) { $0 + $1.bytes } }
    /// Peak segment bit rate, as Apple's authoring spec defines BANDWIDTH.
    public var peakBitrate: Int {
        Int(segments.map { $0.duration > 0 ? Double($0.bytes * 8) / $0.duration : 0 }.max() ?? 0)
    }
    public var averageBitrate: Int { totalDuration > 0 ? Int(Double(totalBytes * 8) / totalDuration) : 0 }
    public var iframePeakBitrate: Int {
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

    /// What the playlists will say about this rendition besides its segments.
    private let template: RenditionSummary

    init(_ template: RenditionSummary, root: URL, config: CodecConfig, timescale: Int64, timeline: SegmentTimeline) throws(MediaError) {
        let name = template.name
        self.name = name
        self.template = template
        self.directory = root.appendingPathComponent(name, isDirectory: true)
        self.track = FragmentedMP4Track(config: config, timescale: timescale)
        self.timeline = timeline
        self.requireSyncAtFragmentStart = config.isVideo
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw .outputFailed(path: directory.path, reason: error.localizedDescription)
        }
        // Every chunk of a rendition writes the same bytes here; the rename makes that harmless.
        let initFile = try SegmentFile(directory: directory, name: "init.mp4", index: -1)
        _ = try initFile.append(track.initSegment())
        try initFile.close()
    }

    var codecs: String { track.config.codecString }

    /// The rendition as written so far.
    var summary: RenditionSummary {
        var s = template
        s.codecs = codecs
        s.segments = segments
        s.iframes = iframes
        return s
    }
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
            let j = timeline.segment(ofKeyframe: k)
            if j != currentSegment {
                try closeSegment()
                currentSegment = j
                segmentFile = try SegmentFile(directory: directory, name: String(format: "seg-%05lld.m4s", j), index: j)
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

/// A segment file being written under a temporary name, synced, then renamed into place: a reader
/// (or a playlist) never sees half a segment, and a second run of the same chunk replaces it whole.
/// Storyboard sheets are written the same way.
final class SegmentFile {
    let index: Int64
    let uri: String
    let path: String
    private let partialPath: String
    private var fd: Int32
    private(set) var bytes = 0
    var duration = 0.0

    init(directory: URL, name: String, index: Int64) throws(MediaError) {
        self.index = index
        self.uri = name
        self.path = directory.appendingPathComponent(name).path
        self.partialPath = directory.appendingPathComponent(".\(name).\(getpid()).part").path
        fd = open(partialPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
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
        let synced = fsync(fd) == 0
        let reason = String(cString: strerror(errno))
        _ = Glibc.close(fd)
        fd = -1
        if !synced { throw .outputFailed(path: path, reason: reason) }
        if rename(partialPath, path) != 0 { throw .outputFailed(path: path, reason: String(cString: strerror(errno))) }
    }

    deinit {
        // Only after a failure: drop the partial file.
        if fd >= 0 {
            _ = Glibc.close(fd)
            unlink(partialPath)
        }
    }
}
