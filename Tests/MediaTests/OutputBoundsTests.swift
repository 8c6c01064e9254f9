import Testing
@testable import Media

@Suite("What a file may produce")
struct OutputBoundsTests {
    @Test("a stated duration, the file's size and the longest duration each bound the output")
    func latest() {
        let limits = MediaLimits.standard
        // 10 s stated: a little room for a container that under-states, no more.
        #expect(limits.latestOutputTime(statedDuration: 10, fileSize: 100 << 20) == 75)
        // Unknown duration: what the bytes can hold at 125 B/s.
        #expect(limits.latestOutputTime(statedDuration: nil, fileSize: 6_250) == 50)
        // Never past the longest duration allowed.
        #expect(limits.latestOutputTime(statedDuration: nil, fileSize: 1 << 40) == limits.maxDuration)
    }

    @Test("the last picture is held a little past the stated duration at most, never cut before its own frame")
    func lastPicture() {
        let bounds = OutputBounds(limits: .standard, statedDuration: 2, fileSize: 1 << 20)
        let period = Rational(1, 30)
        #expect(bounds.lastPictureEnd(start: Rational(59, 30), period: period) == Rational(3))
        #expect(bounds.lastPictureEnd(start: Rational(5), period: period) == Rational(5) + period)
    }

    @Test("below one picture a second, output runs at a common rate; a zero denominator does not trap")
    func slowSources() {
        let slideshow = FrameTiming(average: Rational(1, 50_000), isVariable: false)
        #expect(slideshow.nominal == Rational(10))
        let measured = FrameTiming.from(timestamps: [0, 2001 * 90_000, 4002 * 90_000], timeBase: Rational(1, 90_000))
        #expect(measured.map { $0.nominal >= Rational(1) } == true)
        #expect(Rational(1, 0).num == Int64.max)
    }
}
