import Foundation
import ReelTestSupport
import Testing
@testable import Media

/// Subtitle streams inside originals, made with the ffmpeg CLI at test time: mov_text in MP4, SubRip and
/// ASS in Matroska. Times are on the output's timeline, text without ASS override tags.
@Suite struct SubtitleExtractorTests {
    static let srt = """
        1
        00:00:00,500 --> 00:00:01,500
        First line

        2
        00:00:02,000 --> 00:00:03,250
        <i>Second</i>
        two lines

        """

    static let ass = """
        [Script Info]
        ScriptType: v4.00+

        [V4+ Styles]
        Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
        Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,1

        [Events]
        Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
        Dialogue: 0,0:00:00.50,0:00:01.50,Default,,0,0,0,,{\\an8}{\\i1}Hello, world{\\i0}\\Nsecond row
        Dialogue: 0,0:00:02.00,0:00:03.00,Default,,0,0,0,,Plain

        """

    func make(_ name: String, subtitles: String, ext: String, codec: String, language: String) throws -> (URL, String) {
        let dir = try Paths.temporaryDirectory("subs")
        let sub = dir.appendingPathComponent("in.\(ext)")
        try subtitles.write(to: sub, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent(name).path
        let run = try Tool.run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=30:duration=4",
                                          "-i", sub.path, "-map", "0:v", "-map", "1:s", "-c:v", "libx264", "-preset", "ultrafast",
                                          "-c:s", codec, "-metadata:s:s:0", "language=\(language)", "-y", out])
        #expect(run.status == 0, "\(run.stderr)")
        return (dir, out)
    }

    @Test(arguments: [("clip.mp4", "srt", "mov_text", "eng"), ("clip.mkv", "srt", "srt", "deu")])
    func textStreams(name: String, ext: String, codec: String, language: String) async throws {
        let (dir, path) = try make(name, subtitles: Self.srt, ext: ext, codec: codec, language: language)
        defer { try? FileManager.default.removeItem(at: dir) }
        let found = try await Transcoder.subtitles(input: path)
        let track = try #require(found.first)
        #expect(found.count == 1)
        #expect(track.language == language)
        // FFmpeg's text decoders all give ASS events; styling ({\i1}) is dropped with the override tags.
        #expect(track.lines.map(\.text) == ["First line", "Second\ntwo lines"])
        #expect(abs(track.lines[0].start - 0.5) < 0.002 && abs(track.lines[0].end - 1.5) < 0.002)
        #expect(abs(track.lines[1].start - 2.0) < 0.002 && abs(track.lines[1].end - 3.25) < 0.002)
    }

    @Test func assOverrideTagsAreStripped() async throws {
        let (dir, path) = try make("clip.mkv", subtitles: Self.ass, ext: "ass", codec: "ass", language: "fra")
        defer { try? FileManager.default.removeItem(at: dir) }
        let track = try #require(try await Transcoder.subtitles(input: path).first)
        #expect(track.codec == "ass")
        #expect(track.lines.map(\.text) == ["Hello, world\nsecond row", "Plain"])
        #expect(abs(track.lines[0].start - 0.5) < 0.002 && abs(track.lines[1].end - 3.0) < 0.002)
    }

    @Test func subtitlesOnlyFixture() async throws {
        let found = try await Transcoder.subtitles(input: Paths.fixture("subtitles-only.mkv"))
        #expect(found.count == 1)
        #expect(found.first?.lines.first?.text == "This Matroska file holds subtitles only.")
    }

    @Test func noSubtitleStreams() async throws {
        #expect(try await Transcoder.subtitles(input: Paths.fixture("landscape.mp4")).isEmpty)
    }

    @Test func assTextField() {
        #expect(SubtitleExtractor.assText("0,0,Default,,0,0,0,,{\\b1}Bold{\\b0}, and\\hmore\\Nnext") == "Bold, and more\nnext")
        #expect(SubtitleExtractor.cleaned("a\n\n --> b ") == "a\n-> b")
    }
}
