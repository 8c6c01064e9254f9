import Foundation
import Logging
import PostgresNIO

// Uploads in progress. Each upload's row lock serialises its writers' bookkeeping; an advisory lock is
// the uploads lock for admitting new ones against the ledger.

extension PostgresCatalog {
    public func createUpload(_ upload: UploadRecord, now: Date, createdAfter: Date,
                             admit: @Sendable (UploadLedger) throws -> Void) async throws {
        let logger = self.logger
        try await withoutActuallyEscaping(admit) { admit in
            try await transaction { connection in
                try await connection.all("SELECT pg_advisory_xact_lock(\(PostgresSchema.uploadsLock))", logger)
                try admit(try await Self.ledger(connection, now: now, createdAfter: createdAfter, logger))
                let u = upload
                try await connection.all("""
                    INSERT INTO uploads (id, length, deferred_length, "offset", filename, title, visibility, owner_key_id,
                                         created_at, expires_at, video_id, lock_holder, lock_expires_at)
                    VALUES (\(u.id), \(u.length), \(u.deferredLength), \(u.offset), \(u.filename), \(u.title),
                            \(u.visibility.rawValue), \(u.ownerKeyId), \(u.createdAt), \(u.expiresAt), \(u.videoId),
                            \(u.lockHolder), \(u.lockExpiresAt))
                    """, logger)
            }
        }
    }

    public func upload(id: String) async throws -> UploadRecord? {
        try await rows("SELECT * FROM uploads WHERE id = \(id)").first.map(UploadRecord.init)
    }

    public func uploadLedger(now: Date, createdAfter: Date) async throws -> UploadLedger {
        UploadLedger(try await rows(Self.ledgerQuery(now: now, createdAfter: createdAfter)).map(UploadRecord.init))
    }

    static func ledgerQuery(now: Date, createdAfter: Date) -> PostgresQuery {
        "SELECT * FROM uploads WHERE video_id IS NULL AND expires_at >= \(now) AND created_at > \(createdAfter)"
    }

    static func ledger(_ connection: PostgresConnection, now: Date, createdAfter: Date, _ logger: Logger) async throws -> UploadLedger {
        UploadLedger(try await connection.all(ledgerQuery(now: now, createdAfter: createdAfter), logger).map(UploadRecord.init))
    }

    public func lockUpload(id: String, holder: String, until: Date, now: Date) async throws -> UploadRecord? {
        let logger = self.logger
        return try await transaction { connection in
            guard let row = try await connection.all("SELECT * FROM uploads WHERE id = \(id) FOR UPDATE", logger).first
            else { throw CatalogError.notFound("upload \(id)") }
            var upload = try UploadRecord(row)
            if upload.isLocked(byOtherThan: holder, at: now) { return nil }
            try await connection.all("""
                UPDATE uploads SET lock_holder = \(holder), lock_expires_at = \(until) WHERE id = \(id)
                """, logger)
            upload.lockHolder = holder
            upload.lockExpiresAt = until
            return upload
        }
    }

    public func updateUpload(id: String, holder: String, _ progress: UploadProgress) async throws {
        let logger = self.logger
        try await transaction { connection in
            let upload = try await Self.lockedUpload(connection, id: id, holder: holder, logger)
            try await connection.all("""
                UPDATE uploads SET "offset" = \(progress.offset), length = \(progress.length ?? upload.length),
                       expires_at = \(progress.expiresAt),
                       lock_holder = \(progress.lockUntil == nil ? nil : holder), lock_expires_at = \(progress.lockUntil)
                WHERE id = \(id)
                """, logger)
        }
    }

    public func finishUpload(id: String, holder: String, video: NewVideo, jobs: [NewJob]) async throws -> VideoRecord {
        for job in jobs { try JobRules.validate(job) }
        let logger = self.logger
        let now = options.now()
        return try await transaction { connection in
            _ = try await Self.lockedUpload(connection, id: id, holder: holder, logger)
            var record = try await Self.insertVideo(connection, video, jobs: jobs, now: now, logger)
            if let made = record { try await Self.recordEvents(connection, [.uploadCompleted], video: made, now: now, logger) }
            if record == nil {
                record = try await connection.all("SELECT * FROM videos WHERE id = \(video.id)", logger).first.map(VideoRecord.init)
            }
            guard let record else { throw CatalogError.notFound("video \(video.id)") }
            try await connection.all("""
                UPDATE uploads SET "offset" = length, video_id = \(record.id), lock_holder = NULL, lock_expires_at = NULL
                WHERE id = \(id)
                """, logger)
            return record
        }
    }

    public func deleteUpload(id: String, holder: String) async throws {
        let logger = self.logger
        try await transaction { connection in
            _ = try await Self.lockedUpload(connection, id: id, holder: holder, logger)
            try await connection.all("DELETE FROM uploads WHERE id = \(id)", logger)
        }
    }

    public func expiredUploads(now: Date, createdBefore: Date, finishedBefore: Date) async throws -> [UploadRecord] {
        try await rows("""
            SELECT * FROM uploads
            WHERE (video_id IS NULL AND (expires_at < \(now) OR created_at < \(createdBefore)))
               OR (video_id IS NOT NULL AND expires_at < \(finishedBefore))
            ORDER BY created_at
            """).map(UploadRecord.init)
    }

    /// The upload, row-locked, if `holder` holds its write lock; else `uploadLockLost`.
    static func lockedUpload(_ connection: PostgresConnection, id: String, holder: String, _ logger: Logger) async throws -> UploadRecord {
        guard let row = try await connection.all("SELECT * FROM uploads WHERE id = \(id) FOR UPDATE", logger).first
        else { throw CatalogError.notFound("upload \(id)") }
        let upload = try UploadRecord(row)
        guard upload.lockHolder == holder else { throw CatalogError.uploadLockLost(id) }
        return upload
    }
}
