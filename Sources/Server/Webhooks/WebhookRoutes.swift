import Catalog
import Foundation
import Hummingbird
import Webhooks

/// `/v1/webhooks`: an API key registers endpoints for the events of its videos (an admin key's hear about
/// every video), lists and deletes them, and reads each one's delivery log. The secret that signs the
/// deliveries is in the answer to the registration only.
struct WebhookRoutes: Sendable {
    let catalog: any Catalog
    let auth: Authenticator
    let policy: WebhookAddressPolicy

    struct Registration: Decodable {
        var url: String
        var events: [String]?
    }

    func register<Context: APIRequestContext>(on router: Router<Context>) {
        let group = router.group("/v1/webhooks").add(middleware: RequireKey(auth: auth, scope: .upload))
        group.post { request, context in try await create(request, context) }
        group.get { _, context in
            let key = try context.requireKey()
            return API.WebhookList(items: try await catalog.webhooks(keyId: key.id).map { API.Webhook($0, withSecret: false) })
        }
        group.delete(":id") { _, context in
            let key = try context.requireKey()
            guard try await catalog.deleteWebhook(id: context.parameters.get("id") ?? "", keyId: key.id) else {
                throw Problem(.notFound, "No webhook endpoint with that id for this key.")
            }
            return Response(status: .noContent)
        }
        group.get(":id/deliveries") { request, context in
            let key = try context.requireKey()
            let id = context.parameters.get("id") ?? ""
            guard try await catalog.webhooks(keyId: key.id).contains(where: { $0.id == id }) else {
                throw Problem(.notFound, "No webhook endpoint with that id for this key.")
            }
            let limit = min(max(Int(request.uri.queryParameters.get("limit") ?? "") ?? 100, 1), 1000)
            return API.WebhookDeliveryList(items: try await catalog.deliveries(webhookId: id, limit: limit).map(API.WebhookDelivery.init))
        }
    }

    private func create(_ request: Request, _ context: some APIRequestContext) async throws -> EditedResponse<API.Webhook> {
        let key = try context.requireKey()
        let body = try await request.body.collect(upTo: 64 << 10)
        guard let registration = try? JSONDecoder().decode(Registration.self, from: body) else {
            throw Problem(.badRequest, #"Send JSON: {"url": "https://…", "events": ["video.ready", …]}."#)
        }
        let destination: WebhookDestination
        do { destination = try WebhookDestination(registration.url) } catch {
            throw Problem(.unprocessableContent, "url: \(error)")
        }
        if let refusal = destination.literalRefusal(under: policy) {
            throw Problem(.unprocessableContent, "url: \(refusal)")
        }
        var events: [WebhookEvent] = []
        for name in registration.events ?? WebhookEvent.allCases.map(\.rawValue) {
            guard let event = WebhookEvent(rawValue: name) else {
                throw Problem(.unprocessableContent, "events: '\(name)' is not one of \(WebhookEvent.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            if !events.contains(event) { events.append(event) }
        }
        guard !events.isEmpty else { throw Problem(.unprocessableContent, "events: name at least one event.") }
        let record = WebhookRecord(id: "wh_" + UUID().uuidString.lowercased().prefix(12), keyId: key.id, allVideos: key.scope == .admin,
                                   url: registration.url, events: events, secret: WebhookSignature.newSecret(), createdAt: Date())
        try await catalog.createWebhook(record)
        return EditedResponse(status: .created, headers: [.location: "/v1/webhooks/\(record.id)"], response: API.Webhook(record, withSecret: true))
    }
}

extension API {
    /// A webhook endpoint; `secret` only in the answer to its registration (null after).
    struct Webhook: ResponseCodable, Sendable {
        var id: String
        var url: String
        var events: [String]
        var allVideos: Bool
        var createdAt: String
        @Nullable var secret: String?

        init(_ record: WebhookRecord, withSecret: Bool) {
            id = record.id; url = record.url; events = record.events.map(\.rawValue); allVideos = record.allVideos
            createdAt = VideoJSON.timestamp(record.createdAt)
            secret = withSecret ? record.secret : nil
        }
    }

    struct WebhookList: ResponseCodable, Sendable { var items: [Webhook] }

    /// One line of an endpoint's delivery log.
    struct WebhookDelivery: ResponseCodable, Sendable {
        var id: Int64
        var event: String
        var videoId: String
        var state: String
        var attempts: Int
        @Nullable var lastStatus: Int?
        @Nullable var lastError: String?
        var createdAt: String
        /// While pending: when the next attempt is due.
        @Nullable var nextAttemptAt: String?
        @Nullable var deliveredAt: String?

        init(_ d: DeliveryRecord) {
            id = d.id; event = d.event.rawValue; videoId = d.videoId; state = d.state.rawValue; attempts = d.attempts
            lastStatus = d.lastStatus; lastError = d.lastError; createdAt = VideoJSON.timestamp(d.createdAt)
            nextAttemptAt = d.state == .pending ? VideoJSON.timestamp(d.nextAttemptAt) : nil
            deliveredAt = d.deliveredAt.map(VideoJSON.timestamp)
        }
    }

    struct WebhookDeliveryList: ResponseCodable, Sendable { var items: [WebhookDelivery] }
}
