import Foundation
import Testing
@testable import Catalog

/// Counts how often a publish closure ran (closures are `@Sendable`, so a lock guards the count).
final class RunCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func bump() { lock.withLock { value += 1 } }
    var count: Int { lock.withLock { value } }
}

@Suite("Videos, pieces and publishing")
struct WorkflowTests {
    /// plan → finalize (waiting) + 3 chunks.
    private func planned(_ f: CatalogFixture, chunkAttempts: Int = 5) async throws -> (video: VideoRecord, finalize: JobRecord, chunks: [JobRecord]) {
        let video = try await f.video(jobs: [NewJob(kind: .plan, priority: 10)])
        let plan = try #require(try await f.claim(kinds: [.plan]))
        try await f.catalog.complete(plan.lease, outcome: JobOutcome(
            enqueue: (0..<3).map { NewJob(kind: .videoChunk, maxAttempts: chunkAttempts, payload: #"{"chunk":\#($0)}"#) },
            parent: NewJob(kind: .finalize, priority: 1),
            video: VideoUpdate(state: .processing, probeJSON: #"{"duration":90}"#, durationSeconds: 90)))
        let jobs = try await f.catalog.jobs(videoId: video.id, states: nil, limit: 10)
        let finalize = try #require(jobs.first { $0.kind == .finalize })
        let chunks = jobs.filter { $0.kind == .videoChunk }.sorted { $0.id < $1.id }
        return (video, finalize, chunks)
    }

    @Test(arguments: Backend.available) func aParentWaitsForAllItsChildren(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let (video, finalize, chunks) = try await planned(f)
        #expect(finalize.state == .waiting && finalize.parentId == nil && finalize.priority == 1)
        #expect(chunks.count == 3)
        #expect(chunks.allSatisfy { $0.state == .queued && $0.parentId == finalize.id && $0.videoId == video.id })
        #expect(chunks.map(\.payload) == [#"{"chunk":0}"#, #"{"chunk":1}"#, #"{"chunk":2}"#])
        let v = try await f.video(id: video.id)
        #expect(v.probeJSON == #"{"duration":90}"# && v.durationSeconds == 90 && v.state == .processing)
        #expect(abs(v.progress - 0.2) < 1e-9, "plan done, 4 pending: 1/5")

        var claims: [ClaimedJob] = []
        for _ in 0..<3 { claims.append(try #require(try await f.claim(kinds: [.videoChunk]))) }
        #expect(try await f.claim(kinds: [.finalize]) == nil, "finalize is waiting")
        try await f.catalog.complete(claims[0].lease, outcome: JobOutcome())
        try await f.catalog.complete(claims[1].lease, outcome: JobOutcome())
        #expect(try await f.job(finalize.id).state == .waiting)
        #expect(try await f.claim() == nil)
        try await f.catalog.complete(claims[2].lease, outcome: JobOutcome())
        #expect(try await f.job(finalize.id).state == .queued)
        #expect(abs(try await f.video(id: video.id).progress - 0.8) < 1e-9)

        let fin = try #require(try await f.claim())
        #expect(fin.job.id == finalize.id)
        f.clock.advance(5)
        try await f.catalog.complete(fin.lease, outcome: JobOutcome(video: VideoUpdate(state: .ready)))
        let ready = try await f.video(id: video.id)
        #expect(ready.state == .ready && ready.readyAt == f.clock.now && ready.progress == 1)
        #expect(ready.playableAt == f.clock.now, "a ready video is playable")
    }

    @Test(arguments: Backend.available) func aDeadChildCancelsItsParentAndRetryRestoresBoth(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let (video, finalize, chunks) = try await planned(f, chunkAttempts: 1)
        let c0 = try #require(try await f.claim())
        let c1 = try #require(try await f.claim())
        try await f.catalog.complete(c0.lease, outcome: JobOutcome())
        #expect(try await f.catalog.fail(c1.lease, error: "segfault in encoder", permanent: false) == .dead)

        #expect(try await f.job(c1.job.id).lastError == "gave up after 1 attempts: segfault in encoder")
        let parent = try await f.job(finalize.id)
        #expect(parent.state == .cancelled && parent.lastError?.contains("dead") == true)
        var v = try await f.video(id: video.id)
        #expect(v.state == .failed && v.error == "gave up after 1 attempts: segfault in encoder")

        // The third chunk still runs to success; the failed video stays failed, the parent stays cancelled.
        let c2 = try #require(try await f.claim())
        try await f.catalog.complete(c2.lease, outcome: JobOutcome(video: VideoUpdate(state: .processing)))
        #expect(try await f.job(finalize.id).state == .cancelled)
        #expect(try await f.video(id: video.id).state == .failed)

        try await f.catalog.retry(jobId: c1.job.id)
        let retried = try await f.job(c1.job.id)
        #expect(retried.state == .queued && retried.attempt == 0 && retried.runAfter == f.clock.now)
        #expect(retried.lastError == "gave up after 1 attempts: segfault in encoder", "the last error is kept")
        #expect(try await f.job(finalize.id).state == .waiting)
        v = try await f.video(id: video.id)
        #expect(v.state == .processing && v.error == nil)

        let again = try #require(try await f.claim())
        #expect(again.job.id == chunks[1].id && again.job.attempt == 1)
        try await f.catalog.complete(again.lease, outcome: JobOutcome())
        #expect(try await f.job(finalize.id).state == .queued)
    }

    @Test(arguments: Backend.available) func aPermanentlyFailedChildFailsTheVideo(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let (video, finalize, _) = try await planned(f)
        let c0 = try #require(try await f.claim())
        #expect(try await f.catalog.fail(c0.lease, error: "corrupt frame data at 00:12", permanent: true) == .failed)
        #expect(try await f.job(finalize.id).state == .cancelled)
        #expect(try await f.video(id: video.id).error == "corrupt frame data at 00:12")
        // Retrying a parent whose children are not all done makes it wait, not run.
        try await f.catalog.retry(jobId: c0.job.id)
        #expect(try await f.job(finalize.id).state == .waiting)
        try await f.catalog.cancel(jobId: finalize.id)
        try await f.catalog.retry(jobId: finalize.id)
        #expect(try await f.job(finalize.id).state == .waiting)
    }

    @Test(arguments: Backend.available) func publishSegmentsNeverGoesBackwards(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let video = try await f.video(jobs: [NewJob(kind: .videoChunk), NewJob(kind: .videoChunk)])
        let a = try #require(try await f.claim("A"))
        let b = try #require(try await f.claim("B"))
        let runs = RunCounter()

        #expect(try await f.catalog.publishSegments(videoId: video.id, count: 5, final: false, lease: a.lease) { runs.bump() })
        #expect(runs.count == 1)
        let firstPlayable = try #require(try await f.video(id: video.id).playableAt)
        #expect(firstPlayable == f.clock.now)

        f.clock.advance(10)
        #expect(try await f.catalog.publishSegments(videoId: video.id, count: 3, final: false, lease: b.lease) { runs.bump() } == false)
        #expect(try await f.catalog.publishSegments(videoId: video.id, count: 5, final: false, lease: b.lease) { runs.bump() } == false)
        #expect(runs.count == 1, "a smaller or equal count does not run the closure")

        #expect(try await f.catalog.publishSegments(videoId: video.id, count: 7, final: false, lease: b.lease) { runs.bump() })
        #expect(runs.count == 2)
        var v = try await f.video(id: video.id)
        #expect(v.publishedSegments == 7 && v.playableAt == firstPlayable, "playableAt is set once")

        // A throwing publish records nothing.
        struct DiskFull: Error {}
        await #expect(throws: DiskFull.self) {
            _ = try await f.catalog.publishSegments(videoId: video.id, count: 9, final: false, lease: nil) { throw DiskFull() }
        }
        #expect(try await f.video(id: video.id).publishedSegments == 7)

        // Without a lease (the front end, an operator tool) it works too.
        #expect(try await f.catalog.publishSegments(videoId: video.id, count: 8, final: false, lease: nil) { runs.bump() })

        // Fenced: a lease that lost its job cannot publish.
        try await f.catalog.cancel(jobId: a.job.id)
        await expectLeaseLost(a.job.id, "cancelled lease") {
            _ = try await f.catalog.publishSegments(videoId: video.id, count: 20, final: false, lease: a.lease) { runs.bump() }
        }
        #expect(runs.count == 3)
        v = try await f.video(id: video.id)
        #expect(v.publishedSegments == 8)

        await #expect(throws: CatalogError.notFound("video nope")) {
            _ = try await f.catalog.publishSegments(videoId: "nope", count: 1, final: false, lease: nil) {}
        }
        let other = try await f.video("other", jobs: [])
        await #expect(throws: CatalogError.self) {
            _ = try await f.catalog.publishSegments(videoId: other.id, count: 1, final: false, lease: b.lease) {}
        }
    }

    @Test(arguments: Backend.available) func publishingIsSerializedAcrossInstances(_ backend: Backend) async throws {
        // Two "processes" publish concurrently; each closure checks that no other publish is inside.
        // The 40 publishes queue behind one row lock, holding or awaiting pooled connections: on a loaded
        // machine the last ones wait longer than the default 10 s for a connection.
        let f = try await CatalogFixture.make(backend, connectTimeout: 120)
        let second = try await f.anotherInstance()
        let video = try await f.video(jobs: [])
        let inside = RunCounter()
        let overlaps = RunCounter()
        let ran = RunCounter()
        let flag = NSLock()
        nonisolated(unsafe) var busy = false
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 1...40 {
                let catalog: any Catalog = i.isMultiple(of: 2) ? f.catalog : second
                group.addTask {
                    _ = try await catalog.publishSegments(videoId: video.id, count: i, final: false, lease: nil) {
                        flag.withLock { if busy { overlaps.bump() }; busy = true }
                        inside.bump()
                        Thread.sleep(forTimeInterval: 0.001)
                        ran.bump()
                        flag.withLock { busy = false }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(overlaps.count == 0)
        #expect(ran.count >= 1)
        #expect(try await f.video(id: video.id).publishedSegments == 40)
    }

    @Test(arguments: Backend.available) func videoLockExcludesPublishingAcrossInstances(_ backend: Backend) async throws {
        // Caption changes (withVideoLock) and the final publication (publishSegments) from two "hosts":
        // never inside at the same time, and the lock works on a ready video too.
        let f = try await CatalogFixture.make(backend)
        let second = try await f.anotherInstance()
        let video = try await f.video(jobs: [])
        let overlaps = RunCounter()
        let locked = RunCounter()
        let flag = NSLock()
        nonisolated(unsafe) var busy = false
        let enter: @Sendable () -> Void = { flag.withLock { if busy { overlaps.bump() }; busy = true } }
        let leave: @Sendable () -> Void = { flag.withLock { busy = false } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 1...30 {
                let catalog: any Catalog = i.isMultiple(of: 2) ? f.catalog : second
                group.addTask {
                    if i.isMultiple(of: 3) {
                        _ = try await catalog.publishSegments(videoId: video.id, count: i, final: false, lease: nil) {
                            enter(); Thread.sleep(forTimeInterval: 0.001); leave()
                        }
                    } else {
                        try await catalog.withVideoLock(videoId: video.id) {
                            enter(); Thread.sleep(forTimeInterval: 0.001); locked.bump(); leave()
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(overlaps.count == 0)
        #expect(locked.count == 20)
        await #expect(throws: CatalogError.self) { try await f.catalog.withVideoLock(videoId: "no-such-video") {} }
    }

    @Test(arguments: Backend.available) func completionAppliesTheVideoUpdateAndRenditions(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let video = try await f.video(jobs: [NewJob(kind: .videoChunk), NewJob(kind: .videoChunk), NewJob(kind: .audio)])
        func rendition(_ name: String, _ bandwidth: Int) -> RenditionRecord {
            RenditionRecord(videoId: video.id, name: name, kind: "video", width: 640, height: 360, codecs: "avc1.4d401e",
                            bandwidth: bandwidth, averageBandwidth: bandwidth / 2, playlistPath: "hls/\(video.id)/\(name)/index.m3u8")
        }
        let a = try #require(try await f.claim())
        try await f.catalog.complete(a.lease, outcome: JobOutcome(
            video: VideoUpdate(publishedSegments: 6, markPlayable: true),
            renditions: [rendition("360p", 500_000), rendition("720p", 3_000_000)]))
        let playable = try await f.video(id: video.id)
        #expect(playable.publishedSegments == 6 && playable.playableAt == f.clock.now)

        f.clock.advance(3)
        let b = try #require(try await f.claim())
        try await f.catalog.complete(b.lease, outcome: JobOutcome(
            video: VideoUpdate(publishedSegments: 4, markPlayable: true, error: "warning: audio drift"),
            renditions: [rendition("720p", 3_500_000)]))
        let v = try await f.video(id: video.id)
        #expect(v.publishedSegments == 6, "never lowered")
        #expect(v.playableAt == playable.playableAt, "set once")
        #expect(v.error == "warning: audio drift")
        let renditions = try await f.catalog.renditions(videoId: video.id)
        #expect(renditions.map(\.name) == ["360p", "720p"])
        #expect(renditions.last == rendition("720p", 3_500_000))

        let c = try #require(try await f.claim())
        await #expect(throws: CatalogError.self) {
            try await f.catalog.complete(c.lease, outcome: JobOutcome(renditions: [
                RenditionRecord(videoId: "someone-else", name: "x", kind: "audio", width: nil, height: nil, codecs: "mp4a.40.2",
                                bandwidth: 1, averageBandwidth: 1, playlistPath: "x")]))
        }
        #expect(try await f.job(c.job.id).state == .running, "the failed completion changed nothing")
    }

    @Test(arguments: Backend.available) func progressIsTheMeanOfTheJobs(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let video = try await f.video(jobs: [NewJob(kind: .videoChunk), NewJob(kind: .audio)])
        let a = try #require(try await f.claim())
        let renewed = try await f.catalog.heartbeat(a.lease, leaseDuration: 60, progress: 0.5)
        #expect(renewed.expiresAt == f.clock.now + 60)
        #expect(try await f.job(a.job.id).progress == 0.5)
        #expect(try await f.video(id: video.id).progress == 0.25)
        _ = try await f.catalog.heartbeat(a.lease, leaseDuration: 60, progress: 7)   // clamped
        #expect(try await f.video(id: video.id).progress == 0.5)
        _ = try await f.catalog.heartbeat(a.lease, leaseDuration: 60, progress: nil) // keeps it
        #expect(try await f.job(a.job.id).progress == 1)
        try await f.catalog.release(a.lease)
        #expect(try await f.video(id: video.id).progress == 0)
    }

    /// A claim leaves a video's progress alone when the job had none, and takes back what a job whose lease
    /// expired had reported.
    @Test(arguments: Backend.available) func aClaimTakesBackTheProgressOfAReclaimedJob(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let video = try await f.video(jobs: [NewJob(kind: .videoChunk), NewJob(kind: .audio)])
        f.clock.advance(1)
        let a = try #require(try await f.claim("A", lease: 60))
        var v = try await f.video(id: video.id)
        #expect(v.progress == 0 && v.state == .processing && v.updatedAt == f.clock.now)
        _ = try await f.catalog.heartbeat(a.lease, leaseDuration: 60, progress: 0.5)
        #expect(try await f.video(id: video.id).progress == 0.25)
        f.clock.advance(61)
        let b = try #require(try await f.claim("B", lease: 60))
        #expect(b.job.id == a.job.id && b.job.progress == 0)
        v = try await f.video(id: video.id)
        #expect(v.progress == 0 && v.updatedAt == f.clock.now, "the reclaimed job starts again from nothing")
        _ = try #require(try await f.claim("C", lease: 60))
        #expect(try await f.video(id: video.id).progress == 0)
    }

    @Test(arguments: Backend.available) func listingAndDeleting(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let first = try await f.video("first", jobs: [NewJob(kind: .plan)])
        f.clock.advance(1)
        let second = try await f.video("second", jobs: [NewJob(kind: .plan), NewJob(kind: .audio)])
        #expect(try await f.catalog.videos(state: nil, limit: 10, offset: 0).map(\.id) == [second.id, first.id])
        #expect(try await f.catalog.videos(state: nil, limit: 1, offset: 1).map(\.id) == [first.id])
        #expect(try await f.catalog.videos(state: .ready, limit: 10, offset: 0).isEmpty)
        #expect(second.state == .queued && second.progress == 0 && second.createdAt == f.clock.now)
        #expect(try await f.video(id: second.id) == second)

        let claimed = try #require(try await f.claim())
        #expect(claimed.job.videoId == first.id)
        #expect(try await f.catalog.videos(state: .processing, limit: 10, offset: 0).map(\.id) == [first.id])
        #expect(try await f.catalog.jobs(videoId: second.id, states: nil, limit: 10).count == 2)
        #expect(try await f.catalog.jobs(videoId: nil, states: [.running], limit: 10).map(\.id) == [claimed.job.id])
        #expect(try await f.catalog.jobs(videoId: nil, states: nil, limit: 2).map(\.id) == [3, 2], "newest first")

        try await f.catalog.deleteVideo(id: first.id)
        #expect(try await f.catalog.video(id: first.id) == nil)
        #expect(try await f.catalog.job(id: claimed.job.id) == nil)
        await expectLeaseLost(claimed.job.id, "job of a deleted video") {
            _ = try await f.catalog.heartbeat(claimed.lease, leaseDuration: 60, progress: nil)
        }
        await #expect(throws: CatalogError.notFound("video \(first.id)")) { try await f.catalog.deleteVideo(id: first.id) }
        #expect(try await f.catalog.queueDepth()[.queued] == 2)
    }

    @Test(arguments: Backend.available) func requeueStartsAVideoAgainFromItsOriginal(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let (video, finalize, chunks) = try await planned(f)
        for _ in chunks {
            let claimed = try #require(try await f.claim(kinds: [.videoChunk]))
            try await f.catalog.complete(claimed.lease, outcome: JobOutcome())
        }
        let last = try #require(try await f.claim(kinds: [.finalize]))
        #expect(last.job.id == finalize.id)
        let rendition = RenditionRecord(videoId: video.id, name: "360p", kind: "video", width: 640, height: 360,
                                        codecs: "avc1.4d401e", bandwidth: 500_000, averageBandwidth: 400_000, playlistPath: "360p/index.m3u8")
        try await f.catalog.complete(last.lease, outcome: JobOutcome(video: VideoUpdate(state: .ready), renditions: [rendition]))
        let ready = try await f.video(id: video.id)
        let made = try await f.catalog.renditions(videoId: video.id)
        #expect(ready.state == .ready && ready.readyAt != nil && made.count == 1)

        f.clock.advance(5)
        try await f.catalog.requeue(videoId: video.id, jobs: [NewJob(kind: .plan)])
        let again = try await f.video(id: video.id)
        #expect(again.state == .queued && again.progress == 0 && again.publishedSegments == 0)
        #expect(again.readyAt == nil && again.playableAt == nil && again.error == nil && again.updatedAt == f.clock.now)
        #expect((again.title, again.originalPath, again.sha256, again.ownerKeyId, again.createdAt) ==
                (ready.title, ready.originalPath, ready.sha256, ready.ownerKeyId, ready.createdAt))
        #expect(try await f.catalog.renditions(videoId: video.id).isEmpty)
        let jobs = try await f.catalog.jobs(videoId: video.id, states: nil, limit: 10)
        #expect(jobs.map(\.kind) == [.plan] && jobs.map(\.state) == [.queued])
        let plan = try #require(try await f.claim())
        #expect(plan.job.videoId == video.id && plan.job.kind == .plan)
        #expect(try await f.video(id: video.id).state == .processing)
        await #expect(throws: CatalogError.notFound("video nope")) { try await f.catalog.requeue(videoId: "nope", jobs: []) }
    }
}
