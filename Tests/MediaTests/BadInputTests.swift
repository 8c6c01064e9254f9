import Foundation
import Testing
import ReelTestSupport
@testable import Media
import Profiles

@Suite("Bad input ends in a clear error, never a crash, never an output folder")
struct BadInputTests {
    static let cases: [(file: String, kind: String, phrase: String)] = [
        ("empty.mp4", "empty_file", "is empty"),
        ("not-a-video.mp4", "not_media", "not a video or audio file"),
        ("truncated.mp4", "truncated", "cut short"),
        ("truncated-tail.mp4", "truncated", "cut short"),
        ("subtitles-only.mkv", "no_usable_stream", "no video or audio stream"),
        ("does-not-exist.mp4", "unreadable", "no such file"),
    ]

    @Test("probe gives a typed error", arguments: cases)
    func probe(_ c: (file: String, kind: String, phrase: String)) {
        #expect {
            _ = try Prober.probe(path: Paths.fixture(c.file))
        } throws: { error in
            guard let e = error as? MediaError else { return false }
            return e.kind == c.kind && e.description.contains(c.phrase)
        }
    }

    @Test("the reel command exits 65 with a sentence and leaves no output", arguments: cases.filter { $0.kind != "unreadable" })
    func command(_ c: (file: String, kind: String, phrase: String)) throws {
        let parent = try Paths.temporaryDirectory("bad")
        defer { try? FileManager.default.removeItem(at: parent) }
        let out = parent.appendingPathComponent("ladder")
        let r = try Tool.run(Paths.reel, ["transcode", Paths.fixture(c.file), out.path, "--profile", Paths.profile("small")])
        #expect(r.status == 65, "exit \(r.status): \(r.stderr)")
        #expect(r.stderr.hasPrefix("reel: "))
        #expect(r.stderr.contains(c.phrase), "\(r.stderr)")
        #expect(!r.stderr.contains("Fatal error"))
        // Neither the destination nor a staging directory is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path).isEmpty)

        let probe = try Tool.run(Paths.reel, ["probe", Paths.fixture(c.file)])
        #expect(probe.status == 65)
        #expect(probe.stderr.contains(c.phrase))
    }

    @Test("a missing file is a plain failure (exit 1): it may appear later")
    func missing() throws {
        let r = try Tool.run(Paths.reel, ["probe", "/nonexistent/video.mp4"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("no such file"))
    }
}

@Suite("reel command line")
struct CommandLineTests {
    @Test("probe --json describes the rotated phone video as portrait")
    func probeJSON() throws {
        let r = try Tool.run(Paths.reel, ["probe", "--json", Paths.fixture("phone-rotated.mp4")])
        #expect(r.status == 0, "\(r.stderr)")
        let result = try JSONDecoder().decode(ProbeResult.self, from: Data(r.stdout.utf8))
        let video = try #require(result.video?.video)
        #expect(video.rotation == 90)
        #expect(video.displayWidth == 360 && video.displayHeight == 640)
        #expect(result.audio?.audio?.channels == 1)
    }

    @Test("transcode publishes a complete ladder and replaces an older one atomically")
    func transcodeReplaces() throws {
        let parent = try Paths.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(at: parent) }
        let out = parent.appendingPathComponent("ladder")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try Data("old".utf8).write(to: out.appendingPathComponent("stale.txt"))
        let r = try Tool.run(Paths.reel, ["transcode", Paths.fixture("video-only.mp4"), out.path, "--profile", "small", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("master.m3u8").path))
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("stale.txt").path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path) == ["ladder"])
    }

    @Test("profiles check passes the shipped profiles and points at the line of a mistake")
    func profilesCheck() throws {
        let ok = try Tool.run(Paths.reel, ["profiles", "check", Paths.profile("default"), Paths.profile("small")])
        #expect(ok.status == 0, "\(ok.stderr)")
        let dir = try Paths.temporaryDirectory("profile")
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("bad.yaml")
        try Data("name: bad\nrungs:\n  - height: 360\n    bitrat: 365k\n    level: \"3.0\"\n".utf8).write(to: bad)
        let r = try Tool.run(Paths.reel, ["profiles", "check", bad.path])
        #expect(r.status != 0)
        #expect(r.stderr.contains("bad.yaml:4:"), "\(r.stderr)")
    }
}
