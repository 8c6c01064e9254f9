import CFFmpeg

/// The frame rate a source really has. Containers often say little: Matroska may give no average rate,
/// and a phone's variable-rate MP4 gives an average like 29.63. We look at real timestamps when the
/// container is unsure, and pick a standard constant rate for output.
struct FrameTiming: Sendable, Equatable {
    /// Average rate of the source (frames per second).
    var average: Rational
    var isVariable: Bool
    /// For variable sources: the rate of the source's fast passages (from the 10th-percentile gap
    /// between pictures), so motion stays smooth where the source is smooth.
    var peak: Rational?

    init(average: Rational, isVariable: Bool, peak: Rational? = nil) {
        self.average = average
        self.isVariable = isVariable
        self.peak = peak
    }

    /// The constant rate to plan output at: the source rate when it is constant, otherwise the smallest
    /// common rate (within 3 %) that keeps up with the source's fast passages.
    var nominal: Rational {
        // Below one picture a second (a slideshow, or a header that says 1/50000) output runs at a
        // common rate like a variable source, so no frame period is longer than a tenth of a second.
        guard isVariable || average < Rational(1) else { return average }
        let common: [Int64] = [10, 12, 15, 20, 24, 25, 30, 48, 50, 60]
        let wanted = (peak ?? average).seconds * 0.97
        return Rational(common.first { Double($0) >= wanted } ?? 60)
    }

    /// Measures timing from the first `limit` video packets of `path` (a second, private demuxer, so the
    /// caller's read position is untouched). Nil when nothing can be measured.
    static func measure(path: String, streamIndex: Int32, gate: InputGate, limit: Int = 300) -> FrameTiming? {
        guard let opened = try? AcceptedInput.open(path: path, gate: gate) else { return nil }
        var ctx: UnsafeMutablePointer<AVFormatContext>? = opened
        defer { avformat_close_input(&ctx) }
        let context = opened
        guard streamIndex < Int32(context.pointee.nb_streams), let stream = context.pointee.streams[Int(streamIndex)] else { return nil }
        for i in 0..<Int(context.pointee.nb_streams) where i != Int(streamIndex) {
            context.pointee.streams[i]?.pointee.discard = AVDISCARD_ALL
        }
        guard let packet = av_packet_alloc() else { return nil }
        defer { var p: UnsafeMutablePointer<AVPacket>? = packet; av_packet_free(&p) }
        var stamps: [Int64] = []
        while stamps.count < limit, av_read_frame(context, packet) >= 0 {
            if packet.pointee.stream_index == streamIndex && packet.pointee.pts != noPTS { stamps.append(packet.pointee.pts) }
            av_packet_unref(packet)
        }
        return from(timestamps: stamps, timeBase: Rational(stream.pointee.time_base))
    }

    /// Timing from presentation timestamps in any order (B-frames reorder them).
    static func from(timestamps: [Int64], timeBase: Rational) -> FrameTiming? {
        let sorted = timestamps.sorted()
        guard sorted.count >= 3, let first = sorted.first, let last = sorted.last, last > first else { return nil }
        // Timestamps come from the file: differences that overflow are not gaps between real pictures.
        let gaps = zip(sorted.dropFirst(), sorted).compactMap { later, earlier -> Int64? in
            let (gap, overflow) = later.subtractingReportingOverflow(earlier)
            return overflow || gap <= 0 ? nil : gap
        }
        guard let shortest = gaps.min(), let longest = gaps.max() else { return nil }
        let span = (Rational(last) - Rational(first)) * timeBase
        let average = Rational(Int64(sorted.count - 1)) / span
        guard average.seconds.isFinite, average.seconds > 0, average.seconds < 1e6 else { return nil }
        // Tolerate rounding of timestamps to the time base (e.g. 33 ms / 34 ms at 1/1000).
        let variable = Double(longest - shortest) > max(1.0, Double(shortest) * 0.1)
        guard variable else {
            let milli = Int64((average.seconds * 1000).rounded())
            return FrameTiming(average: milli > 0 ? Rational(milli, 1000).snappedToNTSC : average, isVariable: false)
        }
        let fastGap = gaps.sorted()[gaps.count / 10]
        return FrameTiming(average: average, isVariable: true, peak: Rational(1) / (Rational(fastGap) * timeBase))
    }
}

private extension Rational {
    /// 29.970 → 30000/1001, 30.000 → 30: timestamps in milliseconds blur the NTSC rates.
    var snappedToNTSC: Rational {
        for base: Int64 in [24, 30, 60, 120] {
            let ntsc = Rational(base * 1000, 1001)
            if abs(seconds - ntsc.seconds) < 0.005 { return ntsc }
            if abs(seconds - Double(base)) < 0.005 { return Rational(base) }
        }
        return self
    }
}
