import Foundation
import Testing
@testable import Profiles

/// A master as Reel writes it for the small ladder (234p, 360p, 540p).
let smallMaster = """
    #EXTM3U
    #EXT-X-VERSION:7
    #EXT-X-INDEPENDENT-SEGMENTS
    #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Main",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio/index.m3u8"
    #EXT-X-STREAM-INF:BANDWIDTH=270857,AVERAGE-BANDWIDTH=270857,CODECS="avc1.4d401e,mp4a.40.2",RESOLUTION=416x234,FRAME-RATE=30.000,AUDIO="audio"
    234p/index.m3u8
    #EXT-X-STREAM-INF:BANDWIDTH=489941,AVERAGE-BANDWIDTH=489941,CODECS="avc1.4d401e,mp4a.40.2",RESOLUTION=640x360,FRAME-RATE=30.000,AUDIO="audio"
    360p/index.m3u8
    #EXT-X-STREAM-INF:BANDWIDTH=2114465,AVERAGE-BANDWIDTH=2114465,CODECS="avc1.640020,mp4a.40.2",RESOLUTION=960x540,FRAME-RATE=30.000,AUDIO="audio"
    540p/index.m3u8
    #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=23892,CODECS="avc1.4d401e",RESOLUTION=416x234,URI="234p/iframes.m3u8"
    #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=42828,CODECS="avc1.4d401e",RESOLUTION=640x360,URI="360p/iframes.m3u8"
    #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=123848,CODECS="avc1.640020",RESOLUTION=960x540,URI="540p/iframes.m3u8"

    """

/// A master for the default ladder; `portrait` swaps width and height like a phone video's.
func ladderMaster(portrait: Bool = false) -> String {
    let rungs = [(416, 234, 190_000), (640, 360, 475_000), (768, 432, 950_000),
                 (960, 540, 2_600_000), (1280, 720, 3_900_000), (1920, 1080, 7_800_000)]
    var lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS",
                 "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"Main\",DEFAULT=YES,URI=\"audio/index.m3u8\""]
    for (width, height, bandwidth) in rungs {
        let size = portrait ? "\(height)x\(width)" : "\(width)x\(height)"
        lines.append("#EXT-X-STREAM-INF:BANDWIDTH=\(bandwidth),CODECS=\"avc1.640020,mp4a.40.2\",RESOLUTION=\(size),AUDIO=\"audio\"")
        lines.append("\(height)p/index.m3u8")
    }
    for (width, height, bandwidth) in rungs {
        let size = portrait ? "\(height)x\(width)" : "\(width)x\(height)"
        lines.append("#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=\(bandwidth / 20),RESOLUTION=\(size),URI=\"\(height)p/iframes.m3u8\"")
    }
    return lines.joined(separator: "\n") + "\n"
}

/// The URI lines of the variants, in the order the master lists them.
func variantURIs(_ master: String) -> [String] {
    let lines = master.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    return lines.indices.dropLast()
        .filter { lines[$0].hasPrefix("#EXT-X-STREAM-INF:") }
        .map { lines[$0 + 1] }
}

/// The URIs of the I-frame playlists the master lists.
func iFrameURIs(_ master: String) -> [String] {
    master.split(separator: "\n").filter { $0.hasPrefix("#EXT-X-I-FRAME-STREAM-INF:") }.compactMap { line in
        line.range(of: "URI=\"").map { String(line[$0.upperBound...].prefix { $0 != "\"" }) }
    }
}

@Suite("Master playlist tailoring")
struct MasterPlaylistTailorTests {
    let rules: DeviceRules

    init() throws {
        rules = try loadShippedDeviceRules()
    }

    func decision(_ userAgent: String, saveData: Bool = false) throws -> DeviceDecision {
        try rules.classify(DeviceRequest(userAgent: userAgent, saveData: saveData))
    }

    let pixel = "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36"
    let windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"

    @Test func phoneStartsAtItsRungAndGetsNothingAbove720() throws {
        let tailored = MasterPlaylistTailor.tailor(ladderMaster(), for: try decision(pixel))
        #expect(variantURIs(tailored) == ["432p/index.m3u8", "234p/index.m3u8", "360p/index.m3u8",
                                          "540p/index.m3u8", "720p/index.m3u8"])
        #expect(iFrameURIs(tailored) == ["234p/iframes.m3u8", "360p/iframes.m3u8", "432p/iframes.m3u8",
                                         "540p/iframes.m3u8", "720p/iframes.m3u8"])
    }

    @Test func phoneOnTheSmallLadderStartsAtTheRungBelowItsStartHeight() throws {
        let tailored = MasterPlaylistTailor.tailor(smallMaster, for: try decision(pixel))
        // 432 is not in the ladder: 360p is the closest without going over.
        #expect(variantURIs(tailored) == ["360p/index.m3u8", "234p/index.m3u8", "540p/index.m3u8"])
        #expect(iFrameURIs(tailored) == ["234p/iframes.m3u8", "360p/iframes.m3u8", "540p/iframes.m3u8"])
    }

    @Test func headerMediaAndTagLinesStayWholeAndInPlace() throws {
        let tailored = MasterPlaylistTailor.tailor(smallMaster, for: try decision(pixel))
        let lines = tailored.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let original = smallMaster.split(separator: "\n").map(String.init)
        #expect(Array(lines.prefix(4)) == Array(original.prefix(4)))
        // Each variant keeps its own tag line, unchanged, right above its URI.
        #expect(lines[4] == original[6])
        #expect(lines[5] == "360p/index.m3u8")
        #expect(Set(lines) == Set(original + [""]))
        #expect(tailored.hasSuffix("URI=\"540p/iframes.m3u8\"\n"))
        #expect(!tailored.hasSuffix("\n\n"))
    }

    @Test func desktopKeepsEverythingAndStartsAt720() throws {
        let tailored = MasterPlaylistTailor.tailor(ladderMaster(), for: try decision(windows))
        #expect(variantURIs(tailored) == ["720p/index.m3u8", "234p/index.m3u8", "360p/index.m3u8",
                                          "432p/index.m3u8", "540p/index.m3u8", "1080p/index.m3u8"])
        #expect(iFrameURIs(tailored).count == 6)
    }

    @Test func saveDataCapsTheLadderAndStartsLowest() throws {
        let tailored = MasterPlaylistTailor.tailor(ladderMaster(), for: try decision(windows, saveData: true))
        #expect(variantURIs(tailored) == ["234p/index.m3u8", "360p/index.m3u8"])
        #expect(iFrameURIs(tailored) == ["234p/iframes.m3u8", "360p/iframes.m3u8"])
    }

    @Test func unknownClientsGetTheMasterByteForByte() throws {
        let untouched = try decision("curl/8.5.0")
        #expect(MasterPlaylistTailor.tailor(smallMaster, for: untouched) == smallMaster)
        // Even odd line endings and a missing final newline survive.
        let odd = smallMaster.replacingOccurrences(of: "\n", with: "\r\n").trimmingCharacters(in: .newlines)
        #expect(MasterPlaylistTailor.tailor(odd, for: untouched).utf8.elementsEqual(odd.utf8))
    }

    @Test func portraitVideosAreLimitedByTheirShortSide() throws {
        let tailored = MasterPlaylistTailor.tailor(ladderMaster(portrait: true), for: try decision(pixel))
        // 720x1280 counts as 720 and stays; 1080x1920 goes.
        #expect(variantURIs(tailored) == ["432p/index.m3u8", "234p/index.m3u8", "360p/index.m3u8",
                                          "540p/index.m3u8", "720p/index.m3u8"])
        #expect(!tailored.contains("1080x1920"))
        #expect(tailored.contains("RESOLUTION=720x1280"))
    }

    @Test func neverEmptyWhenTheHeightCapRemovesEverything() {
        let tiny = DeviceDecision(className: "watch", maxHeight: 144, start: .closest(toHeight: 144))
        let tailored = MasterPlaylistTailor.tailor(smallMaster, for: tiny)
        #expect(variantURIs(tailored) == ["234p/index.m3u8"])
        #expect(iFrameURIs(tailored) == ["234p/iframes.m3u8"])
    }

    @Test func neverEmptyWhenTheBandwidthCapRemovesEverything() {
        let starved = DeviceDecision(className: "x", maxBandwidth: 100_000, start: .lowest, saveData: true)
        let tailored = MasterPlaylistTailor.tailor(smallMaster, for: starved)
        #expect(variantURIs(tailored) == ["234p/index.m3u8"])
        #expect(iFrameURIs(tailored) == ["234p/iframes.m3u8"])
    }

    @Test func iFramePlaylistsFollowTheKeptVariantsWhenBandwidthCaps() {
        // 540p is allowed by height but not by bandwidth: its I-frame playlist goes too.
        let capped = DeviceDecision(className: "x", maxHeight: 1080, maxBandwidth: 1_000_000, start: .closest(toHeight: 720))
        let tailored = MasterPlaylistTailor.tailor(smallMaster, for: capped)
        #expect(variantURIs(tailored) == ["360p/index.m3u8", "234p/index.m3u8"])
        #expect(iFrameURIs(tailored) == ["234p/iframes.m3u8", "360p/iframes.m3u8"])
    }

    @Test func startBelowEveryRungStartsWithTheLowest() {
        let low = DeviceDecision(className: "x", maxHeight: 1080, start: .closest(toHeight: 144))
        #expect(variantURIs(MasterPlaylistTailor.tailor(smallMaster, for: low))
            == ["234p/index.m3u8", "360p/index.m3u8", "540p/index.m3u8"])
    }

    @Test func audioOnlyMastersPassThrough() throws {
        let audioOnly = """
            #EXTM3U
            #EXT-X-VERSION:7
            #EXT-X-STREAM-INF:BANDWIDTH=140000,CODECS="mp4a.40.2"
            audio/index.m3u8

            """
        #expect(MasterPlaylistTailor.tailor(audioOnly, for: try decision(pixel, saveData: true)) == audioOnly)
    }

    @Test func anAudioOnlyVariantBesideVideoIsKeptButNeverFirst() throws {
        let mixed = smallMaster.replacingOccurrences(
            of: "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=23892",
            with: "#EXT-X-STREAM-INF:BANDWIDTH=140000,CODECS=\"mp4a.40.2\",AUDIO=\"audio\"\naudio/index.m3u8\n"
                + "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=23892")
        let tailored = MasterPlaylistTailor.tailor(mixed, for: try decision(pixel, saveData: true))
        #expect(variantURIs(tailored) == ["234p/index.m3u8", "audio/index.m3u8", "360p/index.m3u8"])
    }

    @Test func crlfInputComesOutWithNewlines() throws {
        let crlf = smallMaster.replacingOccurrences(of: "\n", with: "\r\n")
        let tailored = MasterPlaylistTailor.tailor(crlf, for: try decision(pixel))
        #expect(!tailored.contains("\r"))
        #expect(tailored == MasterPlaylistTailor.tailor(smallMaster, for: try decision(pixel)))
    }

    @Test func attributeListsHandleQuotedCommas() {
        let attributes = HLSAttributeList(tagLine:
            "#EXT-X-STREAM-INF:BANDWIDTH=2114465,CODECS=\"avc1.640020,mp4a.40.2\",RESOLUTION=960x540,AUDIO=\"audio\"")
        #expect(attributes.bandwidth == 2_114_465)
        #expect(attributes.shortSide == 540)
        #expect(attributes.values["CODECS"] == "avc1.640020,mp4a.40.2")
        #expect(attributes.values["AUDIO"] == "audio")
        #expect(HLSAttributeList(tagLine: "#EXT-X-STREAM-INF:RESOLUTION=720x1280").shortSide == 720)
        #expect(HLSAttributeList(tagLine: "#EXT-X-STREAM-INF:RESOLUTION=big").shortSide == nil)
    }
}
