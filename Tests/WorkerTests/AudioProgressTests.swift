import Catalog
import Foundation
import ReelTestSupport
import Testing

/// A long audio track is encoded in one job; its finished segments are published while it runs, so the
/// video becomes playable after its first chunk rather than after the whole track. Part of the serialized
/// worker-process suite, so it never competes with the other process tests for the CPU.
extension WorkerProcessTests {
    @Test("the audio is published while it encodes: playable while the audio job is still running")
    func playableBeforeTheAudioEnds() async throws {
        let s = try WorkerProcessTests.Setup("audio-progress", segmentSeconds: 2)
        defer { s.cleanUp() }
        // Five minutes of sound under a tiny picture: the audio job takes seconds, the picture little.
        let source = s.root.appendingPathComponent("long-audio.mp4").path
        let made = try Tool.run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=5:d=300", "-f", "lavfi",
                                           "-i", "sine=f=440:d=300", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                                           "-shortest", source])
        #expect(made.status == 0, "\(made.stderr)")
        let id = try #require(try s.ingest([source]).first)

        // Two workers: the first chunk (one segment) and the audio job start together, whichever order
        // they are claimed in; the chunk is done long before five minutes of audio are.
        let workers = try (0..<2).map { try s.worker(["--chunk-seconds", "60", "--audio-publish-interval", "0.1"], label: "audio\($0)") }
        defer { workers.forEach { $0.signal(SIGKILL) } }
        // Watched while it happens, for the playlists; but the verdict comes from the catalog's own
        // times afterwards, so a test process starved of CPU by other suites cannot miss the moment.
        var eventPlaylist: String?
        let done = try await eventually(timeout: 240) {
            let video = try await s.catalog.video(id: id)
            let audio = try await s.catalog.jobs(videoId: id, states: nil, limit: 100).first { $0.kind == .audio }
            if eventPlaylist == nil, (video?.publishedSegments ?? 0) > 0, audio?.state == .running {
                eventPlaylist = try? String(contentsOfFile: s.root.appendingPathComponent("hls/\(id)/audio/index.m3u8").path, encoding: .utf8)
            }
            return video?.state == .ready
        }
        let video = try #require(try await s.catalog.video(id: id))
        let audio = try #require(try await s.catalog.jobs(videoId: id, states: nil, limit: 100).first { $0.kind == .audio })
        let jobs = try await s.catalog.jobs(videoId: id, states: nil, limit: 100)
            .map { "\($0.kind) \($0.state) attempt \($0.attempt) \($0.startedAt.map(String.init(describing:)) ?? "-")…\($0.finishedAt.map(String.init(describing:)) ?? "-")" }
        #expect(done, "not ready: \(jobs)\n\(workers.map { $0.output.suffix(3000) })")
        let playable = try #require(video.playableAt)
        let audioEnd = try #require(audio.finishedAt)
        #expect(playable < audioEnd, "playable at \(playable), but the audio job finished at \(audioEnd): \(jobs)")

        // What was listed while it ran is complete on disk: an EVENT playlist without an end.
        if let eventPlaylist {
            #expect(eventPlaylist.contains("#EXT-X-PLAYLIST-TYPE:EVENT") && !eventPlaylist.contains("#EXT-X-ENDLIST"))
        }
        #expect(try FFprobe.decodeErrors(s.master(id), seconds: 1.5) == "")
    }
}
