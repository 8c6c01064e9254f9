import Foundation
import PostgresNIO

// The contract's records read from PostgreSQL rows, by column name (the columns are SQLite's).

extension PostgresRandomAccessRow {
    func value<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        try self[column].decode(T.self)
    }

    /// A text column holding one of an enum's raw values.
    func state<T: RawRepresentable>(_ column: String, as type: T.Type = T.self) throws -> T where T.RawValue == String {
        let raw = try value(column, as: String.self)
        guard let value = T(rawValue: raw) else {
            throw CatalogError.invalid("column \(column) holds \(raw), which this build of Reel does not know")
        }
        return value
    }
}

extension VideoRecord {
    init(_ row: PostgresRow) throws {
        let r = row.makeRandomAccess()
        self.init(
            id: try r.value("id"), title: try r.value("title"), state: try r.state("state"),
            originalPath: try r.value("original_path"), sizeBytes: try r.value("size_bytes"),
            sha256: try r.value("sha256"), probeJSON: try r.value("probe_json"),
            durationSeconds: try r.value("duration_seconds"), progress: try r.value("progress"),
            publishedSegments: try r.value("published_segments"), error: try r.value("error"),
            createdAt: try r.value("created_at"), updatedAt: try r.value("updated_at"),
            playableAt: try r.value("playable_at"), readyAt: try r.value("ready_at"),
            visibility: try r.state("visibility"), filename: try r.value("filename"),
            ownerKeyId: try r.value("owner_key_id"))
    }
}

extension JobRecord {
    init(_ row: PostgresRow) throws {
        let r = row.makeRandomAccess()
        self.init(
            id: try r.value("id"), videoId: try r.value("video_id"), kind: try r.state("kind"),
            state: try r.state("state"), priority: try r.value("priority"), attempt: try r.value("attempt"),
            maxAttempts: try r.value("max_attempts"), runAfter: try r.value("run_after"),
            leaseOwner: try r.value("lease_owner"), leaseExpiresAt: try r.value("lease_expires_at"),
            progress: try r.value("progress"), lastError: try r.value("last_error"), payload: try r.value("payload"),
            parentId: try r.value("parent_id"), createdAt: try r.value("created_at"),
            updatedAt: try r.value("updated_at"), startedAt: try r.value("started_at"),
            finishedAt: try r.value("finished_at"))
    }
}

extension RenditionRecord {
    init(_ row: PostgresRow) throws {
        let r = row.makeRandomAccess()
        self.init(
            videoId: try r.value("video_id"), name: try r.value("name"), kind: try r.value("kind"),
            width: try r.value("width"), height: try r.value("height"), codecs: try r.value("codecs"),
            bandwidth: try r.value("bandwidth"), averageBandwidth: try r.value("average_bandwidth"),
            playlistPath: try r.value("playlist_path"))
    }
}

extension APIKeyRecord {
    init(_ row: PostgresRow) throws {
        let r = row.makeRandomAccess()
        self.init(
            id: try r.value("id"), name: try r.value("name"), scope: try r.state("scope"),
            secretHash: try r.value("secret_hash"), createdAt: try r.value("created_at"),
            revokedAt: try r.value("revoked_at"))
    }
}

extension UploadRecord {
    init(_ row: PostgresRow) throws {
        let r = row.makeRandomAccess()
        self.init(
            id: try r.value("id"), length: try r.value("length"), deferredLength: try r.value("deferred_length"),
            offset: try r.value("offset"), filename: try r.value("filename"), title: try r.value("title"),
            visibility: try r.state("visibility"), ownerKeyId: try r.value("owner_key_id"),
            createdAt: try r.value("created_at"), expiresAt: try r.value("expires_at"), videoId: try r.value("video_id"),
            lockHolder: try r.value("lock_holder"), lockExpiresAt: try r.value("lock_expires_at"))
    }
}
