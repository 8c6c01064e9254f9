import Foundation
import Logging
import PostgresNIO

// The job queue on PostgreSQL. Each operation is one transaction; lock order is always the job's row,
// then its video's row, then any other job of that video (parents, ancestors).

extension PostgresCatalog {
    // MARK: - Claim

    public func claim(owner: String, leaseDuration: TimeInterval, kinds: Set<JobKind>?) async throws -> ClaimedJob? {
        guard leaseDuration > 0 else { throw CatalogError.invalid("lease duration must be positive, not \(leaseDuration)") }
        guard !owner.isEmpty else { throw CatalogError.invalid("a claim needs an owner name") }
        if let kinds, kinds.isEmpty { return nil }
        // NULL: any kind.
        let kindList: [String]? = kinds.map { $0.map(\.rawValue).sorted() }
        let logger = self.logger
        let now = options.now()
        let expiresAt = now.addingTimeInterval(leaseDuration)
        // Every statement is a round trip, and a claim's cost is mostly round trips. The usual claim (the best
        // job is queued, without progress, and nothing waits to be reaped) is one statement; anything else goes
        // the long way: a transaction that reaps, then claims in two statements (four when the job had progress).
        let quick = try await rows(QueueStatement.QuickClaim(now: now, kinds: kindList, owner: owner, expiresAt: expiresAt))
        let row = quick[0].makeRandomAccess()
        if try row.value("id", as: Int64?.self) != nil {
            let job = try JobRecord(quick[0])
            return ClaimedJob(job: job, lease: Lease(jobId: job.id, attempt: job.attempt, owner: owner,
                                                     expiresAt: job.leaseExpiresAt!))
        }
        if try row.value("candidates", as: Int.self) == 0, try !row.value("reap", as: Bool.self) { return nil }
        return try await transaction { connection in
            // 1. The job to claim, and every running job whose worker stopped responding on its last allowed
            // attempt (those become dead instead of being handed out again), locked in one statement.
            let rows = try await connection.all(QueueStatement.ClaimCandidates(now: now, kinds: kindList), logger)
            var chosen: JobRecord?
            for row in rows {
                let job = try JobRecord(row)
                guard try row.makeRandomAccess().value("abandoned", as: Bool.self) else {
                    chosen = job
                    continue
                }
                let reason = JobRules.abandonedReason(job)
                logger.error("job \(job.id) (\(job.kind.rawValue)) of video \(job.videoId) is dead: \(reason)")
                try await Self.settleUnsuccessful(connection, job: job, state: .dead, reason: reason, now: now, logger)
            }
            guard let chosen else { return nil }
            var lastError = chosen.lastError
            if chosen.state == .running {
                lastError = JobRules.reclaimedReason(chosen)
                logger.warning("job \(chosen.id) (\(chosen.kind.rawValue)): lease of \(chosen.leaseOwner ?? "unknown") expired; reclaimed by \(owner)")
            }
            // 2. The claim; a queued video moves to processing (and only then is its row locked: job, then
            // video, as always). (The state check only matters if dead jobs above cancelled the chosen one,
            // their ancestor — which a waiting parent is, and a claimable job is not.)
            let updated = try await connection.all(QueueStatement.Claim(
                jobId: chosen.id, state: chosen.state.rawValue, owner: owner, expiresAt: expiresAt, now: now,
                lastError: lastError), logger)
            guard let row = updated.first else { return nil }
            // 3. The video's progress is the mean of its jobs' progress: a job that had none (a queued one,
            // nearly always) leaves it as it is, and the claim need not touch the video at all — workers
            // claiming the pieces of one video do not queue up behind its row. A reclaimed job that had
            // progress takes it back, under the video's lock, read in a statement after the lock is held
            // so that it sees every sibling that committed meanwhile.
            if chosen.progress != 0 {
                try await Self.lockVideo(connection, chosen.videoId, logger)
                try await Self.refreshProgress(connection, videoId: chosen.videoId, now: now, logger)
            }
            let job = try JobRecord(row)
            return ClaimedJob(job: job, lease: Lease(jobId: job.id, attempt: job.attempt, owner: owner,
                                                     expiresAt: job.leaseExpiresAt!))
        }
    }

    // MARK: - Fenced writes

    /// The job, locked, if `lease` still holds it; otherwise `leaseLost`.
    static func fenced(_ connection: PostgresConnection, _ lease: Lease, _ logger: Logger) async throws -> JobRecord {
        guard let row = try await connection.all("""
            SELECT * FROM jobs
            WHERE id = \(lease.jobId) AND attempt = \(lease.attempt) AND lease_owner = \(lease.owner)
              AND state = \(JobState.running.rawValue)
            FOR UPDATE
            """, logger).first
        else { throw CatalogError.leaseLost(jobId: lease.jobId) }
        return try JobRecord(row)
    }

    public func heartbeat(_ lease: Lease, leaseDuration: TimeInterval, progress: Double?) async throws -> Lease {
        guard leaseDuration > 0 else { throw CatalogError.invalid("lease duration must be positive, not \(leaseDuration)") }
        let clamped = progress.map { $0.isFinite ? min(max($0, 0), 1) : 0 }
        let logger = self.logger
        let now = options.now()
        return try await transaction { connection in
            let job = try await Self.fenced(connection, lease, logger)
            let expiresAt = now.addingTimeInterval(leaseDuration)
            if clamped != nil { try await Self.lockVideo(connection, job.videoId, logger) }
            let rows = try await connection.all("""
                UPDATE jobs SET lease_expires_at = \(expiresAt), progress = COALESCE(\(clamped), progress),
                       updated_at = \(now)
                WHERE id = \(job.id)
                RETURNING lease_expires_at
                """, logger)
            if clamped != nil { try await Self.refreshProgress(connection, videoId: job.videoId, now: now, logger) }
            return Lease(jobId: lease.jobId, attempt: lease.attempt, owner: lease.owner,
                         expiresAt: try rows[0].decode(Date.self))
        }
    }

    public func complete(_ lease: Lease, outcome: JobOutcome) async throws {
        for job in outcome.enqueue { try JobRules.validate(job) }
        if let parent = outcome.parent { try JobRules.validate(parent) }
        let logger = self.logger
        let now = options.now()
        try await transaction { connection in
            // The fenced write and the video's lock in one statement (job, then video). Siblings completing
            // together take turns at the video's lock, and read one another (to wake the parent, for progress)
            // only in later statements, so the last one sees the others succeeded.
            guard let row = try await connection.all(QueueStatement.Complete(lease: lease, now: now), logger).first
            else { throw CatalogError.leaseLost(jobId: lease.jobId) }
            let job = try JobRecord(row)
            for rendition in outcome.renditions where rendition.videoId != job.videoId {
                throw CatalogError.invalid("job \(job.id) of video \(job.videoId) cannot store rendition \(rendition.name) of video \(rendition.videoId)")
            }
            var newParentId: Int64?
            if let parent = outcome.parent {
                // A parent without children has nothing to wait for.
                newParentId = try await Self.insertJob(connection, parent, videoId: job.videoId,
                                                       state: outcome.enqueue.isEmpty ? .queued : .waiting,
                                                       parentId: nil, now: now, logger)
            }
            for next in outcome.enqueue {
                _ = try await Self.insertJob(connection, next, videoId: job.videoId, state: .queued,
                                             parentId: newParentId, now: now, logger)
            }
            if let update = outcome.video {
                try await Self.apply(update, videoId: job.videoId, connection, now: now, logger)
            }
            for r in outcome.renditions {
                try await connection.all("""
                    INSERT INTO renditions (video_id, name, kind, width, height, codecs, bandwidth, average_bandwidth, playlist_path)
                    VALUES (\(r.videoId), \(r.name), \(r.kind), \(r.width), \(r.height), \(r.codecs), \(r.bandwidth),
                            \(r.averageBandwidth), \(r.playlistPath))
                    ON CONFLICT (video_id, name) DO UPDATE SET
                        kind = excluded.kind, width = excluded.width, height = excluded.height, codecs = excluded.codecs,
                        bandwidth = excluded.bandwidth, average_bandwidth = excluded.average_bandwidth,
                        playlist_path = excluded.playlist_path
                    """, logger)
            }
            var parentQueued = false
            if let parentId = job.parentId {
                parentQueued = try await Self.wakeIfChildrenDone(connection, parentId: parentId, now: now, logger)
            }
            // New jobs, a new parent without children, or this job's parent: runnable now.
            if !outcome.enqueue.isEmpty || outcome.parent != nil || parentQueued {
                try await Self.announceWork(connection, logger)
            }
            try await Self.refreshProgress(connection, videoId: job.videoId, now: now, logger)
        }
    }

    public func fail(_ lease: Lease, error: String, permanent: Bool) async throws -> JobState {
        let logger = self.logger
        let now = options.now()
        let delay = options.retryDelay(afterAttempt: lease.attempt)
        return try await transaction { connection in
            let job = try await Self.fenced(connection, lease, logger)
            if permanent {
                logger.error("job \(job.id) (\(job.kind.rawValue)) of video \(job.videoId) failed: \(error)")
                try await Self.settleUnsuccessful(connection, job: job, state: .failed, reason: error, now: now, logger)
                return .failed
            }
            if job.attempt < job.maxAttempts {
                logger.warning("job \(job.id) (\(job.kind.rawValue)) attempt \(job.attempt)/\(job.maxAttempts) failed, retry in \(String(format: "%.1f", delay)) s: \(error)")
                try await Self.lockVideo(connection, job.videoId, logger)
                try await connection.all("""
                    UPDATE jobs SET state = \(JobState.queued.rawValue), run_after = \(now.addingTimeInterval(delay)),
                           last_error = \(error), lease_owner = NULL, lease_expires_at = NULL, progress = 0,
                           updated_at = \(now)
                    WHERE id = \(job.id)
                    """, logger)
                try await Self.refreshProgress(connection, videoId: job.videoId, now: now, logger)
                return .queued
            }
            let reason = JobRules.gaveUpReason(job, error: error)
            logger.error("job \(job.id) (\(job.kind.rawValue)) of video \(job.videoId) is dead: \(reason)")
            try await Self.settleUnsuccessful(connection, job: job, state: .dead, reason: reason, now: now, logger)
            return .dead
        }
    }

    public func release(_ lease: Lease) async throws {
        let logger = self.logger
        let now = options.now()
        try await transaction { connection in
            let job = try await Self.fenced(connection, lease, logger)
            try await Self.lockVideo(connection, job.videoId, logger)
            try await connection.all("""
                UPDATE jobs SET state = \(JobState.queued.rawValue), attempt = GREATEST(attempt - 1, 0),
                       lease_owner = NULL, lease_expires_at = NULL, progress = 0, updated_at = \(now)
                WHERE id = \(job.id)
                """, logger)
            try await Self.refreshProgress(connection, videoId: job.videoId, now: now, logger)
            try await Self.announceWork(connection, logger)
        }
    }

    /// The publish lock is the video's row lock: publications of one video take turns, and each checks
    /// the stored count after the previous one committed.
    public func publishSegments(videoId: String, count: Int, final: Bool, lease: Lease?,
                                _ publish: @Sendable () throws -> Void) async throws -> Bool {
        let logger = self.logger
        let now = options.now()
        // The transaction finishes before this returns, so `publish` does not outlive the call.
        return try await withoutActuallyEscaping(publish) { publish in
            try await transaction { connection in
                if let lease {
                    let job = try await Self.fenced(connection, lease, logger)
                    guard job.videoId == videoId else {
                        throw CatalogError.invalid("job \(job.id) belongs to video \(job.videoId), not \(videoId)")
                    }
                }
                guard let row = try await connection.all("""
                    SELECT published_segments, state FROM videos WHERE id = \(videoId) FOR UPDATE
                    """, logger).first
                else { throw CatalogError.notFound("video \(videoId)") }
                let (stored, state) = try row.decode((Int, String).self)
                guard state != VideoState.ready.rawValue, final || count > stored else { return false }
                // Still inside the transaction: an error here rolls back and nothing is recorded.
                try publish()
                let old = try await connection.all("SELECT * FROM videos WHERE id = \(videoId)", logger).first.map(VideoRecord.init)
                try await connection.all("""
                    UPDATE videos SET published_segments = \(max(count, stored)), playable_at = COALESCE(playable_at, \(now)),
                           updated_at = \(now)
                    WHERE id = \(videoId)
                    """, logger)
                // Only the first publication makes a video playable: later ones have nothing to tell.
                if old?.playableAt == nil { try await Self.recordChanges(connection, videoId: videoId, old: old, now: now, logger) }
                return true
            }
        }
    }

    public func withVideoLock(videoId: String, _ body: @Sendable () throws -> Void) async throws {
        let logger = self.logger
        try await withoutActuallyEscaping(body) { body in
            try await transaction { connection in
                guard try await connection.all("SELECT 1 FROM videos WHERE id = \(videoId) FOR UPDATE", logger).first != nil else {
                    throw CatalogError.notFound("video \(videoId)")
                }
                try body()
            }
        }
    }

    // MARK: - Operators

    public func job(id: Int64) async throws -> JobRecord? {
        try await rows("SELECT * FROM jobs WHERE id = \(id)").first.map(JobRecord.init)
    }

    public func jobs(videoId: String?, states: Set<JobState>?, limit: Int) async throws -> [JobRecord] {
        if let states, states.isEmpty { return [] }
        let names: [String]? = states.map { $0.map(\.rawValue).sorted() }
        return try await rows("""
            SELECT * FROM jobs
            WHERE (\(videoId)::text IS NULL OR video_id = \(videoId))
              AND (\(names)::text[] IS NULL OR state = ANY(\(names)::text[]))
            ORDER BY id DESC LIMIT \(max(limit, 0))
            """).map(JobRecord.init)
    }

    public func retry(jobId: Int64) async throws {
        let logger = self.logger
        let now = options.now()
        try await transaction { connection in
            let job = try await Self.lockJob(connection, jobId, logger)
            try JobRules.checkRetryable(job)
            try await Self.lockVideo(connection, job.videoId, logger)
            // A parent whose children are not all done waits for them again.
            let unfinished = try await connection.all("""
                SELECT COUNT(*) FROM jobs WHERE parent_id = \(jobId) AND state <> \(JobState.succeeded.rawValue)
                """, logger)[0].decode(Int.self)
            let newState: JobState = unfinished > 0 ? .waiting : .queued
            try await connection.all("""
                UPDATE jobs SET state = \(newState.rawValue), attempt = 0, run_after = \(now), lease_owner = NULL,
                       lease_expires_at = NULL, progress = 0, finished_at = NULL, updated_at = \(now)
                WHERE id = \(jobId)
                """, logger)
            if newState == .queued { try await Self.announceWork(connection, logger) }
            // Ancestors cancelled because of this job wait again.
            var ancestorId = job.parentId
            while let id = ancestorId {
                let rows = try await connection.all("""
                    UPDATE jobs SET state = \(JobState.waiting.rawValue), finished_at = NULL, updated_at = \(now)
                    WHERE id = \(id) AND state = \(JobState.cancelled.rawValue)
                    RETURNING parent_id
                    """, logger)
                guard let row = rows.first else { break }
                ancestorId = try row.decode(Int64?.self)
            }
            // The video comes back once none of its jobs is failed, dead or cancelled any more.
            let broken = try await connection.all("""
                SELECT COUNT(*) FROM jobs WHERE video_id = \(job.videoId)
                  AND state = ANY(\([JobState.failed, .dead, .cancelled].map(\.rawValue))::text[])
                """, logger)[0].decode(Int.self)
            if broken == 0 {
                try await connection.all("""
                    UPDATE videos SET state = \(VideoState.processing.rawValue), error = NULL, updated_at = \(now)
                    WHERE id = \(job.videoId) AND state = \(VideoState.failed.rawValue)
                    """, logger)
            }
            try await Self.refreshProgress(connection, videoId: job.videoId, now: now, logger)
            logger.notice("job \(jobId) (\(job.kind.rawValue)) of video \(job.videoId) retried by hand (\(newState.rawValue))")
        }
    }

    public func cancel(jobId: Int64) async throws {
        let logger = self.logger
        let now = options.now()
        try await transaction { connection in
            let job = try await Self.lockJob(connection, jobId, logger)
            try JobRules.checkCancellable(job)
            logger.notice("job \(jobId) (\(job.kind.rawValue)) of video \(job.videoId) cancelled by hand")
            try await Self.settleUnsuccessful(connection, job: job, state: .cancelled,
                                              reason: JobRules.cancelledReason(job),
                                              now: now, logger)
        }
    }

    public func queueDepth() async throws -> [JobState: Int] {
        var depth = Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0, 0) })
        for row in try await rows("SELECT state, COUNT(*) FROM jobs GROUP BY state") {
            let (name, count) = try row.decode((String, Int).self)
            if let state = JobState(rawValue: name) { depth[state] = count }
        }
        return depth
    }

    public func claimableJobs() async throws -> Int {
        let now = options.now()
        return try await rows("""
            SELECT COUNT(*) FROM jobs
            WHERE (state = \(JobState.queued.rawValue) AND run_after <= \(now))
               OR (state = \(JobState.running.rawValue) AND lease_expires_at < \(now))
            """).first?.decode(Int.self) ?? 0
    }

    // MARK: - Helpers (inside a transaction)

    /// The job, locked until the transaction ends; `notFound` when there is none.
    static func lockJob(_ connection: PostgresConnection, _ jobId: Int64, _ logger: Logger) async throws -> JobRecord {
        guard let row = try await connection.all("SELECT * FROM jobs WHERE id = \(jobId) FOR UPDATE", logger).first
        else { throw CatalogError.notFound("job \(jobId)") }
        return try JobRecord(row)
    }

    static func lockVideo(_ connection: PostgresConnection, _ videoId: String, _ logger: Logger) async throws {
        try await connection.all("SELECT 1 FROM videos WHERE id = \(videoId) FOR UPDATE", logger)
    }

    static func insertJob(_ connection: PostgresConnection, _ job: NewJob, videoId: String, state: JobState,
                          parentId: Int64?, now: Date, _ logger: Logger) async throws -> Int64 {
        try await connection.all("""
            INSERT INTO jobs (video_id, kind, state, priority, attempt, max_attempts, run_after, progress,
                              payload, parent_id, created_at, updated_at)
            VALUES (\(videoId), \(job.kind.rawValue), \(state.rawValue), \(job.priority), 0, \(job.maxAttempts),
                    \(now), 0, \(job.payload), \(parentId), \(now), \(now))
            RETURNING id
            """, logger)[0].decode(Int64.self)
    }

    /// A job ends without succeeding: its waiting ancestors are cancelled and the video fails with
    /// `reason` (unless it is ready). The job's row is already locked by the caller.
    static func settleUnsuccessful(_ connection: PostgresConnection, job: JobRecord, state: JobState, reason: String,
                                   now: Date, _ logger: Logger) async throws {
        try await lockVideo(connection, job.videoId, logger)
        try await connection.all("""
            UPDATE jobs SET state = \(state.rawValue), last_error = \(reason), lease_expires_at = NULL,
                   finished_at = \(now), updated_at = \(now)
            WHERE id = \(job.id)
            """, logger)
        var ancestorId = job.parentId
        while let id = ancestorId {
            let rows = try await connection.all("""
                UPDATE jobs SET state = \(JobState.cancelled.rawValue), last_error = \(JobRules.ancestorReason(job, ended: state)),
                       finished_at = \(now), updated_at = \(now)
                WHERE id = \(id) AND state = ANY(\([JobState.waiting.rawValue, JobState.queued.rawValue])::text[])
                RETURNING parent_id
                """, logger)
            guard let row = rows.first else { break }
            ancestorId = try row.decode(Int64?.self)
        }
        let old = try await connection.all("SELECT * FROM videos WHERE id = \(job.videoId)", logger).first.map(VideoRecord.init)
        try await connection.all("""
            UPDATE videos SET state = \(VideoState.failed.rawValue), error = \(reason), updated_at = \(now)
            WHERE id = \(job.videoId) AND state <> \(VideoState.ready.rawValue)
            """, logger)
        try await refreshProgress(connection, videoId: job.videoId, now: now, logger)
        try await recordChanges(connection, videoId: job.videoId, old: old, now: now, logger)
    }

    /// A waiting parent becomes runnable once every child has succeeded (the video's lock is held).
    /// Returns whether it did now.
    static func wakeIfChildrenDone(_ connection: PostgresConnection, parentId: Int64, now: Date, _ logger: Logger) async throws -> Bool {
        let unfinished = try await connection.all("""
            SELECT COUNT(*) FROM jobs WHERE parent_id = \(parentId) AND state <> \(JobState.succeeded.rawValue)
            """, logger)[0].decode(Int.self)
        guard unfinished == 0 else { return false }
        return try await !connection.all("""
            UPDATE jobs SET state = \(JobState.queued.rawValue), run_after = \(now), updated_at = \(now)
            WHERE id = \(parentId) AND state = \(JobState.waiting.rawValue)
            RETURNING id
            """, logger).isEmpty
    }

    /// Inside a transaction that makes a job runnable now: the server tells every listening catalog, on
    /// any host, once it commits (and not at all if it rolls back). See `PostgresWorkListener`.
    static func announceWork(_ connection: PostgresConnection, _ logger: Logger) async throws {
        try await connection.all("NOTIFY \(unescaped: PostgresWorkListener.channel)", logger)
    }

    /// A completing job's changes to its video (the video's lock is held). Same rules as SQLite's.
    static func apply(_ update: VideoUpdate, videoId: String, _ connection: PostgresConnection, now: Date,
                      _ logger: Logger) async throws {
        guard let row = try await connection.all("SELECT * FROM videos WHERE id = \(videoId)", logger).first
        else { throw CatalogError.notFound("video \(videoId)") }
        var video = try VideoRecord(row)
        let old = video
        video.apply(update, now: now)
        try await connection.all("""
            UPDATE videos SET state = \(video.state.rawValue), probe_json = \(video.probeJSON),
                   duration_seconds = \(video.durationSeconds), published_segments = \(video.publishedSegments),
                   playable_at = \(video.playableAt), ready_at = \(video.readyAt), progress = \(video.progress),
                   error = \(video.error), updated_at = \(now)
            WHERE id = \(videoId)
            """, logger)
        try await recordEvents(connection, WebhookRules.events(from: old, to: video), video: video, now: now, logger)
    }

    /// The video's progress: the plain mean of its jobs' progress (see `SQLiteCatalog.refreshProgress`).
    static func refreshProgress(_ connection: PostgresConnection, videoId: String, now: Date, _ logger: Logger) async throws {
        try await connection.all(QueueStatement.RefreshProgress(videoId: videoId, now: now), logger)
    }
}
