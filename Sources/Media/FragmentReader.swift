import Foundation

/// One sample of a fragmented track: where its bytes are and how it is timed, in the track's timescale.
struct SampleRef {
    /// Index into `FragmentedTrackIndex.files`.
    var file: Int32
    var offset: Int64
    var size: UInt32
    var dts: Int64
    var duration: UInt32
    /// Composition offset (pts − dts).
    var compositionOffset: Int32
    var isSync: Bool

    var pts: Int64 { dts + Int64(compositionOffset) }
}

/// A CMAF track read back from its init segment and its segment files: the sample entry and the sample
/// table, without the sample bytes (those are copied from the files later). Only box headers and the
/// small `moof` boxes are read, so indexing a rendition costs a few kilobytes per segment.
struct FragmentedTrackIndex {
    var isVideo: Bool
    var timescale: UInt32
    /// The whole `stsd` box of the init segment, copied as it is.
    var sampleDescription: [UInt8]
    /// tkhd width and height, 16.16 fixed point.
    var width: UInt32
    var height: UInt32
    var language: UInt16
    var files: [String]
    var samples: [SampleRef]

    var firstDTS: Int64 { samples.first?.dts ?? 0 }
    var endDTS: Int64 { samples.last.map { $0.dts + Int64($0.duration) } ?? 0 }
    var mediaDuration: Int64 { endDTS - firstDTS }
    /// The earliest presentation time of any sample.
    var firstPTS: Int64 { samples.map(\.pts).min() ?? 0 }
    /// The end of the last presented sample.
    var endPTS: Int64 { samples.map { $0.pts + Int64($0.duration) }.max() ?? 0 }
    var payloadBytes: Int64 { samples.reduce(0) { $0 + Int64($1.size) } }

    /// Reads the init segment and each segment file in order (decode order across files).
    static func read(initSegment: String, segments: [String]) throws(MediaError) -> FragmentedTrackIndex {
        let header = try InitSegmentInfo.read(initSegment)
        var index = FragmentedTrackIndex(isVideo: header.isVideo, timescale: header.timescale,
                                         sampleDescription: header.sampleDescription, width: header.width,
                                         height: header.height, language: header.language, files: segments, samples: [])
        for (number, path) in segments.enumerated() {
            let before = index.samples.count
            try FragmentFile.readSamples(path: path, file: Int32(number), defaults: header.defaults,
                                         nextDTS: index.endDTS, into: &index.samples)
            // A fragment that starts later than the previous sample ends (a missing segment) stretches that
            // sample: a progressive file's decode times are the running sum of the durations.
            if before > 0, before < index.samples.count {
                let gap = index.samples[before].dts - index.samples[before - 1].dts
                if gap > 0, gap <= Int64(UInt32.max) { index.samples[before - 1].duration = UInt32(gap) }
            }
        }
        guard !index.samples.isEmpty else { throw .internalFailure("\(initSegment): the rendition has no samples") }
        return index
    }
}

/// Defaults a `trex` box gives every fragment of the track.
struct TrackDefaults {
    var duration: UInt32 = 0
    var size: UInt32 = 0
    var flags: UInt32 = 0
}

/// What the init segment says about the (single) track.
struct InitSegmentInfo {
    var isVideo = false
    var timescale: UInt32 = 0
    var sampleDescription: [UInt8] = []
    var width: UInt32 = 0
    var height: UInt32 = 0
    var language: UInt16 = 0x55c4
    var defaults = TrackDefaults()

    static func read(_ path: String) throws(MediaError) -> InitSegmentInfo {
        let bytes: [UInt8]
        do { bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw .unreadable(path: path, reason: error.localizedDescription)
        }
        var info = InitSegmentInfo()
        var handler = ""
        func fail(_ why: String) -> MediaError { .internalFailure("\(path) is not an init segment Reel can read: \(why)") }
        guard let moov = BoxCursor.children(bytes, 0..<bytes.count).first(where: { $0.type == "moov" }) else { throw fail("no moov") }
        let moovChildren = BoxCursor.children(bytes, moov.body)
        guard let trak = moovChildren.first(where: { $0.type == "trak" }) else { throw fail("no track") }
        for box in BoxCursor.children(bytes, trak.body) {
            switch box.type {
            case "tkhd":
                // Width and height are the last 8 bytes, whatever the version.
                guard box.body.count >= 8 else { throw fail("short tkhd") }
                info.width = BoxCursor.u32(bytes, box.body.upperBound - 8)
                info.height = BoxCursor.u32(bytes, box.body.upperBound - 4)
            case "mdia":
                for part in BoxCursor.children(bytes, box.body) {
                    switch part.type {
                    case "mdhd":
                        let version = bytes[part.body.lowerBound]
                        let at = part.body.lowerBound + (version == 1 ? 20 : 12)
                        guard at + 12 <= part.body.upperBound else { throw fail("short mdhd") }
                        info.timescale = BoxCursor.u32(bytes, at)
                        info.language = UInt16(BoxCursor.u32(bytes, at + (version == 1 ? 12 : 8)) >> 16)
                    case "hdlr":
                        guard part.body.count >= 12 else { throw fail("short hdlr") }
                        handler = String(decoding: bytes[(part.body.lowerBound + 8)..<(part.body.lowerBound + 12)], as: UTF8.self)
                    case "minf":
                        guard let stbl = BoxCursor.children(bytes, part.body).first(where: { $0.type == "stbl" }),
                              let stsd = BoxCursor.children(bytes, stbl.body).first(where: { $0.type == "stsd" })
                        else { throw fail("no sample description") }
                        info.sampleDescription = Array(bytes[stsd.whole])
                    default: break
                    }
                }
            default: break
            }
        }
        if let mvex = moovChildren.first(where: { $0.type == "mvex" }),
           let trex = BoxCursor.children(bytes, mvex.body).first(where: { $0.type == "trex" }), trex.body.count >= 24 {
            let at = trex.body.lowerBound
            info.defaults = TrackDefaults(duration: BoxCursor.u32(bytes, at + 12), size: BoxCursor.u32(bytes, at + 16),
                                          flags: BoxCursor.u32(bytes, at + 20))
        }
        guard handler == "vide" || handler == "soun" else { throw fail("track kind '\(handler)'") }
        guard info.timescale > 0, !info.sampleDescription.isEmpty else { throw fail("no timescale or sample description") }
        info.isVideo = handler == "vide"
        return info
    }
}

/// Reads the `moof` boxes of one segment file (which may hold several fragments) with `pread`; `mdat`
/// payloads are skipped, only their positions are recorded.
enum FragmentFile {
    static func readSamples(path: String, file: Int32, defaults: TrackDefaults, nextDTS: Int64,
                            into samples: inout [SampleRef]) throws(MediaError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        let fileSize = Int64(info.st_size)
        func fail(_ why: String) -> MediaError { .internalFailure("\(path) is not a segment Reel can read: \(why)") }
        var position: Int64 = 0
        var dts = nextDTS
        while position < fileSize {
            let header = try readBytes(fd, at: position, count: Int(min(16, fileSize - position)), path: path)
            guard header.count >= 8 else { throw fail("a box header is cut short at byte \(position)") }
            var size = Int64(BoxCursor.u32(header, 0))
            let type = String(decoding: header[4..<8], as: UTF8.self)
            if size == 1 {
                guard header.count >= 16 else { throw fail("a large box header is cut short") }
                size = Int64(BoxCursor.u64(header, 8))
            } else if size == 0 {
                size = fileSize - position
            }
            guard size >= 8, position + size <= fileSize else { throw fail("box '\(type)' at byte \(position) runs past the end") }
            if type == "moof" {
                guard size <= 64 << 20 else { throw fail("moof of \(size) bytes") }
                let moof = try readBytes(fd, at: position, count: Int(size), path: path)
                try parseMoof(moof, at: position, file: file, fileSize: fileSize, defaults: defaults, dts: &dts,
                              into: &samples, fail: fail)
            }
            position += size
        }
    }

    private static func parseMoof(_ moof: [UInt8], at moofStart: Int64, file: Int32, fileSize: Int64, defaults: TrackDefaults,
                                  dts: inout Int64, into samples: inout [SampleRef],
                                  fail: (String) -> MediaError) throws(MediaError) {
        let top = BoxCursor.children(moof, 0..<moof.count)
        guard let moofBox = top.first, moofBox.type == "moof" else { throw fail("no moof") }
        for traf in BoxCursor.children(moof, moofBox.body) where traf.type == "traf" {
            var base = moofStart
            var duration = defaults.duration, size = defaults.size, flags = defaults.flags
            var dataEnd: Int64?
            for box in BoxCursor.children(moof, traf.body) {
                let b = box.body.lowerBound
                guard box.body.count >= 4 else { throw fail("empty \(box.type)") }
                let boxFlags = BoxCursor.u32(moof, b) & 0xff_ffff
                switch box.type {
                case "tfhd":
                    var at = b + 8   // version/flags, track ID
                    if boxFlags & 0x01 != 0 { base = Int64(BoxCursor.u64(moof, at)); at += 8 }
                    if boxFlags & 0x02 != 0 { at += 4 }
                    if boxFlags & 0x08 != 0 { duration = BoxCursor.u32(moof, at); at += 4 }
                    if boxFlags & 0x10 != 0 { size = BoxCursor.u32(moof, at); at += 4 }
                    if boxFlags & 0x20 != 0 { flags = BoxCursor.u32(moof, at); at += 4 }
                    guard at <= box.body.upperBound else { throw fail("short tfhd") }
                case "tfdt":
                    dts = moof[b] == 1 ? Int64(BoxCursor.u64(moof, b + 4)) : Int64(BoxCursor.u32(moof, b + 4))
                case "trun":
                    let version = moof[b]
                    let count = Int(BoxCursor.u32(moof, b + 4))
                    var at = b + 8
                    var offset = dataEnd ?? base
                    if boxFlags & 0x001 != 0 { offset = base + Int64(Int32(bitPattern: BoxCursor.u32(moof, at))); at += 4 }
                    var firstFlags: UInt32?
                    if boxFlags & 0x004 != 0 { firstFlags = BoxCursor.u32(moof, at); at += 4 }
                    let perSample = [0x100, 0x200, 0x400, 0x800].filter { boxFlags & UInt32($0) != 0 }.count * 4
                    guard count >= 0, at + count * perSample <= box.body.upperBound else { throw fail("trun lists more samples than it holds") }
                    samples.reserveCapacity(samples.count + count)
                    for i in 0..<count {
                        var d = duration, s = size, f = (i == 0 ? firstFlags : nil) ?? flags, cto: Int32 = 0
                        if boxFlags & 0x100 != 0 { d = BoxCursor.u32(moof, at); at += 4 }
                        if boxFlags & 0x200 != 0 { s = BoxCursor.u32(moof, at); at += 4 }
                        if boxFlags & 0x400 != 0 { f = BoxCursor.u32(moof, at); at += 4 }
                        if boxFlags & 0x800 != 0 {
                            let raw = BoxCursor.u32(moof, at); at += 4
                            // Version 0 offsets are unsigned; ours are small either way.
                            cto = version == 0 ? Int32(clamping: raw) : Int32(bitPattern: raw)
                        }
                        guard offset >= 0, offset + Int64(s) <= fileSize else { throw fail("a sample lies outside the file") }
                        samples.append(SampleRef(file: file, offset: offset, size: s, dts: dts, duration: d,
                                                 compositionOffset: cto, isSync: f & 0x0001_0000 == 0))
                        offset += Int64(s)
                        dts += Int64(d)
                    }
                    dataEnd = offset
                default: break
                }
            }
        }
    }

    static func readBytes(_ fd: Int32, at offset: Int64, count: Int, path: String) throws(MediaError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path: path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { throw .unreadable(path: path, reason: "the file ended early (changed while it was read?)") }
            done += n
        }
        return out
    }
}

/// Walks ISO BMFF boxes inside a byte array.
enum BoxCursor {
    struct Box {
        var type: String
        var whole: Range<Int>
        var body: Range<Int>
    }

    /// The boxes laid end to end in `range`; stops at anything malformed.
    static func children(_ bytes: [UInt8], _ range: Range<Int>) -> [Box] {
        var out: [Box] = []
        var at = range.lowerBound
        while at + 8 <= range.upperBound {
            var size = Int(u32(bytes, at))
            var headerSize = 8
            if size == 1 {
                guard at + 16 <= range.upperBound else { break }
                size = Int(clamping: u64(bytes, at + 8)); headerSize = 16
            } else if size == 0 {
                size = range.upperBound - at
            }
            guard size >= headerSize, at + size <= range.upperBound else { break }
            let type = String(decoding: bytes[(at + 4)..<(at + 8)], as: UTF8.self)
            var body = (at + headerSize)..<(at + size)
            // Full boxes whose children we walk keep their version/flags in the body; boxes we walk into
            // (moov, trak, mdia, minf, stbl, mvex, moof, traf) are plain containers.
            if type == "meta" { body = min(body.lowerBound + 4, body.upperBound)..<body.upperBound }
            out.append(Box(type: type, whole: at..<(at + size), body: body))
            at += size
        }
        return out
    }

    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
        guard at >= 0, at + 4 <= b.count else { return 0 }
        return UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
    }

    static func u64(_ b: [UInt8], _ at: Int) -> UInt64 { UInt64(u32(b, at)) << 32 | UInt64(u32(b, at + 4)) }
}
