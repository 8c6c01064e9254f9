import Catalog
import Foundation
import Hummingbird
import Logging
import Storage

/// Everything the routes need, made once per server. Tests make it over a temporary catalog and storage
/// root and build the same router (`buildRouter`) to call in-process.
public struct ServerDependencies: Sendable {
    public let settings: ServerSettings
    public let catalog: any Catalog
    public let metrics: ServerMetrics
    let logger: Logger
    let auth: Authenticator
    let signer: URLSigner
    let statuses: VideoStatusCache
    let store: UploadStore
    let streaming: StreamingHandler

    /// Creates the storage root's `hls/` folder if needed.
    public init(settings: ServerSettings, catalog: any Catalog, metrics: ServerMetrics, logger: Logger) throws {
        let layout = settings.layout
        try FileManager.default.createDirectory(at: layout.hls, withIntermediateDirectories: true)
        self.settings = settings
        self.catalog = catalog
        self.metrics = metrics
        self.logger = logger
        auth = Authenticator(catalog: catalog)
        signer = URLSigner(key: settings.signingKey)
        statuses = VideoStatusCache(catalog: catalog)
        store = UploadStore(layout: layout, catalog: catalog, settings: settings, metrics: metrics, logger: logger)
        let devices = DeviceRulesSource(file: settings.profilesDirectory.appendingPathComponent("devices.yaml"), logger: logger)
        streaming = StreamingHandler(layout: layout, statuses: statuses, signer: signer, devices: devices,
                                     cache: settings.segmentCacheBytes > 0 ? FileCache(capacityBytes: settings.segmentCacheBytes) : nil,
                                     sendfile: settings.sendfile)
    }
}

/// Every route of the server: pages, health and metrics, tus and plain uploads, the videos API and the
/// streaming handler, behind `EdgeMiddleware`. The connection-level parts (100-continue, slow clients,
/// sendfile, connection limits) are channel handlers that `ReelServer.application()` adds around it.
func buildRouter(_ dependencies: ServerDependencies) throws -> Router<ReelRequestContext> {
    let settings = dependencies.settings, layout = settings.layout
    let router = Router(context: ReelRequestContext.self, options: .autoGenerateHeadEndpoints)
    // Outside EdgeMiddleware, which turns problems into answers: HSTS goes on every answer.
    if settings.tls != nil && settings.hstsMaxAge > 0 { router.add(middleware: HSTSMiddleware(maxAge: settings.hstsMaxAge)) }
    router.add(middleware: EdgeMiddleware(metrics: dependencies.metrics))
    try PageRoutes(embedFrameAncestors: settings.embedFrameAncestors,
                   scheme: ForwardedScheme(tls: settings.tls != nil, trusted: settings.trustedProxies)).register(on: router)
    HealthRoutes(catalog: dependencies.catalog, layout: layout, minFreeBytes: settings.minFreeBytes, metrics: dependencies.metrics,
                 auth: dependencies.auth, metricsPublic: settings.metricsPublic).register(on: router)
    TusRoutes(store: dependencies.store, auth: dependencies.auth).register(on: router)
    VideoRoutes(catalog: dependencies.catalog, auth: dependencies.auth, store: dependencies.store,
                json: VideoJSON(layout: layout, signer: dependencies.signer, playbackURLTTL: settings.playbackURLTTL),
                statuses: dependencies.statuses, layout: layout, logger: dependencies.logger).register(on: router)
    OEmbedRoutes(catalog: dependencies.catalog,
                 json: VideoJSON(layout: layout, signer: dependencies.signer, playbackURLTTL: settings.playbackURLTTL))
        .register(on: router)
    CaptionRoutes(catalog: dependencies.catalog, auth: dependencies.auth, layout: layout,
                  maxBytes: settings.maxCaptionBytes, maxTracks: settings.maxCaptionsPerVideo,
                  logger: dependencies.logger).register(on: router)
    WebhookRoutes(catalog: dependencies.catalog, auth: dependencies.auth, policy: settings.webhookPolicy).register(on: router)
    let streaming = dependencies.streaming
    for method in [HTTPRequest.Method.get, .head] {
        router.on("/hls/**", method: method) { request, context in
            try await streaming.serve(request, components: context.parameters.getCatchAll(), signed: false)
        }
        router.on("/s/**", method: method) { request, context in
            try await streaming.serveSigned(request, components: context.parameters.getCatchAll())
        }
    }
    return router
}
