import Foundation
import Testing
import ReelTestSupport
@testable import Media
import Profiles

/// The static renditions (progressive MP4, audio.m4a) remuxed from a real chunked transcode, checked with
/// ffprobe/ffmpeg against the HLS they were made from.
@Suite("Downloads remuxed from the segments", .serialized)
struct DownloadTests {
    /// A chunked transcode (three pieces, the first split by rungs, as workers make it) with its final
    /// playlists, in `root/hls`. Returns the renditions the final playlists list.
    func chunkedTranscode(into root: URL) async throws -> [RenditionSummary] {
        var profile = try ProfileLoader.load(path: Paths.profile("small"))
        profile.segmentDuration = 2
        let source = Paths.fixture("landscape.mp4")
        let hls = root.appendingPathComponent("hls")
        let plan = try await Transcoder.plan(input: source, profile: profile)
        let chunks = plan.chunks(ofAbout: 2)
        #expect(chunks.count == 3)
        var parts: [RenditionSummary] = []
        for (i, chunk) in chunks.enumerated() {
            for rungs in i == 0 ? plan.rungGroups(2).map { $0 } : [nil] {
                parts += try await Transcoder.transcode(input: source, into: hls, profile: profile,
                                                        scope: .videoChunk(chunk.first, chunk.end, rungs: rungs)).parts
            }
        }
        parts += try await Transcoder.transcode(input: source, into: hls, profile: profile, scope: .audioOnly).parts
        try HLSAssembler.write(parts, to: hls, final: true, segmentDuration: profile.segmentDuration)
        return HLSAssembler.finalRenditions(parts)
    }

    /// Top-level boxes in file order, as ffprobe's trace log names them.
    func topLevelOrder(_ path: String) throws -> [String] {
        let r = try Tool.run("ffprobe", ["-v", "trace", path])
        return r.stderr.split(separator: "\n").compactMap { line -> String? in
            guard line.contains("parent:'root'"), let at = line.range(of: "type:'") else { return nil }
            return String(line[at.upperBound...].prefix(4))
        }
    }

    /// The MD5 of every decoded frame, in order (timestamps left out: the HLS keeps its offset).
    func frameHashes(_ path: String, stream: String) throws -> [String] {
        let r = try Tool.run("ffmpeg", ["-nostdin", "-v", "error", "-i", path, "-map", "0:\(stream)", "-f", "framemd5", "-"])
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { $0.split(separator: ",").last.map { $0.trimmingCharacters(in: .whitespaces) } }
    }

    /// The decoded audio as 16-bit stereo PCM.
    func decodedAudio(_ path: String) throws -> Data {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("reel-pcm-\(UUID().uuidString).raw")
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try Tool.run("ffmpeg", ["-nostdin", "-v", "error", "-i", path, "-map", "0:a", "-f", "s16le", "-ac", "2", "-y", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        return try Data(contentsOf: out)
    }

    struct TimedPacket: Decodable { var pts_time: String?; var dts_time: String?; var pos: String?; var flags: String?; var codec_type: String? }
    struct TimedPackets: Decodable { var packets: [TimedPacket]? }

    func allPackets(_ path: String) throws -> [TimedPacket] {
        let r = try Tool.run("ffprobe", ["-v", "error", "-print_format", "json", "-show_entries", "packet=pts_time,dts_time,pos,flags,codec_type", path])
        return try JSONDecoder().decode(TimedPackets.self, from: Data(r.stdout.utf8)).packets ?? []
    }

    @Test("the MP4 of a rung: moov first, the HLS's frames and keyframes, audio in sync from 0, interleaved")
    func progressiveMP4() async throws {
        let root = try Paths.temporaryDirectory("downloads")
        defer { try? FileManager.default.removeItem(at: root) }
        let renditions = try await chunkedTranscode(into: root)
        let hls = root.appendingPathComponent("hls")
        let rung = try #require(renditions.first { $0.name == "540p" })
        let audio = try #require(renditions.first { $0.kind == "audio" })
        let offset = try #require(rung.timeOffset)
        #expect(offset > 0, "the HLS has its constant offset")
        #expect(rung.segments.count == 3)
        let out = root.appendingPathComponent("download/540p.mp4")
        try FileManager.default.createDirectory(at: out.deletingLastPathComponent(), withIntermediateDirectories: true)
        let result = try ProgressiveMP4.write(video: RenditionFiles(rung, in: hls), audio: RenditionFiles(audio, in: hls),
                                              start: offset, to: out)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: out.path)[.size] as? Int)
        #expect(Int64(size) == result.bytes)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.deletingLastPathComponent().path) == ["540p.mp4"],
                "no temporary file is left")

        // Faststart: the sample tables come before the samples.
        let order = try topLevelOrder(out.path)
        #expect(order.prefix(3) == ["ftyp", "moov", "mdat"], "\(order)")

        #expect(try FFprobe.decodeErrors(out.path) == "")
        let info = try FFprobe.info(out.path)
        let streams = info.streams ?? []
        #expect(streams.map(\.codec_type).sorted() == ["audio", "video"])
        #expect(streams.first { $0.codec_type == "video" }?.height == 540)

        let playlist = hls.appendingPathComponent("540p/index.m3u8").path
        let frame = 1.0 / 30
        #expect(abs(try FFprobe.duration(out.path) - (try FFprobe.duration(playlist))) <= frame + 1e-6)

        // Same frames, same keyframes, shifted back to start at 0 by the edit list.
        let mine = try FFprobe.packets(out.path)
        let theirs = try FFprobe.packets(playlist)
        #expect(mine.count == theirs.count && mine.count == 180)
        let starts = mine.compactMap { $0.pts_time.flatMap(Double.init) }
        #expect(abs((starts.min() ?? 1) - 0) < 1e-6, "first video pts \(starts.min() ?? -1)")
        let keyMine = mine.filter { $0.flags?.hasPrefix("K") == true }.compactMap { $0.pts_time.flatMap(Double.init) }
        let keyTheirs = theirs.filter { $0.flags?.hasPrefix("K") == true }.compactMap { $0.pts_time.flatMap(Double.init) }
        #expect(keyMine.count == keyTheirs.count && keyMine.count == 3)
        for (a, b) in zip(keyMine, keyTheirs) { #expect(abs(a - (b - offset)) < 1e-4, "keyframe \(a) vs \(b) − \(offset)") }
        #expect(try frameHashes(out.path, stream: "v") == (try frameHashes(playlist, stream: "v")))

        // Audio starts with the video: the file's sound at 0 is the HLS's sound at the offset, where its
        // first frame is (the AAC priming before it is cut by the edit list, not played).
        let audioPlaylist = hls.appendingPathComponent("\(audio.name)/index.m3u8").path
        let hlsAudioStart = try #require(try FFprobe.packets(audioPlaylist, stream: "a:0").first?.pts_time.flatMap(Double.init))
        let skipped = Int(((offset - hlsAudioStart) * 48_000).rounded())
        #expect(skipped == 1024, "the HLS audio starts \(hlsAudioStart) s, one AAC frame before the offset")
        let pcmMine = try decodedAudio(out.path), pcmTheirs = try decodedAudio(audioPlaylist)
        #expect(pcmMine.count > 48_000 * 4 * 5)
        #expect(pcmMine == pcmTheirs.dropFirst(skipped * 4), "\(pcmMine.count) vs \(pcmTheirs.count) bytes of PCM")

        // Interleaved: read front to back, decode times never jump back by more than the chunk length.
        let byPosition = try allPackets(out.path).compactMap { p -> (Int, Double)? in
            guard let pos = p.pos.flatMap(Int.init), let dts = p.dts_time.flatMap(Double.init) else { return nil }
            return (pos, dts)
        }.sorted { $0.0 < $1.0 }
        #expect(byPosition.count > 180)
        var latest = -1.0, backwards = 0.0
        for (_, dts) in byPosition {
            backwards = max(backwards, latest - dts)
            latest = max(latest, dts)
        }
        #expect(backwards < 1.1, "a packet comes \(backwards) s before one stored ahead of it")
    }

    @Test("audio.m4a: the audio track alone, M4A brand, moov first, the audio's length, no errors")
    func audioOnly() async throws {
        let root = try Paths.temporaryDirectory("downloads-audio")
        defer { try? FileManager.default.removeItem(at: root) }
        let renditions = try await chunkedTranscode(into: root)
        let hls = root.appendingPathComponent("hls")
        let audio = try #require(renditions.first { $0.kind == "audio" })
        let out = root.appendingPathComponent("download/audio.m4a")
        try FileManager.default.createDirectory(at: out.deletingLastPathComponent(), withIntermediateDirectories: true)
        try ProgressiveMP4.write(video: nil, audio: RenditionFiles(audio, in: hls), start: audio.timeOffset, to: out)
        #expect(try topLevelOrder(out.path).prefix(3) == ["ftyp", "moov", "mdat"])
        let bytes = try Data(contentsOf: out)
        #expect(bytes[8..<12] == Data("M4A ".utf8), "major brand")
        #expect(try FFprobe.decodeErrors(out.path) == "")
        let info = try FFprobe.info(out.path)
        #expect(info.streams?.map(\.codec_type) == ["audio"])
        #expect(abs(try FFprobe.duration(out.path) - 6) < 0.03)
        // The sound from the offset on (the priming frame before it is not played), all of it.
        let offset = try #require(audio.timeOffset)
        let playlist = hls.appendingPathComponent("\(audio.name)/index.m3u8").path
        let hlsStart = try #require(try FFprobe.packets(playlist, stream: "a:0").first?.pts_time.flatMap(Double.init))
        let skipped = Int(((offset - hlsStart) * 48_000).rounded())
        #expect(try decodedAudio(out.path) == (try decodedAudio(playlist)).dropFirst(skipped * 4))
    }

    @Test("a missing segment fails with its path and leaves no file behind")
    func missingSegment() async throws {
        let root = try Paths.temporaryDirectory("downloads-missing")
        defer { try? FileManager.default.removeItem(at: root) }
        let renditions = try await chunkedTranscode(into: root)
        let hls = root.appendingPathComponent("hls")
        let rung = try #require(renditions.first { $0.name == "360p" })
        let files = RenditionFiles(rung, in: hls)
        try FileManager.default.removeItem(atPath: files.segments[1])
        let out = root.appendingPathComponent("download/360p.mp4")
        try FileManager.default.createDirectory(at: out.deletingLastPathComponent(), withIntermediateDirectories: true)
        let error = #expect(throws: MediaError.self) {
            try ProgressiveMP4.write(video: files, audio: nil, to: out)
        }
        #expect(error?.description.contains("seg-00001.m4s") == true, "\(String(describing: error))")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: out.deletingLastPathComponent().path)) ?? []
        #expect(left.isEmpty, "\(left)")
    }
}

/// The sample tables of files past 4 GiB, without writing one: the layout alone.
@Suite("Progressive MP4 layout")
struct ProgressiveLayoutTests {
    /// `count` samples of `size` bytes, one a second, in one segment file.
    func track(video: Bool, count: Int, size: UInt32, timescale: UInt32) -> FragmentedTrackIndex {
        let samples = (0..<count).map { i in
            SampleRef(file: 0, offset: Int64(i) * Int64(size), size: size, dts: Int64(i) * Int64(timescale),
                      duration: timescale, compositionOffset: 0, isSync: !video || i == 0)
        }
        return FragmentedTrackIndex(isVideo: video, timescale: timescale, sampleDescription: [0, 0, 0, 16] + Array("stsd".utf8) + [0, 0, 0, 0, 0, 0, 0, 0],
                                    width: 640 << 16, height: 360 << 16, language: 0x55c4, files: ["/nonexistent"], samples: samples)
    }

    /// The chunk offsets of each track, from `stco` or `co64`.
    func chunkOffsets(_ header: [UInt8]) -> [(box: String, offsets: [UInt64])] {
        guard let moov = BoxCursor.children(header, 0..<header.count).first(where: { $0.type == "moov" }) else { return [] }
        return BoxCursor.children(header, moov.body).filter { $0.type == "trak" }.compactMap { trak in
            var children = BoxCursor.children(header, trak.body)
            for name in ["mdia", "minf", "stbl"] {
                guard let next = children.first(where: { $0.type == name }) else { return nil }
                children = BoxCursor.children(header, next.body)
            }
            guard let table = children.first(where: { $0.type == "stco" || $0.type == "co64" }) else { return nil }
            let count = Int(BoxCursor.u32(header, table.body.lowerBound + 4))
            let wide = table.type == "co64"
            let offsets = (0..<count).map { i in
                let at = table.body.lowerBound + 8 + i * (wide ? 8 : 4)
                return wide ? BoxCursor.u64(header, at) : UInt64(BoxCursor.u32(header, at))
            }
            return (table.type, offsets)
        }
    }

    @Test func pastFourGiBTheOffsetsAre64Bit() {
        // Three 2 GiB video samples (6 GiB) and three small audio ones, a second apart.
        let layout = ProgressiveLayout(tracks: [track(video: true, count: 3, size: 2 << 30, timescale: 90_000),
                                                track(video: false, count: 3, size: 1000, timescale: 48_000)],
                                       start: 0, chunkSeconds: 1, audioOnly: false)
        let header = layout.header
        let payload: Int64 = 3 * (2 << 30) + 3000
        #expect(layout.fileSize == Int64(header.count) + payload)
        // A 64-bit mdat header: size 1, then the real size.
        let mdat = header.count - 16
        #expect(Array(header[mdat..<(mdat + 8)]) == [0, 0, 0, 1] + Array("mdat".utf8))
        #expect(BoxCursor.u64(header, mdat + 8) == UInt64(payload + 16))
        // Interleaved a second at a time: video 0, audio 0, video 1, audio 1, …
        let tables = chunkOffsets(header)
        #expect(tables.map(\.box) == ["co64", "co64"])
        let base = UInt64(header.count)
        let gib2 = UInt64(2 << 30)
        #expect(tables.first?.offsets == [base, base + gib2 + 1000, base + 2 * gib2 + 2000])
        #expect(tables.last?.offsets == [base + gib2, base + 2 * gib2 + 1000, base + 3 * gib2 + 2000])
    }

    @Test func smallFilesKeep32BitOffsets() {
        let layout = ProgressiveLayout(tracks: [track(video: true, count: 3, size: 5000, timescale: 90_000),
                                                track(video: false, count: 3, size: 1000, timescale: 48_000)],
                                       start: 0, chunkSeconds: 1, audioOnly: false)
        let tables = chunkOffsets(layout.header)
        #expect(tables.map(\.box) == ["stco", "stco"])
        let base = UInt64(layout.header.count)
        #expect(tables.first?.offsets == [base, base + 6000, base + 12000])
        #expect(Array(layout.header[(layout.header.count - 4)...]) == Array("mdat".utf8))
    }
}
