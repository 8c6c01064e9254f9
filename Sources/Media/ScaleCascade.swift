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

/// The rungs of one frame rate, made from each picture along the cascade. The route — which rungs to make,
/// largest first, each from which picture, encoded here or only made for a smaller rung (the split first
/// piece encodes some rungs) — depends on the source size alone, so it is worked out once per size, not
/// per frame. A rung's pictures never depend on which rungs its piece encodes.
final class RungCascade {
    private struct Stop {
        /// Index in `ladder`.
        var rung: Int
        /// Index in `ladder` of the picture it is scaled from; nil: the decoded picture.
        var from: Int?
        var encoder: VideoRungEncoder?
    }

    /// Every rung of the plan at this rate, encoded here or not.
    let ladder: [PlannedRung]
    let encoders: [VideoRungEncoder]
    private var intermediates: [String: RungPicture] = [:]
    private var route: (width: Int32, height: Int32, stops: [Stop])?
    /// Per stop, the picture made for it from the current frame.
    private var made: [UnsafeMutablePointer<AVFrame>?]

    init(ladder: [PlannedRung], encoders: [VideoRungEncoder]) {
        self.ladder = ladder
        self.encoders = encoders
        made = Array(repeating: nil, count: ladder.count)
    }

    /// Encodes `picture` as output frame `slot` on every rung of `encoders`.
    func encode(_ picture: UnsafeMutablePointer<AVFrame>, slot: Int64, keyframe: Bool) throws(MediaError) {
        if route?.width != picture.pointee.width || route?.height != picture.pointee.height {
            route = (picture.pointee.width, picture.pointee.height, stops(for: picture))
        }
        for stop in route?.stops ?? [] {
            let from = stop.from.flatMap { made[$0] } ?? picture
            if let encoder = stop.encoder {
                try encoder.encode(from, slot: slot, keyframe: keyframe)
                made[stop.rung] = encoder.picture
            } else {
                let rung = ladder[stop.rung]
                let maker: RungPicture
                if let known = intermediates[rung.name] { maker = known } else {
                    maker = try RungPicture(rung: rung)
                    intermediates[rung.name] = maker
                }
                made[stop.rung] = try maker.make(from: from)
            }
        }
    }

    /// The rungs encoded here and every rung they are scaled from, largest first.
    private func stops(for picture: UnsafeMutablePointer<AVFrame>) -> [Stop] {
        let steps = ScaleCascade.plan(sizes: ladder.map { ($0.width, $0.height) },
                                      source: (Int(picture.pointee.width), Int(picture.pointee.height)))
        let byName = Dictionary(uniqueKeysWithValues: encoders.map { ($0.rung.name, $0) })
        let parent = Dictionary(uniqueKeysWithValues: steps.map { ($0.rung, $0.from) })
        var needed = Set<Int>()
        for i in ladder.indices where byName[ladder[i].name] != nil {
            var at: Int? = i
            while let k = at, needed.insert(k).inserted { at = parent[k] ?? nil }
        }
        return steps.filter { needed.contains($0.rung) }
            .map { Stop(rung: $0.rung, from: $0.from, encoder: byName[ladder[$0.rung].name]) }
    }
}
