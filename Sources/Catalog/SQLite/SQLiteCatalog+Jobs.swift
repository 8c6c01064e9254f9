import Foundation
import GRDB
import Logging

// The job queue. Every operation is one immediate transaction; every write by a worker is fenced by its
// lease (job id + attempt + owner + state running), and a mismatch throws `leaseLost` before anything
// is written, so the transaction changes nothing.

extension SQLiteCatalog {
    // MARK: - Claim

    public func claim(owner: String, leaseDuration: TimeInterval, kinds: Set<JobKind>?) async throws -> ClaimedJob? {
        guard leaseDuration > 0 else { throw CatalogError.invalid("lease duration must be positive, not \(leaseDuration)") }
        guard !owner.isEmpty else { throw CatalogError.invalid("a claim needs an owner name") }
        if let kinds, kinds.isEmpty { return nil }
        let kindList = kinds.map { $0.sorted { $0.rawValue < $1.rawValue } }
        return try await immediate { db in
            let now = self.options.now()
            try self.reapAbandoned(db, now: now)

            var kindSQL = ""
            var kindArguments = StatementArguments()
            if let kindList {
                kindSQL = " AND kind IN (\(kindList.map { _ in "?" }.joined(separator: ", ")))"
                kindArguments = StatementArguments(kindList)
            }
            let order = "ORDER BY priority DESC, run_after ASC, id ASC LIMIT 1"
            let queued = try JobRecord.fetchOne(db, sql: """
                SELECT * FROM jobs WHERE state = ? AND run_after <= ?\(kindSQL) \(order)
                """, arguments: [JobState.queued, now] + kindArguments)
            // A running job whose lease expired: its worker died (or hangs). After the reaping above,
            // such a job still has attempts left.
            let abandoned = try JobRecord.fetchOne(db, sql: """
                SELECT * FROM jobs WHERE state = ? AND lease_expires_at < ?\(kindSQL) \(order)
                """, arguments: [JobState.running, now] + kindArguments)
            guard let chosen = [queued, abandoned].compactMap({ $0 }).min(by: Self.claimsBefore) else {
                return nil
            }

            var lastError = chosen.lastError
            if chosen.state == .running {
                lastError = JobRules.reclaimedReason(chosen)
                self.logger.warning("job \(chosen.id) (\(chosen.kind.rawValue)): lease of \(chosen.leaseOwner ?? "unknown") expired; reclaimed by \(owner)")
            }
            try db.execute(sql: """
                UPDATE jobs SET state = ?, attempt = attempt + 1, lease_owner = ?, lease_expires_at = ?,
                       started_at = COALESCE(started_at, ?), progress = 0, last_error = ?, updated_at = ?
                WHERE id = ?
                """, arguments: [JobState.running, owner, now.addingTimeInterval(leaseDuration), now, lastError, now, chosen.id])
            try db.execute(sql: "UPDATE videos SET state = ?, updated_at = ? WHERE id = ? AND state = ?",
                           arguments: [VideoState.processing, now, chosen.videoId, VideoState.queued])
            try Self.refreshProgress(db, videoId: chosen.videoId, now: now)

            let job = try JobRecord.fetchOne(db, key: chosen.id)!
            return ClaimedJob(job: job, lease: Lease(jobId: job.id, attempt: job.attempt, owner: owner,
                                                     expiresAt: job.leaseExpiresAt!))
        }
    }

    /// Claim order: higher priority, then the longest waiting, then the oldest.
    static func claimsBefore(_ a: JobRecord, _ b: JobRecord) -> Bool {
        if a.priority != b.priority { return a.priority > b.priority }
        if a.runAfter != b.runAfter { return a.runAfter < b.runAfter }
        return a.id < b.id
    }

    /// Jobs whose worker stopped responding (lease expired) on their last allowed attempt become dead.
    private func reapAbandoned(_ db: Database, now: Date) throws {
        let abandoned = try JobRecord.fetchAll(db, sql: """
            SELECT * FROM jobs WHERE state = ? AND lease_expires_at < ? AND attempt >= max_attempts
            """, arguments: [JobState.running, now])
        for job in abandoned {
            let reason = JobRules.abandonedReason(job)
            logger.error("job \(job.id) (\(job.kind.rawValue)) of video \(job.videoId) is dead: \(reason)")
            try Self.settleUnsuccessful(db, job: job, state: .dead, reason: reason, now: now)
        }
    }

    // MARK: - Fenced writes

    /// The job, if `lease` still holds it; otherwise `leaseLost`.
    static func fenced(_ db: Database, _ lease: Lease) throws -> JobRecord {
        guard let job = try JobRecord.fetchOne(db, sql: """
            SELECT * FROM jobs WHERE id = ? AND attempt = ? AND lease_owner = ? AND state = ?
            """, arguments: [lease.jobId, lease.attempt, lease.owner, JobState.running])
        else { throw CatalogError.leaseLost(jobId: lease.jobId) }
        return job
    }

    public func heartbeat(_ lease: Lease, leaseDuration: TimeInterval, progress: Double?) async throws -> Lease {
        guard leaseDuration > 0 else { throw CatalogError.invalid("lease duration must be positive, not \(leaseDuration)") }
        let clamped = progress.map { $0.isFinite ? min(max($0, 0), 1) : 0 }
        return try await immediate { db in
            let now = self.options.now()
            let job = try Self.fenced(db, lease)
            try db.execute(sql: """
                UPDATE jobs SET lease_expires_at = ?, progress = COALESCE(?, progress), updated_at = ? WHERE id = ?
                """, arguments: [now.addingTimeInterval(leaseDuration), clamped, now, job.id])
            if clamped != nil { try Self.refreshProgress(db, videoId: job.videoId, now: now) }
            let expiresAt = try Date.fetchOne(db, sql: "SELECT lease_expires_at FROM jobs WHERE id = ?", arguments: [job.id])!
            return Lease(jobId: lease.jobId, attempt: lease.attempt, owner: lease.owner, expiresAt: expiresAt)
        }
    }

    public func complete(_ lease: Lease, outcome: JobOutcome) async throws {
        for job in outcome.enqueue { try JobRules.validate(job) }
        if let parent = outcome.parent { try JobRules.validate(parent) }
        try await immediate { db in
            let now = self.options.now()
            let job = try Self.fenced(db, lease)
            for rendition in outcome.renditions where rendition.videoId != job.videoId {
                throw CatalogError.invalid("job \(job.id) of video \(job.videoId) cannot store rendition \(rendition.name) of video \(rendition.videoId)")
            }
            try db.execute(sql: """
                UPDATE jobs SET state = ?, progress = 1, lease_expires_at = NULL, finished_at = ?, updated_at = ?
                WHERE id = ?
                """, arguments: [JobState.succeeded, now, now, job.id])

            var newParentId: Int64?
            if let parent = outcome.parent {
                // A parent without children has nothing to wait for.
                newParentId = try Self.insertJob(db, parent, videoId: job.videoId,
                                                 state: outcome.enqueue.isEmpty ? .queued : .waiting,
                                                 parentId: nil, now: now)
            }
            for next in outcome.enqueue {
                _ = try Self.insertJob(db, next, videoId: job.videoId, state: .queued, parentId: newParentId, now: now)
            }
            if let update = outcome.video {
                try Self.apply(update, videoId: job.videoId, db: db, now: now)
            }
            for rendition in outcome.renditions {
                try rendition.insert(db, onConflict: .replace)
            }
            var parentQueued = false
            if let parentId = job.parentId {
                parentQueued = try Self.wakeIfChildrenDone(db, parentId: parentId, now: now)
            }
            // New jobs, a new parent without children, or this job's parent: runnable now.
            if !outcome.enqueue.isEmpty || outcome.parent != nil || parentQueued { self.announceWork(db) }
            try Self.refreshProgress(db, videoId: job.videoId, now: now)
        }
    }

    public func fail(_ lease: Lease, error: String, permanent: Bool) async throws -> JobState {
        try await immediate { db in
            let now = self.options.now()
            let job = try Self.fenced(db, lease)
            if permanent {
                self.logger.error("job \(job.id) (\(job.kind.rawValue)) of video \(job.videoId) failed: \(error)")
                try Self.settleUnsuccessful(db, job: job, state: .failed, reason: error, now: now)
                return .failed
            }
            if job.attempt < job.maxAttempts {
                let delay = self.options.retryDelay(afterAttempt: job.attempt)
                self.logger.warning("job \(job.id) (\(job.kind.rawValue)) attempt \(job.attempt)/\(job.maxAttempts) failed, retry in \(String(format: "%.1f", delay)) s: \(error)")
                try db.execute(sql: """
                    UPDATE jobs SET state = ?, run_after = ?, last_error = ?, lease_owner = NULL,
                           lease_expires_at = NULL, progress = 0, updated_at = ?
                    WHERE id = ?
                    """, arguments: [JobState.queued, now.addingTimeInterval(delay), error, now, job.id])
                try Self.refreshProgress(db, videoId: job.videoId, now: now)
                return .queued
            }
            let reason = JobRules.gaveUpReason(job, error: error)
            self.logger.error("job \(job.id) (\(job.kind.rawValue)) of video \(job.videoId) is dead: \(reason)")
            try Self.settleUnsuccessful(db, job: job, state: .dead, reason: reason, now: now)
            return .dead
        }
    }

    public func release(_ lease: Lease) async throws {
        try await immediate { db in
            let now = self.options.now()
            let job = try Self.fenced(db, lease)
            try db.execute(sql: """
                UPDATE jobs SET state = ?, attempt = MAX(attempt - 1, 0), lease_owner = NULL,
                       lease_expires_at = NULL, progress = 0, updated_at = ?
                WHERE id = ?
                """, arguments: [JobState.queued, now, job.id])
            try Self.refreshProgress(db, videoId: job.videoId, now: now)
            self.announceWork(db)
        }
    }

    public func publishSegments(videoId: String, count: Int, final: Bool, lease: Lease?,
                                _ publish: @Sendable () throws -> Void) async throws -> Bool {
        try await immediate { db in
            let now = self.options.now()
            if let lease {
                let job = try Self.fenced(db, lease)
                guard job.videoId == videoId else {
                    throw CatalogError.invalid("job \(job.id) belongs to video \(job.videoId), not \(videoId)")
                }
            }
            guard let row = try Row.fetchOne(db, sql: "SELECT published_segments, state FROM videos WHERE id = ?",
                                             arguments: [videoId])
            else { throw CatalogError.notFound("video \(videoId)") }
            let stored: Int = row["published_segments"]
            let state: VideoState = row["state"]
            guard state != .ready, final || count > stored else { return false }
            // Still inside the transaction: an error here rolls back and nothing is recorded.
            try publish()
            let old = try VideoRecord.fetchOne(db, key: videoId)
            try db.execute(sql: """
                UPDATE videos SET published_segments = ?, playable_at = COALESCE(playable_at, ?), updated_at = ?
                WHERE id = ?
                """, arguments: [max(count, stored), now, now, videoId])
            // Only the first publication makes a video playable: later ones have nothing to tell.
            if old?.playableAt == nil { try Self.recordChanges(db, videoId: videoId, old: old, now: now) }
            return true
        }
    }

    public func withVideoLock(videoId: String, _ body: @Sendable () throws -> Void) async throws {
        try await immediate { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM videos WHERE id = ?", arguments: [videoId]) != nil else {
                throw CatalogError.notFound("video \(videoId)")
            }
            try body()
        }
    }

    // MARK: - Operators

    public func job(id: Int64) async throws -> JobRecord? {
        try await read { db in try JobRecord.fetchOne(db, key: id) }
    }

    /// Newest first.
    public func jobs(videoId: String?, states: Set<JobState>?, limit: Int) async throws -> [JobRecord] {
        var conditions: [String] = []
        var arguments = StatementArguments()
        if let videoId {
            conditions.append("video_id = ?")
            arguments += [videoId]
        }
        if let states {
            if states.isEmpty { return [] }
            let sorted = states.sorted { $0.rawValue < $1.rawValue }
            conditions.append("state IN (\(sorted.map { _ in "?" }.joined(separator: ", ")))")
            arguments += StatementArguments(sorted)
        }
        arguments += [max(limit, 0)]
        let whereSQL = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT * FROM jobs \(whereSQL) ORDER BY id DESC LIMIT ?"
        let finalArguments = arguments
        return try await read { db in try JobRecord.fetchAll(db, sql: sql, arguments: finalArguments) }
    }

    public func retry(jobId: Int64) async throws {
        try await immediate { db in
            let now = self.options.now()
            guard let job = try JobRecord.fetchOne(db, key: jobId) else { throw CatalogError.notFound("job \(jobId)") }
            try JobRules.checkRetryable(job)
            // A parent whose children are not all done waits for them again.
            let newState: JobState = try Self.unfinishedChildren(db, parentId: jobId) > 0 ? .waiting : .queued
            try db.execute(sql: """
                UPDATE jobs SET state = ?, attempt = 0, run_after = ?, lease_owner = NULL, lease_expires_at = NULL,
                       progress = 0, finished_at = NULL, updated_at = ?
                WHERE id = ?
                """, arguments: [newState, now, now, jobId])
            if newState == .queued { self.announceWork(db) }
            // Ancestors cancelled because of this job wait again.
            var ancestorId = job.parentId
            while let id = ancestorId, let ancestor = try JobRecord.fetchOne(db, key: id), ancestor.state == .cancelled {
                try db.execute(sql: """
                    UPDATE jobs SET state = ?, finished_at = NULL, updated_at = ? WHERE id = ?
                    """, arguments: [JobState.waiting, now, id])
                ancestorId = ancestor.parentId
            }
            // The video comes back once none of its jobs is failed, dead or cancelled any more.
            let broken = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM jobs WHERE video_id = ? AND state IN (?, ?, ?)
                """, arguments: [job.videoId, JobState.failed, JobState.dead, JobState.cancelled]) ?? 0
            if broken == 0 {
                try db.execute(sql: """
                    UPDATE videos SET state = ?, error = NULL, updated_at = ? WHERE id = ? AND state = ?
                    """, arguments: [VideoState.processing, now, job.videoId, VideoState.failed])
            }
            try Self.refreshProgress(db, videoId: job.videoId, now: now)
            self.logger.notice("job \(jobId) (\(job.kind.rawValue)) of video \(job.videoId) retried by hand (\(newState.rawValue))")
        }
    }

    public func cancel(jobId: Int64) async throws {
        try await immediate { db in
            let now = self.options.now()
            guard let job = try JobRecord.fetchOne(db, key: jobId) else { throw CatalogError.notFound("job \(jobId)") }
            try JobRules.checkCancellable(job)
            self.logger.notice("job \(jobId) (\(job.kind.rawValue)) of video \(job.videoId) cancelled by hand")
            try Self.settleUnsuccessful(db, job: job, state: .cancelled,
                                        reason: JobRules.cancelledReason(job), now: now)
        }
    }

    public func queueDepth() async throws -> [JobState: Int] {
        try await read { db in
            var depth = Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0, 0) })
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM jobs GROUP BY state") {
                let name: String = try row.decode(forColumn: "state")
                if let state = JobState(rawValue: name) { depth[state] = try row.decode(forColumn: "n") }
            }
            return depth
        }
    }

    public func claimableJobs() async throws -> Int {
        let now = options.now()
        return try await read { db in
            try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM jobs
                WHERE (state = ? AND run_after <= ?) OR (state = ? AND lease_expires_at < ?)
                """, arguments: [JobState.queued, now, JobState.running, now]) ?? 0
        }
    }

    // MARK: - Helpers (inside a transaction)

    static func insertJob(_ db: Database, _ job: NewJob, videoId: String, state: JobState, parentId: Int64?, now: Date) throws -> Int64 {
        try db.execute(sql: """
            INSERT INTO jobs (video_id, kind, state, priority, attempt, max_attempts, run_after, progress,
                              payload, parent_id, created_at, updated_at)
            VALUES (?, ?, ?, ?, 0, ?, ?, 0, ?, ?, ?, ?)
            """, arguments: [videoId, job.kind, state, job.priority, job.maxAttempts, now, job.payload, parentId, now, now])
        return db.lastInsertedRowID
    }

    /// A job ends without succeeding (failed, dead or cancelled): whatever waits for it can never run,
    /// so its waiting ancestors are cancelled, and the video fails with `reason` (unless it is ready).
    static func settleUnsuccessful(_ db: Database, job: JobRecord, state: JobState, reason: String, now: Date) throws {
        try db.execute(sql: """
            UPDATE jobs SET state = ?, last_error = ?, lease_expires_at = NULL, finished_at = ?, updated_at = ?
            WHERE id = ?
            """, arguments: [state, reason, now, now, job.id])
        var ancestorId = job.parentId
        while let id = ancestorId {
            try db.execute(sql: """
                UPDATE jobs SET state = ?, last_error = ?, finished_at = ?, updated_at = ?
                WHERE id = ? AND state IN (?, ?)
                """, arguments: [JobState.cancelled, JobRules.ancestorReason(job, ended: state), now, now, id,
                                 JobState.waiting, JobState.queued])
            guard db.changesCount > 0 else { break }
            ancestorId = try Int64.fetchOne(db, sql: "SELECT parent_id FROM jobs WHERE id = ?", arguments: [id])
        }
        let old = try VideoRecord.fetchOne(db, key: job.videoId)
        try db.execute(sql: """
            UPDATE videos SET state = ?, error = ?, updated_at = ? WHERE id = ? AND state != ?
            """, arguments: [VideoState.failed, reason, now, job.videoId, VideoState.ready])
        try refreshProgress(db, videoId: job.videoId, now: now)
        try recordChanges(db, videoId: job.videoId, old: old, now: now)
    }

    /// A waiting parent becomes runnable once every child has succeeded. Returns whether it did now.
    static func wakeIfChildrenDone(_ db: Database, parentId: Int64, now: Date) throws -> Bool {
        guard try unfinishedChildren(db, parentId: parentId) == 0 else { return false }
        try db.execute(sql: """
            UPDATE jobs SET state = ?, run_after = ?, updated_at = ? WHERE id = ? AND state = ?
            """, arguments: [JobState.queued, now, now, parentId, JobState.waiting])
        return db.changesCount > 0
    }

    /// How many of the parent's children have not succeeded (yet).
    static func unfinishedChildren(_ db: Database, parentId: Int64) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jobs WHERE parent_id = ? AND state != ?",
                         arguments: [parentId, JobState.succeeded]) ?? 0
    }

    /// Applies a completing job's changes to its video. A failed video stays failed (only a retry revives
    /// it); `ready` stamps `readyAt` (and `playableAt` if still unset) and sets progress to 1.
    static func apply(_ update: VideoUpdate, videoId: String, db: Database, now: Date) throws {
        guard var video = try VideoRecord.fetchOne(db, key: videoId) else { throw CatalogError.notFound("video \(videoId)") }
        let old = video
        video.apply(update, now: now)
        try video.update(db)
        try recordEvents(db, WebhookRules.events(from: old, to: video), video: video, now: now)
    }

    /// The video's progress: the plain mean of its jobs' progress (succeeded counts 1, cancelled jobs are
    /// left out). Unweighted on purpose: a plan job is quick and a finalize is quick, the chunks dominate
    /// anyway once they exist. It steps back once, when the plan job enqueues the pieces it planned.
    static func refreshProgress(_ db: Database, videoId: String, now: Date) throws {
        try db.execute(sql: """
            UPDATE videos SET progress = COALESCE((
                    SELECT AVG(CASE WHEN state = ?3 THEN 1.0 ELSE progress END)
                    FROM jobs WHERE video_id = ?1 AND state != ?4), progress),
                updated_at = ?2
            WHERE id = ?1 AND state != ?5
            """, arguments: [videoId, now, JobState.succeeded, JobState.cancelled, VideoState.ready])
    }
}
