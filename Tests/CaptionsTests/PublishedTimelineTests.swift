import Foundation
import Testing
@testable import Captions

/// `Boxes` reads fragments from the storage root when an old video gets captions; a damaged file (a cut
/// rsync, a bad disk) must give "no timeline", never bring the server down.
@Suite struct PublishedTimelineTests {
    func box(_ type: String, _ payload: [UInt8]) -> [UInt8] {
        let size = UInt32(8 + payload.count)
        return withUnsafeBytes(of: size.bigEndian, Array.init) + Array(type.utf8) + payload
    }

    func fullBox(_ type: String, version: UInt8, flags: UInt32, _ payload: [UInt8]) -> [UInt8] {
        box(type, [version, UInt8(flags >> 16 & 0xFF), UInt8(flags >> 8 & 0xFF), UInt8(flags & 0xFF)] + payload)
    }

    func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
    func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }

    /// moof/traf with a tfdt and a trun of one sample with a composition offset.
    func fragment(tfdt: [UInt8], tfdtVersion: UInt8 = 1, offset: UInt32 = 2002) -> [UInt8] {
        let trun = fullBox("trun", version: 1, flags: 0x000B01, u32(1) + u32(0) + u32(3003) + u32(100) + u32(offset))
        return box("moof", box("traf", fullBox("tfdt", version: tfdtVersion, flags: 0, tfdt) + trun))
    }

    @Test func firstPresentationTimeOfAGoodFragment() {
        #expect(Boxes.firstPresentationTime(fragment: fragment(tfdt: u64(6006))) == 8008)
        #expect(Boxes.firstPresentationTime(fragment: fragment(tfdt: u32(6006), tfdtVersion: 0)) == 8008)
    }

    @Test func damagedFragmentsGiveNothing() {
        // A version-1 tfdt with only 4 bytes of time (a 32-bit one labelled 64).
        #expect(Boxes.firstPresentationTime(fragment: fragment(tfdt: u32(6006))) == nil)
        // A decode time that overflows with the composition offset.
        #expect(Boxes.firstPresentationTime(fragment: fragment(tfdt: u64(UInt64(Int64.max)), offset: 5)) == nil)
        // A box claiming a 64-bit size far past the end, after another box.
        let huge = box("free", [0, 0]) + u32(1) + Array("moof".utf8) + u64(.max) + [0, 0, 0, 0]
        #expect(Boxes.children(huge, 0..<huge.count).map(\.type) == ["free"])
        #expect(Boxes.firstPresentationTime(fragment: huge) == nil)
        // Cut short anywhere.
        let good = fragment(tfdt: u64(6006))
        for end in 0..<good.count { _ = Boxes.firstPresentationTime(fragment: Array(good[..<end])) }
    }
}
