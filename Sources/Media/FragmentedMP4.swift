/// One encoded sample on a track's timeline, in the track's timescale.
struct MediaSample {
    var data: [UInt8]
    var dts: Int64
    var pts: Int64
    var isSync: Bool
    /// Used only for the very last sample of the track, whose successor cannot tell its duration.
    var duration: Int64
}

/// A finished `moof` + `mdat` pair.
struct Fragment {
    var bytes: [UInt8]
    var firstDTS: Int64
    var duration: Int64
    /// Bytes from the start of the fragment to the end of its first sample: an I-frame playlist's byte range.
    var firstSampleEnd: Int
}

/// Writes a single-track CMAF fragmented MP4: an init segment and `moof`/`mdat` fragments whose `tfdt`
/// is the absolute decode time we give it. No edit list: every chunk of a rendition, wherever it starts,
/// shares one identical init segment. Timestamps are shifted by a constant offset upstream instead.
struct FragmentedMP4Track {
    let config: CodecConfig
    let timescale: Int64
    private(set) var pending: [MediaSample] = []

    init(config: CodecConfig, timescale: Int64) {
        self.config = config
        self.timescale = timescale
    }

    // MARK: init segment

    func initSegment() -> [UInt8] {
        var w = BoxWriter()
        w.box("ftyp") { w in
            w.fourCC("iso6"); w.u32(0)
            for brand in ["iso6", "cmfc", "mp41"] { w.fourCC(brand) }
        }
        w.box("moov") { w in
            w.fullBox("mvhd", version: 0, flags: 0) { w in
                w.u32(0); w.u32(0)                  // creation, modification
                w.u32(1000); w.u32(0)               // timescale, duration (unknown: fragmented)
                w.u32(0x0001_0000); w.u16(0x0100)   // rate 1.0, volume 1.0
                w.zeros(10)
                w.unityMatrix()
                w.zeros(24)
                w.u32(2)                            // next track ID
            }
            writeTrak(&w)
            w.box("mvex") { w in
                w.fullBox("trex", version: 0, flags: 0) { w in
                    w.u32(1); w.u32(1); w.u32(0); w.u32(0); w.u32(0)
                }
            }
        }
        return w.bytes
    }

    private func writeTrak(_ w: inout BoxWriter) {
        w.box("trak") { w in
            w.fullBox("tkhd", version: 0, flags: 0x3) { w in
                w.u32(0); w.u32(0)
                w.u32(1); w.u32(0)                  // track ID, reserved
                w.u32(0)                            // duration
                w.zeros(8)
                w.u16(0); w.u16(0)                  // layer, alternate group
                w.u16(config.isVideo ? 0 : 0x0100)
                w.u16(0)
                w.unityMatrix()
                if case let .avc(_, width, height) = config {
                    w.u32(UInt32(width) << 16); w.u32(UInt32(height) << 16)
                } else {
                    w.u32(0); w.u32(0)
                }
            }
            w.box("mdia") { w in
                w.fullBox("mdhd", version: 0, flags: 0) { w in
                    w.u32(0); w.u32(0)
                    w.u32(UInt32(timescale)); w.u32(0)
                    w.u16(0x55c4)                   // language "und"
                    w.u16(0)
                }
                w.handler(isVideo: config.isVideo)
                w.box("minf") { w in
                    w.mediaInformationHeader(isVideo: config.isVideo)
                    w.box("stbl") { w in
                        w.fullBox("stsd", version: 0, flags: 0) { w in
                            w.u32(1)
                            writeSampleEntry(&w)
                        }
                        w.fullBox("stts", version: 0, flags: 0) { w in w.u32(0) }
                        w.fullBox("stsc", version: 0, flags: 0) { w in w.u32(0) }
                        w.fullBox("stsz", version: 0, flags: 0) { w in w.u32(0); w.u32(0) }
                        w.fullBox("stco", version: 0, flags: 0) { w in w.u32(0) }
                    }
                }
            }
        }
    }

    private func writeSampleEntry(_ w: inout BoxWriter) {
        switch config {
        case let .avc(avc, width, height):
            w.box("avc1") { w in
                w.zeros(6); w.u16(1)                // reserved, data reference index
                w.zeros(16)                         // pre-defined and reserved
                w.u16(UInt16(width)); w.u16(UInt16(height))
                w.u32(0x0048_0000); w.u32(0x0048_0000)  // 72 dpi
                w.u32(0)
                w.u16(1)                            // frames per sample
                w.zeros(32)                         // compressor name
                w.u16(0x0018); w.u16(0xffff)        // depth, pre-defined −1
                w.box("avcC") { w in w.raw(avc.avcCBody) }
            }
        case let .aac(asc, channels, sampleRate, bitrate):
            w.box("mp4a") { w in
                w.zeros(6); w.u16(1)
                w.zeros(8)
                w.u16(UInt16(channels)); w.u16(16)
                w.u16(0); w.u16(0)
                w.u32(UInt32(sampleRate) << 16)
                w.fullBox("esds", version: 0, flags: 0) { w in
                    let decoderSpecific = descriptor(tag: 0x05, asc)
                    var decoderConfig = BoxWriter()
                    decoderConfig.u8(0x40)          // MPEG-4 audio
                    decoderConfig.u8(0x15)          // audio stream
                    decoderConfig.u24(0)            // buffer size
                    decoderConfig.u32(UInt32(bitrate)); decoderConfig.u32(UInt32(bitrate))
                    decoderConfig.raw(decoderSpecific)
                    var es = BoxWriter()
                    es.u16(1); es.u8(0)             // ES ID, flags
                    es.raw(descriptor(tag: 0x04, decoderConfig.bytes))
                    es.raw(descriptor(tag: 0x06, [0x02]))
                    w.raw(descriptor(tag: 0x03, es.bytes))
                }
            }
        }
    }

    private func descriptor(tag: UInt8, _ body: [UInt8]) -> [UInt8] {
        // Four-byte size form, valid for any size up to 2^28.
        let n = UInt32(body.count)
        return [tag, UInt8(0x80 | ((n >> 21) & 0x7f)), UInt8(0x80 | ((n >> 14) & 0x7f)),
                UInt8(0x80 | ((n >> 7) & 0x7f)), UInt8(n & 0x7f)] + body
    }

    // MARK: fragments

    mutating func append(_ sample: MediaSample) { pending.append(sample) }

    var isEmpty: Bool { pending.isEmpty }

    /// Writes the pending samples as one fragment. `nextDTS` is the decode time of the sample that will
    /// follow, which fixes the last sample's duration; nil at the end of the track.
    mutating func takeFragment(sequence: UInt32, nextDTS: Int64?) -> Fragment? {
        guard let first = pending.first else { return nil }
        var durations: [Int64] = []
        for i in pending.indices {
            let next = i + 1 < pending.count ? pending[i + 1].dts : nextDTS
            durations.append(next.map { max($0 - pending[i].dts, 0) } ?? pending[i].duration)
        }
        let payloadSize = pending.reduce(0) { $0 + $1.data.count }
        var w = BoxWriter()
        var dataOffsetPosition = 0
        w.box("moof") { w in
            w.fullBox("mfhd", version: 0, flags: 0) { w in w.u32(sequence) }
            w.box("traf") { w in
                w.fullBox("tfhd", version: 0, flags: 0x02_0000) { w in w.u32(1) }   // default-base-is-moof
                w.fullBox("tfdt", version: 1, flags: 0) { w in w.u64(UInt64(max(first.dts, 0))) }
                // data offset, duration, size, flags and composition offset for every sample
                w.fullBox("trun", version: 0, flags: 0x000f01) { w in
                    w.u32(UInt32(pending.count))
                    dataOffsetPosition = w.count
                    w.u32(0)
                    for (sample, duration) in zip(pending, durations) {
                        // 32-bit fields: limits keep real values far below; a lie is clamped, not a trap.
                        w.u32(UInt32(clamping: duration))
                        w.u32(UInt32(sample.data.count))
                        w.u32(sample.isSync ? 0x0200_0000 : 0x0101_0000)
                        w.u32(UInt32(clamping: max(sample.pts - sample.dts, 0)))
                    }
                }
            }
        }
        let moofSize = w.count
        w.patch32(at: dataOffsetPosition, UInt32(moofSize + 8))
        w.u32(UInt32(8 + payloadSize))
        w.fourCC("mdat")
        var bytes = w.bytes
        bytes.reserveCapacity(bytes.count + payloadSize)
        for sample in pending { bytes.append(contentsOf: sample.data) }
        let fragment = Fragment(
            bytes: bytes,
            firstDTS: first.dts,
            duration: durations.reduce(0, +),
            firstSampleEnd: moofSize + 8 + first.data.count
        )
        pending.removeAll(keepingCapacity: true)
        return fragment
    }
}
