/// One delivery attempt's input: what the catalog's delivery row holds when it is due.
public struct WebhookDelivery: Sendable {
    /// Stable across retries, so a receiver can drop duplicates (`Reel-Delivery`).
    public var id: String
    public var event: String
    public var destination: WebhookDestination
    /// The JSON body exactly as signed and sent.
    public var body: [UInt8]
    public var secret: String

    public init(id: String, event: String, destination: WebhookDestination, body: [UInt8], secret: String) {
        self.id = id
        self.event = event
        self.destination = destination
        self.body = body
        self.secret = secret
    }
}
