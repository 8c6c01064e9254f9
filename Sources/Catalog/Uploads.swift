import Foundation

// Uploads in progress live in the catalog, not on the storage root: behind a round-robin balancer the
// PATCHes of one upload arrive at different hosts, and only the database can give them one write lock
// and one true offset. The bytes themselves stay in `uploads/<id>/data` on the shared root.

public struct UploadRecord: Codable, Sendable, Equatable, Identifiable {
    public var id: String
    /// The declared length; for a chunked plain upload (`deferredLength`) only the limit until it ends.
    public var length: Int64
    /// A chunked plain upload: no space is promised for it up front.
    public var deferredLength: Bool
    /// Bytes durably received (fsynced before they are recorded). The data file may hold more after a
    /// crash mid-write; the next writer cuts it back to this.
    public var offset: Int64
    public var filename: String?
    public var title: String?
    public var visibility: Visibility
    /// The API key that created it; only that key (or an admin) may continue or delete it.
    public var ownerKeyId: String?
    public var createdAt: Date
    /// Pushed back by every write (never past the upload lifetime); the sweeper removes it after this.
    public var expiresAt: Date
    /// Set once the last byte arrived and the video was registered (in the same transaction).
    public var videoId: String?
    /// Who is writing to it, until when: one writer at a time, whichever host the request reached.
    public var lockHolder: String?
    public var lockExpiresAt: Date?

    public init(id: String, length: Int64, deferredLength: Bool = false, offset: Int64 = 0, filename: String?,
                title: String?, visibility: Visibility, ownerKeyId: String?, createdAt: Date, expiresAt: Date,
                videoId: String? = nil, lockHolder: String? = nil, lockExpiresAt: Date? = nil) {
        self.id = id; self.length = length; self.deferredLength = deferredLength; self.offset = offset
        self.filename = filename; self.title = title; self.visibility = visibility; self.ownerKeyId = ownerKeyId
        self.createdAt = createdAt; self.expiresAt = expiresAt; self.videoId = videoId
        self.lockHolder = lockHolder; self.lockExpiresAt = lockExpiresAt
    }

    /// Whether someone other than `holder` holds an unexpired write lock at `now`.
    public func isLocked(byOtherThan holder: String, at now: Date) -> Bool {
        guard let lockHolder, lockHolder != holder, let lockExpiresAt else { return false }
        return lockExpiresAt > now
    }
}

/// What unfinished, unexpired uploads hold and were promised, for quotas and free space.
public struct UploadLedger: Sendable, Equatable {
    /// Bytes still to come: free space that is already spoken for.
    public var promised: Int64 = 0
    /// Per owning key: open uploads, and their lengths (received so far, for deferred ones).
    public var byOwner: [String: Usage] = [:]

    public struct Usage: Sendable, Equatable {
        public var open = 0
        public var bytes: Int64 = 0
    }

    public init(_ uploads: [UploadRecord] = []) {
        for upload in uploads {
            if !upload.deferredLength { promised += max(0, upload.length - upload.offset) }
            guard let owner = upload.ownerKeyId else { continue }
            byOwner[owner, default: Usage()].open += 1
            byOwner[owner, default: Usage()].bytes += upload.deferredLength ? upload.offset : upload.length
        }
    }

    public func usage(of owner: String) -> Usage { byOwner[owner] ?? Usage() }
}

/// The progress a writer records under its lock.
public struct UploadProgress: Sendable, Equatable {
    public var offset: Int64
    /// A deferred-length upload learns its length when its body ends.
    public var length: Int64?
    public var expiresAt: Date
    /// Keep the lock until then, or release it (nil).
    public var lockUntil: Date?
    public init(offset: Int64, length: Int64? = nil, expiresAt: Date, lockUntil: Date?) {
        self.offset = offset; self.length = length; self.expiresAt = expiresAt; self.lockUntil = lockUntil
    }
}

extension CatalogError {
    /// The upload's write lock is not (or no longer) held by this writer.
    public static func uploadLockLost(_ id: String) -> CatalogError { .invalid("upload \(id): write lock lost") }
}
