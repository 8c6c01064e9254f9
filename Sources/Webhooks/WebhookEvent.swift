/// The events an endpoint can subscribe to (issue 13). The raw value is what `Reel-Event` carries.
public enum WebhookEvent: String, CaseIterable, Codable, Sendable {
    case videoReady = "video.ready"
    case videoFailed = "video.failed"
    case videoPlayable = "video.playable"
    case uploadCompleted = "upload.completed"
}
