import Foundation
import ReelTestSupport
import Testing
@testable import Catalog

/// `reel catalog migrate`: a SQLite catalog built through the contract, copied into a fresh PostgreSQL
/// database, must read back the same through the contract and keep working there.
@Suite("SQLite → PostgreSQL migration", .enabled(if: TestPostgres.required))
struct MigrationTests {
    /// What the SQLite catalog holds, and the handles the test continues with on PostgreSQL.
    struct Installation {
        var fixture: CatalogFixture
        var uploader: APIKeyRecord
        var chunked: VideoRecord
        /// The chunk a worker is running (its lease taken on SQLite, 600 s).
        var running: ClaimedJob
        var finalizeId: Int64
        /// Jobs of a deleted video: the highest ids SQLite ever handed out.
        var deletedJobIds: [Int64]
    }

    /// Keys (one revoked), a private chunked video mid-way (a plan job completed into chunks under a waiting
    /// finalize, one chunk done, one running, the rest queued), a failed video, a video backing off after a
    /// failure, a ready video, a fresh one, and a deleted one. The clock moves by odd milliseconds.
    func install() async throws -> Installation {
        // Retries back off a minute, so the failed attempt below is still waiting when the copy is checked.
        let f = try await CatalogFixture.make(.sqlite, retryBaseDelay: 60)
        let c = f.catalog
        f.clock.advance(0.123)
        _ = try await c.createAPIKey(name: "ops", scope: .admin, secretHash: "hash-admin")
        f.clock.advance(1.001)
        let uploader = try await c.createAPIKey(name: "uploader", scope: .upload, secretHash: "hash-upload")
        f.clock.advance(0.517)
        let old = try await c.createAPIKey(name: "old", scope: .upload, secretHash: "hash-old")
        f.clock.advance(0.251)
        try await c.revokeAPIKey(id: old.id)

        f.clock.advance(2.345)
        let chunked = try await c.createVideo(
            NewVideo(title: "chunked", originalPath: "originals/a/source.mp4", sizeBytes: 5000, sha256: "abc123",
                     visibility: .private, filename: "holiday.mp4", ownerKeyId: uploader.id),
            jobs: [NewJob(kind: .plan, priority: 10)])
        f.clock.advance(0.111)
        let plan = try #require(try await f.claim("w-plan"))
        f.clock.advance(3.333)
        let renditions = [
            RenditionRecord(videoId: chunked.id, name: "360p", kind: "video", width: 640, height: 360, codecs: "avc1.4d401e",
                            bandwidth: 900_000, averageBandwidth: 700_000, playlistPath: "hls/a/360p/index.m3u8"),
            RenditionRecord(videoId: chunked.id, name: "audio", kind: "audio", width: nil, height: nil, codecs: "mp4a.40.2",
                            bandwidth: 130_000, averageBandwidth: 128_000, playlistPath: "hls/a/audio/index.m3u8"),
        ]
        try await c.complete(plan.lease, outcome: JobOutcome(
            enqueue: (0..<3).map { NewJob(kind: .videoChunk, payload: #"{"segments":[\#($0 * 5),\#($0 * 5 + 5)]}"#) }
                + [NewJob(kind: .audio, maxAttempts: 3)],
            parent: NewJob(kind: .finalize, priority: 5),
            video: VideoUpdate(probeJSON: #"{"duration":60.5}"#, durationSeconds: 60.5),
            renditions: renditions))
        f.clock.advance(0.789)
        let first = try #require(try await f.claim("w-chunk"))
        f.clock.advance(4.567)
        _ = try await c.publishSegments(videoId: chunked.id, count: 5, final: false, lease: first.lease) {}
        try await c.complete(first.lease, outcome: JobOutcome())
        f.clock.advance(0.042)
        let running = try #require(try await f.claim("w-running", lease: 600))
        f.clock.advance(1.5)
        let renewed = try await c.heartbeat(running.lease, leaseDuration: 600, progress: 0.375)
        let finalizeId = try #require(first.job.parentId)

        f.clock.advance(0.333)
        let broken = try await c.createVideo(NewVideo(title: "broken", originalPath: "originals/b", sizeBytes: 10),
                                             jobs: [NewJob(kind: .plan, priority: 20)])
        let brokenPlan = try #require(try await f.claim("w-broken"))
        #expect(brokenPlan.job.videoId == broken.id)
        f.clock.advance(0.601)
        #expect(try await c.fail(brokenPlan.lease, error: "not a video", permanent: true) == .failed)

        f.clock.advance(0.919)
        let retrying = try await c.createVideo(NewVideo(title: "retrying", originalPath: "originals/r", sizeBytes: 20),
                                               jobs: [NewJob(kind: .plan, priority: 20, maxAttempts: 3)])
        let retryingPlan = try #require(try await f.claim("w-retry"))
        #expect(retryingPlan.job.videoId == retrying.id)
        f.clock.advance(0.404)
        #expect(try await c.fail(retryingPlan.lease, error: "disk hiccup", permanent: false) == .queued)

        f.clock.advance(1.777)
        let done = try await c.createVideo(NewVideo(title: "done", originalPath: "originals/d", sizeBytes: 30, ownerKeyId: uploader.id),
                                           jobs: [NewJob(kind: .plan, priority: 20)])
        let donePlan = try #require(try await f.claim("w-done"))
        #expect(donePlan.job.videoId == done.id)
        f.clock.advance(2.002)
        _ = try await c.publishSegments(videoId: done.id, count: 3, final: true, lease: donePlan.lease) {}
        try await c.complete(donePlan.lease, outcome: JobOutcome(
            video: VideoUpdate(state: .ready, durationSeconds: 12.25, publishedSegments: 3),
            renditions: [RenditionRecord(videoId: done.id, name: "720p", kind: "video", width: 1280, height: 720, codecs: "avc1.64001f",
                                         bandwidth: 3_000_000, averageBandwidth: 2_500_000, playlistPath: "hls/d/720p/index.m3u8")]))

        f.clock.advance(0.066)
        _ = try await c.createVideo(NewVideo(title: "fresh", originalPath: "originals/f", sizeBytes: 40), jobs: [NewJob(kind: .plan)])
        f.clock.advance(0.5)
        let gone = try await c.createVideo(NewVideo(title: "gone", originalPath: "originals/g", sizeBytes: 50),
                                           jobs: [NewJob(kind: .plan), NewJob(kind: .audio)])
        let deletedJobIds = try await c.jobs(videoId: gone.id, states: nil, limit: 10).map(\.id)
        try await c.deleteVideo(id: gone.id)
        f.clock.advance(0.25)

        var stillRunning = running
        stillRunning.lease = renewed
        // An upload in progress (40 of 100 bytes, its writer's lock still held) and a finished one.
        let now = f.clock.now
        try await c.createUpload(UploadRecord(id: "tus-open", length: 100, filename: "clip.mp4", title: "Clip",
                                              visibility: .private, ownerKeyId: uploader.id, createdAt: now,
                                              expiresAt: now.addingTimeInterval(86_400)),
                                 now: now, createdAfter: .distantPast) { _ in }
        _ = try await c.lockUpload(id: "tus-open", holder: "node-a:1:x", until: now.addingTimeInterval(20), now: now)
        try await c.updateUpload(id: "tus-open", holder: "node-a:1:x",
                                 UploadProgress(offset: 40, expiresAt: now.addingTimeInterval(86_400), lockUntil: now.addingTimeInterval(20)))
        try await c.createUpload(UploadRecord(id: "tus-done", length: 10, deferredLength: true, filename: nil, title: nil,
                                              visibility: .public, ownerKeyId: nil, createdAt: now, expiresAt: now.addingTimeInterval(60)),
                                 now: now, createdAfter: .distantPast) { _ in }
        _ = try await c.lockUpload(id: "tus-done", holder: "node-a:1:x", until: now.addingTimeInterval(20), now: now)
        _ = try await c.finishUpload(id: "tus-done", holder: "node-a:1:x",
                                     video: NewVideo(id: "tus-done", title: "done", originalPath: "originals/tus-done/source.bin", sizeBytes: 10),
                                     jobs: [])
        return Installation(fixture: f, uploader: uploader, chunked: chunked, running: stillRunning,
                            finalizeId: finalizeId, deletedJobIds: deletedJobIds)
    }

    /// A fresh database on the test server, opened (and so migrated) with the installation's clock.
    func emptyTarget(_ fixture: CatalogFixture) async throws -> (url: String, catalog: PostgresCatalog) {
        let url = try TestPostgres.createDatabase("migrate")
        let clock = fixture.clock
        let options = CatalogOptions(now: { clock.now }, retryBaseDelay: 60, retryMaxDelay: 300, jitter: { 1.0 })
        return (url, try await PostgresCatalog.connect(url: PostgresURL(url), options: options, logger: quietLogger))
    }

    @Test func everyRowArrivesAndTheQueueCarriesOn() async throws {
        let installation = try await install()
        let f = installation.fixture
        let source = f.catalog
        let keys = try await source.apiKeys()
        let videos = try await source.videos(state: nil, limit: 100, offset: 0)
        let jobs = try await source.jobs(videoId: nil, states: nil, limit: 1000)
        var renditions: [String: [RenditionRecord]] = [:]
        for video in videos { renditions[video.id] = try await source.renditions(videoId: video.id) }
        let uploads = [try await source.upload(id: "tus-open"), try await source.upload(id: "tus-done")]
        #expect(keys.count == 3 && videos.count == 6 && jobs.count == 10 && renditions.values.joined().count == 3)
        #expect(Set(jobs.map(\.state)) == [.succeeded, .running, .queued, .waiting, .failed])

        let (url, target) = try await emptyTarget(f)
        defer { target.close() }
        let report = try await CatalogCopier.copy(from: f.sqlite, to: target)

        // The report counts both sides.
        func counted(_ table: String, _ group: String? = nil) -> CatalogCopier.Count? {
            report.counts.first { $0.table == table && $0.group == group }
        }
        #expect(counted("jobs") == .init(table: "jobs", group: nil, sqlite: 10, postgres: 10))
        #expect(counted("jobs", "queued")?.postgres == 4)
        #expect(counted("api_keys", "revoked")?.postgres == 1)
        #expect(counted("videos", "failed")?.postgres == 1)
        #expect(counted("renditions")?.postgres == 3)
        #expect(counted("uploads", "in progress")?.postgres == 1 && counted("uploads", "finished")?.postgres == 1)
        // Uploads in progress carry on where they were: offset, owner, and the writer's lock.
        #expect([try await target.upload(id: "tus-open"), try await target.upload(id: "tus-done")].map { $0?.toTheMillisecond }
                == uploads.map { $0?.toTheMillisecond })
        #expect(try await target.uploadLedger(now: f.clock.now, createdAfter: .distantPast).usage(of: installation.uploader.id).open == 1)
        #expect(report.counts.allSatisfy { $0.sqlite == $0.postgres })

        // Everything reads back equal through the contract, dates to the millisecond.
        #expect(try await target.apiKeys().map(\.toTheMillisecond) == keys.map(\.toTheMillisecond))
        #expect(try await target.videos(state: nil, limit: 100, offset: 0).map(\.toTheMillisecond)
            == videos.map(\.toTheMillisecond))
        #expect(try await target.jobs(videoId: nil, states: nil, limit: 1000).map(\.toTheMillisecond)
            == jobs.map(\.toTheMillisecond))
        for video in videos { #expect(try await target.renditions(videoId: video.id) == renditions[video.id]) }
        #expect(try await target.queueDepth() == source.queueDepth())
        #expect(try await target.claimableJobs() == source.claimableJobs())
        // SQLite keeps milliseconds, and they arrive as exactly those.
        #expect(try TestPostgres.psql(url, """
            SELECT COUNT(*) FROM jobs WHERE created_at <> date_trunc('milliseconds', created_at)
               OR run_after <> date_trunc('milliseconds', run_after)
               OR lease_expires_at <> date_trunc('milliseconds', lease_expires_at)
            """) == "0")

        // Keys and owners still decide who sees what.
        #expect(try await target.apiKey(secretHash: "hash-old") == nil)
        #expect(try await target.apiKey(secretHash: "hash-upload")?.id == installation.uploader.id)
        #expect(try await target.storedBytes(ownerKeyId: installation.uploader.id) == 5030)
        #expect(!(try await target.videos(state: nil, audience: .anonymous, limit: 100, offset: 0)).contains { $0.id == installation.chunked.id })
        #expect(try await target.videos(state: nil, audience: .key(id: installation.uploader.id), limit: 100, offset: 0)
            .contains { $0.id == installation.chunked.id })

        // The queue carries on. The running chunk's worker still holds its lease…
        let running = installation.running
        let renewed = try await target.heartbeat(running.lease, leaseDuration: 600, progress: 0.5)
        #expect(renewed.attempt == running.lease.attempt)
        // …so other workers get every due queued job but that one.
        let due = Set(jobs.filter { $0.state == .queued && $0.runAfter <= f.clock.now }.map(\.id))
        #expect(due.count == 3)
        var claimed: Set<Int64> = []
        while let claim = try await target.claim(owner: "pg-worker", leaseDuration: 60, kinds: nil) {
            claimed.insert(claim.job.id)
            try await target.complete(claim.lease, outcome: JobOutcome())
        }
        #expect(claimed == due)
        #expect(try await target.job(id: installation.finalizeId)?.state == .waiting, "one chunk still runs")
        // The last child completing wakes the waiting parent.
        try await target.complete(renewed, outcome: JobOutcome())
        let finalize = try #require(try await target.claim(owner: "pg-worker", leaseDuration: 60, kinds: nil))
        #expect(finalize.job.id == installation.finalizeId && finalize.job.kind == .finalize)
        // The job backing off comes back when its delay has passed, on its second attempt.
        f.clock.advance(61)
        let retried = try #require(try await target.claim(owner: "pg-worker", leaseDuration: 60, kinds: nil))
        #expect(retried.job.attempt == 2 && retried.job.lastError == "disk hiccup")

        // New jobs get ids above every id SQLite handed out, including those of the deleted video.
        let copiedMax = try #require(jobs.map(\.id).max())
        let deletedMax = try #require(installation.deletedJobIds.max())
        #expect(deletedMax > copiedMax)
        #expect(report.nextIds["jobs"] == deletedMax + 1)
        let later = try await target.createVideo(NewVideo(title: "later", originalPath: "originals/l", sizeBytes: 1),
                                                 jobs: [NewJob(kind: .plan)])
        #expect(try await target.jobs(videoId: later.id, states: nil, limit: 1).map(\.id) == [deletedMax + 1])
    }

    @Test(arguments: ["a key", "a video"])
    func aTargetThatIsNotEmptyIsRefusedAndKeptAsItWas(_ what: String) async throws {
        let installation = try await install()
        let (url, target) = try await emptyTarget(installation.fixture)
        defer { target.close() }
        if what == "a key" {
            _ = try await target.createAPIKey(name: "theirs", scope: .admin, secretHash: "hash-theirs")
        } else {
            _ = try await target.createVideo(NewVideo(title: "theirs", originalPath: "originals/t", sizeBytes: 1), jobs: [])
        }
        let before = try TestPostgres.psql(url, "SELECT (SELECT COUNT(*) FROM api_keys) || ' ' || (SELECT COUNT(*) FROM videos) || ' ' || (SELECT COUNT(*) FROM jobs)")

        let error = await #expect(throws: CatalogError.self) {
            try await CatalogCopier.copy(from: installation.fixture.sqlite, to: target)
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("already holds rows"))
        #expect(try TestPostgres.psql(url, "SELECT (SELECT COUNT(*) FROM api_keys) || ' ' || (SELECT COUNT(*) FROM videos) || ' ' || (SELECT COUNT(*) FROM jobs)")
            == before)
    }

    /// A table the copy does not know (one added to the schema but not to `CatalogCopier.tables`) stops it.
    @Test func aTableTheCopyDoesNotKnowStopsIt() async throws {
        let installation = try await install()
        let (url, target) = try await emptyTarget(installation.fixture)
        defer { target.close() }
        try TestPostgres.psql(url, "CREATE TABLE captions (id TEXT PRIMARY KEY)")
        let error = await #expect(throws: CatalogError.self) {
            try await CatalogCopier.copy(from: installation.fixture.sqlite, to: target)
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("cannot copy (captions)"))
        #expect(try TestPostgres.psql(url, "SELECT COUNT(*) FROM videos") == "0")
    }

    /// A Reel process writing to the SQLite catalog during the copy: the counts differ, nothing is committed,
    /// and the same target takes the copy once the source holds still.
    @Test func aSourceThatChangesDuringTheCopyLeavesTheTargetEmpty() async throws {
        let installation = try await install()
        let sqlite = installation.fixture.sqlite
        let (url, target) = try await emptyTarget(installation.fixture)
        defer { target.close() }

        let error = await #expect(throws: CatalogError.self) {
            try await CatalogCopier.copy(from: sqlite, to: target, beforeVerifying: {
                _ = try await sqlite.claim(owner: "still-running", leaseDuration: 60, kinds: nil)
            })
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("does not match"))
        #expect(try TestPostgres.psql(url, "SELECT (SELECT COUNT(*) FROM api_keys) + (SELECT COUNT(*) FROM videos) + (SELECT COUNT(*) FROM jobs) + (SELECT COUNT(*) FROM renditions)") == "0")

        let report = try await CatalogCopier.copy(from: sqlite, to: target)
        #expect(report.counts.first { $0.table == "jobs" && $0.group == "running" }?.postgres == 2)
    }
}

extension Date {
    /// The same instant, to the millisecond (what SQLite keeps).
    var toTheMillisecond: Date { Date(timeIntervalSince1970: (timeIntervalSince1970 * 1000).rounded() / 1000) }
}

extension APIKeyRecord {
    var toTheMillisecond: Self {
        var copy = self
        copy.createdAt = createdAt.toTheMillisecond
        copy.revokedAt = revokedAt?.toTheMillisecond
        return copy
    }
}

extension VideoRecord {
    var toTheMillisecond: Self {
        var copy = self
        copy.createdAt = createdAt.toTheMillisecond
        copy.updatedAt = updatedAt.toTheMillisecond
        copy.playableAt = playableAt?.toTheMillisecond
        copy.readyAt = readyAt?.toTheMillisecond
        return copy
    }
}

extension JobRecord {
    var toTheMillisecond: Self {
        var copy = self
        copy.runAfter = runAfter.toTheMillisecond
        copy.leaseExpiresAt = leaseExpiresAt?.toTheMillisecond
        copy.createdAt = createdAt.toTheMillisecond
        copy.updatedAt = updatedAt.toTheMillisecond
        copy.startedAt = startedAt?.toTheMillisecond
        copy.finishedAt = finishedAt?.toTheMillisecond
        return copy
    }
}

extension UploadRecord {
    var toTheMillisecond: Self {
        var copy = self
        copy.createdAt = createdAt.toTheMillisecond
        copy.expiresAt = expiresAt.toTheMillisecond
        copy.lockExpiresAt = lockExpiresAt?.toTheMillisecond
        return copy
    }
}
