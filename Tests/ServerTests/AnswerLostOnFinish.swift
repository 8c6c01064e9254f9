import Catalog
import Foundation

/// A real catalog whose `finishUpload` commits, but whose answer never arrives: what a caller sees when
/// the connection to the database drops right after COMMIT. Everything else goes straight through.
struct AnswerLostOnFinish: Catalog {
    let base: any Catalog
    init(_ base: any Catalog) { self.base = base }

    func finishUpload(id: String, holder: String, video: NewVideo, jobs: [NewJob]) async throws -> VideoRecord {
        _ = try await base.finishUpload(id: id, holder: holder, video: video, jobs: jobs)
        throw CatalogError.unavailable("the connection dropped after COMMIT")
    }

    func createVideo(_ video: NewVideo, jobs: [NewJob]) async throws -> VideoRecord { try await base.createVideo(video, jobs: jobs) }
    func video(id: String) async throws -> VideoRecord? { try await base.video(id: id) }
    func videos(state: VideoState?, audience: VideoAudience, limit: Int, offset: Int) async throws -> [VideoRecord] {
        try await base.videos(state: state, audience: audience, limit: limit, offset: offset)
    }
    func storedBytes(ownerKeyId: String) async throws -> Int64 { try await base.storedBytes(ownerKeyId: ownerKeyId) }
    func renditions(videoId: String) async throws -> [RenditionRecord] { try await base.renditions(videoId: videoId) }
    func deleteVideo(id: String) async throws { try await base.deleteVideo(id: id) }
    func requeue(videoId: String, jobs: [NewJob]) async throws { try await base.requeue(videoId: videoId, jobs: jobs) }
    func createWebhook(_ webhook: WebhookRecord) async throws { try await base.createWebhook(webhook) }
    func webhooks(keyId: String?) async throws -> [WebhookRecord] { try await base.webhooks(keyId: keyId) }
    func deleteWebhook(id: String, keyId: String?) async throws -> Bool { try await base.deleteWebhook(id: id, keyId: keyId) }
    func deliveries(webhookId: String, limit: Int) async throws -> [DeliveryRecord] { try await base.deliveries(webhookId: webhookId, limit: limit) }
    func claimDeliveries(owner: String, leaseDuration: TimeInterval, limit: Int) async throws -> [ClaimedDelivery] {
        try await base.claimDeliveries(owner: owner, leaseDuration: leaseDuration, limit: limit)
    }
    func finishDelivery(id: Int64, owner: String, outcome: DeliveryOutcome) async throws -> Bool {
        try await base.finishDelivery(id: id, owner: owner, outcome: outcome)
    }
    func claim(owner: String, leaseDuration: TimeInterval, kinds: Set<JobKind>?) async throws -> ClaimedJob? {
        try await base.claim(owner: owner, leaseDuration: leaseDuration, kinds: kinds)
    }
    func heartbeat(_ lease: Lease, leaseDuration: TimeInterval, progress: Double?) async throws -> Lease {
        try await base.heartbeat(lease, leaseDuration: leaseDuration, progress: progress)
    }
    func complete(_ lease: Lease, outcome: JobOutcome) async throws { try await base.complete(lease, outcome: outcome) }
    func fail(_ lease: Lease, error: String, permanent: Bool) async throws -> JobState {
        try await base.fail(lease, error: error, permanent: permanent)
    }
    func release(_ lease: Lease) async throws { try await base.release(lease) }
    func waitForWork(timeout: Duration) async -> Bool { await base.waitForWork(timeout: timeout) }
    func publishSegments(videoId: String, count: Int, final: Bool, lease: Lease?,
                         _ publish: @Sendable () throws -> Void) async throws -> Bool {
        try await base.publishSegments(videoId: videoId, count: count, final: final, lease: lease, publish)
    }
    func withVideoLock(videoId: String, _ body: @Sendable () throws -> Void) async throws {
        try await base.withVideoLock(videoId: videoId, body)
    }
    func job(id: Int64) async throws -> JobRecord? { try await base.job(id: id) }
    func jobs(videoId: String?, states: Set<JobState>?, limit: Int) async throws -> [JobRecord] {
        try await base.jobs(videoId: videoId, states: states, limit: limit)
    }
    func retry(jobId: Int64) async throws { try await base.retry(jobId: jobId) }
    func cancel(jobId: Int64) async throws { try await base.cancel(jobId: jobId) }
    func queueDepth() async throws -> [JobState: Int] { try await base.queueDepth() }
    func claimableJobs() async throws -> Int { try await base.claimableJobs() }
    func createUpload(_ upload: UploadRecord, now: Date, createdAfter: Date,
                      admit: @Sendable (UploadLedger) throws -> Void) async throws {
        try await base.createUpload(upload, now: now, createdAfter: createdAfter, admit: admit)
    }
    func upload(id: String) async throws -> UploadRecord? { try await base.upload(id: id) }
    func uploadLedger(now: Date, createdAfter: Date) async throws -> UploadLedger {
        try await base.uploadLedger(now: now, createdAfter: createdAfter)
    }
    func lockUpload(id: String, holder: String, until: Date, now: Date) async throws -> UploadRecord? {
        try await base.lockUpload(id: id, holder: holder, until: until, now: now)
    }
    func updateUpload(id: String, holder: String, _ progress: UploadProgress) async throws {
        try await base.updateUpload(id: id, holder: holder, progress)
    }
    func deleteUpload(id: String, holder: String) async throws { try await base.deleteUpload(id: id, holder: holder) }
    func expiredUploads(now: Date, createdBefore: Date, finishedBefore: Date) async throws -> [UploadRecord] {
        try await base.expiredUploads(now: now, createdBefore: createdBefore, finishedBefore: finishedBefore)
    }
    func createAPIKey(name: String, scope: APIKeyScope, secretHash: String) async throws -> APIKeyRecord {
        try await base.createAPIKey(name: name, scope: scope, secretHash: secretHash)
    }
    func apiKey(secretHash: String) async throws -> APIKeyRecord? { try await base.apiKey(secretHash: secretHash) }
    func apiKeys() async throws -> [APIKeyRecord] { try await base.apiKeys() }
    func revokeAPIKey(id: String) async throws { try await base.revokeAPIKey(id: id) }
}
