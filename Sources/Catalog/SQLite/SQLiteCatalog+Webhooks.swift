import Foundation
import GRDB

// Webhook endpoints and their deliveries (issue 13).

extension SQLiteCatalog {
    public func createWebhook(_ webhook: WebhookRecord) async throws {
        try await immediate { db in
            try db.execute(sql: """
                INSERT INTO webhooks (id, key_id, all_videos, url, events, secret, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [webhook.id, webhook.keyId, webhook.allVideos, webhook.url,
                                 WebhookRules.eventsText(webhook.events), webhook.secret, webhook.createdAt])
        }
    }

    public func webhooks(keyId: String?) async throws -> [WebhookRecord] {
        try await read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT * FROM webhooks WHERE ? IS NULL OR key_id = ? ORDER BY created_at, id
                """, arguments: [keyId, keyId])
            return rows.map(Self.webhook)
        }
    }

    public func deleteWebhook(id: String, keyId: String?) async throws -> Bool {
        try await immediate { db in
            try db.execute(sql: "DELETE FROM webhooks WHERE id = ? AND (? IS NULL OR key_id = ?)", arguments: [id, keyId, keyId])
            return db.changesCount > 0
        }
    }

    public func deliveries(webhookId: String, limit: Int) async throws -> [DeliveryRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT ?",
                             arguments: [webhookId, max(limit, 0)]).compactMap(Self.delivery)
        }
    }

    public func claimDeliveries(owner: String, leaseDuration: TimeInterval, limit: Int) async throws -> [ClaimedDelivery] {
        let now = options.now()
        let until = now.addingTimeInterval(leaseDuration)
        return try await immediate { db in
            // Due, not held by a live lease, and the oldest unfinished delivery of its (endpoint, video).
            let rows = try Row.fetchAll(db, sql: """
                SELECT d.id FROM webhook_deliveries d
                WHERE d.state = 'pending' AND d.next_attempt_at <= ?
                  AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= ?)
                  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                                  WHERE e.webhook_id = d.webhook_id AND e.video_id = d.video_id
                                    AND e.state = 'pending' AND e.id < d.id)
                ORDER BY d.next_attempt_at, d.id LIMIT ?
                """, arguments: [now, now, max(limit, 0)])
            var claimed: [ClaimedDelivery] = []
            for row in rows {
                let id: Int64 = row["id"]
                try db.execute(sql: """
                    UPDATE webhook_deliveries SET lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1 WHERE id = ?
                    """, arguments: [owner, until, id])
                guard let delivery = try Row.fetchOne(db, sql: "SELECT * FROM webhook_deliveries WHERE id = ?", arguments: [id])
                        .flatMap(Self.delivery),
                      let hook = try Row.fetchOne(db, sql: "SELECT * FROM webhooks WHERE id = ?", arguments: [delivery.webhookId])
                else { continue }
                claimed.append(ClaimedDelivery(delivery: delivery, webhook: Self.webhook(hook), owner: owner, leaseExpiresAt: until))
            }
            return claimed
        }
    }

    public func finishDelivery(id: Int64, owner: String, outcome: DeliveryOutcome) async throws -> Bool {
        let now = options.now()
        return try await immediate { db in
            let (state, next, status, error, delivered): (DeliveryState, Date?, Int?, String?, Date?) = switch outcome {
            case .delivered(let status): (.delivered, nil, status, nil, now)
            case .retry(let at, let status, let error): (.pending, at, status, error, nil)
            case .failed(let status, let error): (.failed, nil, status, error, nil)
            }
            try db.execute(sql: """
                UPDATE webhook_deliveries
                SET state = ?, next_attempt_at = COALESCE(?, next_attempt_at), last_status = ?, last_error = ?,
                    delivered_at = ?, lease_owner = NULL, lease_expires_at = NULL
                WHERE id = ? AND lease_owner = ? AND state = 'pending'
                """, arguments: [state.rawValue, next, status, error, delivered, id, owner])
            return db.changesCount > 0
        }
    }

    /// One delivery per endpoint that asked for `events` and may see `video` (inside the caller's transaction).
    static func recordEvents(_ db: Database, _ events: [WebhookEvent], video: VideoRecord, now: Date) throws {
        for event in events {
            try db.execute(sql: """
                INSERT INTO webhook_deliveries (webhook_id, video_id, event, payload, state, next_attempt_at, created_at)
                SELECT id, ?, ?, ?, 'pending', ?, ? FROM webhooks
                WHERE (all_videos = 1 OR key_id = ?) AND instr(',' || events || ',', ?) > 0
                """, arguments: [video.id, event.rawValue, WebhookRules.payload(event, video: video, at: now), now, now,
                                 video.ownerKeyId ?? "", "," + event.rawValue + ","])
        }
    }

    /// The events between the video's row before (`old`) and now, recorded (inside the caller's transaction).
    static func recordChanges(_ db: Database, videoId: String, old: VideoRecord?, now: Date) throws {
        guard let new = try VideoRecord.fetchOne(db, key: videoId) else { return }
        try recordEvents(db, WebhookRules.events(from: old, to: new), video: new, now: now)
    }

    static func webhook(_ row: Row) -> WebhookRecord {
        WebhookRecord(id: row["id"], keyId: row["key_id"], allVideos: row["all_videos"], url: row["url"],
                      events: WebhookRules.parseEvents(row["events"]), secret: row["secret"], createdAt: row["created_at"])
    }

    static func delivery(_ row: Row) -> DeliveryRecord? {
        guard let event = WebhookEvent(rawValue: row["event"]), let state = DeliveryState(rawValue: row["state"]) else { return nil }
        return DeliveryRecord(id: row["id"], webhookId: row["webhook_id"], videoId: row["video_id"], event: event,
                              payload: row["payload"], state: state, attempts: row["attempts"],
                              nextAttemptAt: row["next_attempt_at"], lastStatus: row["last_status"],
                              lastError: row["last_error"], createdAt: row["created_at"], deliveredAt: row["delivered_at"])
    }
}
