import Foundation
import GRDB
import Logging

// The job queue. Every operation is one immediate transaction; every write by a worker is fenced by its
// lease (job id + attempt + owner + state running), and a mismatch throws `leaseLost` before anything
// is written, so the transaction changes nothing.

extension SQLiteCatalog {
    // MARK: - Videos

    public func createVideo(_ video: NewVideo, jobs: [NewJob]) async throws -> VideoRecord {
        for job in jobs { try JobRules.validate(job) }
        return try await immediate { db in
            if try VideoRecord.exists(db, key: video.id) {
                throw CatalogError.invalid("a video with id \(video.id) already exists")
            }
            return try self.insertVideo(db, video, jobs: jobs)
        }
    }

    /// Inserts a new video and its first jobs (inside the caller's transaction).
    func insertVideo(_ db: Database, _ video: NewVideo, jobs: [NewJob]) throws -> VideoRecord {
        let now = options.now()
        let record = VideoRecord(
            id: video.id, title: video.title, state: .queued, originalPath: video.originalPath,
            sizeBytes: video.sizeBytes, sha256: video.sha256, probeJSON: nil, durationSeconds: nil,
            progress: 0, publishedSegments: 0, error: nil, createdAt: now, updatedAt: now,
            playableAt: nil, readyAt: nil, visibility: video.visibility, filename: video.filename,
            ownerKeyId: video.ownerKeyId)
        try record.insert(db)
        for job in jobs {
            _ = try Self.insertJob(db, job, videoId: video.id, state: .queued, parentId: nil, now: now)
        }
        // Read back: dates are stored with millisecond precision.
        return try VideoRecord.fetchOne(db, key: video.id)!
    }

    public func video(id: String) async throws -> VideoRecord? {
        try await read { db in try VideoRecord.fetchOne(db, key: id) }
    }

    /// Newest first; the audience's filter is `VideoAudience.canSee` in SQL.
    public func videos(state: VideoState?, audience: VideoAudience, limit: Int, offset: Int) async throws -> [VideoRecord] {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let state {
            conditions.append("state = ?")
            arguments += [state]
        }
        switch audience {
        case .everyone: break
        case .key(let id):
            conditions.append("(visibility <> 'private' OR owner_key_id = ?)")
            arguments += [id]
        case .anonymous:
            conditions.append("visibility <> 'private'")
        }
        arguments += [max(limit, 0), max(offset, 0)]
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT * FROM videos \(filter) ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
        let finalArguments = arguments
        return try await read { db in try VideoRecord.fetchAll(db, sql: sql, arguments: finalArguments) }
    }

    public func storedBytes(ownerKeyId: String) async throws -> Int64 {
        try await read { db in
            try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(size_bytes), 0) FROM videos WHERE owner_key_id = ?",
                               arguments: [ownerKeyId]) ?? 0
        }
    }

    public func renditions(videoId: String) async throws -> [RenditionRecord] {
        try await read { db in
            try RenditionRecord.fetchAll(db, sql: "SELECT * FROM renditions WHERE video_id = ? ORDER BY name",
                                         arguments: [videoId])
        }
    }

    /// Deletes the video, its renditions and its jobs (a worker still holding one loses its lease).
    /// Files on the storage root are the caller's business.
    public func deleteVideo(id: String) async throws {
        try await immediate { db in
            try db.execute(sql: "DELETE FROM jobs WHERE video_id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM renditions WHERE video_id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM videos WHERE id = ?", arguments: [id])
            if db.changesCount == 0 { throw CatalogError.notFound("video \(id)") }
        }
    }

    // MARK: - Claim

    public func claim(owner: String, leaseDuration: TimeInterval, kinds: Set<JobKind>?) async throws -> ClaimedJob? {
        guard leaseDuration > 0 else { throw CatalogError.invalid("lease duration must be positive, not \(leaseDuration)") }
        guard !owner.isEmpty else { throw CatalogError.invalid("a claim needs an owner name") }
        if let kinds, kinds.isEmpty { return nil }
        let kindList = kinds.map { $0.map(\.rawValue).sorted() }
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
                SELECT * FROM jobs WHERE state = 'queued' AND run_after <= ?\(kindSQL) \(order)
                """, arguments: [now] + kindArguments)
            // A running job whose lease expired: its worker died (or hangs). After the reaping above,
            // such a job still has attempts left.
            let abandoned = try JobRecord.fetchOne(db, sql: """
                SELECT * FROM jobs WHERE state = 'running' AND lease_expires_at < ?\(kindSQL) \(order)
                """, arguments: [now] + kindArguments)
            guard let chosen = [queued, abandoned].compactMap({ $0 }).min(by: Self.claimsBefore) else {
                return nil
            }

            var lastError = chosen.lastError
            if chosen.state == .running {
                lastError = JobRules.reclaimedReason(chosen)
                self.logger.warning("job \(chosen.id) (\(chosen.kind.rawValue)): lease of \(chosen.leaseOwner ?? "unknown") expired; reclaimed by \(owner)")
            }
            try db.execute(sql: """
                UPDATE jobs SET state = 'running', attempt = attempt + 1, lease_owner = ?, lease_expires_at = ?,
                       started_at = COALESCE(started_at, ?), progress = 0, last_error = ?, updated_at = ?
                WHERE id = ?
                """, arguments: [owner, now.addingTimeInterval(leaseDuration), now, lastError, now, chosen.id])
            try db.execute(sql: "UPDATE videos SET state = 'processing', updated_at = ? WHERE id = ? AND state = 'queued'",
                           arguments: [now, chosen.videoId])
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
            SELECT * FROM jobs WHERE state = 'running' AND lease_expires_at < ? AND attempt >= max_attempts
            """, arguments: [now])
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
            SELECT * FROM jobs WHERE id = ? AND attempt = ? AND lease_owner = ? AND state = 'running'
            """, arguments: [lease.jobId, lease.attempt, lease.owner])
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
                UPDATE jobs SET state = 'succeeded', progress = 1, lease_expires_at = NULL, finished_at = ?, updated_at = ?
                WHERE id = ?
                """, arguments: [now, now, job.id])

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
            if let parentId = job.parentId {
                try Self.wakeIfChildrenDone(db, parentId: parentId, now: now)
            }
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
                    UPDATE jobs SET state = 'queued', run_after = ?, last_error = ?, lease_owner = NULL,
                           lease_expires_at = NULL, progress = 0, updated_at = ?
                    WHERE id = ?
                    """, arguments: [now.addingTimeInterval(delay), error, now, job.id])
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
                UPDATE jobs SET state = 'queued', attempt = MAX(attempt - 1, 0), lease_owner = NULL,
                       lease_expires_at = NULL, progress = 0, updated_at = ?
                WHERE id = ?
                """, arguments: [now, job.id])
            try Self.refreshProgress(db, videoId: job.videoId, now: now)
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
            let state: String = row["state"]
            guard state != VideoState.ready.rawValue, final || count > stored else { return false }
            // Still inside the transaction: an error here rolls back and nothing is recorded.
            try publish()
            try db.execute(sql: """
                UPDATE videos SET published_segments = ?, playable_at = COALESCE(playable_at, ?), updated_at = ?
                WHERE id = ?
                """, arguments: [max(count, stored), now, now, videoId])
            return true
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
            let names = states.map(\.rawValue).sorted()
            conditions.append("state IN (\(names.map { _ in "?" }.joined(separator: ", ")))")
            arguments += StatementArguments(names)
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
            switch job.state {
            case .failed, .dead, .cancelled:
                break
            case .succeeded:
                throw CatalogError.invalid("job \(jobId) already succeeded; only failed, dead or cancelled jobs can be retried")
            case .waiting, .queued, .running:
                throw CatalogError.invalid("job \(jobId) is \(job.state.rawValue); only failed, dead or cancelled jobs can be retried")
            }
            // A parent whose children are not all done waits for them again.
            let unfinishedChildren = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM jobs WHERE parent_id = ? AND state != 'succeeded'
                """, arguments: [jobId]) ?? 0
            let newState: JobState = unfinishedChildren > 0 ? .waiting : .queued
            try db.execute(sql: """
                UPDATE jobs SET state = ?, attempt = 0, run_after = ?, lease_owner = NULL, lease_expires_at = NULL,
                       progress = 0, finished_at = NULL, updated_at = ?
                WHERE id = ?
                """, arguments: [newState, now, now, jobId])
            // Ancestors cancelled because of this job wait again.
            var ancestorId = job.parentId
            while let id = ancestorId, let ancestor = try JobRecord.fetchOne(db, key: id), ancestor.state == .cancelled {
                try db.execute(sql: """
                    UPDATE jobs SET state = 'waiting', finished_at = NULL, updated_at = ? WHERE id = ?
                    """, arguments: [now, id])
                ancestorId = ancestor.parentId
            }
            // The video comes back once none of its jobs is failed, dead or cancelled any more.
            let broken = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM jobs WHERE video_id = ? AND state IN ('failed', 'dead', 'cancelled')
                """, arguments: [job.videoId]) ?? 0
            if broken == 0 {
                try db.execute(sql: """
                    UPDATE videos SET state = 'processing', error = NULL, updated_at = ? WHERE id = ? AND state = 'failed'
                    """, arguments: [now, job.videoId])
            }
            try Self.refreshProgress(db, videoId: job.videoId, now: now)
            self.logger.notice("job \(jobId) (\(job.kind.rawValue)) of video \(job.videoId) retried by hand (\(newState.rawValue))")
        }
    }

    public func cancel(jobId: Int64) async throws {
        try await immediate { db in
            let now = self.options.now()
            guard let job = try JobRecord.fetchOne(db, key: jobId) else { throw CatalogError.notFound("job \(jobId)") }
            switch job.state {
            case .waiting, .queued, .running:
                break
            case .succeeded, .failed, .dead, .cancelled:
                throw CatalogError.invalid("job \(jobId) is \(job.state.rawValue); only waiting, queued or running jobs can be cancelled")
            }
            self.logger.notice("job \(jobId) (\(job.kind.rawValue)) of video \(job.videoId) cancelled by hand")
            try Self.settleUnsuccessful(db, job: job, state: .cancelled,
                                        reason: "job \(jobId) (\(job.kind.rawValue)) was cancelled by an operator", now: now)
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
                WHERE (state = 'queued' AND run_after <= ?) OR (state = 'running' AND lease_expires_at < ?)
                """, arguments: [now, now]) ?? 0
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
                UPDATE jobs SET state = 'cancelled', last_error = ?, finished_at = ?, updated_at = ?
                WHERE id = ? AND state IN ('waiting', 'queued')
                """, arguments: [JobRules.ancestorReason(job, ended: state), now, now, id])
            guard db.changesCount > 0 else { break }
            ancestorId = try Int64.fetchOne(db, sql: "SELECT parent_id FROM jobs WHERE id = ?", arguments: [id])
        }
        try db.execute(sql: """
            UPDATE videos SET state = 'failed', error = ?, updated_at = ? WHERE id = ? AND state != 'ready'
            """, arguments: [reason, now, job.videoId])
        try refreshProgress(db, videoId: job.videoId, now: now)
    }

    /// A waiting parent becomes runnable once every child has succeeded.
    static func wakeIfChildrenDone(_ db: Database, parentId: Int64, now: Date) throws {
        let unfinished = try Int.fetchOne(db, sql: """
            SELECT COUNT(*) FROM jobs WHERE parent_id = ? AND state != 'succeeded'
            """, arguments: [parentId]) ?? 0
        guard unfinished == 0 else { return }
        try db.execute(sql: """
            UPDATE jobs SET state = 'queued', run_after = ?, updated_at = ? WHERE id = ? AND state = 'waiting'
            """, arguments: [now, now, parentId])
    }

    /// Applies a completing job's changes to its video. A failed video stays failed (only a retry revives
    /// it); `ready` stamps `readyAt` (and `playableAt` if still unset) and sets progress to 1.
    static func apply(_ update: VideoUpdate, videoId: String, db: Database, now: Date) throws {
        guard var video = try VideoRecord.fetchOne(db, key: videoId) else { throw CatalogError.notFound("video \(videoId)") }
        video.apply(update, now: now)
        try video.update(db)
    }

    /// The video's progress: the plain mean of its jobs' progress (succeeded counts 1, cancelled jobs are
    /// left out). Unweighted on purpose: a plan job is quick and a finalize is quick, the chunks dominate
    /// anyway once they exist. It steps back once, when the plan job enqueues the pieces it planned.
    static func refreshProgress(_ db: Database, videoId: String, now: Date) throws {
        try db.execute(sql: """
            UPDATE videos SET progress = COALESCE((
                    SELECT AVG(CASE WHEN state = 'succeeded' THEN 1.0 ELSE progress END)
                    FROM jobs WHERE video_id = ?1 AND state != 'cancelled'), progress),
                updated_at = ?2
            WHERE id = ?1 AND state != 'ready'
            """, arguments: [videoId, now])
    }
}
