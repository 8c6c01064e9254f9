import Autoscaler
import Catalog
import Foundation
import ReelTestSupport
import Storage
import Testing

/// `reel autoscale --driver child` on this machine, with cooldowns shortened by configuration: a deep
/// queue grows the workers towards max, a killed worker is replaced and its job completed, the drained
/// queue shrinks them to min, and SIGTERM drains every worker without losing a job.
@Suite("Autoscaler on this machine", .serialized)
struct AutoscalerProcessTests {
    let root: URL
    let catalog: SQLiteCatalog

    init() throws {
        root = try Paths.temporaryDirectory("autoscale")
        catalog = try SQLiteCatalog(path: root.appendingPathComponent("reel.sqlite").path)
    }

    func ingest(_ files: [String]) throws -> [String] {
        let r = try Tool.run(Paths.reel, ["ingest", "--json", "--data", root.path] + files)
        #expect(r.status == 0, "\(r.stderr)")
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode([VideoRecord].self, from: Data(r.stdout.utf8)).map(\.id)
    }

    /// A 720p clip that takes a worker a few seconds per 4-second chunk.
    func source(_ name: String, seconds: Int) throws -> String {
        let path = root.appendingPathComponent(name).path
        let made = try Tool.run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30:d=\(seconds)", "-f", "lavfi",
                                           "-i", "sine=f=440:d=\(seconds)", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                                           "-shortest", path])
        #expect(made.status == 0, "\(made.stderr)")
        return path
    }

    func autoscaler() throws -> ReelProcess {
        try ReelProcess(["autoscale", "--data", root.path, "--profile", "small",
                         "--min-workers", "1", "--max-workers", "3", "--target-cpu", "60",
                         "--scale-out-cooldown", "1s", "--scale-in-cooldown", "3s", "--warmup", "1s",
                         "--cpu-window", "2s", "--autoscale-interval", "0.5s", "--hang-after", "4s",
                         "--worker-option=--chunk-seconds=4", "--worker-option=--lease=4", "--worker-option=--heartbeat=1"],
                        label: "autoscale")
    }

    func status() -> AutoscalerStatus? { AutoscalerStatus.readAll(in: StorageLayout(root: root)).first }

    /// Pids of the autoscaler's worker children.
    func children(of parent: Int32) -> [Int32] {
        let r = try? Tool.run("pgrep", ["-P", "\(parent)"])
        return (r?.stdout ?? "").split(separator: "\n").compactMap { Int32($0) }
    }

    @Test("scale out on a deep queue, replace a killed worker, scale in when drained, drain on SIGTERM")
    func scalesOutReplacesScalesInAndDrains() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let clip = try source("clip.mp4", seconds: 12)
        let ids = try ingest(Array(repeating: clip, count: 4))
        let scaler = try autoscaler()

        // Out: the backlog asks for more than one worker.
        #expect(await eventually(timeout: 60) { (status()?.running ?? 0) >= 2 }, "\(scaler.output.suffix(2000))")
        #expect(scaler.output.contains("scale-out to"))

        // A worker dies with kill -9 while holding a piece of work: its slot gets a new worker, and the
        // piece is claimed again once its 4 s lease expires.
        var busyPid: Int32?
        _ = try await eventually(timeout: 30) {
            let owners = try await catalog.jobs(videoId: nil, states: [.running], limit: 100).compactMap(\.leaseOwner)
            let pids = Set(owners.compactMap { $0.split(separator: ":").dropFirst().first.flatMap { Int32($0) } })
            busyPid = children(of: scaler.pid).first { pids.contains($0) }
            return busyPid != nil
        }
        let victim = try #require(busyPid, "no worker held a job")
        // Frozen first, so the job it holds cannot finish between the look and the kill.
        kill(victim, SIGSTOP)
        let victimJob = try await catalog.jobs(videoId: nil, states: [.running], limit: 100)
            .first { $0.leaseOwner?.contains(":\(victim):") == true }
        kill(victim, SIGKILL)
        #expect(await eventually(timeout: 30) { scaler.output.contains("worker exited; starting another in its slot") })

        // A worker that hangs (SIGSTOP: alive, but no claim attempts and no heartbeats) is killed and replaced.
        var other: Int32?
        _ = await eventually(timeout: 30) {
            other = children(of: scaler.pid).first { $0 != victim }
            return other != nil
        }
        let frozen = try #require(other, "no worker besides the killed one: \(scaler.output.suffix(2000))")
        kill(frozen, SIGSTOP)
        #expect(await eventually(timeout: 30) { scaler.output.contains("(pid \(frozen)) showed no sign of life") },
                "\(scaler.output.suffix(2000))")
        #expect(await eventually(timeout: 10) { !children(of: scaler.pid).contains(frozen) })

        // Everything finishes (the killed worker's job is claimed again once its 4 s lease expires).
        let finished = try await eventually(timeout: 300) {
            let videos = try await catalog.videos(state: nil, limit: 100, offset: 0)
            // …and the downloads jobs that follow ready (small.yaml offers downloads) are done too.
            let pending = try await catalog.jobs(videoId: nil, states: [.queued, .running], limit: 10)
            return videos.count == ids.count && videos.allSatisfy { $0.state == .ready } && pending.isEmpty
        }
        let states = try await catalog.videos(state: nil, limit: 100, offset: 0).map { "\($0.state) \($0.error ?? "")" }
        #expect(finished, "\(states) \(scaler.output.suffix(3000))")
        if let victimJob {
            let redone = try #require(try await catalog.job(id: victimJob.id))
            #expect(redone.state == .succeeded && redone.attempt >= 2, "the killed worker's job was completed by another")
        }

        // In: the queue is empty and the CPU idle, so the workers shrink to the minimum, one per cooldown.
        #expect(await eventually(timeout: 60) { status()?.desired == 1 && children(of: scaler.pid).count == 1 },
                "\(String(describing: status())) \(scaler.output.suffix(2000))")
        #expect(scaler.output.contains("scale-in to 1 worker: "))

        // SIGTERM during work: every worker drains (finishes or gives back its piece) and nothing is lost.
        // A longer clip, so that its work is still running when the signal arrives.
        let more = try ingest([try source("longer.mp4", seconds: 40)])
        let busy = try await eventually(timeout: 120) {
            try await catalog.jobs(videoId: more[0], states: [.running], limit: 10).contains { $0.kind == .videoChunk }
        }
        let moreJobs = try await catalog.jobs(videoId: more[0], states: nil, limit: 100).map { "\($0.kind) \($0.state)" }
        #expect(busy, "\(moreJobs) \(scaler.output.suffix(3000))")
        scaler.signal(SIGTERM)
        #expect(await scaler.wait(timeout: 60) == 0, "\(scaler.output.suffix(2000))")
        #expect(children(of: scaler.pid).isEmpty)
        let running = try await catalog.jobs(videoId: nil, states: [.running], limit: 100)
        #expect(running.isEmpty, "a drained worker finished or released its job: \(running.map { "\($0.id) \($0.kind)" })")
        // A fresh worker finishes what was given back.
        let closer = try ReelProcess(["worker", "--data", root.path, "--profile", "small", "--exit-when-idle"], label: "closer")
        #expect(await closer.wait(timeout: 240) == 0)
        let jobs = try await catalog.jobs(videoId: nil, states: nil, limit: 1000)
        #expect(jobs.allSatisfy { $0.state == .succeeded }, "\(jobs.filter { $0.state != .succeeded }.map { "\($0.id) \($0.kind) \($0.state)" })")
    }
}
