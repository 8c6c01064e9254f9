import Captions
import Foundation
import Profiles
import Storage
import Testing

@Suite struct WebVTTSegmentsTests {
    // 30 fps with two frames of reordering: the fMP4 timeline is 1/15 s ahead of the source's.
    let timeline = CaptionTimeline(offset: 2.0 / 30, durations: [2, 4, 4, 1.5], targetDuration: 4)

    @Test func everySegmentCarriesTheTimestampMap() {
        let files = WebVTTSegments.segments([Cue(start: 0.5, end: 1, text: "a")], timeline: timeline)
        #expect(files.count == 4)
        for file in files { #expect(file.hasPrefix("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:6000,LOCAL:00:00:00.000\n")) }
    }

    @Test func cuesGoToEverySegmentTheyOverlap() {
        let cues = [Cue(start: 0.5, end: 1, text: "first"),
                    Cue(start: 5.5, end: 6.5, text: "spans 2 and 3"),  // segment 1 is [2, 6), segment 2 [6, 10)
                    Cue(start: 10, end: 10.5, text: "starts at a boundary"),
                    Cue(start: 11.6, end: 20, text: "after the end")]
        let files = WebVTTSegments.segments(cues, timeline: timeline)
        #expect(files[0].contains("00:00:00.500 --> 00:00:01.000\nfirst\n"))
        #expect(!files[0].contains("spans"))
        #expect(files[1].contains("00:00:05.500 --> 00:00:06.500\nspans 2 and 3\n"))
        #expect(files[2].contains("00:00:05.500 --> 00:00:06.500\nspans 2 and 3\n"))
        #expect(!files[2].contains("boundary"))
        #expect(files[3].contains("00:00:10.000 --> 00:00:10.500\nstarts at a boundary\n"))
        // The last segment keeps what runs past the end rather than losing it.
        #expect(files[3].contains("after the end"))
    }

    @Test func cueSettingsAreKept() {
        let files = WebVTTSegments.segments([Cue(start: 1, end: 2, settings: "line:0", text: "top")], timeline: timeline)
        #expect(files[0].contains("00:00:01.000 --> 00:00:02.000 line:0\ntop\n"))
    }

    @Test func playlistFollowsTheVideoSegments() {
        let text = WebVTTSegments.playlist(timeline: timeline)
        #expect(text.contains("#EXT-X-TARGETDURATION:4\n"))
        #expect(text.contains("#EXTINF:1.500000,\nseg-00003.vtt\n#EXT-X-ENDLIST\n"))
        #expect(text.components(separatedBy: "#EXTINF").count == 5)
    }

    @Test func timestamps() {
        #expect(WebVTTSegments.timestamp(3723.0045) == "01:02:03.005")
        #expect(WebVTTSegments.timestamp(0) == "00:00:00.000")
    }

    let master = """
        #EXTM3U
        #EXT-X-VERSION:7
        #EXT-X-INDEPENDENT-SEGMENTS
        #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Main",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio/index.m3u8"
        #EXT-X-STREAM-INF:BANDWIDTH=900000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,AUDIO="audio"
        720p/index.m3u8
        #EXT-X-STREAM-INF:BANDWIDTH=400000,CODECS="avc1.64001e,mp4a.40.2",RESOLUTION=640x360,AUDIO="audio"
        360p/index.m3u8
        #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,CODECS="avc1.64001f",RESOLUTION=1280x720,URI="720p/iframes.m3u8"

        """

    func track(_ id: String, _ lang: String, _ label: String, isDefault: Bool = false) -> CaptionTrack {
        CaptionTrack(id: id, language: lang, label: label, source: .upload, isDefault: isDefault, cueCount: 1, created: Date())
    }

    @Test func masterGainsTheSubtitlesGroup() {
        let text = MasterSubtitles.apply(master, tracks: [track("a1", "en", "English", isDefault: true), track("b2", "de", "Deutsch \"DE\"")])
        #expect(text.contains("#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,URI=\"subs-a1/index.m3u8\"\n"
            + "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"Deutsch 'DE'\",LANGUAGE=\"de\",DEFAULT=NO,AUTOSELECT=YES,URI=\"subs-b2/index.m3u8\"\n#EXT-X-STREAM-INF:"))
        #expect(text.components(separatedBy: "AUDIO=\"audio\",SUBTITLES=\"subs\"\n").count == 3)
        #expect(!text.contains("I-FRAME-STREAM-INF:BANDWIDTH=90000,CODECS=\"avc1.64001f\",RESOLUTION=1280x720,URI=\"720p/iframes.m3u8\",SUBTITLES"))
        // Again, and then without tracks: the same text, then the original.
        #expect(MasterSubtitles.apply(text, tracks: [track("a1", "en", "English", isDefault: true), track("b2", "de", "Deutsch \"DE\"")]) == text)
        #expect(MasterSubtitles.apply(text, tracks: []) == master)
    }

    @Test func namesAreUniqueAndOneDefault() {
        let text = MasterSubtitles.apply(master, tracks: [track("a", "en", "English", isDefault: true), track("b", "en", "English", isDefault: true)])
        #expect(text.contains("NAME=\"English\",LANGUAGE=\"en\",DEFAULT=NO"))
        #expect(text.contains("NAME=\"English (2)\",LANGUAGE=\"en\",DEFAULT=YES"))
    }

    @Test func tailoredMasterKeepsTheSubtitles() {
        let text = MasterSubtitles.apply(master, tracks: [track("a1", "en", "English")])
        let tailored = MasterPlaylistTailor.tailor(text, for: DeviceDecision(className: "small", maxHeight: 400))
        #expect(tailored.contains("#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\""))
        #expect(tailored.contains("RESOLUTION=640x360,AUDIO=\"audio\",SUBTITLES=\"subs\"\n360p/index.m3u8"))
        #expect(!tailored.contains("720p/index.m3u8"))
    }

    @Test func storeRepublishesAtomicallyAndRemovesDeletedTracks() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("captions-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let store = CaptionStore(layout: StorageLayout(root: root))
        try AtomicFile.write(Data(master.utf8), to: store.layout.masterPlaylist(video: "v"))
        try store.add(track("t1", "en", "English"), cues: [Cue(start: 1, end: 2, text: "hi")], video: "v")
        #expect(try store.republish(video: "v") == false)  // not finalized yet: nothing published
        try store.saveTimeline(timeline, video: "v")
        #expect(try store.republish(video: "v"))
        let hls = store.layout.hlsDirectory(video: "v")
        let segment = try String(contentsOf: hls.appendingPathComponent("subs-t1/seg-00000.vtt"), encoding: .utf8)
        #expect(segment.contains("00:00:01.000 --> 00:00:02.000\nhi"))
        #expect(try String(contentsOf: store.layout.masterPlaylist(video: "v"), encoding: .utf8).contains("URI=\"subs-t1/index.m3u8\""))
        #expect(try store.remove(track: "t1", video: "v"))
        #expect(try store.remove(track: "t1", video: "v") == false)
        try store.republish(video: "v")
        #expect(try String(contentsOf: store.layout.masterPlaylist(video: "v"), encoding: .utf8) == master)
        #expect(!FileManager.default.fileExists(atPath: hls.appendingPathComponent("subs-t1").path))
    }

    @Test func aNewDefaultTakesOverFromTheOld() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("captions-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let store = CaptionStore(layout: StorageLayout(root: root))
        // Ids against the order of addition: the list follows the time each was added, to the fraction.
        try store.add(track("t9", "en", "English", isDefault: true), cues: [], video: "v")
        try store.add(track("t1", "fr", "Français", isDefault: true), cues: [], video: "v")
        #expect(try store.tracks(video: "v").map(\.id) == ["t9", "t1"])
        #expect(try store.tracks(video: "v").map(\.isDefault) == [false, true])
    }
}
