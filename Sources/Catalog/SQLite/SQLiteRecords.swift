import Foundation
import GRDB

// GRDB conformances of the contract's records. Columns are snake_case; the mapping is spelled out
// instead of using Codable key strategies, because `convertFromSnakeCase` would turn `probe_json` into
// `probeJson` (not `probeJSON`), and because the records' JSON shape (used by `reel … --json`) should
// not depend on the database schema.

extension VideoState: DatabaseValueConvertible {}
extension JobKind: DatabaseValueConvertible {}
extension JobState: DatabaseValueConvertible {}
extension Visibility: DatabaseValueConvertible {}
extension APIKeyScope: DatabaseValueConvertible {}

extension APIKeyRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "api_keys"

    public init(row: Row) throws {
        self.init(
            id: try row.decode(forColumn: "id"),
            name: try row.decode(forColumn: "name"),
            scope: try row.decode(forColumn: "scope"),
            secretHash: try row.decode(forColumn: "secret_hash"),
            createdAt: try row.decode(forColumn: "created_at"),
            revokedAt: try row.decode(forColumn: "revoked_at"))
    }

    public func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["name"] = name
        container["scope"] = scope
        container["secret_hash"] = secretHash
        container["created_at"] = createdAt
        container["revoked_at"] = revokedAt
    }
}

extension VideoRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "videos"

    public init(row: Row) throws {
        self.init(
            id: try row.decode(forColumn: "id"),
            title: try row.decode(forColumn: "title"),
            state: try row.decode(forColumn: "state"),
            originalPath: try row.decode(forColumn: "original_path"),
            sizeBytes: try row.decode(forColumn: "size_bytes"),
            sha256: try row.decode(forColumn: "sha256"),
            probeJSON: try row.decode(forColumn: "probe_json"),
            durationSeconds: try row.decode(forColumn: "duration_seconds"),
            progress: try row.decode(forColumn: "progress"),
            publishedSegments: try row.decode(forColumn: "published_segments"),
            error: try row.decode(forColumn: "error"),
            createdAt: try row.decode(forColumn: "created_at"),
            updatedAt: try row.decode(forColumn: "updated_at"),
            playableAt: try row.decode(forColumn: "playable_at"),
            readyAt: try row.decode(forColumn: "ready_at"),
            visibility: try row.decode(forColumn: "visibility"),
            filename: try row.decode(forColumn: "filename"),
            ownerKeyId: try row.decode(forColumn: "owner_key_id"))
    }

    public func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["title"] = title
        container["state"] = state
        container["original_path"] = originalPath
        container["size_bytes"] = sizeBytes
        container["sha256"] = sha256
        container["probe_json"] = probeJSON
        container["duration_seconds"] = durationSeconds
        container["progress"] = progress
        container["published_segments"] = publishedSegments
        container["error"] = error
        container["created_at"] = createdAt
        container["updated_at"] = updatedAt
        container["playable_at"] = playableAt
        container["ready_at"] = readyAt
        container["visibility"] = visibility
        container["filename"] = filename
        container["owner_key_id"] = ownerKeyId
    }
}

extension RenditionRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "renditions"

    public init(row: Row) throws {
        self.init(
            videoId: try row.decode(forColumn: "video_id"),
            name: try row.decode(forColumn: "name"),
            kind: try row.decode(forColumn: "kind"),
            width: try row.decode(forColumn: "width"),
            height: try row.decode(forColumn: "height"),
            codecs: try row.decode(forColumn: "codecs"),
            bandwidth: try row.decode(forColumn: "bandwidth"),
            averageBandwidth: try row.decode(forColumn: "average_bandwidth"),
            playlistPath: try row.decode(forColumn: "playlist_path"))
    }

    public func encode(to container: inout PersistenceContainer) throws {
        container["video_id"] = videoId
        container["name"] = name
        container["kind"] = kind
        container["width"] = width
        container["height"] = height
        container["codecs"] = codecs
        container["bandwidth"] = bandwidth
        container["average_bandwidth"] = averageBandwidth
        container["playlist_path"] = playlistPath
    }
}

/// Jobs are inserted with SQL (their id comes from SQLite); the persistence conformance serves updates.
extension JobRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "jobs"

    public init(row: Row) throws {
        self.init(
            id: try row.decode(forColumn: "id"),
            videoId: try row.decode(forColumn: "video_id"),
            kind: try row.decode(forColumn: "kind"),
            state: try row.decode(forColumn: "state"),
            priority: try row.decode(forColumn: "priority"),
            attempt: try row.decode(forColumn: "attempt"),
            maxAttempts: try row.decode(forColumn: "max_attempts"),
            runAfter: try row.decode(forColumn: "run_after"),
            leaseOwner: try row.decode(forColumn: "lease_owner"),
            leaseExpiresAt: try row.decode(forColumn: "lease_expires_at"),
            progress: try row.decode(forColumn: "progress"),
            lastError: try row.decode(forColumn: "last_error"),
            payload: try row.decode(forColumn: "payload"),
            parentId: try row.decode(forColumn: "parent_id"),
            createdAt: try row.decode(forColumn: "created_at"),
            updatedAt: try row.decode(forColumn: "updated_at"),
            startedAt: try row.decode(forColumn: "started_at"),
            finishedAt: try row.decode(forColumn: "finished_at"))
    }

    public func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["video_id"] = videoId
        container["kind"] = kind
        container["state"] = state
        container["priority"] = priority
        container["attempt"] = attempt
        container["max_attempts"] = maxAttempts
        container["run_after"] = runAfter
        container["lease_owner"] = leaseOwner
        container["lease_expires_at"] = leaseExpiresAt
        container["progress"] = progress
        container["last_error"] = lastError
        container["payload"] = payload
        container["parent_id"] = parentId
        container["created_at"] = createdAt
        container["updated_at"] = updatedAt
        container["started_at"] = startedAt
        container["finished_at"] = finishedAt
    }
}

extension UploadRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "uploads"

    public init(row: Row) throws {
        self.init(
            id: try row.decode(forColumn: "id"),
            length: try row.decode(forColumn: "length"),
            deferredLength: try row.decode(forColumn: "deferred_length"),
            offset: try row.decode(forColumn: "offset"),
            filename: try row.decode(forColumn: "filename"),
            title: try row.decode(forColumn: "title"),
            visibility: try row.decode(forColumn: "visibility"),
            ownerKeyId: try row.decode(forColumn: "owner_key_id"),
            createdAt: try row.decode(forColumn: "created_at"),
            expiresAt: try row.decode(forColumn: "expires_at"),
            videoId: try row.decode(forColumn: "video_id"),
            lockHolder: try row.decode(forColumn: "lock_holder"),
            lockExpiresAt: try row.decode(forColumn: "lock_expires_at"))
    }

    public func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["length"] = length
        container["deferred_length"] = deferredLength
        container["offset"] = offset
        container["filename"] = filename
        container["title"] = title
        container["visibility"] = visibility
        container["owner_key_id"] = ownerKeyId
        container["created_at"] = createdAt
        container["expires_at"] = expiresAt
        container["video_id"] = videoId
        container["lock_holder"] = lockHolder
        container["lock_expires_at"] = lockExpiresAt
    }
}
