import Catalog
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import Webhooks
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals
import Storage

/// The HTTP front end: pages, tus and plain uploads, the videos API, the streaming handler, health and
/// metrics, on one port: plain HTTP/1.1, or with `tls_certificate`/`tls_key` HTTP/2 and HTTP/1.1 over TLS
/// (plus, with `http_redirect_port`, a plain listener that redirects to it).
public struct ReelServer: Sendable {
    public let settings: ServerSettings
    public let catalog: any Catalog
    public let metrics: ServerMetrics
    let logger: Logger
    /// The `Server` header, on Hummingbird's answers and the fast path's alike.
    static let serverName = "reel"

    /// The certificate and key when TLS is on, read once here (a bad pair stops the start with its reason).
    let certificates: CertificateStore?

    public init(settings: ServerSettings, catalog: any Catalog, logger: Logger) throws {
        self.settings = settings
        self.catalog = catalog
        self.metrics = ServerMetrics()
        self.logger = logger
        certificates = try settings.tls.map { try CertificateStore(files: $0, logger: logger) }
    }

    /// Builds the application; `run()` serves it until SIGTERM/SIGINT.
    public func application() throws -> some ApplicationProtocol {
        let dependencies = try ServerDependencies(settings: settings, catalog: catalog, metrics: metrics, logger: logger)
        let (streaming, metrics) = (dependencies.streaming, metrics)
        let router = try buildRouter(dependencies)

        // A client that stops sending mid-upload (a phone losing its network) is disconnected after two
        // quiet minutes, which ends its PATCH and releases the upload's lock for the resume.
        // Slower trickles are caught by SlowClientHandler.
        let limits = SlowClientHandler.Limits(headTimeout: .nanoseconds(Int64(settings.requestHeadTimeout * 1e9)),
                                              minBodyRate: settings.minBodyRate,
                                              rateWindow: .nanoseconds(Int64(settings.bodyRateWindow * 1e9)))
        let connections = ClientConnections(limit: settings.maxConnectionsPerClient)
        let logger = logger
        // One that stops reading a response is disconnected after `sendTimeout` without progress.
        let sendTimeout = TimeAmount.nanoseconds(Int64(settings.sendTimeout * 1e9))
        let server: HTTPServerBuilder
        if let certificates {
            // TLS: HTTP/2 or HTTP/1.1 by ALPN. Files are read and written by FileBodyHandler (no sendfile
            // through TLS or into HTTP/2 frames); on HTTP/2 the handlers run per stream. The connection cap
            // and a handshake deadline sit on the connection itself (TLSConnectionGuard).
            let hsts = settings.hstsMaxAge > 0 ? HSTSMiddleware<ReelRequestContext>(maxAge: settings.hstsMaxAge).value : nil
            let streams = HTTP1Channel.Configuration(
                additionalChannelHandlers: [ExpectContinueHandler(), SlowClientHandler(limits: limits, logger: logger),
                                            SendTimeoutHandler(timeout: sendTimeout), FileBodyHandler(logger: logger),
                                            StreamingFastPath(streaming: streaming, metrics: metrics, serverName: Self.serverName,
                                                              hsts: hsts, streamsOnly: true)],
                idleTimeout: .seconds(120))
            let tls = certificates.serverConfiguration()
            let handshake = TimeAmount.nanoseconds(Int64(settings.requestHeadTimeout * 1e9))
            server = HTTPServerBuilder { responder in
                GuardedTLSChannel(inner: try HTTP2UpgradeChannel(tlsConfiguration: tls,
                                                                 configuration: .init(idleTimeout: .seconds(120), streamConfiguration: streams),
                                                                 responder: responder),
                                  connections: connections, handshakeTimeout: handshake)
            }
        } else {
            let http1 = HTTP1Channel.Configuration(
                additionalChannelHandlers: [ConnectionLimitHandler(connections: connections, logger: logger), ExpectContinueHandler(),
                                            SlowClientHandler(limits: limits, logger: logger), SendTimeoutHandler(timeout: sendTimeout)],
                idleTimeout: .seconds(120))
            // Always able to send file regions: files above 8 MiB leave that way even with `sendfile` off.
            server = .http1WithSendfile(configuration: http1, fastPath: {
                StreamingFastPath(streaming: streaming, metrics: metrics, serverName: Self.serverName)
            })
        }
        var app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: Self.serverName),
            logger: logger)
        app.addServices(UploadSweeper(store: dependencies.store, interval: min(600, max(1, settings.uploadExpiry / 4)), logger: logger))
        app.addServices(WebhookDeliverer(catalog: catalog, settings: .init(
            sender: .init(policy: settings.webhookPolicy, timeout: .seconds(settings.webhookTimeout)),
            backoff: WebhookBackoff(base: .seconds(settings.webhookRetryBase)),
            lease: settings.webhookTimeout + 30), logger: logger))
        // Always: SIGHUP (`systemctl reload`) must never end the server, with TLS or without.
        app.addServices(CertificateReloader(store: certificates, logger: logger))
        if certificates != nil, let redirect = settings.redirectPort {
            // Plain HTTP, usually on public port 80: the same cap, head timeout and idle timeout as the main port.
            let plain = HTTP1Channel.Configuration(
                additionalChannelHandlers: [ConnectionLimitHandler(connections: connections, logger: logger),
                                            SlowClientHandler(limits: limits, logger: logger), SendTimeoutHandler(timeout: sendTimeout)],
                idleTimeout: .seconds(120))
            app.addServices(HTTPSRedirect.application(host: settings.host, port: redirect, httpsPort: settings.port,
                                                      configuration: plain, logger: logger))
        }
        return app
    }

    /// Serves until SIGTERM/SIGINT. `workers` (the worker processes of `reel up`) are shut down first —
    /// services stop in reverse order — so they drain while the server still answers, then the server stops.
    public func run(workers: (any Service)? = nil, shutdownBound: TimeInterval = 60) async throws {
        logger.info("reel serve listening", metadata: ["address": "\(settings.host):\(settings.port)",
                                                       "data": "\(settings.layout.root.path)"])
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: try application())]
        if let workers { services.append(.init(service: workers)) }
        var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger)
        // A stuck upload or worker cannot hold the process past this: it is cancelled instead.
        configuration.maximumGracefulShutdownDuration = .seconds(shutdownBound)
        let group = ServiceGroup(configuration: configuration)
        try await group.run()
    }
}

/// Removes expired uploads now and then.
struct UploadSweeper: Service {
    let store: UploadStore
    let interval: TimeInterval
    let logger: Logger

    func run() async throws {
        // Sleeping is cut short by shutdown, so SIGTERM does not wait for the next sweep.
        await store.adoptLegacyUploads()
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let removed = (try? await store.sweep()) ?? 0
                if removed > 0 { logger.info("upload sweep", metadata: ["removed": "\(removed)"]) }
                try await Task.sleep(for: .seconds(interval))
            }
        }
    }
}

/// Reads the certificate and key again on SIGHUP (what `systemctl reload` and certbot's deploy hooks send)
/// and when either file changes (checked every 30 s), for new connections; open ones keep theirs.
struct CertificateReloader: Service {
    let store: CertificateStore?
    let logger: Logger

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in hangups {
                        if let store { store.reload(force: true) } else { logger.info("SIGHUP: no TLS certificate to reload") }
                    }
                }
                if let store {
                    group.addTask {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: .seconds(30))
                            store.reload(force: false)
                        }
                    }
                }
                await group.next()
                group.cancelAll()
            }
        }
    }
}
