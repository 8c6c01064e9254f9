import Testing
@testable import Profiles

@Suite("Values")
struct ValueParsingTests {
    @Test(arguments: [
        ("145k", 145_000), ("6M", 6_000_000), ("6000000", 6_000_000), ("1.5M", 1_500_000),
        ("128K", 128_000), (" 2000k ", 2_000_000), ("-500k", -500_000),
    ])
    func bitratesParse(text: String, bits: Int) {
        #expect(Bitrate.parse(text) == bits)
    }

    @Test(arguments: ["", "k", "fast", "6 M", "1.0001k", "6Mbps", "1e3", "0x10"])
    func nonBitratesDoNotParse(text: String) {
        #expect(Bitrate.parse(text) == nil)
    }

    @Test func bitratesFormatShort() {
        #expect(Bitrate.format(6_000_000) == "6M")
        #expect(Bitrate.format(145_000) == "145k")
        #expect(Bitrate.format(7_800_000) == "7800k")
        #expect(Bitrate.format(1_500) == "1500")
    }

    @Test func frameRatesReduce() {
        #expect(FrameRate(num: 60, den: 2) == FrameRate(num: 30, den: 1))
        #expect(FrameRate(num: 60000, den: 2002).description == "30000/1001")
        #expect(FrameRate(num: 30, den: -1) == FrameRate(num: -30, den: 1))
        #expect(FrameRate(num: 25, den: 0) == FrameRate(num: 0, den: 1))
        #expect(!FrameRate(num: 0, den: 1).isValid)
        #expect(abs(FrameRate(num: 30000, den: 1001).value - 29.97) < 0.001)
    }

    @Test(arguments: [("3", "3.0"), ("3.1", "3.1"), ("31", "3.1"), ("4.0", "4.0"), ("1b", "1b"), ("5.2", "5.2")])
    func levelNames(text: String, canonical: String) {
        #expect(H264Level.canonicalName(text) == canonical)
    }

    @Test(arguments: ["3.3", "7", "high", "", "0"])
    func notLevels(text: String) {
        #expect(H264Level.canonicalName(text) == nil)
    }

    @Test func levelLimits() {
        // 720p60 is exactly level 3.2's macroblock rate; 1080p60 needs 4.2.
        #expect(H264Level.minimum(width: 1280, height: 720, frameRate: 60, peakBitrate: 3_900_000, codecProfile: "high")?.name == "3.2")
        #expect(H264Level.minimum(width: 1920, height: 1080, frameRate: 30, peakBitrate: 7_800_000, codecProfile: "high")?.name == "4.0")
        #expect(H264Level.minimum(width: 1920, height: 1080, frameRate: 60, peakBitrate: 7_800_000, codecProfile: "high")?.name == "4.2")
        // High may use 1.25× the Main bitrate: 12.5M fits 3.0 High, not 3.0 Main.
        #expect(H264Level.minimum(width: 640, height: 360, frameRate: 30, peakBitrate: 12_500_000, codecProfile: "high")?.name == "3.0")
        #expect(H264Level.minimum(width: 640, height: 360, frameRate: 30, peakBitrate: 12_500_000, codecProfile: "main")?.name == "3.1")
    }
}
