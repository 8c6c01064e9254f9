/// How a track's samples are described in the init segment, and its RFC 6381 codec string for HLS.
enum CodecConfig: Equatable {
    case avc(AVCDecoderConfig, width: Int, height: Int)
    case aac(audioSpecificConfig: [UInt8], channels: Int, sampleRate: Int, bitrate: Int)

    var codecString: String {
        switch self {
        case let .avc(config, _, _): config.codecString
        case let .aac(asc, _, _, _):
            // mp4a.40.<audio object type>; the type is the top 5 bits of the AudioSpecificConfig.
            "mp4a.40.\(asc.first.map { Int($0 >> 3) } ?? 2)"
        }
    }

    var isVideo: Bool { if case .avc = self { true } else { false } }
}

/// The SPS and PPS of an H.264 stream, as stored in an `avcC` box.
struct AVCDecoderConfig: Equatable {
    var sps: [UInt8]
    var pps: [UInt8]

    /// Builds the config from the Annex B extradata libx264 produces with a global header.
    init?(annexB: [UInt8]) {
        var sps: [UInt8]?, pps: [UInt8]?
        for nal in AnnexB.units(annexB) where !nal.isEmpty {
            switch nal[0] & 0x1f {
            case 7 where sps == nil: sps = nal
            case 8 where pps == nil: pps = nal
            default: break
            }
        }
        guard let sps, let pps, sps.count >= 4 else { return nil }
        self.sps = sps
        self.pps = pps
    }

    var profileIndication: UInt8 { sps[1] }
    var profileCompatibility: UInt8 { sps[2] }
    var levelIndication: UInt8 { sps[3] }

    var codecString: String {
        "avc1." + [profileIndication, profileCompatibility, levelIndication].map { byte in
            let hex = String(byte, radix: 16, uppercase: false)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
    }

    var avcCBody: [UInt8] {
        var w = BoxWriter()
        w.u8(1)
        w.u8(profileIndication)
        w.u8(profileCompatibility)
        w.u8(levelIndication)
        w.u8(0xff)            // 4-byte NAL lengths
        w.u8(0xe1)            // one SPS
        w.u16(UInt16(sps.count)); w.raw(sps)
        w.u8(1)               // one PPS
        w.u16(UInt16(pps.count)); w.raw(pps)
        if [100, 110, 122, 144].contains(profileIndication) {
            // High profiles carry chroma format and bit depth; we always encode 8-bit 4:2:0.
            w.u8(0xfc | 1); w.u8(0xf8); w.u8(0xf8); w.u8(0)
        }
        return w.bytes
    }
}

/// Annex B byte streams (start codes) to and from MP4's length-prefixed NAL units.
enum AnnexB {
    /// The NAL units between start codes, without the start codes.
    static func units(_ data: [UInt8]) -> [[UInt8]] {
        var starts: [(start: Int, payload: Int)] = []
        var i = 0
        while i + 2 < data.count {
            if data[i] == 0, data[i + 1] == 0 {
                if data[i + 2] == 1 { starts.append((i, i + 3)); i += 3; continue }
                if i + 3 < data.count, data[i + 2] == 0, data[i + 3] == 1 { starts.append((i, i + 4)); i += 4; continue }
            }
            i += 1
        }
        return starts.enumerated().map { index, s in
            let end = index + 1 < starts.count ? starts[index + 1].start : data.count
            return Array(data[s.payload..<end])
        }
    }

    /// Rewrites an Annex B access unit as 4-byte length-prefixed NAL units. Parameter sets and access
    /// unit delimiters are dropped: they live in the init segment.
    static func lengthPrefixed(_ data: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        let units = units(Array(data))
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 16)
        for nal in units where !nal.isEmpty {
            let type = nal[0] & 0x1f
            if type == 7 || type == 8 || type == 9 { continue }
            let n = UInt32(nal.count)
            out.append(contentsOf: [UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)])
            out.append(contentsOf: nal)
        }
        return out
    }
}
