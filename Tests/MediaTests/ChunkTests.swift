import Foundation
import Testing
import ReelTestSupport
@testable import Media
import Profiles

/// One video split into pieces encoded separately (as workers will), then assembled.
@Suite("Chunked encoding joins seamlessly", .serialized)
struct ChunkTests {
    /// The small ladder with 2-second segments, so a 6-second fixture has three.
    func twoSecondProfile() throws -> Profile {
        var profile = try ProfileLoader.load(path: Paths.profile("small"))
        profile.segmentDuration = 2
        return profile
    }

    @Test("chunks + audio assembled match the single pass: timestamps, keyframes, init segments")
    func chunksMatchSinglePass() async throws {
        let profile = try twoSecondProfile()
        let source = Paths.fixture("landscape.mp4")
        let root = try Paths.temporaryDirectory("chunks")
        defer { try? FileManager.default.removeItem(at: root) }

        let plan = try await Transcoder.plan(input: source, profile: profile)
        #expect(plan.segmentStarts == [0, 2, 4])
        let chunks = plan.chunks(ofAbout: 2)
        #expect(chunks.count == 3)
        #expect(chunks.last?.end == nil)

        let single = root.appendingPathComponent("single")
        _ = try await Transcoder.transcode(input: source, into: single, profile: profile)

        // Each piece into its own directory first, to compare their init segments byte for byte. The
        // first piece is split by rungs, as workers split it.
        var parts: [RenditionSummary] = []
        var pieceDirs: [URL] = []
        let groups = plan.rungGroups(2)
        #expect(groups.count == 2)
        for (i, chunk) in chunks.enumerated() {
            for (g, rungs) in (i == 0 ? groups.map { $0 } : [nil]).enumerated() {
                let dir = root.appendingPathComponent("piece-\(i)-\(g)")
                let result = try await Transcoder.transcode(input: source, into: dir, profile: profile,
                                                            scope: .videoChunk(chunk.first, chunk.end, rungs: rungs))
                #expect(result.parts.allSatisfy { $0.segments.map(\.index) == [Int64(i)] }, "piece \(i): \(result.parts.map { $0.segments.map(\.index) })")
                #expect(result.parts.map(\.name).sorted() == (rungs ?? plan.rungs).sorted())
                parts += result.parts
                pieceDirs.append(dir)
            }
        }
        let audioDir = root.appendingPathComponent("piece-audio")
        parts += try await Transcoder.transcode(input: source, into: audioDir, profile: profile, scope: .audioOnly).parts

        for rung in plan.rungs {
            let inits = try pieceDirs.compactMap { dir -> Data? in
                let url = dir.appendingPathComponent("\(rung)/init.mp4")
                return FileManager.default.fileExists(atPath: url.path) ? try Data(contentsOf: url) : nil
            }
            #expect(inits.count == chunks.count)
            #expect(Set(inits).count == 1, "init segments of \(rung) differ between chunks")
        }
        pieceDirs.append(audioDir)

        // Assemble: every piece's files into one directory, then the playlists.
        let joined = root.appendingPathComponent("joined")
        for dir in pieceDirs { try copyTree(dir, into: joined) }
        try HLSAssembler.write(parts, to: joined, final: true, segmentDuration: profile.segmentDuration)

        #expect(try FFprobe.decodeErrors(joined.appendingPathComponent("master.m3u8").path) == "")
        for rung in plan.rungs {
            let a = try FFprobe.packets(single.appendingPathComponent("\(rung)/index.m3u8").path)
            let b = try FFprobe.packets(joined.appendingPathComponent("\(rung)/index.m3u8").path)
            #expect(a.map(\.pts_time) == b.map(\.pts_time), "\(rung): presentation times differ")
            #expect(a.filter { $0.flags?.hasPrefix("K") == true }.map(\.pts_time) == b.filter { $0.flags?.hasPrefix("K") == true }.map(\.pts_time))
            let d1 = try FFprobe.duration(single.appendingPathComponent("\(rung)/index.m3u8").path)
            let d2 = try FFprobe.duration(joined.appendingPathComponent("\(rung)/index.m3u8").path)
            #expect(abs(d1 - d2) < 0.001)
        }
        let check = try Tool.run("python3", [Paths.checkHLS, joined.appendingPathComponent("master.m3u8").path])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
    }

    @Test("a chunk that starts between the source's keyframes leaves hidden pictures undecoded and encodes the same pictures")
    func hiddenPreRollIsSkipped() throws {
        // Half-second segments on a source with keyframes every 2 s: chunks at 1.5 s and 5.5 s start
        // mid-GOP on a B picture, at 3.5 s on a P picture. (x264's bytes vary from run to run with
        // threads, so the pictures handed to it are compared.)
        var profile = try ProfileLoader.load(path: Paths.profile("small"))
        profile.segmentDuration = 0.5
        profile.keyframeInterval = 0.5
        let source = Paths.fixture("landscape.mp4")
        let root = try Paths.temporaryDirectory("preroll")
        defer { try? FileManager.default.removeItem(at: root) }
        for (first, end) in [(Int64(3), Int64(4)), (Int64(7), Int64(8)), (Int64(11), nil as Int64?)] {
            var decoded: [Bool: Int] = [:]
            var pictures: [Bool: [String]] = [:]
            for skip in [false, true] {
                let dir = root.appendingPathComponent("\(first)-\(skip)")
                let session = try TranscodeSession(input: source, directory: dir, profile: profile, scope: .videoChunk(first, end),
                                                   limits: .standard, deadline: nil, progress: nil, isCancelled: { false })
                session.skipsHiddenPreRoll = skip
                var seen: [String] = []
                session.onPicture = { slot, checksum in seen.append("\(slot):\(checksum)") }
                _ = try session.run()
                decoded[skip] = session.picturesDecoded
                pictures[skip] = seen
            }
            #expect((pictures[true] ?? []).count >= 10)
            #expect(pictures[true] == pictures[false], "chunk \(first): other pictures are encoded when hidden ones are skipped")
            #expect((decoded[true] ?? 0) < (decoded[false] ?? 0), "chunk \(first): decoded \(decoded)")
        }
    }

    @Test("the plan reads where the source's keyframes are from the container's index, without decoding")
    func planKnowsSourceKeyframes() async throws {
        var profile = try ProfileLoader.load(path: Paths.profile("small"))
        profile.segmentDuration = 1
        profile.keyframeInterval = 1
        // landscape.mp4 has a keyframe every 2 s: segments at odd seconds start a second after one.
        let plan = try await Transcoder.plan(input: Paths.fixture("landscape.mp4"), profile: profile)
        #expect(plan.preRoll.count == plan.segmentStarts.count)
        for (start, preRoll) in zip(plan.segmentStarts, plan.preRoll) {
            let expected = start.truncatingRemainder(dividingBy: 2)
            #expect(abs(preRoll - expected) < 0.1, "segment at \(start) s: \(preRoll)")
        }
        // MPEG-TS keeps no index: nothing is known, and chunks are cut by time alone.
        let ts = try await Transcoder.plan(input: Paths.fixture("interlaced.ts"), profile: profile)
        #expect(ts.preRoll.isEmpty)
    }

    @Test("segment 0 is one keyframe interval long, the others the profile's segment duration")
    func shortFirstSegment() async throws {
        let profile = try ProfileLoader.load(path: Paths.profile("small"))
        #expect(profile.segmentDuration == 6 && profile.keyframeInterval == 2)
        let source = Paths.fixture("landscape.mp4")
        let plan = try await Transcoder.plan(input: source, profile: profile)
        #expect(plan.segmentStarts == [0, 2])
        let out = try Paths.temporaryDirectory("first-segment")
        defer { try? FileManager.default.removeItem(at: out) }
        _ = try await Transcoder.transcode(input: source, into: out, profile: profile)
        for rung in plan.rungs + ["audio"] {
            let playlist = try String(contentsOf: out.appendingPathComponent("\(rung)/index.m3u8"), encoding: .utf8)
            let durations = playlist.split(separator: "\n").filter { $0.hasPrefix("#EXTINF:") }
                .compactMap { Double($0.dropFirst("#EXTINF:".count).split(separator: ",")[0]) }
            #expect(durations.count == 2, "\(rung): \(durations)")
            #expect(abs((durations.first ?? 0) - 2) < 0.05, "\(rung): \(durations)")
            // The profile's segment duration, not the longest segment so far: see the EVENT playlist below.
            #expect(playlist.contains("#EXT-X-TARGETDURATION:6"), "\(rung)")
        }
        // While only segment 0 (2 s) exists, the EVENT playlists already announce the target duration of
        // the segments to come: a live playlist may not change it.
        let early = try Paths.temporaryDirectory("first-segment-event")
        defer { try? FileManager.default.removeItem(at: early) }
        var parts = try await Transcoder.transcode(input: source, into: early, profile: profile, scope: .videoChunk(0, 1)).parts
        parts += try await Transcoder.transcode(input: source, into: early, profile: profile, scope: .audioOnly).parts
        #expect(try HLSAssembler.write(parts, to: early, final: false, segmentDuration: profile.segmentDuration) == 1)
        for rung in plan.rungs {
            let playlist = try String(contentsOf: early.appendingPathComponent("\(rung)/index.m3u8"), encoding: .utf8)
            #expect(playlist.contains("#EXT-X-PLAYLIST-TYPE:EVENT") && playlist.contains("#EXT-X-TARGETDURATION:6"), "\(playlist)")
        }
        let check = try Tool.run("python3", [Paths.checkHLS, out.appendingPathComponent("master.m3u8").path])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
    }

    @Test("while pieces are missing, EVENT playlists cover the finished prefix and play")
    func eventPlaylistWhileEncoding() async throws {
        let profile = try twoSecondProfile()
        let source = Paths.fixture("landscape.mp4")
        let out = try Paths.temporaryDirectory("event")
        defer { try? FileManager.default.removeItem(at: out) }
        var parts = try await Transcoder.transcode(input: source, into: out, profile: profile, scope: .audioOnly).parts
        parts += try await Transcoder.transcode(input: source, into: out, profile: profile, scope: .videoChunk(0, 1)).parts
        parts += try await Transcoder.transcode(input: source, into: out, profile: profile, scope: .videoChunk(2, nil)).parts

        let listed = try HLSAssembler.write(parts, to: out, final: false, segmentDuration: profile.segmentDuration)
        #expect(listed == 1)
        let playlist = try String(contentsOf: out.appendingPathComponent("360p/index.m3u8"), encoding: .utf8)
        #expect(playlist.contains("#EXT-X-PLAYLIST-TYPE:EVENT"))
        #expect(!playlist.contains("#EXT-X-ENDLIST"))
        #expect(playlist.components(separatedBy: "#EXTINF").count == 2)
        // ffmpeg treats an EVENT playlist as live: decode what is there, then stop by ourselves.
        // ffmpeg treats an EVENT playlist as live: decode most of what is there, then stop by ourselves
        // (asking for all of it makes ffmpeg wait for a next segment that is not there yet).
        #expect(try FFprobe.decodeErrors(out.appendingPathComponent("master.m3u8").path, seconds: 1.5) == "")

        parts += try await Transcoder.transcode(input: source, into: out, profile: profile, scope: .videoChunk(1, 2)).parts
        #expect(try HLSAssembler.write(parts, to: out, final: true, segmentDuration: profile.segmentDuration) == 3)
        #expect(try FFprobe.decodeErrors(out.appendingPathComponent("master.m3u8").path) == "")
        #expect(abs(try FFprobe.duration(out.appendingPathComponent("master.m3u8").path) - 6) < 0.04)
    }

    private func copyTree(_ from: URL, into to: URL) throws {
        let fm = FileManager.default
        guard let walker = fm.enumerator(at: from, includingPropertiesForKeys: [.isDirectoryKey]) else { return }
        for case let url as URL in walker {
            let relative = String(url.path.dropFirst(from.path.count + 1))
            let target = to.appendingPathComponent(relative)
            if (try url.resourceValues(forKeys: [.isDirectoryKey])).isDirectory == true {
                try fm.createDirectory(at: target, withIntermediateDirectories: true)
            } else {
                try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                if !fm.fileExists(atPath: target.path) { try fm.copyItem(at: url, to: target) }
            }
        }
    }
}
