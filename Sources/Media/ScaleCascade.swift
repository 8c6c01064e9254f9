import CFFmpeg

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

extension VideoRungEncoder {
    /// Encodes `picture` as output frame `slot` on every rung of `encoders`, each scaled from the
    /// smallest suitable picture (see `ScaleCascade`).
    static func encode(_ picture: UnsafeMutablePointer<AVFrame>, on encoders: [VideoRungEncoder], slot: Int64,
                       keyframe: Bool) throws(MediaError) {
        if encoders.count == 1 {
            try encoders[0].encode(picture, slot: slot, keyframe: keyframe)
            return
        }
        let steps = ScaleCascade.plan(sizes: encoders.map { ($0.rung.width, $0.rung.height) },
                                      source: (Int(picture.pointee.width), Int(picture.pointee.height)))
        for step in steps {
            let from = step.from.map { encoders[$0].picture } ?? picture
            try encoders[step.rung].encode(from, slot: slot, keyframe: keyframe)
        }
    }
}
