/// A tiny big-endian writer for ISO BMFF boxes. `box` writes the size after the body is known.
struct BoxWriter {
    private(set) var bytes: [UInt8] = []

    var count: Int { bytes.count }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xff)) }
    mutating func u24(_ v: UInt32) { for shift in [16, 8, 0] { bytes.append(UInt8((v >> UInt32(shift)) & 0xff)) } }
    mutating func u32(_ v: UInt32) { for shift in [24, 16, 8, 0] { bytes.append(UInt8((v >> UInt32(shift)) & 0xff)) } }
    mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    mutating func u64(_ v: UInt64) { for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((v >> UInt64(shift)) & 0xff)) } }
    mutating func fourCC(_ s: String) { precondition(s.utf8.count == 4); bytes.append(contentsOf: s.utf8) }
    mutating func zeros(_ n: Int) { bytes.append(contentsOf: repeatElement(0, count: n)) }
    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }

    /// The identity transformation matrix used by mvhd and tkhd.
    mutating func unityMatrix() {
        for v: UInt32 in [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] { u32(v) }
    }

    mutating func box(_ type: String, _ body: (inout BoxWriter) -> Void) {
        let start = bytes.count
        u32(0)
        fourCC(type)
        body(&self)
        patch32(at: start, UInt32(bytes.count - start))
    }

    mutating func fullBox(_ type: String, version: UInt8, flags: UInt32, _ body: (inout BoxWriter) -> Void) {
        box(type) { w in
            w.u8(version)
            w.u24(flags)
            body(&w)
        }
    }

    mutating func patch32(at offset: Int, _ v: UInt32) {
        for (i, shift) in [24, 16, 8, 0].enumerated() { bytes[offset + i] = UInt8((v >> UInt32(shift)) & 0xff) }
    }
}

extension BoxWriter {
    /// `hdlr` naming a video or sound track, as both our MP4 writers (fragmented and progressive) write it.
    mutating func handler(isVideo: Bool) {
        fullBox("hdlr", version: 0, flags: 0) { w in
            w.u32(0)
            w.fourCC(isVideo ? "vide" : "soun")
            w.zeros(12)
            w.raw(Array((isVideo ? "Reel video" : "Reel audio").utf8)); w.u8(0)
        }
    }

    /// The start of `minf`: the media header (`vmhd` or `smhd`) and a `dinf` whose data is in this file.
    mutating func mediaInformationHeader(isVideo: Bool) {
        if isVideo {
            fullBox("vmhd", version: 0, flags: 1) { w in w.zeros(8) }
        } else {
            fullBox("smhd", version: 0, flags: 0) { w in w.zeros(4) }
        }
        box("dinf") { w in
            w.fullBox("dref", version: 0, flags: 0) { w in
                w.u32(1)
                w.fullBox("url ", version: 0, flags: 1) { _ in }
            }
        }
    }
}
