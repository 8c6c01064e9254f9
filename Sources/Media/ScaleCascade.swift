import CFFmpeg
import Profiles

/// Which picture each rung of a rate group is scaled from. The scaler's work grows with the size of the
/// picture it reads, so a rung scaled from the next larger rung's already-scaled picture costs a fraction
/// of one scaled from the decoded picture (on a 720p ladder of 540p/360p/234p, about a third less).
/// Two bicubic steps differ from one by little when each step shrinks by at least `minimumRatio`: on the
/// 720p test clip the cascaded 360p and 234p pictures are within 52–54 dB PSNR of the directly scaled ones,
/// far above what the encoder keeps (30–40 dB), so the encoded rungs' PSNR moves by a few hundredths of a dB.
enum ScaleCascade {
    /// A rung is scaled from a larger rung only if that one is at least this much larger on both sides;
    /// closer sizes would add a second interpolation for little saving.
    static let minimumRatio = (num: 5, den: 4)

    struct Step: Equatable {
        /// Index of the rung to encode.
        var rung: Int
        /// Index of the (earlier) rung whose picture it is scaled from; nil: the decoded picture.
        var from: Int?
    }

    /// The order to encode `sizes` in (largest first) and the picture each one scales from. A rung is
    /// only scaled from a smaller picture than the decoded one, never from an enlarged one.
    static func plan(sizes: [(width: Int, height: Int)], source: (width: Int, height: Int)) -> [Step] {
        let order = sizes.indices.sorted { (sizes[$0].width * sizes[$0].height, $1) > (sizes[$1].width * sizes[$1].height, $0) }
        var steps: [Step] = []
        for rung in order {
            let target = sizes[rung]
            let parent = steps.map(\.rung).filter { candidate in
                let p = sizes[candidate]
                return p.width * p.height < source.width * source.height
                    && p.width * minimumRatio.den >= target.width * minimumRatio.num
                    && p.height * minimumRatio.den >= target.height * minimumRatio.num
            }.min { sizes[$0].width * sizes[$0].height < sizes[$1].width * sizes[$1].height }
            steps.append(Step(rung: rung, from: parent))
        }
        return steps
    }
}

extension ScaleCascade {
    /// Scales `source` into `frame` (yuv420p at `width`×`height`, its buffer made on first use and made
    /// private again when an encoder still holds the previous picture), `scaler` cached between calls.
    static func scale(_ source: UnsafeMutablePointer<AVFrame>, into frame: UnsafeMutablePointer<AVFrame>, width: Int, height: Int,
                      scaler: inout OpaquePointer?, rung: String) throws(MediaError) {
        scaler = sws_getCachedContext(
            scaler, source.pointee.width, source.pointee.height, AVPixelFormat(rawValue: source.pointee.format),
            Int32(width), Int32(height), AV_PIX_FMT_YUV420P, SWS_BICUBIC, nil, nil, nil)
        guard let context = scaler else { throw .internalFailure("libswscale cannot convert this picture format for \(rung)") }
        if frame.pointee.buf.0 == nil || frame.pointee.width != Int32(width) || frame.pointee.height != Int32(height)
            || frame.pointee.format != AV_PIX_FMT_YUV420P.rawValue {
            av_frame_unref(frame)
            frame.pointee.format = AV_PIX_FMT_YUV420P.rawValue
            frame.pointee.width = Int32(width)
            frame.pointee.height = Int32(height)
            if av_frame_get_buffer(frame, 0) < 0 { throw .internalFailure("out of memory allocating a \(rung) picture") }
        }
        if av_frame_make_writable(frame) < 0 { throw .internalFailure("out of memory allocating a \(rung) picture") }
        withFramePlanes(source, frame) { srcData, srcLines, dstData, dstLines in
            _ = sws_scale(context, srcData, srcLines, 0, source.pointee.height, dstData, dstLines)
        }
        frame.pointee.color_range = AVCOL_RANGE_MPEG
    }
}

/// The picture of a rung this piece does not encode but a smaller rung it does encode is scaled from
/// (the first piece is split by rungs): scaling along the whole ladder's cascade keeps every rung's
/// pictures the same whichever group encodes it. Owns its scaler and frame; one thread only.
final class RungPicture {
    let rung: PlannedRung
    private var scaler: OpaquePointer?
    let frame: UnsafeMutablePointer<AVFrame>

    init(rung: PlannedRung) throws(MediaError) {
        guard let frame = av_frame_alloc() else { throw .internalFailure("out of memory allocating a \(rung.name) picture") }
        self.rung = rung
        self.frame = frame
    }

    deinit {
        sws_freeContext(scaler)
        var f: UnsafeMutablePointer<AVFrame>? = frame
        av_frame_free(&f)
    }

    func make(from source: UnsafeMutablePointer<AVFrame>) throws(MediaError) -> UnsafeMutablePointer<AVFrame> {
        try ScaleCascade.scale(source, into: frame, width: rung.width, height: rung.height, scaler: &scaler, rung: rung.name)
        return frame
    }
}

extension VideoRungEncoder {
    /// Encodes `picture` as output frame `slot` on every rung of `encoders`, each scaled from the smallest
    /// suitable picture of the whole `ladder` (the rungs of this frame rate in the video's plan; see
    /// `ScaleCascade`). A rung of the ladder that is not encoded here but is the source of one that is
    /// gets its picture made in `intermediates`.
    static func encode(_ picture: UnsafeMutablePointer<AVFrame>, on encoders: [VideoRungEncoder], ladder: [PlannedRung],
                       intermediates: inout [String: RungPicture], slot: Int64, keyframe: Bool) throws(MediaError) {
        if ladder.count == 1, let only = encoders.first {
            try only.encode(picture, slot: slot, keyframe: keyframe)
            return
        }
        let steps = ScaleCascade.plan(sizes: ladder.map { ($0.width, $0.height) },
                                      source: (Int(picture.pointee.width), Int(picture.pointee.height)))
        let byName = Dictionary(uniqueKeysWithValues: encoders.map { ($0.rung.name, $0) })
        // The rungs to make: those encoded here and every rung they are scaled from.
        let parent = Dictionary(uniqueKeysWithValues: steps.map { ($0.rung, $0.from) })
        var needed = Set<Int>()
        for i in ladder.indices where byName[ladder[i].name] != nil {
            var at: Int? = i
            while let k = at, needed.insert(k).inserted { at = parent[k] ?? nil }
        }
        var made: [Int: UnsafeMutablePointer<AVFrame>] = [:]
        for step in steps where needed.contains(step.rung) {
            let from = step.from.flatMap { made[$0] } ?? picture
            let rung = ladder[step.rung]
            if let encoder = byName[rung.name] {
                try encoder.encode(from, slot: slot, keyframe: keyframe)
                made[step.rung] = encoder.picture
            } else {
                let maker: RungPicture
                if let known = intermediates[rung.name] { maker = known } else {
                    maker = try RungPicture(rung: rung)
                    intermediates[rung.name] = maker
                }
                made[step.rung] = try maker.make(from: from)
            }
        }
    }
}
