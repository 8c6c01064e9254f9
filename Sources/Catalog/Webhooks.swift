import Foundation

/// What a webhook endpoint hears about (issue 13). Each becomes one delivery per endpoint that asked for
/// it, written in the same transaction as the change it reports, so none is lost and none is invented.
public enum WebhookEvent: String, Codable, Sendable, CaseIterable {
    case videoReady = "video.ready"
    case videoFailed = "video.failed"
    /// The first time a video can be played (its first segments published), before it is ready.
    case videoPlayable = "video.playable"
    /// An upload's last byte arrived and its video was registered.
    case uploadCompleted = "upload.completed"
}

/// An endpoint registered by an API key. An upload key's endpoint hears about the videos that key
/// uploaded; an admin key's (`allVideos`) about every video.
public struct WebhookRecord: Codable, Sendable, Equatable {
    public var id: String
    public var keyId: String
    public var allVideos: Bool
    public var url: String
    public var events: [WebhookEvent]
    /// The HMAC key deliveries are signed with; shown to its owner once, when registered.
    public var secret: String
    public var createdAt: Date

    public init(id: String, keyId: String, allVideos: Bool, url: String, events: [WebhookEvent], secret: String, createdAt: Date) {
        self.id = id; self.keyId = keyId; self.allVideos = allVideos; self.url = url; self.events = events
        self.secret = secret; self.createdAt = createdAt
    }
}

public enum DeliveryState: String, Codable, Sendable {
    case pending, delivered, failed
}

/// One event for one endpoint, and what became of sending it (the delivery log).
public struct DeliveryRecord: Codable, Sendable, Equatable {
    public var id: Int64
    public var webhookId: String
    public var videoId: String
    public var event: WebhookEvent
    /// The JSON body, fixed when the event happened.
    public var payload: String
    public var state: DeliveryState
    public var attempts: Int
    public var nextAttemptAt: Date
    public var lastStatus: Int?
    public var lastError: String?
    public var createdAt: Date
    public var deliveredAt: Date?
}

/// How an attempt ended, as the sender reports it.
public enum DeliveryOutcome: Sendable, Equatable {
    case delivered(status: Int)
    /// Try again at `at` (the sender's backoff decides when, and when to give up).
    case retry(at: Date, status: Int?, error: String)
    case failed(status: Int?, error: String)
}

/// A delivery handed to one sender until `leaseExpiresAt` (another host's sender takes it after that).
public struct ClaimedDelivery: Sendable, Equatable {
    public var delivery: DeliveryRecord
    public var webhook: WebhookRecord
    public var owner: String
    public var leaseExpiresAt: Date
}

enum WebhookRules {
    /// The events a video's change from `old` to `new` reports (none for a row that did not change).
    static func events(from old: VideoRecord?, to new: VideoRecord) -> [WebhookEvent] {
        var events: [WebhookEvent] = []
        if old?.playableAt == nil && new.playableAt != nil { events.append(.videoPlayable) }
        if old?.state != .ready && new.state == .ready { events.append(.videoReady) }
        if old?.state != .failed && new.state == .failed { events.append(.videoFailed) }
        return events
    }

    /// The body of a delivery: the event, when, and the video as it was then.
    static func payload(_ event: WebhookEvent, video: VideoRecord, at: Date) -> String {
        struct Body: Encodable {
            struct Video: Encodable {
                var id: String, title: String, state: String, durationSeconds: Double?, error: String?
            }
            var event: String, occurredAt: Date, video: Video
        }
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = Body(event: event.rawValue, occurredAt: at,
                        video: .init(id: video.id, title: video.title, state: video.state.rawValue,
                                     durationSeconds: video.durationSeconds, error: video.error))
        return String(decoding: (try? encoder.encode(body)) ?? Data("{}".utf8), as: UTF8.self)
    }

    static func eventsText(_ events: [WebhookEvent]) -> String { events.map(\.rawValue).joined(separator: ",") }

    static func parseEvents(_ text: String) -> [WebhookEvent] {
        text.split(separator: ",").compactMap { WebhookEvent(rawValue: String($0)) }
    }
}
