import Foundation

/// The caption timeline of a video finalized before finalize wrote `parts/caption-timeline` (Reel before
/// captions existed), read back from what it published: the segment durations from the first video
/// rung's VOD playlist, and the timestamp offset from its first fragment — the `tfdt` decode time plus
/// the first sample's composition offset is where the first picture is shown, which is source time 0.
/// Only final playlists (`#EXT-X-ENDLIST`) count: a video still being encoded has no timeline yet.
enum PublishedTimeline {
    static func read(hls: URL) -> CaptionTimeline? {
        guard let master = try? String(contentsOf: hls.appendingPathComponent("master.m3u8"), encoding: .utf8),
              let rung = firstVideoVariant(master),
              let media = try? String(contentsOf: hls.appendingPathComponent(rung), encoding: .utf8)
        else { return nil }
        let rungDir = hls.appendingPathComponent(rung).deletingLastPathComponent()
        var durations: [Double] = []
        var target = 0, ended = false
        var initName: String?, firstSegment: String?
        for line in media.split(whereSeparator: \.isNewline).map(String.init) {
            if line.hasPrefix("#EXTINF:") {
                guard let d = Double(line.dropFirst(8).prefix { $0 != "," }) else { return nil }
                durations.append(d)
            } else if line.hasPrefix("#EXT-X-TARGETDURATION:") {
                target = Int(line.dropFirst(22)) ?? 0
            } else if line.hasPrefix("#EXT-X-MAP:") {
                initName = line.split(separator: "\"").dropFirst().first.map(String.init)
            } else if line == "#EXT-X-ENDLIST" {
                ended = true
            } else if !line.hasPrefix("#"), firstSegment == nil {
                firstSegment = line
            }
        }
        guard ended, !durations.isEmpty, target > 0, let initName, let firstSegment,
              let initData = try? Data(contentsOf: rungDir.appendingPathComponent(initName)),
              let segment = try? Data(contentsOf: rungDir.appendingPathComponent(firstSegment)),
              let timescale = Boxes.timescale(initSegment: [UInt8](initData)), timescale > 0,
              let shown = Boxes.firstPresentationTime(fragment: [UInt8](segment))
        else { return nil }
        return CaptionTimeline(offset: Double(shown) / Double(timescale), durations: durations, targetDuration: target)
    }

    /// The URI after the first `#EXT-X-STREAM-INF` with a RESOLUTION (a video rung, not audio only).
    static func firstVideoVariant(_ master: String) -> String? {
        var takeNext = false
        for line in master.split(whereSeparator: \.isNewline).map(String.init) {
            if line.hasPrefix("#EXT-X-STREAM-INF:") { takeNext = line.contains("RESOLUTION=") } else if takeNext && !line.hasPrefix("#") {
                return line.split(separator: "?").first.map(String.init)
            }
        }
        return nil
    }
}

/// Just enough ISO BMFF reading for `PublishedTimeline`: boxes by path, the media timescale, the first
/// sample's presentation time.
enum Boxes {
    /// The payload ranges of the child boxes of `range`, by type.
    static func children(_ bytes: [UInt8], _ range: Range<Int>) -> [(type: String, payload: Range<Int>)] {
        var out: [(String, Range<Int>)] = []
        var at = range.lowerBound
        while at + 8 <= range.upperBound {
            var size = Int(u32(bytes, at))
            let type = String(decoding: bytes[(at + 4)..<(at + 8)], as: UTF8.self)
            var header = 8
            if size == 1 {
                guard at + 16 <= range.upperBound else { break }
                size = Int(clamping: u64(bytes, at + 8))
                header = 16
            } else if size == 0 {
                size = range.upperBound - at
            }
            guard size >= header, size <= range.upperBound - at else { break }
            out.append((type, (at + header)..<(at + size)))
            at += size
        }
        return out
    }

    static func find(_ bytes: [UInt8], _ path: [String], in range: Range<Int>? = nil) -> Range<Int>? {
        var current = range ?? 0..<bytes.count
        for type in path {
            guard let next = children(bytes, current).first(where: { $0.type == type }) else { return nil }
            current = next.payload
        }
        return current
    }

    /// `moov/trak/mdia/mdhd` timescale (version 0 or 1).
    static func timescale(initSegment bytes: [UInt8]) -> UInt32? {
        guard let mdhd = find(bytes, ["moov", "trak", "mdia", "mdhd"]), mdhd.count >= 24 else { return nil }
        let offset = bytes[mdhd.lowerBound] == 1 ? 20 : 12
        guard mdhd.count >= offset + 4 else { return nil }
        return u32(bytes, mdhd.lowerBound + offset)
    }

    /// The first `moof/traf`'s `tfdt` plus the first `trun` sample's composition offset.
    static func firstPresentationTime(fragment bytes: [UInt8]) -> Int64? {
        guard let traf = find(bytes, ["moof", "traf"]),
              let tfdt = find(bytes, ["tfdt"], in: traf), tfdt.count >= 8, tfdt.count >= (bytes[tfdt.lowerBound] == 1 ? 12 : 8),
              let trun = find(bytes, ["trun"], in: traf), trun.count >= 8 else { return nil }
        let decode = bytes[tfdt.lowerBound] == 1 ? Int64(bitPattern: u64(bytes, tfdt.lowerBound + 4))
            : Int64(u32(bytes, tfdt.lowerBound + 4))
        let version = bytes[trun.lowerBound]
        let flags = u32(bytes, trun.lowerBound) & 0x00FF_FFFF
        guard u32(bytes, trun.lowerBound + 4) > 0 else { return nil }
        var at = trun.lowerBound + 8
        if flags & 0x1 != 0 { at += 4 }     // data offset
        if flags & 0x4 != 0 { at += 4 }     // first sample flags
        guard flags & 0x800 != 0 else { return decode }
        for bit in [0x100, 0x200, 0x400] as [UInt32] where flags & bit != 0 { at += 4 }
        guard at + 4 <= trun.upperBound else { return nil }
        let raw = u32(bytes, at)
        let (shown, overflow) = decode.addingReportingOverflow(version == 0 ? Int64(raw) : Int64(Int32(bitPattern: raw)))
        return overflow ? nil : shown
    }

    static func u32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }

    static func u64(_ b: [UInt8], _ i: Int) -> UInt64 {
        UInt64(u32(b, i)) << 32 | UInt64(u32(b, i + 4))
    }
}
