import Foundation
import Testing
import ReelTestSupport
@testable import Media
import Profiles

/// A good fixture and what its ladder must look like.
struct GoodFixture: Sendable, CustomTestStringConvertible {
    var file: String
    var hasVideo = true
    var hasAudio = true
    /// Display size after rotation and pixel aspect: no rung may exceed it.
    var display: (width: Int, height: Int) = (0, 0)
    var portrait = false
    var testDescription: String { file }

    static let all: [GoodFixture] = [
        .init(file: "landscape.mp4", display: (1280, 720)),
        .init(file: "phone-rotated.mp4", display: (360, 640), portrait: true),
        .init(file: "odd-size.mp4", display: (333, 187)),
        .init(file: "interlaced.ts", display: (1024, 576)),
        .init(file: "hevc-10bit.mp4", display: (640, 360)),
        .init(file: "vfr.mkv", display: (640, 360)),
        .init(file: "prores-422.mov", display: (320, 180)),
        .init(file: "vp9.webm", display: (320, 180)),
        .init(file: "audio-only.m4a", hasVideo: false),
        .init(file: "video-only.mp4", hasAudio: false, display: (640, 360)),
    ]
}

@Suite("Transcoding every good fixture, checked with ffprobe and ffmpeg", .serialized)
struct LadderTests {
    @Test(arguments: GoodFixture.all)
    func ladder(_ fixture: GoodFixture) async throws {
        let profile = try ProfileLoader.load(path: Paths.profile("small"))
        let out = try Paths.temporaryDirectory("ladder")
        defer { try? FileManager.default.removeItem(at: out) }
        let source = Paths.fixture(fixture.file)
        let result = try await Transcoder.transcode(input: source, into: out, profile: profile)
        let master = out.appendingPathComponent("master.m3u8").path

        // The playlists parse strictly with an independent HLS parser, and every file they name exists.
        let check = try Tool.run("python3", [Paths.checkHLS, master])
        #expect(check.status == 0, "check-hls: \(check.stdout)\(check.stderr)")
        // ffmpeg decodes the whole ladder without a single error.
        #expect(try FFprobe.decodeErrors(master) == "")

        let videos = result.renditions.filter { $0.kind == "video" }
        #expect(videos.isEmpty == !fixture.hasVideo)
        #expect(result.renditions.contains { $0.kind == "audio" } == fixture.hasAudio)
        if fixture.hasVideo {
            try checkVideo(fixture, source: source, out: out, renditions: videos)
        }
        if fixture.hasAudio {
            try checkAudio(source: source, out: out)
        }
    }

    private func checkVideo(_ fixture: GoodFixture, source: String, out: URL, renditions: [TranscodeResult.Rendition]) throws {
        // The container's duration: from the earliest stream start to the last picture's end.
        let sourceDuration = try FFprobe.duration(source)
        var keyframes: [String: [String]] = [:]
        for r in renditions {
            let dir = out.appendingPathComponent(r.name)
            let playlist = dir.appendingPathComponent("index.m3u8").path
            let info = try FFprobe.info(playlist)
            let video = try #require(info.streams?.first { $0.codec_type == "video" })
            let (w, h) = (try #require(video.width), try #require(video.height))
            #expect(video.codec_name == "h264")
            // Never upscaled, even sizes, orientation kept.
            #expect(w <= fixture.display.width + 1 && h <= fixture.display.height + 1, "\(r.name) is \(w)x\(h), source \(fixture.display)")
            #expect(w % 2 == 0 && h % 2 == 0)
            #expect((h > w) == fixture.portrait, "\(r.name) is \(w)x\(h)")
            // Duration equals the source's within one output frame.
            let frame = 1 / (r.frameRate ?? 25)
            let duration = try FFprobe.duration(playlist)
            #expect(abs(duration - sourceDuration) <= frame + 0.001, "\(r.name): \(duration) s vs source \(sourceDuration) s")
            // Every segment starts with a keyframe: probe init + segment as one file.
            for segment in try segmentFiles(dir) {
                let joined = try joinedSegment(dir: dir, segment: segment)
                defer { try? FileManager.default.removeItem(atPath: joined) }
                let first = try FFprobe.packets(joined, extra: ["-read_intervals", "%+#1"]).first
                #expect(first?.flags?.hasPrefix("K") == true, "\(r.name)/\(segment) does not start with a keyframe")
            }
            keyframes[r.name] = try FFprobe.keyframeTimes(playlist)
        }
        // IDR frames at identical timestamps on every rung, so a player can switch at any segment.
        let distinct = Set(keyframes.values)
        #expect(distinct.count == 1, "keyframe times differ between rungs: \(keyframes)")
        #expect((keyframes.values.first?.count ?? 0) >= Int(sourceDuration / 2))
        // A poster the size of a rung.
        let poster = try FFprobe.info(out.appendingPathComponent("poster.jpg").path)
        #expect(poster.streams?.first?.codec_name == "mjpeg")
        let posterStream = try #require(poster.streams?.first)
        #expect(((posterStream.height ?? 0) > (posterStream.width ?? 0)) == fixture.portrait)
    }

    private func checkAudio(source: String, out: URL) throws {
        let playlist = out.appendingPathComponent("audio/index.m3u8").path
        let audio = try #require(try FFprobe.info(playlist).streams?.first { $0.codec_type == "audio" })
        #expect(audio.codec_name == "aac")
        #expect(audio.channels == 2)
        #expect(audio.sample_rate == "48000")
        let sourceAudio = try #require(try FFprobe.info(source).streams?.first { $0.codec_type == "audio" })
        let expected = try sourceAudio.duration.flatMap(Double.init) ?? FFprobe.duration(source)
        // Encoder priming adds one AAC frame in front; nothing else may be lost or added.
        let got = try FFprobe.duration(playlist)
        #expect(abs(got - expected) <= 2 * 1024.0 / 48000 + 0.001, "audio \(got) s vs source \(expected) s")
    }

    private func segmentFiles(_ dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".m4s") }.sorted()
    }

    private func joinedSegment(dir: URL, segment: String) throws -> String {
        var data = try Data(contentsOf: dir.appendingPathComponent("init.mp4"))
        data.append(try Data(contentsOf: dir.appendingPathComponent(segment)))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("reel-seg-\(UUID().uuidString).mp4").path
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }
}
