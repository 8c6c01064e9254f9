import CFFmpeg
import Foundation
import Testing
import ReelTestSupport
@testable import Media
import Profiles

/// Uploads made by an attacker (scripts/hostile-inputs): each is refused before any work is planned
/// (or, for media whose lies show only once decoded, while transcoding), with a reason the uploader can
/// read, and nothing they point at is ever opened.
@Suite("Hostile inputs are refused, bounded and interruptible")
struct HostileInputTests {
    /// Refused by `Prober.probe` (manifest stage "probe"), with this kind.
    static let expected: [String: String] = [
        "playlist-sibling.mp4": "not_accepted", "playlist-absolute.mp4": "not_accepted",
        "playlist-live.mp4": "not_accepted", "concat.mp4": "not_accepted", "manifest.mpd.mp4": "not_accepted",
        "stream.sdp.mp4": "not_accepted", "polyglot.mp4": "not_accepted", "photo.mp4": "not_accepted",
        "archive.zip.mp4": "not_media", "archive.tar.mp4": "not_media", "document.pdf.mp4": "not_media",
        "page.html.mp4": "not_media",
        "duration-billion.mkv": "exceeds_limit", "duration-huge.mp4": "exceeds_limit",
        "timestamp-jump.mkv": "exceeds_limit", "picture-9000-wide.mkv": "exceeds_limit",
        "streams-100.mkv": "exceeds_limit",
        "wav-1hz.wav": "exceeds_limit", "streams-64-8k.mkv": "exceeds_limit",
        "streams-300.mkv": "exceeds_limit",
    ]

    /// Checked by transcoding (manifest stage "transcode"): refused with this kind, or "ready" for a good
    /// file with one absurd field, which must become a normal short video.
    static let transcoded: [String: String] = [
        "slowdeclared.mp4": "exceeds_limit", "audio-overflow.mp4": "exceeds_limit",
        "timestamp-jump-nodur.mkv": "exceeds_limit", "huge-frames.mkv": "exceeds_limit",
        "late-audio.mkv": "exceeds_limit",
        "long-last-frame.mkv": "ready", "sar-huge.mkv": "ready",
    ]
    static var transcodeRefusals: [String] { transcoded.filter { $0.value != "ready" }.keys.sorted() }

    /// The generated files, made once per run.
    static let inputs: URL = {
        let dir = try! Paths.temporaryDirectory("hostile")
        let r = try! Tool.run(Paths.hostileInputs, [dir.path, "--sibling", "victim", "--absolute", Paths.fixture("landscape.mp4")])
        precondition(r.status == 0, "hostile-inputs failed: \(r.stderr)")
        return dir
    }()

    @Test("every generated file is listed here with the refusal it must get, at the stage the manifest says")
    func manifestMatches() throws {
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.inputs.appendingPathComponent("manifest.json"))) as! [[String: String]]
        #expect(Set(manifest.compactMap { $0["file"] }) == Set(Self.expected.keys).union(Self.transcoded.keys))
        for entry in manifest {
            let name = entry["file"] ?? "?"
            #expect(entry["stage"] == (Self.expected[name] != nil ? "probe" : "transcode"), "\(name)")
            #expect(entry["expect"] == (Self.transcoded[name] == "ready" ? "ready" : "failed"), "\(name)")
        }
    }

    @Test("probing refuses it, permanently, in words", arguments: expected.keys.sorted())
    func refused(_ name: String) throws {
        // A sibling that really exists: a playlist that FFmpeg followed would open it.
        let victim = Self.inputs.deletingLastPathComponent().appendingPathComponent("victim")
        try? FileManager.default.createDirectory(at: victim, withIntermediateDirectories: true)
        try? FileManager.default.copyItem(atPath: Paths.fixture("landscape.mp4"), toPath: victim.appendingPathComponent("source.mp4").path)
        let path = Self.inputs.appendingPathComponent(name).path
        #expect {
            _ = try Prober.probe(path: path)
        } throws: { error in
            guard let e = error as? MediaError else { return false }
            return e.kind == Self.expected[name] && e.isPermanent && !e.description.contains("Fatal")
        }
    }

    @Test("transcoding refuses what probing let through, permanently, with the limit named",
          arguments: transcodeRefusals)
    func refusedWhenTranscoding(_ name: String) async throws {
        let out = try Paths.temporaryDirectory("hostile-transcode")
        defer { try? FileManager.default.removeItem(at: out) }
        let profile = try ProfileLoader.load(path: Paths.profile("small"))
        // The deadline only turns a regression (hours of output) into a failure instead of a hung suite.
        await #expect {
            _ = try await Transcoder.transcode(input: Self.inputs.appendingPathComponent(name).path, into: out,
                                               profile: profile, deadline: Date().addingTimeInterval(120))
        } throws: { error in
            guard let e = error as? MediaError else { return false }
            return e.kind == Self.transcoded[name] && e.isPermanent && !e.description.contains("Fatal")
        }
    }

    @Test("a good file with one absurd field (a last frame of 10^12 ms, a 2^40:1 aspect ratio) becomes its 2 s of video",
          arguments: transcoded.filter { $0.value == "ready" }.keys.sorted())
    func goodFileWithAbsurdField(_ name: String) async throws {
        let out = try Paths.temporaryDirectory("hostile-ready")
        defer { try? FileManager.default.removeItem(at: out) }
        let profile = try ProfileLoader.load(path: Paths.profile("small"))
        _ = try await Transcoder.transcode(input: Self.inputs.appendingPathComponent(name).path, into: out,
                                           profile: profile, deadline: Date().addingTimeInterval(120))
        let duration = try FFprobe.duration(out.appendingPathComponent("master.m3u8").path)
        #expect(duration > 1 && duration < 10, "\(name) became \(duration) s")
    }

    @Test("probing many or huge video streams is refused in bounded memory (under 1 GiB)",
          arguments: ["streams-300.mkv", "streams-64-8k.mkv"])
    func streamsRefusedCheaply(_ name: String) throws {
        // GNU time prints the child's maximum resident set size in KB as the last line of its error output.
        let r = try Tool.run("/usr/bin/time", ["-f", "%M", Paths.reel, "probe", Self.inputs.appendingPathComponent(name).path])
        #expect(r.status == 65, "reel probe \(name): \(r.stderr)")
        #expect(r.stderr.contains("cannot be processed"), "\(r.stderr)")
        let lastLine = r.stderr.split(separator: "\n").last.map(String.init) ?? ""
        let kilobytes = try #require(Int(lastLine.trimmingCharacters(in: .whitespaces)), "no RSS in \(r.stderr)")
        #expect(kilobytes < 1 << 20, "reel probe \(name) used \(kilobytes / 1024) MB")
    }

    @Test("the good fixtures are still accepted by the same rule", arguments: [
        "landscape.mp4", "vfr.mkv", "vp9.webm", "interlaced.ts", "prores-422.mov", "audio-only.m4a", "hevc-10bit.mp4",
    ])
    func accepted(_ fixture: String) throws {
        let probe = try Prober.probe(path: Paths.fixture(fixture))
        #expect(AcceptedInput.isAccepted(formatName: probe.container))
    }

    @Test("a live HLS playlist would block a reader forever; the gate's deadline ends the read")
    func gateInterruptsLivePlaylist() throws {
        let dir = try Paths.temporaryDirectory("live")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(atPath: Paths.fixture("interlaced.ts"), toPath: dir.appendingPathComponent("a.ts").path)
        let playlist = dir.appendingPathComponent("live.m3u8")
        try "#EXTM3U\n#EXT-X-TARGETDURATION:100000\n#EXTINF:100000.0,\na.ts\n".write(to: playlist, atomically: true, encoding: .utf8)
        // The demuxer is allowed here on purpose: Reel itself never allows it.
        let gate = InputGate(deadline: Date().addingTimeInterval(2))
        let context = try AcceptedInput.open(path: playlist.path, gate: gate, allowed: ["hls", "mpegts"])
        var owned: UnsafeMutablePointer<AVFormatContext>? = context
        defer { avformat_close_input(&owned) }
        let packet = av_packet_alloc()
        defer { var p = packet; av_packet_free(&p) }
        let started = Date()
        var status: Int32 = 0
        // Bounded by the test, not by FFmpeg: without the gate this loop never ends.
        while Date().timeIntervalSince(started) < 120 {
            status = av_read_frame(context, packet)
            av_packet_unref(packet)
            if status < 0 { break }
        }
        #expect(status < 0, "read ended with \(ffmpegErrorText(status))")
        #expect(gate.tripped == .deadline)
        #expect(gate.error(path: "x")?.kind == "timed_out")
    }

    @Test("a transcode past its deadline stops with a reason instead of running on")
    func deadline() async throws {
        let out = try Paths.temporaryDirectory("deadline")
        defer { try? FileManager.default.removeItem(at: out) }
        let profile = try ProfileLoader.load(path: Paths.profile("small"))
        await #expect {
            _ = try await Transcoder.transcode(input: Paths.fixture("landscape.mp4"), into: out, profile: profile,
                                               deadline: Date().addingTimeInterval(0.2))
        } throws: { error in
            (error as? MediaError)?.kind == "timed_out"
        }
    }
}

@Suite("Timestamps from files never trap")
struct OverflowTests {
    @Test("products and sums beyond 64 bits saturate or approximate")
    func rationalSaturates() {
        let huge = Rational(Int64.max, 3)
        #expect((huge * Rational(Int64.max)).num == Int64.max)
        #expect((Rational(-Int64.max) - Rational(Int64.max)).num == -Int64.max)
        #expect((Rational(1) / Rational(0)).num == Int64.max)
        #expect(Rational(Int64.min).num == -Int64.max)
        let approx = Rational(Int64.max - 1, Int64.max) * Rational(Int64.max - 3, Int64.max - 2)
        #expect(abs(approx.seconds - 1) < 1e-9)
        #expect(Rational(Int64.max - 1, 7).ticks(90_000) == Int64.max)
        #expect(Rational(-Int64.max).ceil == -Int64.max && Rational(-Int64.max).floor == -Int64.max)
    }

    @Test("frame timing from timestamps spread across the whole 64-bit range")
    func timingFromExtremes() {
        let stamps: [Int64] = [Int64.min + 1, -1, 0, 1, Int64.max]
        _ = FrameTiming.from(timestamps: stamps, timeBase: Rational(1, 90_000))
        _ = FrameTiming.from(timestamps: [0, 1, Int64.max], timeBase: Rational(Int64.max, 1))
    }
}
