import Foundation
import Testing
import ReelTestSupport
@testable import Media
import Profiles

/// Scrubbing thumbnails made from the pictures the transcoder already has, tiled into JPEG sprite sheets
/// and indexed by a WebVTT file.
@Suite("Storyboards", .serialized)
struct StoryboardTests {
    /// The small ladder with 2-second segments (three on the 6-second fixture) and a thumbnail a second,
    /// 4 × 2 to a sheet.
    func profile(_ storyboard: StoryboardSpec? = StoryboardSpec(interval: 1, width: 160, columns: 4, rows: 2)) throws -> Profile {
        var profile = try ProfileLoader.load(path: Paths.profile("small"))
        profile.segmentDuration = 2
        profile.storyboard = storyboard
        return profile
    }

    /// The cues of a storyboard index: start, end, text.
    func cues(_ text: String) -> [(start: Double, end: Double, text: String)] {
        func seconds(_ t: String) -> Double {
            let p = t.split(separator: ":").map { Double($0) ?? .nan }
            return p[0] * 3600 + p[1] * 60 + p[2]
        }
        let lines = text.components(separatedBy: "\n")
        return lines.indices.compactMap { i in
            let parts = lines[i].components(separatedBy: " --> ")
            guard parts.count == 2, i + 1 < lines.count else { return nil }
            return (seconds(parts[0]), seconds(parts[1]), lines[i + 1])
        }
    }

    @Test("a whole transcode writes sheets that decode with the tile grid, and an index whose cues cover the video")
    func wholeTranscode() async throws {
        let out = try Paths.temporaryDirectory("storyboard")
        defer { try? FileManager.default.removeItem(at: out) }
        let result = try await Transcoder.transcode(input: Paths.fixture("landscape.mp4"), into: out, profile: try profile())
        let part = try #require(result.storyboard)
        #expect(part.error == nil)
        #expect(part.tiles.map(\.time) == [0, 1, 2, 3, 4, 5])
        // 160 wide, 16:9 → 90 high; 4 × 2 to a sheet: 0…7 would fit one, so one sheet of 4 × 2 cells.
        #expect(part.tiles.allSatisfy { $0.width == 160 && $0.height == 90 && $0.sheet == "storyboard/0.jpg" })
        #expect(part.tiles.map { [$0.x, $0.y] } == [[0, 0], [160, 0], [320, 0], [480, 0], [0, 90], [160, 90]])

        let sheet = out.appendingPathComponent("storyboard/0.jpg").path
        let stream = try #require(try FFprobe.info(sheet).streams?.first)
        #expect(stream.codec_name == "mjpeg")
        #expect(stream.width == 640 && stream.height == 180)
        #expect(try FFprobe.decodeErrors(sheet) == "")

        let index = try String(contentsOf: out.appendingPathComponent("storyboard.vtt"), encoding: .utf8)
        #expect(index.hasPrefix("WEBVTT\n"))
        let found = cues(index)
        #expect(found.count == 6)
        #expect(found.first?.start == 0)
        #expect(abs((found.last?.end ?? 0) - result.duration) < 0.001, "the last cue ends with the video")
        for (a, b) in zip(found, found.dropFirst()) { #expect(a.end == b.start) }
        #expect(found[5].text == "storyboard/0.jpg#xywh=160,90,160,90")
        // Each cell holds its own picture (the fixture moves): no two thumbnails alike (two black cells would be).
        let cells = try part.tiles.map { tile in
            try Tool.run("ffmpeg", ["-nostdin", "-v", "error", "-i", sheet, "-vf", "crop=\(tile.width):\(tile.height):\(tile.x):\(tile.y),scale=8:4",
                                    "-pix_fmt", "gray", "-f", "md5", "-"]).stdout
        }
        #expect(cells.allSatisfy { $0.hasPrefix("MD5=") })
        #expect(Set(cells).count == 6)
    }

    @Test("a full sheet is written when its grid is full and the next starts a new sheet")
    func sheetsRollOver() async throws {
        let out = try Paths.temporaryDirectory("storyboard-roll")
        defer { try? FileManager.default.removeItem(at: out) }
        let spec = StoryboardSpec(interval: 1, width: 96, columns: 2, rows: 2)
        let result = try await Transcoder.transcode(input: Paths.fixture("landscape.mp4"), into: out, profile: try profile(spec))
        let tiles = try #require(result.storyboard?.tiles)
        #expect(tiles.map(\.sheet) == ["storyboard/0.jpg"] + Array(repeating: "storyboard/0.jpg", count: 3)
            + ["storyboard/4.jpg", "storyboard/4.jpg"])
        // 96 wide at 16:9 is 54 high (even). The first sheet is full, the second has one row of two.
        let first = try #require(try FFprobe.info(out.appendingPathComponent("storyboard/0.jpg").path).streams?.first)
        let second = try #require(try FFprobe.info(out.appendingPathComponent("storyboard/4.jpg").path).streams?.first)
        #expect(first.width == 192 && first.height == 108)
        #expect(second.width == 192 && second.height == 54)
    }

    @Test("chunked transcoding makes the same thumbnails as one pass, and exactly one group of the split first piece makes its own")
    func chunkedMatchesSinglePass() async throws {
        let profile = try profile()
        let source = Paths.fixture("landscape.mp4")
        let root = try Paths.temporaryDirectory("storyboard-chunks")
        defer { try? FileManager.default.removeItem(at: root) }
        let single = try await Transcoder.transcode(input: source, into: root.appendingPathComponent("single"), profile: profile)

        let plan = try await Transcoder.plan(input: source, profile: profile)
        let chunks = plan.chunks(ofAbout: 2)
        #expect(chunks.count == 3)
        let groups = plan.rungGroups(2)
        #expect(groups.count == 2)
        var parts: [StoryboardPart] = []
        let joined = root.appendingPathComponent("joined")
        for (i, chunk) in chunks.enumerated() {
            var makers: [[String]?] = []
            for rungs in i == 0 ? groups.map({ $0 }) : [nil] {
                let result = try await Transcoder.transcode(input: source, into: joined, profile: profile,
                                                            scope: .videoChunk(chunk.first, chunk.end, rungs: rungs))
                if let part = result.storyboard {
                    makers.append(rungs)
                    parts.append(part)
                    #expect(part.tiles.allSatisfy { $0.time >= plan.segmentStarts[Int(chunk.first)] })
                }
            }
            #expect(makers.count == 1, "piece \(i): \(makers.count) groups made thumbnails")
            // The group that encodes the smallest rung at least as large as a thumbnail: 234p (416 × 234).
            if i == 0 { #expect(makers.first??.contains("234p") == true, "\(String(describing: makers))") }
        }
        let merged = try #require(StoryboardIndex.merge(parts))
        let whole = try #require(single.storyboard)
        #expect(merged.tiles.map(\.time) == whole.tiles.map(\.time))
        #expect(merged.tiles.map(\.index) == whole.tiles.map(\.index))
        // Each piece fills sheets of its own, named by their first thumbnail: 0-1, 2-3, 4-5.
        #expect(merged.tiles.map(\.sheet) == ["storyboard/0.jpg", "storyboard/0.jpg", "storyboard/2.jpg", "storyboard/2.jpg",
                                             "storyboard/4.jpg", "storyboard/4.jpg"])
        for name in ["0", "2", "4"] {
            let sheet = joined.appendingPathComponent("storyboard/\(name).jpg").path
            let stream = try #require(try FFprobe.info(sheet).streams?.first)
            #expect(stream.width == 320 && stream.height == 90)
        }
    }

    @Test("a storyboard that cannot be written costs the thumbnails, not the video")
    func failureIsNotTheVideos() async throws {
        let out = try Paths.temporaryDirectory("storyboard-fail")
        defer { try? FileManager.default.removeItem(at: out) }
        // A file where the sheets' folder would go: no sheet can be written.
        try Data("in the way".utf8).write(to: out.appendingPathComponent("storyboard"))
        let result = try await Transcoder.transcode(input: Paths.fixture("landscape.mp4"), into: out, profile: try profile(),
                                                    scope: .videoChunk(0, nil))
        let part = try #require(result.storyboard)
        #expect(part.tiles.isEmpty)
        #expect(part.error?.contains("storyboard") == true, "\(String(describing: part.error))")
        #expect(result.parts.count == 3 && result.parts.allSatisfy { $0.segments.count == 3 })
    }

    @Test("a profile with storyboards off makes none")
    func off() async throws {
        let out = try Paths.temporaryDirectory("storyboard-off")
        defer { try? FileManager.default.removeItem(at: out) }
        let result = try await Transcoder.transcode(input: Paths.fixture("landscape.mp4"), into: out, profile: try profile(nil))
        #expect(result.storyboard == nil)
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("storyboard.vtt").path))
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("storyboard").path))
    }

    @Test("an audio-only source has no storyboard")
    func audioOnly() async throws {
        let out = try Paths.temporaryDirectory("storyboard-audio")
        defer { try? FileManager.default.removeItem(at: out) }
        let result = try await Transcoder.transcode(input: Paths.fixture("audio-only.m4a"), into: out, profile: try profile())
        #expect(result.storyboard == nil)
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("storyboard.vtt").path))
    }

    @Test("the index's cues run to the next thumbnail, the last one to the end of the video")
    func index() {
        let tiles = (0..<3).map { StoryboardTile(index: $0, time: Double($0) * 5, sheet: "storyboard/0.jpg", x: $0 * 160, y: 0, width: 160, height: 90) }
        #expect(StoryboardIndex.webVTT(tiles: tiles, interval: 5, duration: 12.5) == """
            WEBVTT

            00:00:00.000 --> 00:00:05.000
            storyboard/0.jpg#xywh=0,0,160,90

            00:00:05.000 --> 00:00:10.000
            storyboard/0.jpg#xywh=160,0,160,90

            00:00:10.000 --> 00:00:12.500
            storyboard/0.jpg#xywh=320,0,160,90

            """)
        #expect(StoryboardIndex.timestamp(3725.25) == "01:02:05.250")
        // Pieces' tiles merge in time order, each once.
        let merged = StoryboardIndex.merge([StoryboardPart(interval: 5, tiles: [tiles[2]]), StoryboardPart(interval: 5, tiles: [tiles[0], tiles[1]]),
                                            StoryboardPart(interval: 5, tiles: [tiles[2]])])
        #expect(merged?.tiles == tiles)
        #expect(StoryboardIndex.merge([]) == nil)
    }
}
