import Foundation

// The catalog's contract: everything the rest of Reel may know about videos and jobs.
// SQLite (GRDB) implements it today; PostgreSQL can follow without touching callers.

public enum VideoState: String, Codable, Sendable, CaseIterable {
    /// Registered, waiting for its first job.
    case queued
    /// Being transcoded; may already be playable (see `playableAt`).
    case processing
    case ready
    case failed
}

/// Who may play a video: anyone, or only holders of a signed URL.
public enum Visibility: String, Codable, Sendable, CaseIterable {
    case `public`
    case `private`
}

public struct VideoRecord: Codable, Sendable, Equatable, Identifiable {
    public var id: String
    public var title: String
    public var state: VideoState
    /// The original on the storage root (relative to it).
    public var originalPath: String
    public var sizeBytes: Int64
    public var sha256: String?
    /// `ProbeResult` as JSON, once probed.
    public var probeJSON: String?
    public var durationSeconds: Double?
    /// 0…1 over all of the video's jobs.
    public var progress: Double
    /// Segments published so far (EVENT playlists cover 0..<publishedSegments).
    public var publishedSegments: Int
    public var error: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var playableAt: Date?
    public var readyAt: Date?
    public var visibility: Visibility = .public
    /// The uploader's file name, when known (shown instead of the stored path).
    public var filename: String? = nil
    /// The API key that uploaded it; nil for `reel ingest` (no key) and videos from before owners were kept.
    public var ownerKeyId: String? = nil
}

/// Who is looking. A private video is seen only by the key that uploaded it and by admin keys; every other
/// video by everyone. The API (list, get, retry, delete, signed URLs) asks through this one rule, and the
/// list query applies the same rule in SQL so that pages of results stay whole.
public enum VideoAudience: Sendable, Equatable {
    /// Admin keys and operators on the host: every video.
    case everyone
    /// An upload key: what is not private, and its own private videos.
    case key(id: String)
    /// No key at all: what is not private.
    case anonymous

    public func canSee(_ video: VideoRecord) -> Bool {
        guard video.visibility == .private else { return true }
        switch self {
        case .everyone: return true
        case .key(let id): return video.ownerKeyId == id
        case .anonymous: return false
        }
    }
}

public struct NewVideo: Sendable, Equatable {
    public var id: String
    public var title: String
    public var originalPath: String
    public var sizeBytes: Int64
    public var sha256: String?
    public var visibility: Visibility
    public var filename: String?
    /// The API key uploading it (nil: no key, as with `reel ingest`).
    public var ownerKeyId: String?
    public init(id: String = UUID().uuidString.lowercased(), title: String, originalPath: String, sizeBytes: Int64,
                sha256: String? = nil, visibility: Visibility = .public, filename: String? = nil, ownerKeyId: String? = nil) {
        self.id = id; self.title = title; self.originalPath = originalPath; self.sizeBytes = sizeBytes; self.sha256 = sha256
        self.visibility = visibility; self.filename = filename; self.ownerKeyId = ownerKeyId
    }
}

/// Changes a job may make to its video when it completes, in the same transaction.
public struct VideoUpdate: Sendable, Equatable {
    public var state: VideoState?
    public var probeJSON: String?
    public var durationSeconds: Double?
    /// Only ever raised: a smaller value than the stored one is ignored.
    public var publishedSegments: Int?
    public var markPlayable: Bool
    public var error: String?
    public init(state: VideoState? = nil, probeJSON: String? = nil, durationSeconds: Double? = nil,
                publishedSegments: Int? = nil, markPlayable: Bool = false, error: String? = nil) {
        self.state = state; self.probeJSON = probeJSON; self.durationSeconds = durationSeconds
        self.publishedSegments = publishedSegments; self.markPlayable = markPlayable; self.error = error
    }
}

public struct RenditionRecord: Codable, Sendable, Equatable {
    public var videoId: String
    public var name: String
    public var kind: String          // "video" | "audio"
    public var width: Int?
    public var height: Int?
    public var codecs: String
    public var bandwidth: Int
    public var averageBandwidth: Int
    public var playlistPath: String  // relative to the storage root
    public init(videoId: String, name: String, kind: String, width: Int?, height: Int?, codecs: String,
                bandwidth: Int, averageBandwidth: Int, playlistPath: String) {
        self.videoId = videoId; self.name = name; self.kind = kind; self.width = width; self.height = height
        self.codecs = codecs; self.bandwidth = bandwidth; self.averageBandwidth = averageBandwidth; self.playlistPath = playlistPath
    }
}

public enum JobKind: String, Codable, Sendable, CaseIterable {
    /// Probe the original and plan the pieces.
    case plan
    /// Encode a range of segments of every video rung.
    case videoChunk = "video_chunk"
    /// Encode the whole audio track once.
    case audio
    /// Turn EVENT playlists into VOD, write I-frame playlists, mark the video ready.
    case finalize
    /// After the video is ready: the static renditions the profile offers as downloads (MP4, audio.m4a).
    /// Its failure never fails the video (which is ready by then).
    case downloads
}

public enum JobState: String, Codable, Sendable, CaseIterable {
    /// Waiting for other jobs (its children) to finish.
    case waiting
    case queued
    case running
    case succeeded
    /// Failed for a reason retrying cannot fix.
    case failed
    /// Retries exhausted; `lastError` says why.
    case dead
    case cancelled
}

public struct JobRecord: Codable, Sendable, Equatable, Identifiable {
    public var id: Int64
    public var videoId: String
    public var kind: JobKind
    public var state: JobState
    public var priority: Int
    public var attempt: Int
    public var maxAttempts: Int
    public var runAfter: Date
    public var leaseOwner: String?
    public var leaseExpiresAt: Date?
    public var progress: Double
    public var lastError: String?
    /// Kind-specific parameters as JSON (e.g. the segment range of a chunk).
    public var payload: String
    /// The job that waits for this one (a finalize job waits for its chunks).
    public var parentId: Int64?
    public var createdAt: Date
    public var updatedAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
}

public struct NewJob: Sendable, Equatable {
    public var kind: JobKind
    public var priority: Int
    public var maxAttempts: Int
    public var payload: String
    public init(kind: JobKind, priority: Int = 0, maxAttempts: Int = 5, payload: String = "{}") {
        self.kind = kind; self.priority = priority; self.maxAttempts = maxAttempts; self.payload = payload
    }
}

/// Proof that a worker holds a job: every write about the job must present it, so a worker whose lease
/// expired (and whose job another worker re-claimed) cannot commit or overwrite the newer attempt.
public struct Lease: Sendable, Equatable, Codable {
    public var jobId: Int64
    public var attempt: Int
    public var owner: String
    public var expiresAt: Date
}

public struct ClaimedJob: Sendable, Equatable {
    public var job: JobRecord
    public var lease: Lease
}

public enum CatalogError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The lease expired and the job was claimed again, or it was cancelled: stop working on it.
    case leaseLost(jobId: Int64)
    case notFound(String)
    case invalid(String)
    /// The database cannot be reached, or refused the work (PostgreSQL down, restarting, out of connections).
    case unavailable(String)

    public var description: String {
        switch self {
        case let .leaseLost(id): "job \(id): lease lost (expired and re-claimed, or cancelled)"
        case let .notFound(what): "\(what) not found"
        case let .invalid(why): why
        case let .unavailable(why): why
        }
    }
}

public protocol Catalog: Sendable {
    // Videos
    /// Registers a video and its first jobs atomically.
    func createVideo(_ video: NewVideo, jobs: [NewJob]) async throws -> VideoRecord
    func video(id: String) async throws -> VideoRecord?
    /// Newest first, only those `audience` may see (`VideoAudience.canSee`).
    func videos(state: VideoState?, audience: VideoAudience, limit: Int, offset: Int) async throws -> [VideoRecord]
    /// Bytes of the originals of every video `ownerKeyId` uploaded (for its storage quota).
    func storedBytes(ownerKeyId: String) async throws -> Int64
    /// Ordered by name.
    func renditions(videoId: String) async throws -> [RenditionRecord]
    /// Deletes the video with its renditions and jobs (a worker holding one of them loses its lease).
    /// Files are the caller's business. Throws `notFound` for an unknown id.
    func deleteVideo(id: String) async throws
    /// Forgets a video's outputs and jobs and queues it again from its original with `jobs` (after a
    /// restore, whose backup holds originals but no outputs): state `queued`, progress and published
    /// segments 0, no renditions, not playable or ready, no error; what it is (title, original, owner,
    /// visibility) stays. A worker holding one of its old jobs loses its lease. Throws `notFound`.
    func requeue(videoId: String, jobs: [NewJob]) async throws

    // Webhooks (issue 13)
    func createWebhook(_ webhook: WebhookRecord) async throws
    /// The endpoints `keyId` registered (every endpoint for nil), oldest first.
    func webhooks(keyId: String?) async throws -> [WebhookRecord]
    /// Removes an endpoint (of `keyId`, when given) with its deliveries; false when there was none.
    func deleteWebhook(id: String, keyId: String?) async throws -> Bool
    /// An endpoint's deliveries, newest first (the delivery log).
    func deliveries(webhookId: String, limit: Int) async throws -> [DeliveryRecord]
    /// Up to `limit` deliveries due now, each the oldest unfinished one of its (endpoint, video), so an
    /// endpoint hears a video's events in order; leased to `owner` for `leaseDuration` (counted as an attempt).
    func claimDeliveries(owner: String, leaseDuration: TimeInterval, limit: Int) async throws -> [ClaimedDelivery]
    /// Records how an attempt ended; false when `owner` no longer holds the lease (nothing is written).
    func finishDelivery(id: Int64, owner: String, outcome: DeliveryOutcome) async throws -> Bool

    // Jobs: the queue
    /// Claims the best runnable job: queued (or running with an expired lease), `runAfter` passed,
    /// highest priority first, then oldest. Increments the attempt. Nil when there is nothing to do
    /// (an empty `kinds` set claims nothing). The first claim of a video's job moves the video from
    /// `queued` to `processing`. A running job whose lease expired on its last allowed attempt is not
    /// handed out again: it becomes `dead` ("the worker holding it stopped responding N times").
    func claim(owner: String, leaseDuration: TimeInterval, kinds: Set<JobKind>?) async throws -> ClaimedJob?
    /// Extends the lease and records progress (clamped to 0…1; nil keeps it); throws `leaseLost` when the
    /// lease is no longer ours. A lease that expired but was not re-claimed by anyone is still ours.
    func heartbeat(_ lease: Lease, leaseDuration: TimeInterval, progress: Double?) async throws -> Lease
    /// Marks the job succeeded, and in the same transaction: enqueues follow-up jobs (optionally as
    /// children of a new waiting parent), applies a video update, stores renditions, and wakes the
    /// parent when this was its last unfinished child. Throws `leaseLost` (and changes nothing) when
    /// the lease is not ours. A failed video stays failed whatever the update says (only `retry`
    /// revives it); `state: .ready` also sets `readyAt`, `playableAt` if unset, and progress 1.
    func complete(_ lease: Lease, outcome: JobOutcome) async throws
    /// Records a failure. Permanent → `failed` at once (the video fails with the reason); otherwise
    /// back to `queued` with exponential backoff and jitter, or `dead` when attempts are exhausted.
    /// Returns the job's new state. A job that ends `failed` or `dead` cancels the parent waiting for it.
    func fail(_ lease: Lease, error: String, permanent: Bool) async throws -> JobState
    /// Gives the job back without counting the attempt (graceful drain).
    func release(_ lease: Lease) async throws

    /// Publishing playlists while several workers finish pieces: runs `publish` (which writes the
    /// playlists) while holding the catalog's write lock, but only when `count` is more than the stored
    /// `publishedSegments` (or `final` is set: the finished playlists), never once the video is ready;
    /// then stores `count` (and `playableAt` the first time). Playlists can therefore never go backwards,
    /// and a late in-progress publication cannot overwrite the final one. Returns whether `publish` ran.
    /// A lease, when given, must be valid.
    func publishSegments(videoId: String, count: Int, final: Bool, lease: Lease?, _ publish: @Sendable () throws -> Void) async throws -> Bool
    /// Runs `body` holding the same per-video lock as `publishSegments` (the video's row), whatever the
    /// video's state, for files that several hosts rewrite (caption tracks and the master naming them).
    /// `notFound` when there is no such video.
    func withVideoLock(videoId: String, _ body: @Sendable () throws -> Void) async throws

    // Jobs: operators
    func job(id: Int64) async throws -> JobRecord?
    /// Newest first.
    func jobs(videoId: String?, states: Set<JobState>?, limit: Int) async throws -> [JobRecord]
    /// A failed, dead or cancelled job goes back to the queue with its attempts reset (`lastError` is
    /// kept); a parent whose children are not all done goes back to `waiting` instead. Parents cancelled
    /// because of it wait again, and its video, once none of its jobs is failed, dead or cancelled, goes
    /// back to `processing` with its error cleared. Other states → `invalid`; unknown id → `notFound`.
    func retry(jobId: Int64) async throws
    /// A waiting, queued or running job becomes `cancelled` (a running worker gets `leaseLost` on its next
    /// heartbeat). Like a failure, it cancels the parent waiting for it and fails the video, so that
    /// nothing waits forever; `retry` undoes all of it. Other states → `invalid`.
    func cancel(jobId: Int64) async throws
    /// Jobs per state, for metrics and the autoscaler.
    func queueDepth() async throws -> [JobState: Int]
    /// Jobs a worker could claim right now: queued and due (not waiting out a retry backoff), or running
    /// with an expired lease. The autoscaler's backlog.
    func claimableJobs() async throws -> Int

    // Jobs: waiting for work
    /// Waits until work is announced, for idle workers: true when woken, false after `timeout` or when the
    /// calling task is cancelled. Every write that makes a job runnable now announces it once it commits
    /// (a new video's jobs, jobs a completion enqueues, a parent whose children are done, a job given
    /// back or retried), to every instance on the database: every process on the host (SQLite), every
    /// host (PostgreSQL). Work that only becomes due later (a retry's backoff, an expired lease) is not
    /// announced: callers still look every so often. An announcement while nobody waits is kept for the
    /// next wait, which returns at once; the first wait of an instance starts listening and returns once
    /// it listens (and so does a wait after the listening broke and came back), since work announced
    /// before that was missed. So: claim, and wait only when the claim found nothing.
    func waitForWork(timeout: Duration) async -> Bool

    // Uploads in progress (see `UploadRecord`)
    /// Inserts `upload` if `admit` accepts the ledger of unfinished uploads created after `createdAfter`
    /// and not expired at `now`. Runs under the catalog's uploads lock, so that two creations (on any
    /// host) cannot both be admitted against the same free space or quota.
    func createUpload(_ upload: UploadRecord, now: Date, createdAfter: Date,
                      admit: @Sendable (UploadLedger) throws -> Void) async throws
    func upload(id: String) async throws -> UploadRecord?
    /// The ledger of unfinished uploads created after `createdAfter` and not expired at `now`.
    func uploadLedger(now: Date, createdAfter: Date) async throws -> UploadLedger
    /// Takes (or renews) the write lock of an upload for `holder` until `until`. Returns the record, or
    /// nil when another holder's lock has not expired yet; throws `notFound` for an unknown id.
    func lockUpload(id: String, holder: String, until: Date, now: Date) async throws -> UploadRecord?
    /// Records progress under the lock (and keeps or releases it); throws `uploadLockLost` if `holder`
    /// does not hold it.
    func updateUpload(id: String, holder: String, _ progress: UploadProgress) async throws
    /// The last byte is in: registers the video (and its jobs) and marks the upload finished, in one
    /// transaction, releasing the lock. A video already registered for it is returned as it is.
    func finishUpload(id: String, holder: String, video: NewVideo, jobs: [NewJob]) async throws -> VideoRecord
    /// Deletes the upload's record; `holder` must hold its lock. Files are the caller's business.
    func deleteUpload(id: String, holder: String) async throws
    /// Uploads the sweeper may remove: unfinished ones expired at `now` or created before
    /// `createdBefore`, and finished ones that expired before `finishedBefore`.
    func expiredUploads(now: Date, createdBefore: Date, finishedBefore: Date) async throws -> [UploadRecord]

    // API keys (only a hash of each secret is stored)
    func createAPIKey(name: String, scope: APIKeyScope, secretHash: String) async throws -> APIKeyRecord
    /// The unrevoked key with this hash, if any.
    func apiKey(secretHash: String) async throws -> APIKeyRecord?
    func apiKeys() async throws -> [APIKeyRecord]
    /// Throws `notFound` for an unknown id.
    func revokeAPIKey(id: String) async throws
}

extension Catalog {
    /// Every video, newest first (operators' commands and tests).
    public func videos(state: VideoState?, limit: Int, offset: Int) async throws -> [VideoRecord] {
        try await videos(state: state, audience: .everyone, limit: limit, offset: offset)
    }
}

public enum APIKeyScope: String, Codable, Sendable, CaseIterable {
    /// Upload, list and read videos.
    case upload
    /// Everything, including delete and retry.
    case admin
}

public struct APIKeyRecord: Codable, Sendable, Equatable, Identifiable {
    public var id: String
    public var name: String
    public var scope: APIKeyScope
    public var secretHash: String
    public var createdAt: Date
    public var revokedAt: Date?
}

/// What a completed job changes besides itself.
public struct JobOutcome: Sendable, Equatable {
    /// New jobs for the same video.
    public var enqueue: [NewJob]
    /// If set, created first in state `waiting` and made the parent of every job in `enqueue`;
    /// it becomes `queued` when all of them have succeeded.
    public var parent: NewJob?
    public var video: VideoUpdate?
    public var renditions: [RenditionRecord]
    public init(enqueue: [NewJob] = [], parent: NewJob? = nil, video: VideoUpdate? = nil, renditions: [RenditionRecord] = []) {
        self.enqueue = enqueue; self.parent = parent; self.video = video; self.renditions = renditions
    }
}
