import Foundation
import GRDB

// Uploads in progress. SQLite's write lock (every write is `BEGIN IMMEDIATE`) is the uploads lock.

extension SQLiteCatalog {
    public func createUpload(_ upload: UploadRecord, now: Date, createdAfter: Date,
                             admit: @Sendable (UploadLedger) throws -> Void) async throws {
        try await withoutActuallyEscaping(admit) { admit in
            try await immediate { db in
                try admit(try Self.ledger(db, now: now, createdAfter: createdAfter))
                try upload.insert(db)
            }
        }
    }

    public func upload(id: String) async throws -> UploadRecord? {
        try await read { db in try UploadRecord.fetchOne(db, key: id) }
    }

    public func uploadLedger(now: Date, createdAfter: Date) async throws -> UploadLedger {
        try await read { db in try Self.ledger(db, now: now, createdAfter: createdAfter) }
    }

    static func ledger(_ db: Database, now: Date, createdAfter: Date) throws -> UploadLedger {
        UploadLedger(try UploadRecord.fetchAll(db, sql: """
            SELECT * FROM uploads WHERE video_id IS NULL AND expires_at >= ? AND created_at > ?
            """, arguments: [now, createdAfter]))
    }

    public func lockUpload(id: String, holder: String, until: Date, now: Date) async throws -> UploadRecord? {
        try await immediate { db in
            guard var upload = try UploadRecord.fetchOne(db, key: id) else { throw CatalogError.notFound("upload \(id)") }
            if upload.isLocked(byOtherThan: holder, at: now) { return nil }
            upload.lockHolder = holder
            upload.lockExpiresAt = until
            try upload.update(db, columns: ["lock_holder", "lock_expires_at"])
            return upload
        }
    }

    public func updateUpload(id: String, holder: String, _ progress: UploadProgress) async throws {
        try await immediate { db in
            var upload = try Self.lockedUpload(db, id: id, holder: holder)
            upload.offset = progress.offset
            if let length = progress.length { upload.length = length }
            upload.expiresAt = progress.expiresAt
            upload.lockHolder = progress.lockUntil == nil ? nil : holder
            upload.lockExpiresAt = progress.lockUntil
            try upload.update(db)
        }
    }

    public func finishUpload(id: String, holder: String, video: NewVideo, jobs: [NewJob]) async throws -> VideoRecord {
        for job in jobs { try JobRules.validate(job) }
        return try await immediate { db in
            var upload = try Self.lockedUpload(db, id: id, holder: holder)
            let record: VideoRecord
            if let existing = try VideoRecord.fetchOne(db, key: video.id) {
                record = existing
            } else {
                record = try self.insertVideo(db, video, jobs: jobs)
                try Self.recordEvents(db, [.uploadCompleted], video: record, now: self.options.now())
            }
            upload.offset = upload.length
            upload.videoId = record.id
            upload.lockHolder = nil
            upload.lockExpiresAt = nil
            try upload.update(db)
            return record
        }
    }

    public func deleteUpload(id: String, holder: String) async throws {
        try await immediate { db in
            _ = try Self.lockedUpload(db, id: id, holder: holder)
            try db.execute(sql: "DELETE FROM uploads WHERE id = ?", arguments: [id])
        }
    }

    public func expiredUploads(now: Date, createdBefore: Date, finishedBefore: Date) async throws -> [UploadRecord] {
        try await read { db in
            try UploadRecord.fetchAll(db, sql: """
                SELECT * FROM uploads
                WHERE (video_id IS NULL AND (expires_at < ? OR created_at < ?))
                   OR (video_id IS NOT NULL AND expires_at < ?)
                ORDER BY created_at
                """, arguments: [now, createdBefore, finishedBefore])
        }
    }

    /// The upload, if `holder` holds its lock (expired or not: nobody else took it); else `uploadLockLost`.
    static func lockedUpload(_ db: Database, id: String, holder: String) throws -> UploadRecord {
        guard let upload = try UploadRecord.fetchOne(db, key: id) else { throw CatalogError.notFound("upload \(id)") }
        guard upload.lockHolder == holder else { throw CatalogError.uploadLockLost(id) }
        return upload
    }
}
