import Foundation
import Logging
import PostgresNIO

// Videos, renditions and API keys.

extension PostgresCatalog {
    public func createVideo(_ video: NewVideo, jobs: [NewJob]) async throws -> VideoRecord {
        for job in jobs { try JobRules.validate(job) }
        let logger = self.logger
        let now = options.now()
        return try await transaction { connection in
            guard let record = try await Self.insertVideo(connection, video, jobs: jobs, now: now, logger) else {
                throw CatalogError.invalid("a video with id \(video.id) already exists")
            }
            return record
        }
    }

    /// Inserts a new video and its first jobs (inside the caller's transaction); nil if the id is taken.
    static func insertVideo(_ connection: PostgresConnection, _ video: NewVideo, jobs: [NewJob], now: Date,
                            _ logger: Logger) async throws -> VideoRecord? {
        let inserted = try await connection.all("""
            INSERT INTO videos (id, title, state, original_path, size_bytes, sha256, progress, published_segments,
                                created_at, updated_at, visibility, filename, owner_key_id)
            VALUES (\(video.id), \(video.title), \(VideoState.queued.rawValue), \(video.originalPath),
                    \(video.sizeBytes), \(video.sha256), 0, 0, \(now), \(now), \(video.visibility.rawValue),
                    \(video.filename), \(video.ownerKeyId))
            ON CONFLICT (id) DO NOTHING
            RETURNING *
            """, logger)
        guard let row = inserted.first else { return nil }
        for job in jobs {
            _ = try await insertJob(connection, job, videoId: video.id, state: .queued, parentId: nil, now: now, logger)
        }
        if !jobs.isEmpty { try await announceWork(connection, logger) }
        return try VideoRecord(row)
    }

    public func video(id: String) async throws -> VideoRecord? {
        try await rows("SELECT * FROM videos WHERE id = \(id)").first.map(VideoRecord.init)
    }

    /// Newest first; the audience's filter is `VideoAudience.canSee` in SQL.
    public func videos(state: VideoState?, audience: VideoAudience, limit: Int, offset: Int) async throws -> [VideoRecord] {
        let owner: String?
        let everyone: Bool
        switch audience {
        case .everyone: (everyone, owner) = (true, nil)
        case .key(let id): (everyone, owner) = (false, id)
        case .anonymous: (everyone, owner) = (false, nil)
        }
        return try await rows("""
            SELECT * FROM videos
            WHERE (\(state?.rawValue)::text IS NULL OR state = \(state?.rawValue))
              AND (\(everyone) OR visibility <> \(Visibility.private.rawValue) OR owner_key_id = \(owner))
            ORDER BY created_at DESC, id DESC LIMIT \(max(limit, 0)) OFFSET \(max(offset, 0))
            """).map(VideoRecord.init)
    }

    public func storedBytes(ownerKeyId: String) async throws -> Int64 {
        try await rows("SELECT COALESCE(SUM(size_bytes), 0)::bigint FROM videos WHERE owner_key_id = \(ownerKeyId)")
            .first?.decode(Int64.self) ?? 0
    }

    public func renditions(videoId: String) async throws -> [RenditionRecord] {
        try await rows("SELECT * FROM renditions WHERE video_id = \(videoId) ORDER BY name").map(RenditionRecord.init)
    }

    /// Deletes the video, its renditions and its jobs; jobs first, in id order, so that the locks are
    /// taken in the usual order (jobs, then the video) and a worker completing one waits or loses.
    public func deleteVideo(id: String) async throws {
        let logger = self.logger
        try await transaction { connection in
            try await connection.all("SELECT id FROM jobs WHERE video_id = \(id) ORDER BY id FOR UPDATE", logger)
            try await connection.all("DELETE FROM jobs WHERE video_id = \(id)", logger)
            try await connection.all("DELETE FROM renditions WHERE video_id = \(id)", logger)
            let deleted = try await connection.all("DELETE FROM videos WHERE id = \(id) RETURNING id", logger)
            if deleted.isEmpty { throw CatalogError.notFound("video \(id)") }
        }
    }

    public func requeue(videoId: String, jobs: [NewJob]) async throws {
        for job in jobs { try JobRules.validate(job) }
        let logger = self.logger
        let now = options.now()
        try await transaction { connection in
            // Jobs before the video, in the order deleteVideo and a claim take them (no deadlock).
            try await connection.all("SELECT id FROM jobs WHERE video_id = \(videoId) ORDER BY id FOR UPDATE", logger)
            let updated = try await connection.all("""
                UPDATE videos SET state = \(VideoState.queued.rawValue), progress = 0, published_segments = 0,
                                  error = NULL, playable_at = NULL, ready_at = NULL, updated_at = \(now)
                WHERE id = \(videoId) RETURNING id
                """, logger)
            if updated.isEmpty { throw CatalogError.notFound("video \(videoId)") }
            try await connection.all("DELETE FROM jobs WHERE video_id = \(videoId)", logger)
            try await connection.all("DELETE FROM renditions WHERE video_id = \(videoId)", logger)
            for job in jobs {
                _ = try await Self.insertJob(connection, job, videoId: videoId, state: .queued, parentId: nil, now: now, logger)
            }
            if !jobs.isEmpty { try await Self.announceWork(connection, logger) }
        }
    }

    // MARK: - API keys

    public func createAPIKey(name: String, scope: APIKeyScope, secretHash: String) async throws -> APIKeyRecord {
        let record = APIKeyRecord(id: APIKeyRecord.newId(), name: name, scope: scope, secretHash: secretHash,
                                  createdAt: options.now(), revokedAt: nil)
        let rows = try await rows("""
            INSERT INTO api_keys (id, name, scope, secret_hash, created_at)
            VALUES (\(record.id), \(record.name), \(record.scope.rawValue), \(record.secretHash), \(record.createdAt))
            RETURNING *
            """)
        return try APIKeyRecord(rows[0])
    }

    public func apiKey(secretHash: String) async throws -> APIKeyRecord? {
        try await rows("SELECT * FROM api_keys WHERE secret_hash = \(secretHash) AND revoked_at IS NULL")
            .first.map(APIKeyRecord.init)
    }

    public func apiKeys() async throws -> [APIKeyRecord] {
        try await rows("SELECT * FROM api_keys ORDER BY created_at, id").map(APIKeyRecord.init)
    }

    public func revokeAPIKey(id: String) async throws {
        let rows = try await rows("""
            UPDATE api_keys SET revoked_at = COALESCE(revoked_at, \(options.now())) WHERE id = \(id) RETURNING id
            """)
        if rows.isEmpty { throw CatalogError.notFound("API key \(id)") }
    }
}
