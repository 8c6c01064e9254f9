import Foundation
import Logging
import PostgresNIO

// Webhook endpoints and their deliveries (issue 13); the same rules as SQLite's.

extension PostgresCatalog {
    public func createWebhook(_ webhook: WebhookRecord) async throws {
        _ = try await rows("""
            INSERT INTO webhooks (id, key_id, all_videos, url, events, secret, created_at)
            VALUES (\(webhook.id), \(webhook.keyId), \(webhook.allVideos), \(webhook.url),
                    \(WebhookRules.eventsText(webhook.events)), \(webhook.secret), \(webhook.createdAt))
            """)
    }

    public func webhooks(keyId: String?) async throws -> [WebhookRecord] {
        try await rows("""
            SELECT * FROM webhooks WHERE \(keyId)::text IS NULL OR key_id = \(keyId) ORDER BY created_at, id
            """).map(Self.webhook)
    }

    public func deleteWebhook(id: String, keyId: String?) async throws -> Bool {
        try await !rows("""
            DELETE FROM webhooks WHERE id = \(id) AND (\(keyId)::text IS NULL OR key_id = \(keyId)) RETURNING id
            """).isEmpty
    }

    public func deliveries(webhookId: String, limit: Int) async throws -> [DeliveryRecord] {
        try await rows("""
            SELECT * FROM webhook_deliveries WHERE webhook_id = \(webhookId) ORDER BY id DESC LIMIT \(max(limit, 0))
            """).compactMap(Self.delivery)
    }

    public func claimDeliveries(owner: String, leaseDuration: TimeInterval, limit: Int) async throws -> [ClaimedDelivery] {
        let logger = self.logger
        let now = options.now()
        let until = now.addingTimeInterval(leaseDuration)
        return try await transaction { connection in
            // SKIP LOCKED: two hosts' senders claim different deliveries instead of waiting for each other.
            let claimed = try await connection.all("""
                UPDATE webhook_deliveries SET lease_owner = \(owner), lease_expires_at = \(until), attempts = attempts + 1
                WHERE id IN (
                    SELECT d.id FROM webhook_deliveries d
                    WHERE d.state = 'pending' AND d.next_attempt_at <= \(now)
                      AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= \(now))
                      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                                      WHERE e.webhook_id = d.webhook_id AND e.video_id = d.video_id
                                        AND e.state = 'pending' AND e.id < d.id)
                    ORDER BY d.next_attempt_at, d.id LIMIT \(max(limit, 0))
                    FOR UPDATE SKIP LOCKED)
                RETURNING *
                """, logger).compactMap(Self.delivery)
            var out: [ClaimedDelivery] = []
            for delivery in claimed.sorted(by: { $0.id < $1.id }) {
                guard let hook = try await connection.all("SELECT * FROM webhooks WHERE id = \(delivery.webhookId)", logger)
                        .first.map(Self.webhook) else { continue }
                out.append(ClaimedDelivery(delivery: delivery, webhook: hook, owner: owner, leaseExpiresAt: until))
            }
            return out
        }
    }

    public func finishDelivery(id: Int64, owner: String, outcome: DeliveryOutcome) async throws -> Bool {
        let now = options.now()
        let (state, next, status, error, delivered): (DeliveryState, Date?, Int?, String?, Date?) = switch outcome {
        case .delivered(let status): (.delivered, nil, status, nil, now)
        case .retry(let at, let status, let error): (.pending, at, status, error, nil)
        case .failed(let status, let error): (.failed, nil, status, error, nil)
        }
        return try await !rows("""
            UPDATE webhook_deliveries
            SET state = \(state.rawValue), next_attempt_at = COALESCE(\(next), next_attempt_at), last_status = \(status),
                last_error = \(error), delivered_at = \(delivered), lease_owner = NULL, lease_expires_at = NULL
            WHERE id = \(id) AND lease_owner = \(owner) AND state = 'pending'
            RETURNING id
            """).isEmpty
    }

    /// One delivery per endpoint that asked for `events` and may see `video` (inside the caller's transaction).
    static func recordEvents(_ connection: PostgresConnection, _ events: [WebhookEvent], video: VideoRecord, now: Date,
                             _ logger: Logger) async throws {
        for event in events {
            try await connection.all("""
                INSERT INTO webhook_deliveries (webhook_id, video_id, event, payload, state, next_attempt_at, created_at)
                SELECT id, \(video.id), \(event.rawValue), \(WebhookRules.payload(event, video: video, at: now)), 'pending',
                       \(now), \(now)
                FROM webhooks
                WHERE (all_videos OR key_id = \(video.ownerKeyId ?? "")) AND position(\("," + event.rawValue + ",") in ',' || events || ',') > 0
                """, logger)
        }
    }

    /// The events between the video's row before (`old`) and now, recorded (inside the caller's transaction).
    static func recordChanges(_ connection: PostgresConnection, videoId: String, old: VideoRecord?, now: Date,
                              _ logger: Logger) async throws {
        guard let new = try await connection.all("SELECT * FROM videos WHERE id = \(videoId)", logger).first.map(VideoRecord.init)
        else { return }
        try await recordEvents(connection, WebhookRules.events(from: old, to: new), video: new, now: now, logger)
    }

    static func webhook(_ row: PostgresRow) throws -> WebhookRecord {
        let r = row.makeRandomAccess()
        return WebhookRecord(id: try r.value("id"), keyId: try r.value("key_id"), allVideos: try r.value("all_videos"),
                             url: try r.value("url"), events: WebhookRules.parseEvents(try r.value("events")),
                             secret: try r.value("secret"), createdAt: try r.value("created_at"))
    }

    static func delivery(_ row: PostgresRow) throws -> DeliveryRecord? {
        let r = row.makeRandomAccess()
        guard let event = WebhookEvent(rawValue: try r.value("event")),
              let state = DeliveryState(rawValue: try r.value("state")) else { return nil }
        return DeliveryRecord(id: try r.value("id"), webhookId: try r.value("webhook_id"), videoId: try r.value("video_id"),
                              event: event, payload: try r.value("payload"), state: state, attempts: try r.value("attempts"),
                              nextAttemptAt: try r.value("next_attempt_at"), lastStatus: try r.value("last_status"),
                              lastError: try r.value("last_error"), createdAt: try r.value("created_at"),
                              deliveredAt: try r.value("delivered_at"))
    }
}
