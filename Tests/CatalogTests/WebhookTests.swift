import Catalog
import Foundation
import Testing

/// Webhook endpoints and deliveries (issue 13), on both backends: events recorded in the transaction of
/// the change they report, only for the endpoints that asked and may see the video, claimed oldest first
/// per (endpoint, video), leases, and the delivery log.
@Suite("Webhooks")
struct WebhookTests {
    func hook(_ id: String, key: String, all: Bool = false, events: [WebhookEvent], at: Date) -> WebhookRecord {
        WebhookRecord(id: id, keyId: key, allVideos: all, url: "https://hooks.example/\(id)", events: events,
                      secret: "whsec_\(id)", createdAt: at)
    }

    @Test(arguments: Backend.available) func eventsReachTheEndpointsThatAskedInOrder(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let alice = try await f.catalog.createAPIKey(name: "alice", scope: .upload, secretHash: "a")
        let bob = try await f.catalog.createAPIKey(name: "bob", scope: .upload, secretHash: "b")
        try await f.catalog.createWebhook(hook("a1", key: alice.id, events: [.videoPlayable, .videoReady], at: f.clock.now))
        f.clock.advance(1)
        try await f.catalog.createWebhook(hook("b1", key: bob.id, events: WebhookEvent.allCases, at: f.clock.now))
        f.clock.advance(1)
        try await f.catalog.createWebhook(hook("ops", key: "admin", all: true, events: [.videoReady, .videoFailed], at: f.clock.now))
        #expect(try await f.catalog.webhooks(keyId: alice.id).map(\.id) == ["a1"])
        #expect(try await f.catalog.webhooks(keyId: nil).map(\.id) == ["a1", "b1", "ops"])
        #expect(try await f.catalog.webhooks(keyId: nil).first?.events == [.videoPlayable, .videoReady])

        // Alice's video becomes playable, then ready.
        let video = try await f.catalog.createVideo(
            NewVideo(title: "alice's", originalPath: "originals/a/source.mp4", sizeBytes: 1, ownerKeyId: alice.id),
            jobs: [NewJob(kind: .plan)])
        let plan = try #require(try await f.claim())
        #expect(try await f.catalog.publishSegments(videoId: video.id, count: 1, final: false, lease: plan.lease) {})
        #expect(try await f.catalog.publishSegments(videoId: video.id, count: 2, final: false, lease: plan.lease) {})
        f.clock.advance(1)
        try await f.catalog.complete(plan.lease, outcome: JobOutcome(video: VideoUpdate(state: .ready)))

        let toAlice = try await f.catalog.deliveries(webhookId: "a1", limit: 10)
        #expect(toAlice.map(\.event) == [.videoReady, .videoPlayable], "newest first: playable once, then ready")
        #expect(toAlice.allSatisfy { $0.state == .pending && $0.videoId == video.id && $0.attempts == 0 })
        #expect(try await f.catalog.deliveries(webhookId: "b1", limit: 10).isEmpty, "bob may not see alice's video")
        #expect(try await f.catalog.deliveries(webhookId: "ops", limit: 10).map(\.event) == [.videoReady])
        let payload = try #require(toAlice.last?.payload)
        let body = try #require(try JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any])
        #expect(body["event"] as? String == "video.playable")
        #expect((body["video"] as? [String: Any])?["id"] as? String == video.id)

        // Claimed oldest first per (endpoint, video): ready waits until playable is finished.
        let first = try await f.catalog.claimDeliveries(owner: "s1", leaseDuration: 120, limit: 10)
        #expect(Set(first.map { "\($0.webhook.id) \($0.delivery.event.rawValue)" }) == ["a1 video.playable", "ops video.ready"])
        #expect(first.allSatisfy { $0.delivery.attempts == 1 && $0.owner == "s1" })
        #expect(try await f.catalog.claimDeliveries(owner: "s2", leaseDuration: 30, limit: 10).isEmpty, "leased, or waiting its turn")
        let playable = try #require(first.first { $0.webhook.id == "a1" })
        #expect(try await f.catalog.finishDelivery(id: playable.delivery.id, owner: "s2", outcome: .delivered(status: 200)) == false,
                "not the lease holder")
        // A failed attempt to be retried later keeps the order: ready still waits.
        #expect(try await f.catalog.finishDelivery(id: playable.delivery.id, owner: "s1",
                                                   outcome: .retry(at: f.clock.now.addingTimeInterval(60), status: 500, error: "HTTP 500")))
        #expect(try await f.catalog.claimDeliveries(owner: "s1", leaseDuration: 30, limit: 10).isEmpty)
        f.clock.advance(61)
        let again = try await f.catalog.claimDeliveries(owner: "s1", leaseDuration: 30, limit: 10)
        #expect(again.map(\.delivery.id) == [playable.delivery.id] && again.first?.delivery.attempts == 2)
        #expect(again.first?.delivery.lastStatus == 500 && again.first?.delivery.lastError == "HTTP 500")
        #expect(try await f.catalog.finishDelivery(id: playable.delivery.id, owner: "s1", outcome: .delivered(status: 204)))
        let ready = try await f.catalog.claimDeliveries(owner: "s1", leaseDuration: 30, limit: 10)
        #expect(ready.map { "\($0.webhook.id) \($0.delivery.event.rawValue)" } == ["a1 video.ready"])

        // An expired lease hands the delivery to another sender.
        f.clock.advance(31)
        let taken = try await f.catalog.claimDeliveries(owner: "s2", leaseDuration: 30, limit: 10)
        #expect(taken.map(\.delivery.id) == ready.map(\.delivery.id), "the ops delivery's longer lease still holds")
        let ops = try #require(first.first { $0.webhook.id == "ops" })
        #expect(try await f.catalog.finishDelivery(id: ops.delivery.id, owner: "s1", outcome: .delivered(status: 200)))
        #expect(try await f.catalog.finishDelivery(id: ready[0].delivery.id, owner: "s1", outcome: .delivered(status: 200)) == false)
        for claimed in taken {
            #expect(try await f.catalog.finishDelivery(id: claimed.delivery.id, owner: "s2",
                                                       outcome: .failed(status: 410, error: "gone")))
        }
        let log = try await f.catalog.deliveries(webhookId: "a1", limit: 10)
        #expect(log.map(\.state) == [.failed, .delivered])
        #expect(log.last?.deliveredAt != nil && log.first?.deliveredAt == nil)

        // Deleting an endpoint takes its log; another key cannot delete it.
        #expect(try await f.catalog.deleteWebhook(id: "a1", keyId: bob.id) == false)
        #expect(try await f.catalog.deleteWebhook(id: "a1", keyId: alice.id))
        #expect(try await f.catalog.deliveries(webhookId: "a1", limit: 10).isEmpty)
        #expect(try await f.catalog.deleteWebhook(id: "a1", keyId: nil) == false)
    }

    @Test(arguments: Backend.available) func failuresAndCompletedUploadsAreEvents(_ backend: Backend) async throws {
        let f = try await CatalogFixture.make(backend)
        let alice = try await f.catalog.createAPIKey(name: "alice", scope: .upload, secretHash: "a")
        try await f.catalog.createWebhook(hook("a1", key: alice.id, events: [.videoFailed, .uploadCompleted], at: f.clock.now))

        // A job failing for good fails its video: video.failed, once.
        let video = try await f.catalog.createVideo(
            NewVideo(title: "broken", originalPath: "originals/b/source.mp4", sizeBytes: 1, ownerKeyId: alice.id),
            jobs: [NewJob(kind: .plan)])
        let plan = try #require(try await f.claim())
        #expect(try await f.catalog.fail(plan.lease, error: "not a video", permanent: true) == .failed)
        #expect(try await f.catalog.deliveries(webhookId: "a1", limit: 10).map(\.event) == [.videoFailed])
        #expect(try await f.video(id: video.id).state == .failed)

        // An upload's last byte registers its video: upload.completed (and only once, if finished again).
        let upload = UploadRecord(id: "up1", length: 10, deferredLength: false, offset: 0, filename: "a.mp4", title: "A",
                                  visibility: .public, ownerKeyId: alice.id, createdAt: f.clock.now,
                                  expiresAt: f.clock.now.addingTimeInterval(3600), videoId: nil, lockHolder: nil, lockExpiresAt: nil)
        try await f.catalog.createUpload(upload, now: f.clock.now, createdAfter: .distantPast) { _ in }
        _ = try #require(try await f.catalog.lockUpload(id: "up1", holder: "h", until: f.clock.now.addingTimeInterval(60), now: f.clock.now))
        let made = NewVideo(id: "v-up1", title: "A", originalPath: "originals/v-up1/source.mp4", sizeBytes: 10, ownerKeyId: alice.id)
        _ = try await f.catalog.finishUpload(id: "up1", holder: "h", video: made, jobs: [NewJob(kind: .plan)])
        _ = try await f.catalog.lockUpload(id: "up1", holder: "h", until: f.clock.now.addingTimeInterval(60), now: f.clock.now)
        _ = try await f.catalog.finishUpload(id: "up1", holder: "h", video: made, jobs: [NewJob(kind: .plan)])
        let log = try await f.catalog.deliveries(webhookId: "a1", limit: 10)
        #expect(log.map(\.event) == [.uploadCompleted, .videoFailed] && log.first?.videoId == "v-up1")
    }
}
