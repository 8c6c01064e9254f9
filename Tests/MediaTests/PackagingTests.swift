import Testing
@testable import Media

@Suite("H.264 and CMAF packaging")
struct PackagingTests {
    let sps: [UInt8] = [0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9]
    let pps: [UInt8] = [0x68, 0xeb, 0xe3, 0xcb]

    @Test("Annex B extradata gives an avcC and an RFC 6381 codec string")
    func avcConfig() throws {
        let annexB: [UInt8] = [0, 0, 0, 1] + sps + [0, 0, 1] + pps
        let config = try #require(AVCDecoderConfig(annexB: annexB))
        #expect(config.sps == sps)
        #expect(config.pps == pps)
        #expect(config.codecString == "avc1.64001f")
        let body = config.avcCBody
        #expect(Array(body.prefix(6)) == [1, 0x64, 0x00, 0x1f, 0xff, 0xe1])
        #expect(body.count == 6 + 2 + sps.count + 1 + 2 + pps.count + 4)
    }

    @Test("access units become length-prefixed, parameter sets and delimiters dropped")
    func lengthPrefix() {
        let slice: [UInt8] = [0x65, 0x88, 0x84, 0x00, 0x10]
        let au: [UInt8] = [0, 0, 0, 1, 0x09, 0xf0] + [0, 0, 0, 1] + sps + [0, 0, 1] + slice
        let out = au.withUnsafeBufferPointer { AnnexB.lengthPrefixed($0) }
        #expect(out == [0, 0, 0, 5] + slice)
    }

    @Test("fragments: tfdt carries the absolute decode time, durations come from the next sample")
    func fragment() throws {
        var track = FragmentedMP4Track(config: .aac(audioSpecificConfig: [0x11, 0x90], channels: 2, sampleRate: 48000, bitrate: 128_000),
                                       timescale: 48000)
        for i in 0..<3 {
            track.append(MediaSample(data: [UInt8](repeating: UInt8(i), count: 10), dts: 96_000 + Int64(i) * 1024,
                                     pts: 96_000 + Int64(i) * 1024, isSync: true, duration: 1024))
        }
        let taken = track.takeFragment(sequence: 7, nextDTS: 96_000 + 3 * 1024 + 100)
        let fragment = try #require(taken)
        #expect(fragment.firstDTS == 96_000)
        #expect(fragment.duration == 3 * 1024 + 100)
        let bytes = fragment.bytes
        #expect(String(decoding: bytes[4..<8], as: UTF8.self) == "moof")
        // tfdt version 1: size, type, version+flags, then the 64-bit base media decode time
        let tfdt = try #require(find("tfdt", in: bytes))
        let base = bytes[(tfdt + 12)..<(tfdt + 20)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        #expect(base == 96_000)
        #expect(fragment.firstSampleEnd == Int(bytes[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }) + 8 + 10)
        #expect(track.isEmpty)
    }

    @Test("init segments of the same rendition are byte-identical whatever their first timestamp")
    func identicalInit() {
        let config = CodecConfig.aac(audioSpecificConfig: [0x11, 0x90], channels: 2, sampleRate: 48000, bitrate: 128_000)
        #expect(FragmentedMP4Track(config: config, timescale: 48000).initSegment()
            == FragmentedMP4Track(config: config, timescale: 48000).initSegment())
        #expect(config.codecString == "mp4a.40.2")
    }

    @Test("TARGETDURATION is the longest EXTINF rounded to the nearest second")
    func targetDuration() {
        #expect(HLSPlaylists.targetDuration([6.0, 6.0, 2.5]) == 6)
        #expect(HLSPlaylists.targetDuration([6.4]) == 6)
        #expect(HLSPlaylists.targetDuration([6.5]) == 7)
        #expect(HLSPlaylists.targetDuration([]) == 1)
    }

    private func find(_ type: String, in bytes: [UInt8]) -> Int? {
        let pattern = Array(type.utf8)
        guard bytes.count >= 8 else { return nil }
        for i in 4..<(bytes.count - 4) where Array(bytes[i..<(i + 4)]) == pattern { return i - 4 }
        return nil
    }
}
