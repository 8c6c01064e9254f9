import Foundation
import PostgresNIO
import ReelTestSupport
import Testing
@testable import Catalog

/// Races only PostgreSQL has: several transactions run at once under READ COMMITTED, and row locks taken
/// from outside the catalog (another node's transaction, held open here) decide who waits for whom.
@Suite("PostgreSQL races")
struct PostgresRaceTests {
    /// Holds the rows `sql` locks in an open transaction of its own until `release()`.
    final class OutsideLock: Sendable {
        private let go: AsyncStream<Void>.Continuation
        private let task: Task<Void, any Error>

        init(_ catalog: PostgresCatalog, _ sql: PostgresQuery) async throws {
            let (held, heldFeed) = AsyncStream<Void>.makeStream()
            let (go, goFeed) = AsyncStream<Void>.makeStream()
            self.go = goFeed
            task = Task {
                try await catalog.leased { connection in
                    try await connection.query("BEGIN", logger: quietLogger)
                    try await connection.all(sql, quietLogger)
                    heldFeed.yield()
                    for await _ in go { break }
                    try await connection.query("ROLLBACK", logger: quietLogger)
                }
            }
            for await _ in held { break }
        }

        func release() async throws {
            go.yield()
            try await task.value
        }
    }

    /// A job whose worker stopped responding on its last attempt must become dead, never be handed out
    /// again: also when the claim's reaping skipped it because another transaction held its row then, and
    /// that transaction ended (changing nothing) before the claim looked for work.
    @Test(.enabled(if: TestPostgres.required))
    func aJobAbandonedOnItsLastAttemptIsNotClaimedWhenReapingSkippedIt() async throws {
        let f = try await CatalogFixture.make(.postgres)
        let pg = try #require(f.catalog as? PostgresCatalog)
        let first = try await f.video("first", jobs: [NewJob(kind: .videoChunk, maxAttempts: 1)])
        let a = try #require(try await f.claim("w1", lease: 10))
        let second = try await f.video("second", jobs: [NewJob(kind: .videoChunk, maxAttempts: 1)])
        let b = try #require(try await f.claim("w2", lease: 10))
        #expect(a.job.videoId == first.id && b.job.videoId == second.id)
        f.clock.advance(60)  // both workers stopped responding, on their last attempt

        // The reaping skips a's row (held), reaps b's, and waits for b's video (held).
        let jobLock = try await OutsideLock(pg, "SELECT 1 FROM jobs WHERE id = \(a.job.id) FOR UPDATE")
        let videoLock = try await OutsideLock(pg, "SELECT 1 FROM videos WHERE id = \(second.id) FOR UPDATE")
        let claim = Task { try await f.catalog.claim(owner: "w3", leaseDuration: 10, kinds: nil) }
        var waiting = false
        for _ in 0..<600 where !waiting {
            waiting = try TestPostgres.psql(f.location, "SELECT count(*) FROM pg_locks WHERE NOT granted") != "0"
            if !waiting { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(waiting, "the claim waits for the second video's row")
        try await jobLock.release()
        try await videoLock.release()

        let claimed = try await claim.value
        #expect(claimed == nil, "nothing may be claimed: \(String(describing: claimed?.job))")
        _ = try await f.claim("w4")
        #expect(try await f.job(a.job.id).state == .dead)
        #expect(try await f.job(b.job.id).state == .dead)
    }

    /// The server refusing a value (PostgreSQL's text cannot hold NUL) is not the database being away:
    /// callers that wait out `unavailable` (a worker retries its completion for minutes) must not retry it.
    @Test(.enabled(if: TestPostgres.required))
    func aRefusedValueIsInvalidNotUnavailable() async throws {
        let f = try await CatalogFixture.make(.postgres)
        do {
            _ = try await f.video("nul\u{0}title", jobs: [])
            Issue.record("PostgreSQL stored a NUL")
        } catch let error as CatalogError {
            guard case .invalid(let why) = error else { Issue.record("\(error)"); return }
            #expect(why.contains("22021"), "\(why)")
        }
    }
}
