import Foundation
import GRDB

// Videos and their renditions.

extension SQLiteCatalog {
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
        if !jobs.isEmpty { announceWork(db) }
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
            conditions.append("(visibility <> ? OR owner_key_id = ?)")
            arguments += [Visibility.private, id]
        case .anonymous:
            conditions.append("visibility <> ?")
            arguments += [Visibility.private]
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

    public func requeue(videoId: String, jobs: [NewJob]) async throws {
        for job in jobs { try JobRules.validate(job) }
        let now = options.now()
        try await immediate { db in
            try db.execute(sql: """
                UPDATE videos SET state = ?, progress = 0, published_segments = 0, error = NULL,
                                  playable_at = NULL, ready_at = NULL, updated_at = ?
                WHERE id = ?
                """, arguments: [VideoState.queued, now, videoId])
            if db.changesCount == 0 { throw CatalogError.notFound("video \(videoId)") }
            try db.execute(sql: "DELETE FROM jobs WHERE video_id = ?", arguments: [videoId])
            try db.execute(sql: "DELETE FROM renditions WHERE video_id = ?", arguments: [videoId])
            for job in jobs {
                _ = try Self.insertJob(db, job, videoId: videoId, state: .queued, parentId: nil, now: now)
            }
            if !jobs.isEmpty { self.announceWork(db) }
        }
    }
}
