import Foundation
import Logging
import PostgresNIO

/// The statements every claim → complete cycle runs, prepared once per connection: PostgreSQL parses and
/// plans them once instead of at every claim. (Parsing and planning were a fifth of the machine's CPU in
/// bench/queue-throughput with 16 workers.) Each returns the rows as they are.
enum QueueStatement {
    private static let running = JobState.running.rawValue, queued = JobState.queued.rawValue
    /// Named, not `*`: a prepared statement whose result columns change (a migration adding one while this
    /// node runs) would fail until the connection is replaced.
    private static let jobColumns = """
        id, video_id, kind, state, priority, attempt, max_attempts, run_after, lease_owner, lease_expires_at, progress, \
        last_error, payload, parent_id, created_at, updated_at, started_at, finished_at
        """

    /// The job to claim, and every running job whose worker stopped responding on its last allowed attempt
    /// (marked `abandoned`), all locked. Claim order: higher priority, then the longest waiting, then the
    /// oldest; a locked row is another worker's claim in progress, skipped rather than waited for.
    struct ClaimCandidates: PostgresPreparedStatement {
        static let sql = """
            WITH abandoned AS (
                SELECT \(jobColumns) FROM jobs
                WHERE state = '\(running)' AND lease_expires_at < $1 AND attempt >= max_attempts
                ORDER BY id
                FOR UPDATE SKIP LOCKED),
            chosen AS (
                SELECT \(jobColumns) FROM jobs
                WHERE ((state = '\(queued)' AND run_after <= $1)
                       OR (state = '\(running)' AND lease_expires_at < $1 AND attempt < max_attempts))
                  AND ($2::text[] IS NULL OR kind = ANY($2::text[]))
                ORDER BY priority DESC, run_after ASC, id ASC
                LIMIT 1
                FOR UPDATE SKIP LOCKED)
            SELECT *, TRUE AS abandoned FROM abandoned
            UNION ALL
            SELECT *, FALSE AS abandoned FROM chosen
            """
        static var bindingDataTypes: [PostgresDataType] { [.timestamptz, .textArray] }
        var now: Date
        /// Nil: any kind.
        var kinds: [String]?

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(now)
            bindings.append(kinds)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
    }

    /// The usual claim in one statement, outside any transaction: when the best job (claim order as in
    /// `ClaimCandidates`) is queued, has no progress, and no job waits to be reaped, it is claimed here (and a
    /// queued video moves to processing). One row: `candidates` (0 or 1), `reap` (a job was abandoned on its
    /// last attempt), and the claimed job's columns, NULL when it took none.
    struct QuickClaim: PostgresPreparedStatement {
        static let sql = """
            WITH chosen AS (
                SELECT id, state, progress FROM jobs
                WHERE ((state = '\(queued)' AND run_after <= $1)
                       OR (state = '\(running)' AND lease_expires_at < $1 AND attempt < max_attempts))
                  AND ($2::text[] IS NULL OR kind = ANY($2::text[]))
                ORDER BY priority DESC, run_after ASC, id ASC
                LIMIT 1
                FOR UPDATE SKIP LOCKED),
            reap AS (
                SELECT EXISTS (SELECT 1 FROM jobs WHERE state = '\(running)' AND lease_expires_at < $1
                                                    AND attempt >= max_attempts) AS due),
            claimed AS (
                UPDATE jobs SET state = '\(running)', attempt = attempt + 1, lease_owner = $3, lease_expires_at = $4,
                       started_at = COALESCE(started_at, $1), updated_at = $1
                WHERE id = (SELECT chosen.id FROM chosen, reap
                            WHERE chosen.state = '\(queued)' AND chosen.progress = 0 AND NOT reap.due)
                RETURNING \(jobColumns)),
            video AS (
                UPDATE videos SET state = '\(VideoState.processing.rawValue)', updated_at = $1
                WHERE id = (SELECT video_id FROM claimed) AND state = '\(VideoState.queued.rawValue)')
            SELECT (SELECT COUNT(*) FROM chosen) AS candidates, reap.due AS reap, claimed.*
            FROM reap LEFT JOIN claimed ON TRUE
            """
        static var bindingDataTypes: [PostgresDataType] { [.timestamptz, .textArray, .text, .timestamptz] }
        var now: Date
        /// Nil: any kind.
        var kinds: [String]?
        var owner: String
        var expiresAt: Date

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 4)
            bindings.append(now)
            bindings.append(kinds)
            bindings.append(owner)
            bindings.append(expiresAt)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
    }

    /// Claims the job (if still in `state`) and moves a queued video to processing, locking the video's
    /// row only then. Returns the claimed job.
    struct Claim: PostgresPreparedStatement {
        static let sql = """
            WITH claimed AS (
                UPDATE jobs SET state = '\(running)', attempt = attempt + 1, lease_owner = $3, lease_expires_at = $4,
                       started_at = COALESCE(started_at, $5), progress = 0, last_error = $6, updated_at = $5
                WHERE id = $1 AND state = $2
                RETURNING \(jobColumns)),
            video AS (
                UPDATE videos SET state = '\(VideoState.processing.rawValue)', updated_at = $5
                WHERE id = (SELECT video_id FROM claimed) AND state = '\(VideoState.queued.rawValue)')
            SELECT * FROM claimed
            """
        static var bindingDataTypes: [PostgresDataType] { [.int8, .text, .text, .timestamptz, .timestamptz, .text] }
        var jobId: Int64
        var state: String
        var owner: String
        var expiresAt: Date
        var now: Date
        var lastError: String?

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 6)
            bindings.append(jobId)
            bindings.append(state)
            bindings.append(owner)
            bindings.append(expiresAt)
            bindings.append(now)
            bindings.append(lastError)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
    }

    /// Marks the job succeeded if the lease (id, attempt, owner, running) still holds it, and locks its
    /// video's row (job, then video). Returns the job; no row: the lease is lost.
    struct Complete: PostgresPreparedStatement {
        static let sql = """
            WITH done AS (
                UPDATE jobs SET state = '\(JobState.succeeded.rawValue)', progress = 1, lease_expires_at = NULL,
                       finished_at = $4, updated_at = $4
                WHERE id = $1 AND attempt = $2 AND lease_owner = $3 AND state = '\(running)'
                RETURNING \(jobColumns)),
            video AS (SELECT id FROM videos WHERE id = (SELECT video_id FROM done) FOR UPDATE)
            SELECT done.* FROM done, video
            """
        static var bindingDataTypes: [PostgresDataType] { [.int8, .int8, .text, .timestamptz] }
        var lease: Lease
        var now: Date

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 4)
            bindings.append(lease.jobId)
            bindings.append(Int64(lease.attempt))
            bindings.append(lease.owner)
            bindings.append(now)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
    }

    /// The video's progress: the plain mean of its jobs' progress (see `SQLiteCatalog.refreshProgress`).
    struct RefreshProgress: PostgresPreparedStatement {
        static let sql = """
            UPDATE videos SET progress = COALESCE((
                    SELECT AVG(CASE WHEN state = '\(JobState.succeeded.rawValue)' THEN 1.0 ELSE progress END)
                    FROM jobs WHERE video_id = $1 AND state <> '\(JobState.cancelled.rawValue)'), progress),
                updated_at = $2
            WHERE id = $1 AND state <> '\(VideoState.ready.rawValue)'
            """
        static var bindingDataTypes: [PostgresDataType] { [.text, .timestamptz] }
        var videoId: String
        var now: Date

        func makeBindings() -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(videoId)
            bindings.append(now)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
    }
}

extension PostgresConnection {
    /// Runs a prepared statement (preparing it on this connection the first time) and returns every row.
    @discardableResult
    func all<Statement: PostgresPreparedStatement>(_ statement: Statement, _ logger: Logger) async throws -> [PostgresRow]
    where Statement.Row == PostgresRow {
        var rows: [PostgresRow] = []
        for try await row in try await execute(statement, logger: logger) { rows.append(row) }
        return rows
    }
}
