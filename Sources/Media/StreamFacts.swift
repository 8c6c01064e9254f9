import CFFmpeg

/// Facts about one `AVStream` that both the probe and the transcoder need.
extension UnsafeMutablePointer where Pointee == AVStream {
    var parameters: AVCodecParameters { pointee.codecpar.pointee }

    /// Clockwise degrees (0, 90, 180, 270) that make the picture upright, from the display matrix.
    var uprightRotation: Int {
        var size: Int = 0
        guard let data = av_stream_get_side_data(self, AV_PKT_DATA_DISPLAYMATRIX, &size), size >= 36 else { return 0 }
        let angle = data.withMemoryRebound(to: Int32.self, capacity: 9) { av_display_rotation_get($0) }
        guard angle.isFinite else { return 0 }
        // FFmpeg reports the counter-clockwise angle; we want the clockwise turn, snapped to 90°.
        let clockwise = Int((-angle / 90).rounded()) * 90
        return ((clockwise % 360) + 360) % 360
    }

    var sampleAspectRatio: Rational? {
        let sar = av_guess_sample_aspect_ratio(nil, self, nil)
        guard sar.num > 0, sar.den > 0, sar.num != sar.den else { return nil }
        // Real anamorphic pixels are within 1:4…4:1; anything wider is a header lie, shown square.
        let ratio = Rational(sar)
        guard Rational(1, 4) <= ratio, ratio <= Rational(4) else { return nil }
        return ratio
    }

    /// Width and height as shown: SAR applied to the width, then rotated.
    var displaySize: (width: Int, height: Int) {
        var width = Int(parameters.width)
        let height = Int(parameters.height)
        if let sar = sampleAspectRatio {
            width = Int((Double(width) * sar.seconds).rounded())
        }
        return uprightRotation % 180 == 90 ? (height, width) : (width, height)
    }

    /// Average frame rate, falling back to the container's real base rate.
    var averageFrameRate: Rational? {
        let avg = pointee.avg_frame_rate
        if avg.num > 0 && avg.den > 0 { return Rational(avg) }
        let r = pointee.r_frame_rate
        if r.num > 0 && r.den > 0 { return Rational(r) }
        return nil
    }

    /// Heuristic used by FFmpeg's own tools: the base rate and the average rate disagree.
    var isVariableFrameRate: Bool {
        let avg = pointee.avg_frame_rate, r = pointee.r_frame_rate
        guard avg.num > 0, avg.den > 0, r.num > 0, r.den > 0 else { return false }
        let a = av_q2d(avg), b = av_q2d(r)
        return abs(a - b) / max(a, b) > 0.01
    }

    var fieldOrderName: String {
        switch parameters.field_order {
        case AV_FIELD_PROGRESSIVE: "progressive"
        case AV_FIELD_TT: "tff"
        case AV_FIELD_BB: "bff"
        case AV_FIELD_TB: "tb"
        case AV_FIELD_BT: "bt"
        default: "unknown"
        }
    }

    var isInterlaced: Bool {
        let order = parameters.field_order
        return order == AV_FIELD_TT || order == AV_FIELD_BB || order == AV_FIELD_TB || order == AV_FIELD_BT
    }

    var codecName: String { String(cString: avcodec_get_name(parameters.codec_id)) }
}

func channelLayoutName(_ layout: AVChannelLayout) -> String {
    var copy = layout
    var buffer = [CChar](repeating: 0, count: 128)
    let written = av_channel_layout_describe(&copy, &buffer, buffer.count)
    guard written > 0 else { return "\(layout.nb_channels) channels" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
