import CFFmpeg
import Foundation
import Profiles

/// The video half of a transcode: decode once, make each picture upright and progressive, then give it
/// to every rung at that rung's constant output rate. Rungs that share a rate share one `FrameSlotter`.
/// Produces the output frames of `[start, end)` only, so a chunk of the source can be encoded alone.
final class VideoLadder {
    private struct RateGroup {
        var slotter: FrameSlotter
        /// This rate's rungs of the plan; its encoders are the ones this piece encodes.
        var cascade: RungCascade
        var encoders: [VideoRungEncoder] { cascade.encoders }
        var nextKeyframe: Int64 = 0
        var endSlot: Int64 = .max
    }

    private let decoder: Decoder
    private let preprocessor: VideoPreprocessor
    private let origin: Rational
    private let plan: LadderPlan
    private let posterURL: URL
    private let posterTime: Rational
    private let posterSize: (width: Int, height: Int)
    private var posterDone = false
    /// The rung whose pictures the storyboard's thumbnails are scaled from, when this piece encodes it:
    /// the smallest at least as large as a thumbnail, so scaling reads few pixels.
    private let storyboardRung: PlannedRung?
    private let storyboardSpec: StoryboardSpec?
    /// The thumbnail size, from the largest rung's (the display's) aspect: the same in every piece.
    private let storyboardSize: (width: Int, height: Int)
    private var storyboard: StoryboardWriter?
    private var storyboardError: String?
    private var groups: [RateGroup]
    private var writers: [RenditionWriter] = []
    /// The latest upright picture: what is on screen until the next one arrives.
    private let current: UnsafeMutablePointer<AVFrame>
    private var hasCurrent = false
    private let sourcePeriod: Rational
    private(set) var reached = Rational(0)
    /// Checked for every output frame: one packet can jump far ahead in time and fill the gap with copies.
    private let gate: InputGate
    private let path: String
    /// What the file may produce: no picture later than `bounds.latest`; the last picture held no longer
    /// than a little past the stated duration; no picture above `bounds.maxPixels`.
    private let bounds: OutputBounds
    /// When the current picture started.
    private var currentStart = Rational(0)
    /// Before a chunk's start, pictures that nothing refers to and that a later one (still at or before
    /// the start) replaces on screen are never seen: they are not decoded. On by default; tests compare.
    var skipsHiddenPreRoll = true
    /// For tests: told the output slot and a checksum of the picture of every frame handed to the encoders.
    var onPicture: ((Int64, Int) -> Void)?
    /// The chunk's start and the latest presentation time read so far, in the stream's time base.
    private var startTicks = Int64.min
    private var latestPacketPTS = Int64.min

    /// `only`: the names of the rungs to encode (nil: all). The timescale, timeline and poster size still
    /// come from the whole plan, so a rung comes out the same whichever group it is encoded in; the poster
    /// is made by the group that holds the rung it is sized from.
    init(stream: UnsafeMutablePointer<AVStream>, plan: LadderPlan, only: [String]? = nil, path: String, profile: Profile,
         origin: Rational, poster: URL, gate: InputGate, bounds: OutputBounds) throws(MediaError) {
        self.gate = gate
        self.path = path
        self.bounds = bounds
        decoder = try Decoder(stream: stream, path: path, maxPixels: bounds.maxPixels)
        preprocessor = VideoPreprocessor(rotation: stream.uprightRotation, deinterlace: stream.isInterlaced,
                                         timeBase: stream.pointee.time_base)
        self.origin = origin
        self.plan = plan
        let rate = plan.timing.nominal
        sourcePeriod = Rational(rate.den, rate.num)

        // One timescale for every rung, so keyframe times compare exactly across renditions.
        var timescale = plan.rungs.reduce(Int64(1)) { Rational.lcm($0, Int64($1.frameRate.num)) }
        if timescale < 90_000 { timescale *= (90_000 + timescale - 1) / timescale }
        var byRate: [FrameRate: [VideoRungEncoder]] = [:]
        var order: [FrameRate] = []
        let chosen = plan.rungs.filter { only?.contains($0.name) ?? true }
        guard !chosen.isEmpty else { throw .internalFailure("none of the rungs \(only ?? []) is in this video's ladder") }
        let threads = VideoRungEncoder.threads(encoders: chosen.count, cores: ProcessInfo.processInfo.activeProcessorCount)
        for rung in chosen {
            let encoder = try VideoRungEncoder(rung: rung, profile: profile, timescale: timescale,
                                               keyframeInterval: plan.timeline.interval, threads: threads)
            if byRate[rung.frameRate] == nil { order.append(rung.frameRate) }
            byRate[rung.frameRate, default: []].append(encoder)
        }
        groups = order.map { rate in
            RateGroup(slotter: FrameSlotter(period: Rational(Int64(rate.den), Int64(rate.num))),
                      cascade: RungCascade(ladder: plan.rungs.filter { $0.frameRate == rate }, encoders: byRate[rate]!))
        }
        let posterRung = plan.rungs.last { min($0.width, $0.height) <= 720 } ?? plan.rungs[0]
        posterSize = (posterRung.width, posterRung.height)
        posterDone = !chosen.contains { $0.name == posterRung.name }
        // Exactly one group of a split piece makes the thumbnails: the one that encodes this rung.
        if let spec = profile.storyboard, let largest = plan.rungs.max(by: { $0.width * $0.height < $1.width * $1.height }) {
            let size = spec.thumbnailSize(forPicture: largest.width, largest.height)
            let rung = plan.rungs.sorted { $0.width * $0.height < $1.width * $1.height }
                .first { $0.width >= size.width && $0.height >= size.height } ?? largest
            storyboardRung = chosen.contains { $0.name == rung.name } ? rung : nil
            storyboardSpec = spec
            storyboardSize = size
        } else {
            storyboardRung = nil
            storyboardSpec = nil
            storyboardSize = (0, 0)
        }
        let total = stream.pointee.duration != noPTS && stream.pointee.duration > 0
            ? Rational(stream.pointee.duration) * Rational(stream.pointee.time_base) : Rational(10)
        posterTime = min(total / Rational(10), Rational(5))
        current = av_frame_alloc()
        posterURL = poster
    }

    deinit {
        var f: UnsafeMutablePointer<AVFrame>? = current
        av_frame_free(&f)
    }

    private var encoders: [VideoRungEncoder] { groups.flatMap(\.encoders) }
    var reorderDelay: Rational { encoders.map(\.reorderDelay).max() ?? Rational(0) }
    var framesOut: Int { encoders.last?.framesEncoded ?? 0 }
    var picturesDecoded: Int { decoder.framesDecoded }

    var summaries: [RenditionSummary] { writers.map(\.summary).sorted { ($0.height ?? 0) < ($1.height ?? 0) } }

    /// True once every output frame of the range has been handed to the encoders.
    var isComplete: Bool { groups.allSatisfy { $0.slotter.next >= $0.endSlot } }

    /// Opens a rendition writer per rung and restricts output to `[start, end)` (seconds on the output
    /// timeline; both on the keyframe grid).
    func start(offset: Rational, root: URL, from start: Rational, to end: Rational?) throws(MediaError) {
        // The offset was worked out without these encoders; make sure it really covers their reordering,
        // or decode times would go negative.
        guard reorderDelay <= offset else {
            throw .internalFailure("timestamp offset \(offset) s is smaller than the encoders' reorder delay \(reorderDelay) s")
        }
        for encoder in encoders {
            guard let config = encoder.codecConfig else {
                throw .internalFailure("libx264 gave no SPS/PPS for \(encoder.rung.name)")
            }
            let template = RenditionSummary(
                name: encoder.rung.name, kind: "video", codecs: "", width: encoder.rung.width, height: encoder.rung.height,
                frameRate: encoder.rung.frameRate.value, channels: nil, segments: [], iframes: [])
            let writer = try RenditionWriter(template, root: root, config: config, timescale: encoder.timescale, timeline: plan.timeline)
            encoder.attach(writer: writer, offsetTicks: offset.ticks(encoder.timescale))
            writers.append(writer)
        }
        for g in groups.indices {
            let period = groups[g].slotter.period
            groups[g].slotter = FrameSlotter(period: period, first: (start / period).ceil)
            groups[g].endSlot = end.map { ($0 / period).ceil } ?? .max
            groups[g].nextKeyframe = plan.timeline.keyframeIndex(at: start)
        }
        if storyboardRung != nil, let spec = storyboardSpec {
            storyboard = try StoryboardWriter(spec: spec, size: storyboardSize, root: root, from: start)
        }
        reached = start
        if start > Rational(0) {
            startTicks = ((start + origin) / Rational(decoder.stream.pointee.time_base)).floor
        }
    }

    /// Decodes a packet (nil at the end of the file) and sends the pictures on.
    func decode(_ packet: UnsafeMutablePointer<AVPacket>?) throws(MediaError) {
        if let packet { decoder.skipNonReference(isHiddenPreRoll(packet)) }
        try decoder.decode(packet) { frame throws(MediaError) in
            frame.pointee.pts = frame.pointee.best_effort_timestamp
            try preprocessor.process(frame) { upright throws(MediaError) in try show(upright) }
        }
        if packet == nil {
            try preprocessor.process(nil) { upright throws(MediaError) in try show(upright) }
        }
    }

    /// A packet presented before one already read, which is itself at or before the chunk's start, can
    /// never be the picture on screen at the start: a non-reference picture there may go undecoded.
    /// (Packets arrive in decode order; the later-presented one was read first and is always decoded.)
    private func isHiddenPreRoll(_ packet: UnsafeMutablePointer<AVPacket>) -> Bool {
        let pts = packet.pointee.pts
        guard pts != noPTS else { return false }
        defer { latestPacketPTS = max(latestPacketPTS, pts) }
        return skipsHiddenPreRoll && !preprocessor.needsEveryPicture && pts < latestPacketPTS && latestPacketPTS <= startTicks
    }

    /// A new picture replaces the current one at its timestamp: every output frame before then shows the
    /// current picture.
    private func show(_ frame: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
        let base = Rational(decoder.stream.pointee.time_base)
        let start = frame.pointee.pts != noPTS ? Rational(frame.pointee.pts) * base - origin : reached
        try bounds.check(start: start, path: path, what: "a picture")
        let (w, h) = (Int(frame.pointee.width), Int(frame.pointee.height))
        if w * h > bounds.maxPixels {
            throw .exceedsLimit(path: path, detail: "a picture in it is \(w)×\(h), larger than the \(bounds.maxPixels / 1_000_000) megapixels allowed")
        }
        if !hasCurrent { try replaceCurrent(with: frame) }
        try emit(until: start)
        try replaceCurrent(with: frame)
        // A picture's stated length only matters for the last one; ten seconds is plenty for a real one.
        let stated = frame.pointee.pkt_duration > 0 ? Rational(frame.pointee.pkt_duration) * base : sourcePeriod
        let length = min(stated, max(sourcePeriod, Rational(10)))
        currentStart = start
        reached = max(reached, start + length)
    }

    private func replaceCurrent(with frame: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
        av_frame_unref(current)
        if av_frame_ref(current, frame) < 0 { throw .internalFailure("out of memory holding a picture") }
        hasCurrent = true
    }

    private func emit(until time: Rational) throws(MediaError) {
        for g in groups.indices {
            for slot in groups[g].slotter.slots(before: time) where slot < groups[g].endSlot {
                try gate.check(path: path)
                let slotTime = Rational(slot) * groups[g].slotter.period
                var keyframe = false
                while plan.timeline.keyframeTime(groups[g].nextKeyframe) <= slotTime {
                    keyframe = true
                    groups[g].nextKeyframe += 1
                }
                try groups[g].cascade.encode(current, slot: slot, keyframe: keyframe)
                addThumbnail(group: g, slot: slot)
                onPicture?(slot, Self.checksum(current))
                if !posterDone && slotTime >= posterTime {
                    posterDone = true
                    try PosterWriter.write(current, width: posterSize.width, height: posterSize.height, to: posterURL)
                }
            }
        }
    }

    /// Shows the last picture until the end of its duration, then flushes every rung.
    /// `wholeFile`: write a poster from the last picture if the video was too short to reach the poster time.
    func finish(wholeFile: Bool) throws(MediaError) {
        if hasCurrent { try emit(until: min(reached, bounds.lastPictureEnd(start: currentStart, period: sourcePeriod))) }
        if wholeFile && hasCurrent && !posterDone {
            posterDone = true
            try PosterWriter.write(current, width: posterSize.width, height: posterSize.height, to: posterURL)
        }
        for encoder in encoders { try encoder.finish() }
        do { try storyboard?.finish() } catch { storyboardFailed(error) }
    }

    // MARK: storyboard

    /// What this piece made of the storyboard; nil when it makes none (another group of a split piece
    /// does, or the profile turns it off).
    var storyboardPart: StoryboardPart? {
        guard let spec = storyboardSpec, storyboardRung != nil else { return nil }
        return StoryboardPart(interval: spec.interval, tiles: storyboard?.tiles ?? madeTiles, error: storyboardError)
    }
    /// The tiles of the sheets written before a failure stopped the storyboard.
    private var madeTiles: [StoryboardTile] = []

    /// Thumbnail k is the output frame on screen at k × interval (slot ⌊k × interval / period⌋ of the
    /// storyboard rung), taken from that rung's picture just made for its encoder.
    private func addThumbnail(group g: Int, slot: Int64) {
        guard let writer = storyboard, let rung = storyboardRung,
              let encoder = groups[g].encoders.first(where: { $0.rung.name == rung.name }) else { return }
        let period = groups[g].slotter.period
        do {
            while (writer.nextTime / period).floor <= slot { try writer.add(encoder.picture) }
        } catch {
            storyboardFailed(error)
        }
    }

    /// A storyboard is an extra: its failure stops the thumbnails, never the video.
    private func storyboardFailed(_ error: MediaError) {
        storyboardError = "\(error)"
        madeTiles = storyboard?.tiles ?? madeTiles
        storyboard = nil
    }

    /// A checksum of a picture's pixels (every plane, row by row, without the padding).
    static func checksum(_ frame: UnsafeMutablePointer<AVFrame>) -> Int {
        var hasher = Hasher()
        let height = Int(frame.pointee.height)
        withUnsafeBytes(of: frame.pointee.data) { planes in
            withUnsafeBytes(of: frame.pointee.linesize) { sizes in
                for p in 0..<3 {
                    guard let base = planes.load(fromByteOffset: p * MemoryLayout<UnsafeMutablePointer<UInt8>?>.stride,
                                                 as: UnsafeMutablePointer<UInt8>?.self) else { continue }
                    let stride = Int(sizes.load(fromByteOffset: p * MemoryLayout<Int32>.stride, as: Int32.self))
                    let rows = p == 0 ? height : (height + 1) / 2
                    for row in 0..<rows { hasher.combine(bytes: UnsafeRawBufferPointer(start: base + row * stride, count: abs(stride))) }
                }
            }
        }
        return hasher.finalize()
    }
}
