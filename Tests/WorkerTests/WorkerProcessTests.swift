import Catalog
import Foundation
import ReelTestSupport
import Storage
import Testing

/// Real worker processes against one SQLite catalog, as on a host: they share nothing but the database
/// file and the storage root.
@Suite("Worker processes", .serialized)
struct WorkerProcessTests {
    /// A data directory, a 2-second-segment profile and a catalog handle for checking.
    struct Setup {
        let root: URL
        let profile: String
        let catalog: SQLiteCatalog

        init(_ label: String, segmentSeconds: Int = 2, base: String = "small") throws {
            root = try Paths.temporaryDirectory(label)
            let text = try String(contentsOfFile: Paths.profile(base), encoding: .utf8)
            let yaml = text.replacingOccurrences(of: "segment_duration: 6 ", with: "segment_duration: \(segmentSeconds) ")
            profile = root.appendingPathComponent("profile.yaml").path
            try yaml.write(toFile: profile, atomically: true, encoding: .utf8)
            catalog = try SQLiteCatalog(path: root.appendingPathComponent("reel.sqlite").path)
        }

        var data: [String] { ["--data", root.path] }

        func ingest(_ files: [String]) throws -> [String] {
            let r = try Tool.run(Paths.reel, ["ingest", "--json"] + data + files)
            #expect(r.status == 0, "\(r.stderr)")
            let videos = try JSONDecoder.iso.decode([VideoRecord].self, from: Data(r.stdout.utf8))
            return videos.map(\.id)
        }

        func worker(_ extra: [String], label: String) throws -> ReelProcess {
            try ReelProcess(["worker", "--profile", profile] + data + extra, label: label)
        }

        /// A 1080p clip heavy enough that a chunk takes a few seconds to encode with the default ladder.
        func makeSource(seconds: Int) throws -> String {
            let source = root.appendingPathComponent("source.mp4").path
            let made = try Tool.run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=30:d=\(seconds)", "-f", "lavfi",
                                               "-i", "sine=f=440:d=\(seconds)", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                                               "-shortest", source])
            #expect(made.status == 0, "\(made.stderr)")
            return source
        }

        func master(_ video: String) -> String {
            root.appendingPathComponent("hls/\(video)/master.m3u8").path
        }

        func cleanUp() { try? FileManager.default.removeItem(at: root) }
    }

    static let good = ["landscape.mp4", "phone-rotated.mp4", "odd-size.mp4", "interlaced.ts", "hevc-10bit.mp4", "vfr.mkv",
                       "prores-422.mov", "vp9.webm", "audio-only.m4a", "video-only.mp4"]
    static let bad = ["empty.mp4", "not-a-video.mp4", "truncated.mp4", "truncated-tail.mp4", "subtitles-only.mkv"]

    @Test("a piece that runs past its deadline fails for good with the reason, and the worker moves on")
    func deadline() async throws {
        let s = try Setup("deadline")
        defer { s.cleanUp() }
        // One second for any piece, whatever its length: far too little for 20 s of 1080p.
        let config = s.root.appendingPathComponent("reel.yaml").path
        try "job_timeout_min: 1\njob_timeout_factor: 0.01\n".write(toFile: config, atomically: true, encoding: .utf8)
        let ids = try s.ingest([try s.makeSource(seconds: 20)])
        let worker = try s.worker(["--exit-when-idle", "--config", config, "--chunk-seconds", "20"], label: "deadline")
        let status = await worker.wait(timeout: 300)
        #expect(status == 0, "\(worker.output.suffix(2000))")
        let video = try #require(try await s.catalog.video(id: ids[0]))
        #expect(video.state == .failed)
        #expect(video.error?.contains("took longer than the 1 s allowed") == true, "\(video.error ?? "no error")")
        let jobs = try await s.catalog.jobs(videoId: ids[0], states: [.failed], limit: 100)
        #expect(!jobs.isEmpty && jobs.allSatisfy { $0.attempt == 1 }, "a timed-out piece is not retried: \(jobs.map { "\($0.kind) \($0.attempt)" })")
    }

    @Test("on a full storage root a piece is not started: it fails as retryable with the reason, and runs once there is room")
    func fullDisk() async throws {
        let s = try Setup("fulldisk")
        defer { s.cleanUp() }
        // More reserve than any disk here has: the root counts as full.
        let config = s.root.appendingPathComponent("reel.yaml").path
        try "min_free_space: 900TB\n".write(toFile: config, atomically: true, encoding: .utf8)
        let id = try s.ingest([Paths.fixture("landscape.mp4")])[0]
        let full = try s.worker(["--config", config], label: "full")
        let refused = try await eventually(timeout: 120) {
            try await s.catalog.jobs(videoId: id, states: nil, limit: 100).contains {
                $0.state == .queued && ($0.lastError ?? "").contains("kept in reserve (min_free_space)")
            }
        }
        full.signal(SIGTERM)
        _ = await full.wait(timeout: 60)
        #expect(refused, "no piece was refused for space: \(full.output.suffix(2000))")
        #expect(try await s.catalog.video(id: id)?.state != .failed)

        try "min_free_space: 1MB\n".write(toFile: config, atomically: true, encoding: .utf8)
        let roomy = try s.worker(["--config", config, "--exit-when-idle"], label: "roomy")
        #expect(await roomy.wait(timeout: 300) == 0, "\(roomy.output.suffix(2000))")
        #expect(try await s.catalog.video(id: id)?.state == .ready)
    }

    @Test("three workers turn every good fixture into a playable video, running each job exactly once; bad input fails at once with its reason")
    func healthyWorkers() async throws {
        let s = try Setup("workers")
        defer { s.cleanUp() }
        let ids = try s.ingest((Self.good + Self.bad).map(Paths.fixture))
        let workers = try (0..<3).map { try s.worker(["--exit-when-idle", "--chunk-seconds", "2", "--lease", "30", "--first-piece-split", "2"], label: "w\($0)") }
        for w in workers {
            let status = await w.wait(timeout: 300)
            #expect(status == 0, "worker did not finish cleanly: \(w.output.suffix(2000))")
        }
        for id in ids.prefix(Self.good.count) {
            let video = try #require(try await s.catalog.video(id: id))
            #expect(video.state == .ready, "\(video.title): \(video.state) \(video.error ?? "")")
            #expect(try FFprobe.decodeErrors(s.master(id)) == "", "\(video.title)")
            let check = try Tool.run("python3", [Paths.checkHLS, s.master(id)])
            #expect(check.status == 0, "\(video.title): \(check.stdout)")
            let jobs = try await s.catalog.jobs(videoId: id, states: nil, limit: 100)
            for job in jobs {
                #expect(job.state == .succeeded && job.attempt == 1, "\(video.title) job \(job.id) \(job.kind): \(job.state) attempt \(job.attempt)")
            }
            try expectFirstPieceSplit(jobs, video: video, renditions: try await s.catalog.renditions(videoId: id))
            try await expectDownloads(s, video: video, jobs: jobs)
        }
        for id in ids.suffix(Self.bad.count) {
            let video = try #require(try await s.catalog.video(id: id))
            #expect(video.state == .failed, "\(video.title) should have failed")
            #expect((video.error ?? "").count > 20, "\(video.title): no readable reason")
            let jobs = try await s.catalog.jobs(videoId: id, states: nil, limit: 100)
            // The plan job fails at once: no retry, no other job.
            #expect(jobs.map(\.kind) == [.plan] && jobs.map(\.state) == [.failed] && jobs.map(\.attempt) == [1],
                    "\(video.title): \(jobs.map { "\($0.kind) \($0.state) \($0.attempt)" })")
        }
    }

    /// small.yaml offers the tallest rung made and audio.m4a: a downloads job made them after the video
    /// was ready, and they play without an error.
    private func expectDownloads(_ s: Setup, video: VideoRecord, jobs: [JobRecord]) async throws {
        #expect(jobs.filter { $0.kind == .downloads }.count == 1, "\(video.title): one downloads job")
        let renditions = try await s.catalog.renditions(videoId: video.id)
        let tallest = renditions.filter { $0.kind == "video" }.max { ($0.height ?? 0) * ($0.width ?? 0) < ($1.height ?? 0) * ($1.width ?? 0) }
        var expected = Set<String>()
        if let tallest { expected.insert("\(tallest.name).mp4") }
        if renditions.contains(where: { $0.kind == "audio" }) { expected.insert("audio.m4a") }
        let folder = s.root.appendingPathComponent("hls/\(video.id)/download")
        let found = Set((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
        #expect(found == expected, "\(video.title): downloads \(found.sorted())")
        for name in found {
            #expect(try FFprobe.decodeErrors(folder.appendingPathComponent(name).path) == "", "\(video.title): \(name)")
        }
        if let tallest, let duration = video.durationSeconds {
            let mp4 = try FFprobe.duration(folder.appendingPathComponent("\(tallest.name).mp4").path)
            #expect(abs(mp4 - duration) < 0.2, "\(video.title): the MP4 lasts \(mp4) s, the video \(duration) s")
        }
    }

    /// The first segment was split into groups of rungs (two, or one for a one-rung ladder) that together
    /// hold every rung once, and nothing was published before the last group was in.
    private func expectFirstPieceSplit(_ jobs: [JobRecord], video: VideoRecord, renditions: [RenditionRecord]) throws {
        struct Payload: Decodable { var first: Int64; var rungs: [String]? }
        let first = jobs.filter { $0.kind == .videoChunk }
            .compactMap { job in (try? JSONDecoder().decode(Payload.self, from: Data(job.payload.utf8))).map { (job, $0) } }
            .filter { $0.1.first == 0 }
        let rungs = renditions.filter { $0.kind == "video" }.map(\.name).sorted()
        guard !rungs.isEmpty else { return }
        #expect(first.count == min(2, rungs.count), "\(video.title): \(first.map(\.1.rungs))")
        if first.count > 1 {
            #expect(first.flatMap { $0.1.rungs ?? [] }.sorted() == rungs, "\(video.title): \(first.map(\.1.rungs))")
        }
        let lastIn = first.compactMap(\.0.finishedAt).max()
        if let playable = video.playableAt, let lastIn {
            #expect(playable >= lastIn, "\(video.title): playable at \(playable), before the first segment's last group finished at \(lastIn)")
        }
    }

    @Test("kill -9 in the middle of a chunk: the job is reclaimed after its lease expires and the video completes")
    func killedWorker() async throws {
        let s = try Setup("kill", segmentSeconds: 2, base: "default")
        defer { s.cleanUp() }
        let id = try #require(try s.ingest([try s.makeSource(seconds: 8)]).first)

        let victim = try s.worker(["--chunk-seconds", "2", "--lease", "3", "--heartbeat", "0.5"], label: "victim")
        // Wait until the victim is inside a video chunk, then kill it without a chance to clean up.
        let busy = try await eventually(timeout: 120) {
            try await s.catalog.jobs(videoId: id, states: [.running], limit: 10).contains { $0.kind == .videoChunk }
        }
        #expect(busy, "the victim never started a chunk: \(victim.output.suffix(1500))")
        try await Task.sleep(nanoseconds: 500_000_000)
        let held = try await s.catalog.jobs(videoId: id, states: [.running], limit: 10)
        victim.signal(SIGKILL)
        _ = await victim.wait(timeout: 10)

        let rescuer = try s.worker(["--chunk-seconds", "2", "--lease", "3", "--heartbeat", "0.5", "--exit-when-idle"], label: "rescuer")
        let status = await rescuer.wait(timeout: 300)
        #expect(status == 0, "\(rescuer.output.suffix(2000))")
        let video = try #require(try await s.catalog.video(id: id))
        #expect(video.state == .ready, "\(video.state) \(video.error ?? "")")
        for job in held {
            let after = try #require(try await s.catalog.job(id: job.id))
            #expect(after.state == .succeeded)
            #expect(after.attempt == 2, "job \(job.id) should have been reclaimed once")
            #expect(after.leaseOwner != job.leaseOwner)
        }
        #expect(try FFprobe.decodeErrors(s.master(id)) == "")
        let duration = try FFprobe.duration(s.master(id))
        #expect(abs(duration - 8) < 0.05)
        // No temporary files left behind by the killed worker are listed anywhere.
        let playlists = try String(contentsOfFile: s.root.appendingPathComponent("hls/\(id)/1080p/index.m3u8").path, encoding: .utf8)
        #expect(!playlists.contains(".part"))
    }

    @Test("playable while encoding, then SIGTERM drains: the running piece is given back and finished by another worker")
    func playableWhileEncodingAndDrain() async throws {
        let s = try Setup("drain", segmentSeconds: 2, base: "default")
        defer { s.cleanUp() }
        let id = try #require(try s.ingest([try s.makeSource(seconds: 12)]).first)

        let first = try s.worker(["--chunk-seconds", "2", "--lease", "30", "--drain-timeout", "0.5"], label: "first")
        // The first chunk and the audio finish before the rest: the video is playable while still processing.
        let playable = try await eventually(timeout: 180) {
            let v = try await s.catalog.video(id: id)
            return (v?.publishedSegments ?? 0) > 0 && v?.state == .processing
        }
        #expect(playable, "\(first.output.suffix(1500))")
        let event = try String(contentsOfFile: s.root.appendingPathComponent("hls/\(id)/1080p/index.m3u8").path, encoding: .utf8)
        #expect(event.contains("#EXT-X-PLAYLIST-TYPE:EVENT"))
        #expect(!event.contains("#EXT-X-ENDLIST"))
        #expect(try FFprobe.decodeErrors(s.master(id), seconds: 1.5) == "")

        // Ask the worker to stop while it is inside a chunk.
        _ = try await eventually(timeout: 60) {
            try await s.catalog.jobs(videoId: id, states: [.running], limit: 10).contains { $0.kind == .videoChunk }
        }
        let stoppedAt = Date()
        first.signal(SIGTERM)
        let status = await first.wait(timeout: 30)
        #expect(status == 0)
        #expect(Date().timeIntervalSince(stoppedAt) < 15, "draining took too long")
        #expect(first.output.contains("released job") || first.output.contains("completed"), "\(first.output.suffix(1500))")
        for job in try await s.catalog.jobs(videoId: id, states: nil, limit: 100) {
            #expect(job.state != .running, "job \(job.id) still marked running after drain")
        }

        let second = try s.worker(["--chunk-seconds", "2", "--lease", "30", "--exit-when-idle"], label: "second")
        #expect(await second.wait(timeout: 300) == 0, "\(second.output.suffix(1500))")
        let video = try #require(try await s.catalog.video(id: id))
        #expect(video.state == .ready)
        let vod = try String(contentsOfFile: s.root.appendingPathComponent("hls/\(id)/1080p/index.m3u8").path, encoding: .utf8)
        #expect(vod.contains("#EXT-X-PLAYLIST-TYPE:VOD") && vod.contains("#EXT-X-ENDLIST"))
        #expect(abs(try FFprobe.duration(s.master(id)) - 12) < 0.05)
        for job in try await s.catalog.jobs(videoId: id, states: nil, limit: 100) {
            #expect(job.state == .succeeded)
            #expect(job.attempt == 1, "job \(job.id) burned an attempt on drain")
        }
    }
}

@Suite("Worker processes under fire", .serialized)
struct ChaosTests {
    @Test("killing workers at random during a batch loses nothing")
    func randomKills() async throws {
        let s = try WorkerProcessTests.Setup("chaos")
        defer { s.cleanUp() }
        let files = ["landscape.mp4", "phone-rotated.mp4", "hevc-10bit.mp4", "video-only.mp4", "audio-only.m4a", "vp9.webm"]
        let ids = try s.ingest(files.map(Paths.fixture))
        let args = ["--chunk-seconds", "2", "--lease", "2", "--heartbeat", "0.4"]
        var workers = try (0..<3).map { try s.worker(args, label: "chaos\($0)") }
        var generator = SystemRandomNumberGenerator()
        // For about ten seconds, kill -9 a random worker every 1.5 s and start a fresh one.
        for round in 0..<7 {
            try await Task.sleep(nanoseconds: 1_500_000_000)
            let victim = Int.random(in: 0..<workers.count, using: &generator)
            workers[victim].signal(SIGKILL)
            _ = await workers[victim].wait(timeout: 10)
            workers[victim] = try s.worker(args, label: "chaos-r\(round)")
        }
        // Then let the survivors finish, stopping by themselves once nothing is left.
        for w in workers { w.signal(SIGTERM); _ = await w.wait(timeout: 30) }
        let closer = try s.worker(args + ["--exit-when-idle"], label: "closer")
        #expect(await closer.wait(timeout: 300) == 0, "\(closer.output.suffix(1500))")
        for id in ids {
            let video = try #require(try await s.catalog.video(id: id))
            #expect(video.state == .ready, "\(video.title): \(video.state) \(video.error ?? "")")
            #expect(try FFprobe.decodeErrors(s.master(id)) == "", "\(video.title)")
        }
        let jobs = try await s.catalog.jobs(videoId: nil, states: nil, limit: 1000)
        #expect(jobs.allSatisfy { $0.state == .succeeded }, "\(jobs.filter { $0.state != .succeeded }.map { "\($0.id) \($0.kind) \($0.state)" })")
    }
}

extension JSONDecoder {
    static var iso: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}
