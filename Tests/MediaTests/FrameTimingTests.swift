import Testing
@testable import Media

@Suite("Source frame timing")
struct FrameTimingTests {
    @Test("constant 29.97 fps in a millisecond time base is recognised as NTSC")
    func ntsc() throws {
        let stamps = (0..<300).map { Int64((Double($0) * 1001 / 30).rounded()) }
        let timing = try #require(FrameTiming.from(timestamps: stamps, timeBase: Rational(1, 1000)))
        #expect(!timing.isVariable)
        #expect(timing.average == Rational(30000, 1001))
        #expect(timing.nominal == Rational(30000, 1001))
    }

    @Test("B-frame order does not matter")
    func reordered() throws {
        let stamps: [Int64] = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8].map { $0 * 3600 }
        let timing = try #require(FrameTiming.from(timestamps: stamps, timeBase: Rational(1, 90000)))
        #expect(timing.average == Rational(25))
        #expect(!timing.isVariable)
    }

    @Test("a phone clip that drops frames now and then plans at 30 fps")
    func phoneVFR() throws {
        var stamps: [Int64] = []
        var t: Int64 = 0
        for i in 0..<300 { stamps.append(t); t += i % 7 == 6 ? 66 : 33 }
        let timing = try #require(FrameTiming.from(timestamps: stamps, timeBase: Rational(1, 1000)))
        #expect(timing.isVariable)
        #expect(timing.average.seconds < 29)
        #expect(timing.nominal == Rational(30))
    }

    @Test("too few timestamps measure nothing")
    func tooFew() {
        #expect(FrameTiming.from(timestamps: [0, 40], timeBase: Rational(1, 1000)) == nil)
    }
}
