import Foundation
import ReelTestSupport
import Testing
@testable import Catalog

/// Idle workers wait for work instead of polling: a write that makes a job runnable wakes the waiters of
/// every instance on the database (another process on the host with SQLite, another host with PostgreSQL).
/// The waits are long (30 s): a test asserts that the wake-up came, not how soon.
@Suite("Waiting for work")
struct WakeUpTests {
    static let long = Duration.seconds(30)
    static let short = Duration.milliseconds(500)

    /// Another instance on the fixture's database, listening: its first wait returns once it listens.
    private func listener(_ fixture: CatalogFixture) async throws -> any Catalog {
        let other = try await fixture.anotherInstance()
        #expect(await other.waitForWork(timeout: Self.long), "the first wait returns once it listens")
        return other
    }

    private func close(_ catalogs: any Catalog...) {
        for catalog in catalogs { (catalog as? PostgresCatalog)?.close() }
    }

    @Test("a video registered on one instance wakes the waiters of every other", arguments: Backend.available)
    func registeredVideoWakes(_ backend: Backend) async throws {
        let fixture = try await CatalogFixture.make(backend)
        let first = try await listener(fixture), second = try await listener(fixture)
        defer { close(first, second) }

        async let firstWoken = first.waitForWork(timeout: Self.long)
        async let secondWoken = second.waitForWork(timeout: Self.long)
        try await fixture.video(jobs: [.plan()])
        #expect(await firstWoken)
        #expect(await secondWoken)
    }

    @Test("an upload finished on one instance wakes a waiter on another", arguments: Backend.available)
    func finishedUploadWakes(_ backend: Backend) async throws {
        let fixture = try await CatalogFixture.make(backend)
        let now = fixture.clock.now
        let upload = UploadRecord(id: "u1", length: 10, filename: "up.mp4", title: nil, visibility: .public, ownerKeyId: nil,
                                  createdAt: now, expiresAt: now.addingTimeInterval(3600), lockHolder: "front",
                                  lockExpiresAt: now.addingTimeInterval(60))
        try await fixture.catalog.createUpload(upload, now: now, createdAfter: .distantPast) { _ in }
        let waiter = try await listener(fixture)
        defer { close(waiter) }

        async let woken = waiter.waitForWork(timeout: Self.long)
        _ = try await fixture.catalog.finishUpload(id: "u1", holder: "front", video: NewVideo(title: "up", originalPath: "originals/up", sizeBytes: 10),
                                                   jobs: [.plan()])
        #expect(await woken)
    }

    @Test("without new work a wait ends at its timeout; writes that make nothing runnable do not wake it",
          arguments: Backend.available)
    func noWorkTimesOut(_ backend: Backend) async throws {
        let fixture = try await CatalogFixture.make(backend)
        let waiter = try await listener(fixture)
        defer { close(waiter) }
        #expect(await waiter.waitForWork(timeout: Self.short) == false)

        _ = try await fixture.catalog.createAPIKey(name: "k", scope: .upload, secretHash: "hash")
        try await fixture.video(jobs: [])
        #expect(await waiter.waitForWork(timeout: Self.short) == false)
    }

    @Test("a completion wakes waiters when it enqueues pieces and when it makes their parent runnable, not otherwise",
          arguments: Backend.available)
    func completionsWake(_ backend: Backend) async throws {
        let fixture = try await CatalogFixture.make(backend)
        try await fixture.video(jobs: [.plan()])
        let plan = try #require(try await fixture.claim())
        let waiter = try await listener(fixture)
        defer { close(waiter) }

        async let pieces = waiter.waitForWork(timeout: Self.long)
        try await fixture.catalog.complete(plan.lease, outcome: JobOutcome(
            enqueue: [NewJob(kind: .videoChunk), NewJob(kind: .videoChunk)], parent: NewJob(kind: .finalize)))
        #expect(await pieces, "the plan's pieces are runnable")

        let chunk = try #require(try await fixture.claim(kinds: [.videoChunk]))
        try await fixture.catalog.complete(chunk.lease, outcome: JobOutcome())
        #expect(await waiter.waitForWork(timeout: Self.short) == false, "one piece left: the parent still waits")

        let last = try #require(try await fixture.claim(kinds: [.videoChunk]))
        async let parent = waiter.waitForWork(timeout: Self.long)
        try await fixture.catalog.complete(last.lease, outcome: JobOutcome())
        #expect(await parent, "the finalize job is runnable")
    }

    @Test("a job given back or retried wakes a waiter; one that retries later after a failure does not",
          arguments: Backend.available)
    func releaseAndRetryWake(_ backend: Backend) async throws {
        let fixture = try await CatalogFixture.make(backend)
        try await fixture.video(jobs: [.plan()])
        let waiter = try await listener(fixture)
        defer { close(waiter) }

        let claimed = try #require(try await fixture.claim())
        async let released = waiter.waitForWork(timeout: Self.long)
        try await fixture.catalog.release(claimed.lease)
        #expect(await released)

        let again = try #require(try await fixture.claim())
        #expect(try await fixture.catalog.fail(again.lease, error: "flaky", permanent: false) == .queued)
        #expect(await waiter.waitForWork(timeout: Self.short) == false, "the retry is due in 2 s: the poll finds it")

        fixture.clock.advance(3)
        let third = try #require(try await fixture.claim())
        #expect(try await fixture.catalog.fail(third.lease, error: "broken", permanent: true) == .failed)
        async let retried = waiter.waitForWork(timeout: Self.long)
        try await fixture.catalog.retry(jobId: third.job.id)
        #expect(await retried)
    }

    @Test("cancelling the waiting task ends its wait at once", arguments: Backend.available)
    func cancellationEndsTheWait(_ backend: Backend) async throws {
        let fixture = try await CatalogFixture.make(backend)
        let waiter = try await listener(fixture)
        defer { close(waiter) }
        let started = ContinuousClock.now
        let wait = Task { await waiter.waitForWork(timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(200))
        wait.cancel()
        #expect(await wait.value == false)
        #expect(ContinuousClock.now - started < .seconds(30), "the wait ran to its timeout")
    }

    @Test("PostgreSQL: when the listening connection is cut, it listens again and wakes its waiters once",
          .enabled(if: TestPostgres.required))
    func listenerReconnects() async throws {
        let fixture = try await CatalogFixture.make(.postgres)
        let waiter = try await listener(fixture)
        defer { close(waiter) }
        let database = try #require(URLComponents(string: fixture.location)).path.dropFirst()
        let cut = try TestPostgres.psql(fixture.location, """
            SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE datname = '\(database)' AND query LIKE 'LISTEN%'
            """)
        #expect(cut == "1", "one listening connection")

        // Notifications sent while it was away are lost: listening again rings.
        #expect(await waiter.waitForWork(timeout: Self.long))
        async let woken = waiter.waitForWork(timeout: Self.long)
        try await fixture.video(jobs: [.plan()])
        #expect(await woken)
    }

    @Test("SQLite: the wake file removed while watched is made again and watched anew")
    func wakeFileRemoved() async throws {
        let fixture = try await CatalogFixture.make(.sqlite)
        let waiter = try await listener(fixture)
        let wakeFile = fixture.sqlite.wake.path
        #expect(FileManager.default.fileExists(atPath: wakeFile))

        try FileManager.default.removeItem(atPath: wakeFile)
        // Watching it anew rings: whatever was announced meanwhile went unheard.
        #expect(await waiter.waitForWork(timeout: Self.long))
        #expect(FileManager.default.fileExists(atPath: wakeFile))
        async let woken = waiter.waitForWork(timeout: Self.long)
        try await fixture.video(jobs: [.plan()])
        #expect(await woken)
    }
}
