import Foundation
import Testing
@testable import Catalog

@Suite("Job queue")
struct QueueTests {
    @Test(arguments: Backend.available) func claimOrderIsPriorityThenAge(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let v1 = try await f.video("old", jobs: [NewJob(kind: .plan, payload: #"{"n":"old-low"}"#)])
        f.clock.advance(1)
        _ = try await f.video("new", jobs: [NewJob(kind: .plan, priority: 5, payload: #"{"n":"new-high"}"#),
                                            NewJob(kind: .plan, payload: #"{"n":"new-low"}"#)])
        f.clock.advance(1)
        var order: [String] = []
        while let claimed = try await f.claim() { order.append(claimed.job.payload) }
        #expect(order == [#"{"n":"new-high"}"#, #"{"n":"old-low"}"#, #"{"n":"new-low"}"#])
        #expect(try await f.video(id: v1.id).state == .processing, "a claim starts the video")
    }

    @Test(arguments: Backend.available) func claimReturnsTheJobAndItsLease(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let video = try await f.video(jobs: [NewJob(kind: .plan, maxAttempts: 3, payload: #"{"x":1}"#)])
        let claimed = try #require(try await f.claim("worker-a", lease: 30))
        #expect(claimed.job.videoId == video.id)
        #expect(claimed.job.state == .running)
        #expect(claimed.job.attempt == 1)
        #expect(claimed.job.leaseOwner == "worker-a")
        #expect(claimed.job.startedAt == f.clock.now)
        #expect(claimed.lease == Lease(jobId: claimed.job.id, attempt: 1, owner: "worker-a", expiresAt: f.clock.now + 30))
        #expect(try await f.job(claimed.job.id) == claimed.job)
        #expect(try await f.claim() == nil, "nothing else to do")
    }

    @Test(arguments: Backend.available) func kindsFilter(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        _ = try await f.video(jobs: [NewJob(kind: .videoChunk, priority: 9), NewJob(kind: .audio)])
        #expect(try await f.claim(kinds: []) == nil)
        #expect(try await f.claim(kinds: [.plan, .finalize]) == nil)
        let audio = try #require(try await f.claim(kinds: [.audio]))
        #expect(audio.job.kind == .audio)
        #expect(try await f.claim(kinds: [.audio]) == nil)
        let chunk = try #require(try await f.claim(kinds: [.videoChunk, .audio]))
        #expect(chunk.job.kind == .videoChunk)
    }

    @Test(arguments: Backend.available) func emptyQueueGivesNil(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        #expect(try await f.claim() == nil)
        #expect(try await f.catalog.queueDepth() == Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0, 0) }))
    }

    @Test(arguments: Backend.available) func futureRunAfterIsNotClaimable(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        _ = try await f.video(jobs: [NewJob(kind: .plan)])
        let first = try #require(try await f.claim())
        #expect(try await f.catalog.fail(first.lease, error: "disk full", permanent: false) == .queued)
        let job = try await f.job(first.job.id)
        #expect(job.runAfter == f.clock.now + 2)
        #expect(try await f.claim() == nil, "backing off")
        f.clock.advance(1.999)
        #expect(try await f.claim() == nil, "still backing off")
        f.clock.advance(0.001)
        let again = try #require(try await f.claim())
        #expect(again.job.id == first.job.id && again.job.attempt == 2)
    }

    // MARK: Leases

    @Test(arguments: Backend.available) func anExpiredLeaseIsReclaimedAndTheOldHolderIsFenced(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let video = try await f.video(jobs: [NewJob(kind: .videoChunk)])
        let a = try #require(try await f.claim("A", lease: 60))
        _ = try await f.catalog.heartbeat(a.lease, leaseDuration: 60, progress: 0.3)
        f.clock.advance(59)
        #expect(try await f.claim("B") == nil, "A's lease is still valid")
        f.clock.advance(2)
        let b = try #require(try await f.claim("B", lease: 60))
        #expect(b.job.id == a.job.id)
        #expect(b.job.attempt == 2)
        #expect(b.job.progress == 0)
        #expect(b.job.lastError?.contains("stopped responding") == true)
        let before = try await f.job(a.job.id)

        let id = a.job.id
        await expectLeaseLost(id, "heartbeat") { _ = try await f.catalog.heartbeat(a.lease, leaseDuration: 60, progress: 0.9) }
        await expectLeaseLost(id, "complete") {
            try await f.catalog.complete(a.lease, outcome: JobOutcome(
                enqueue: [NewJob(kind: .finalize)], video: VideoUpdate(state: .ready),
                renditions: [RenditionRecord(videoId: video.id, name: "720p", kind: "video", width: 1280, height: 720,
                                             codecs: "avc1.64001f", bandwidth: 1, averageBandwidth: 1, playlistPath: "x")]))
        }
        await expectLeaseLost(id, "fail") { _ = try await f.catalog.fail(a.lease, error: "late", permanent: true) }
        await expectLeaseLost(id, "release") { try await f.catalog.release(a.lease) }
        await expectLeaseLost(id, "publish") {
            _ = try await f.catalog.publishSegments(videoId: video.id, count: 3, final: false, lease: a.lease) {
                Issue.record("a fenced-out publish must not run")
            }
        }
        // Nothing changed.
        #expect(try await f.job(id) == before)
        #expect(try await f.catalog.jobs(videoId: video.id, states: nil, limit: 10).count == 1)
        #expect(try await f.catalog.renditions(videoId: video.id).isEmpty)
        let v = try await f.video(id: video.id)
        #expect(v.state == .processing && v.publishedSegments == 0 && v.readyAt == nil)

        try await f.catalog.complete(b.lease, outcome: JobOutcome())
        let done = try await f.job(id)
        #expect(done.state == .succeeded && done.attempt == 2 && done.leaseOwner == "B" && done.progress == 1)
        #expect(done.finishedAt == f.clock.now)
    }

    @Test(arguments: Backend.available) func aSlowWorkerWhoseLeaseWasNotReclaimedMayStillFinish(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        _ = try await f.video(jobs: [NewJob(kind: .audio)])
        let a = try #require(try await f.claim("A", lease: 60))
        f.clock.advance(600)
        let renewed = try await f.catalog.heartbeat(a.lease, leaseDuration: 60, progress: 0.5)
        #expect(renewed.expiresAt == f.clock.now + 60)
        #expect(renewed.attempt == a.lease.attempt && renewed.owner == "A")
        #expect(try await f.claim("B") == nil, "the renewed lease is valid again")
        f.clock.advance(600)
        try await f.catalog.complete(a.lease, outcome: JobOutcome())   // the old lease value works too
        #expect(try await f.job(a.job.id).state == .succeeded)
    }

    /// A claim reaps every job abandoned on its last attempt, also when it hands out another job.
    @Test(arguments: Backend.available) func aClaimReapsAbandonedJobsWhileClaimingAnother(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let abandonedVideo = try await f.video("abandoned", jobs: [NewJob(kind: .videoChunk, priority: 1, maxAttempts: 1)])
        let abandoned = try #require(try await f.claim("A", lease: 10))
        let other = try await f.video("other", jobs: [NewJob(kind: .videoChunk)])
        f.clock.advance(11)
        let claimed = try #require(try await f.claim("B"))
        #expect(claimed.job.videoId == other.id)
        #expect(try await f.job(abandoned.job.id).state == .dead)
        #expect(try await f.video(id: abandonedVideo.id).state == .failed)
    }

    @Test(arguments: Backend.available) func aJobWhoseWorkersKeepDyingEndsDead(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let video = try await f.video(jobs: [NewJob(kind: .videoChunk, maxAttempts: 2)])
        _ = try #require(try await f.claim("A", lease: 10))
        f.clock.advance(11)
        let b = try #require(try await f.claim("B", lease: 10))
        #expect(b.job.attempt == 2)
        f.clock.advance(11)
        #expect(try await f.claim("C") == nil)
        let job = try await f.job(b.job.id)
        #expect(job.state == .dead)
        #expect(job.lastError == "the worker holding it stopped responding 2 times")
        let v = try await f.video(id: video.id)
        #expect(v.state == .failed && v.error == "the worker holding it stopped responding 2 times")
        await expectLeaseLost(b.job.id, "the last holder") { try await f.catalog.complete(b.lease, outcome: JobOutcome()) }
    }

    // MARK: Failures

    @Test(arguments: Backend.available) func transientFailuresBackOffThenDie(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend, retryBaseDelay: 2, retryMaxDelay: 5)
        let video = try await f.video(jobs: [NewJob(kind: .videoChunk, maxAttempts: 4)])
        var delays: [TimeInterval] = []
        for attempt in 1...3 {
            let claimed = try #require(try await f.claim())
            #expect(claimed.job.attempt == attempt)
            #expect(try await f.catalog.fail(claimed.lease, error: "encoder hiccup \(attempt)", permanent: false) == .queued)
            let job = try await f.job(claimed.job.id)
            #expect(job.state == .queued && job.lastError == "encoder hiccup \(attempt)" && job.leaseOwner == nil)
            delays.append(job.runAfter.timeIntervalSince(f.clock.now))
            #expect(try await f.claim() == nil)
            #expect(try await f.video(id: video.id).state == .processing)
            f.clock.advance(delays.last!)
        }
        #expect(delays == [2, 4, 5], "doubling, capped")
        let last = try #require(try await f.claim())
        #expect(try await f.catalog.fail(last.lease, error: "encoder hiccup 4", permanent: false) == .dead)
        let job = try await f.job(last.job.id)
        #expect(job.state == .dead)
        #expect(job.lastError == "gave up after 4 attempts: encoder hiccup 4")
        let v = try await f.video(id: video.id)
        #expect(v.state == .failed && v.error == "gave up after 4 attempts: encoder hiccup 4")
        f.clock.advance(3600)
        #expect(try await f.claim() == nil)
    }

    @Test func backoffFormula() {
        #expect(CatalogOptions.backoff(attempt: 1, base: 2, cap: 300, jitter: 1) == 2)
        #expect(CatalogOptions.backoff(attempt: 3, base: 2, cap: 300, jitter: 1) == 8)
        #expect(CatalogOptions.backoff(attempt: 3, base: 2, cap: 300, jitter: 0.5) == 4)
        #expect(CatalogOptions.backoff(attempt: 9, base: 2, cap: 300, jitter: 1) == 300)
        #expect(CatalogOptions.backoff(attempt: 10_000, base: 2, cap: 300, jitter: 0.75) == 225)
        // The default jitter stays in [0.5, 1].
        let options = SQLiteCatalog.Options()
        for _ in 0..<1000 { #expect((0.5...1.0).contains(options.jitter())) }
    }

    @Test(arguments: Backend.available) func permanentFailureFailsAtOnce(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let video = try await f.video(jobs: [NewJob(kind: .plan, maxAttempts: 5)])
        let claimed = try #require(try await f.claim())
        #expect(try await f.catalog.fail(claimed.lease, error: "not a video: no stream found", permanent: true) == .failed)
        let job = try await f.job(claimed.job.id)
        #expect(job.state == .failed && job.attempt == 1 && job.lastError == "not a video: no stream found")
        let v = try await f.video(id: video.id)
        #expect(v.state == .failed && v.error == "not a video: no stream found")
        f.clock.advance(86_400)
        #expect(try await f.claim() == nil, "no retry")
    }

    // MARK: Release, cancel, retry

    @Test(arguments: Backend.available) func releaseDoesNotBurnAnAttempt(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        _ = try await f.video(jobs: [NewJob(kind: .videoChunk, maxAttempts: 1)])
        let a = try #require(try await f.claim("A"))
        try await f.catalog.release(a.lease)
        let released = try await f.job(a.job.id)
        #expect(released.state == .queued && released.attempt == 0 && released.leaseOwner == nil && released.leaseExpiresAt == nil)
        await expectLeaseLost(a.job.id, "after release") { _ = try await f.catalog.heartbeat(a.lease, leaseDuration: 60, progress: nil) }
        let b = try #require(try await f.claim("B"))
        #expect(b.job.attempt == 1, "still within maxAttempts = 1")
        try await f.catalog.complete(b.lease, outcome: JobOutcome())
        #expect(try await f.job(a.job.id).state == .succeeded)
    }

    @Test(arguments: Backend.available) func cancelFencesTheRunningWorker(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let video = try await f.video(jobs: [NewJob(kind: .audio)])
        let a = try #require(try await f.claim("A"))
        try await f.catalog.cancel(jobId: a.job.id)
        await expectLeaseLost(a.job.id, "heartbeat after cancel") { _ = try await f.catalog.heartbeat(a.lease, leaseDuration: 60, progress: 0.5) }
        #expect(try await f.job(a.job.id).state == .cancelled)
        let v = try await f.video(id: video.id)
        #expect(v.state == .failed && v.error?.contains("cancelled") == true)
        #expect(try await f.claim() == nil)

        await #expect(throws: CatalogError.self) { try await f.catalog.cancel(jobId: a.job.id) }
        try await f.catalog.retry(jobId: a.job.id)
        let again = try #require(try await f.claim("B"))
        #expect(again.job.attempt == 1)
        #expect(try await f.video(id: video.id).state == .processing)
    }

    @Test(arguments: Backend.available) func retryAndCancelRefuseWrongStates(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        _ = try await f.video(jobs: [NewJob(kind: .plan), NewJob(kind: .audio)])
        let running = try #require(try await f.claim())
        let queuedId = try #require(try await f.catalog.jobs(videoId: nil, states: [.queued], limit: 10).first?.id)
        await #expect(throws: CatalogError.self) { try await f.catalog.retry(jobId: running.job.id) }
        await #expect(throws: CatalogError.self) { try await f.catalog.retry(jobId: queuedId) }
        try await f.catalog.complete(running.lease, outcome: JobOutcome())
        do {
            try await f.catalog.retry(jobId: running.job.id)
            Issue.record("retrying a succeeded job must fail")
        } catch let error as CatalogError {
            guard case let .invalid(why) = error else { Issue.record("\(error)"); return }
            #expect(why.contains("already succeeded"))
        }
        await #expect(throws: CatalogError.self) { try await f.catalog.cancel(jobId: running.job.id) }
        await #expect(throws: CatalogError.notFound("job 999")) { try await f.catalog.retry(jobId: 999) }
        await #expect(throws: CatalogError.notFound("job 999")) { try await f.catalog.cancel(jobId: 999) }
    }

    @Test(arguments: Backend.available) func queueDepthCountsEveryState(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        _ = try await f.video(jobs: [NewJob(kind: .plan), NewJob(kind: .audio), NewJob(kind: .videoChunk)])
        let a = try #require(try await f.claim())
        _ = try #require(try await f.claim())
        try await f.catalog.complete(a.lease, outcome: JobOutcome(parent: NewJob(kind: .finalize), video: nil))
        let depth = try await f.catalog.queueDepth()
        #expect(depth.count == JobState.allCases.count)
        #expect(depth[.succeeded] == 1 && depth[.running] == 1 && depth[.queued] == 2 && depth[.waiting] == 0)
        #expect(depth[.dead] == 0 && depth[.failed] == 0 && depth[.cancelled] == 0)
    }

    @Test(arguments: Backend.available) func invalidArguments(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        await #expect(throws: CatalogError.self) {
            _ = try await f.video(jobs: [NewJob(kind: .plan, maxAttempts: 0)])
        }
        #expect(try await f.catalog.videos(state: nil, limit: 10, offset: 0).isEmpty, "nothing half-created")
        await #expect(throws: CatalogError.self) { _ = try await f.claim(lease: 0) }
        let video = try await f.video(jobs: [])
        await #expect(throws: CatalogError.self) {
            _ = try await f.catalog.createVideo(NewVideo(id: video.id, title: "dup", originalPath: "x", sizeBytes: 1), jobs: [])
        }
    }
}
