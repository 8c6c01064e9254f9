import Testing
@testable import Profiles

@Suite("Profile downloads section")
struct ProfileDownloadsTests {
    @Test func offWhenLeftOut() throws {
        let profile = try ProfileLoader.parse(yaml: validYAML, file: "x.yaml")
        #expect(profile.downloads == .off)
        #expect(!profile.downloads.isOn)
    }

    @Test func aRungHighestOrOff() throws {
        let rung = try ProfileLoader.parse(yaml: validYAML + "\ndownloads:\n  video: 720p\n  audio: true\n", file: "x.yaml")
        #expect(rung.downloads == DownloadSpec(video: .rung("720p"), audio: true))
        let highest = try ProfileLoader.parse(yaml: validYAML + "\ndownloads: { video: highest }\n", file: "x.yaml")
        #expect(highest.downloads == DownloadSpec(video: .highest, audio: false))
        let audioOnly = try ProfileLoader.parse(yaml: validYAML + "\ndownloads: { video: off, audio: yes }\n", file: "x.yaml")
        #expect(audioOnly.downloads == DownloadSpec(video: .off, audio: true))
        #expect(audioOnly.downloads.isOn)
    }

    @Test func problemsNameTheLine() {
        let yaml = validYAML + """

            downloads:
              video: 1080p
              audio: maybe
              vidoe: 360p
            """
        #expect(issues(yaml).map(\.description) == [
            "test.yaml:13:10: downloads: video '1080p' is not a rung of this profile (use one of 360p, 720p, highest or off)",
            "test.yaml:14:10: downloads: audio must be true or false, got 'maybe'",
            "test.yaml:15:3: downloads: unknown key 'vidoe' (did you mean 'video'?)",
        ])
        #expect(issues(validYAML + "\ndownloads: everything\n").map(\.description) == [
            "test.yaml:12:12: downloads must be a mapping of 'key: value' lines, got 'everything'",
        ])
    }

    @Test func aRungTheSourceDidNotReachFallsBackToTheTallestMade() {
        let made = [(name: "234p", height: 234), (name: "360p", height: 360)]
        #expect(DownloadSpec(video: .rung("720p"), audio: false).videoRung(among: made) == "360p")
        #expect(DownloadSpec(video: .rung("234p"), audio: false).videoRung(among: made) == "234p")
        #expect(DownloadSpec(video: .highest, audio: false).videoRung(among: made) == "360p")
        #expect(DownloadSpec(video: .off, audio: true).videoRung(among: made) == nil)
        #expect(DownloadSpec(video: .highest, audio: false).videoRung(among: []) == nil)
    }

    @Test func shippedProfilesOfferDownloads() throws {
        #expect(try loadShipped("default").downloads == DownloadSpec(video: .rung("720p"), audio: true))
        #expect(try loadShipped("small").downloads == DownloadSpec(video: .highest, audio: true))
    }
}
