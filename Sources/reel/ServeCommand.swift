import ArgumentParser
import Catalog
import Foundation
import Logging
import Profiles
import Server

/// Options of the HTTP front end, shared by `reel serve` and `reel up`.
struct ServerOptions: ParsableArguments {
    @Option(help: "Address to listen on (default: 0.0.0.0, or host / $REEL_HOST).") var host: String?
    @Option(help: "Port (default: 5000, or port / $REEL_PORT).") var port: Int?
    @Option(help: "Largest accepted upload, e.g. 20GiB (default 20GiB).") var maxUploadSize: String?
    @Option(help: "Unfinished uploads expire after this, e.g. 24h (default 24h).") var uploadExpiry: String?
    @Option(help: "Unfinished uploads are removed this long after creation at the latest (default 7d).") var uploadLifetime: String?
    @Option(help: "Unfinished uploads one API key may have open (default 20).") var maxOpenUploadsPerKey: Int?
    @Option(help: "Bytes one API key may have in unfinished uploads (default 40GiB).") var maxBytesInFlightPerKey: String?
    @Option(help: "Bytes one API key may keep in videos and unfinished uploads together (default 1TiB).") var maxStoredPerKey: String?
    @Option(help: "Refuse uploads that would leave less free space than this (default 1GiB).") var minFreeSpace: String?
    @Option(help: "Validity of signed playback URLs handed out by the API (default 6h).") var playbackUrlTtl: String?
    @Option(help: "Memory for recently served small files (default 256MiB; 0 disables).") var segmentCacheSize: String?
    @Option(help: "Close a connection whose request head is not complete this long after it began (default 10s).") var requestHeadTimeout: String?
    @Option(help: "Close a connection whose request body arrives slower than this, bytes a second (default 1KiB; 0: off).") var minBodyRate: String?
    @Option(help: "Window over which the body rate is measured (default 30s).") var bodyRateWindow: String?
    @Option(help: "Open connections one client address may have (default 256; 0: no cap).") var maxConnectionsPerClient: Int?
    @Option(help: "Send segments with sendfile(2): true or false (default false; see docs/ARCHITECTURE.md).") var sendfile: String?
    @Option(help: "Serve /metrics and the checks of /readyz without an admin key: true or false (default false).") var metricsPublic: String?
    @Option(help: "Disconnect a client that takes no bytes of a response for this long (default 60s).") var sendTimeout: String?
    @Option(help: "Sites that may show /embed/{id} in a frame: CSP frame-ancestors sources, e.g. \"'self' https://blog.example\" (default *: any).") var embedFrameAncestors: String?
    @Option(help: "Largest caption file (WebVTT or SRT) accepted, e.g. 2MiB (default 2MiB).") var maxCaptionSize: String?
    @Option(help: "Caption tracks one video may have (default 50).") var maxCaptionsPerVideo: Int?
    @Option(help: "TLS certificate chain (PEM): serve HTTP/2 and HTTP/1.1 over TLS on --port (with --tls-key).") var tlsCertificate: String?
    @Option(help: "TLS private key (PEM) of --tls-certificate.") var tlsKey: String?
    @Option(help: "With TLS, also listen for plain HTTP on this port and redirect it to https (GET / answers 200).") var httpRedirectPort: Int?
    @Option(help: "With TLS, Strict-Transport-Security max-age in seconds (default 15552000, 180 days; 0: not sent).") var hstsMaxAge: Int?
    @Option(help: "Addresses/CIDRs of TLS-terminating proxies whose X-Forwarded-Proto is believed, comma-separated.") var trustedProxies: String?
    @Option(help: "Let webhooks reach private and loopback addresses: true or false (default false).") var webhookAllowPrivate: String?
    @Option(help: "A webhook delivery attempt's whole time, e.g. 10s (default 10s).") var webhookTimeout: String?
    @Option(help: "Wait before a failed webhook delivery's first retry; later ones double up to 2h, for a day (default 30s).") var webhookRetryBase: String?

    func serverSettings(data: DataOptions) throws -> ServerSettings {
        let settings = try data.settings()
        let layout = data.layout
        try FileManager.default.createDirectory(at: layout.root, withIntermediateDirectories: true)
        let signingKey: [UInt8]
        if let configured = settings.string(nil, "signing_key"), !configured.isEmpty {
            guard configured.count >= 16 else { throw ValidationError("signing_key must be at least 16 characters") }
            signingKey = Array(configured.utf8)
        } else {
            signingKey = try ServerSettings.signingKey(in: layout)
        }
        let profiles = settings.string(nil, "profiles_dir") ?? ProfileLoader.defaultProfilesDirectory() ?? "profiles"
        do {
            let openUploads = try settings.int(maxOpenUploadsPerKey, "max_open_uploads_per_key", default: 20)
            guard openUploads >= 1 else { throw ValidationError("max_open_uploads_per_key must be at least 1") }
            let sendTimeoutSeconds = try settings.seconds(sendTimeout, "send_timeout", default: 60)
            let captionBytes = try settings.bytes(maxCaptionSize, "max_caption_size", default: 2 << 20)
            guard captionBytes >= 1, captionBytes <= 1 << 30 else { throw ValidationError("max_caption_size must be between 1 byte and 1GiB") }
            let captionsPerVideo = try settings.int(maxCaptionsPerVideo, "max_captions_per_video", default: 50)
            guard captionsPerVideo >= 1 else { throw ValidationError("max_captions_per_video must be at least 1") }
            guard sendTimeoutSeconds > 0 else { throw ValidationError("send_timeout must be more than 0") }
            var server = ServerSettings(
                host: settings.string(host, "host") ?? "0.0.0.0",
                port: try settings.int(port, "port", default: 5000),
                layout: layout,
                profilesDirectory: URL(fileURLWithPath: profiles),
                maxUploadBytes: try settings.bytes(maxUploadSize, "max_upload_size", default: 20 << 30),
                uploadExpiry: try settings.seconds(uploadExpiry, "upload_expiry", default: 24 * 3600),
                uploadLifetime: try settings.seconds(uploadLifetime, "upload_lifetime", default: 7 * 24 * 3600),
                maxOpenUploadsPerKey: openUploads,
                maxBytesInFlightPerKey: try settings.bytes(maxBytesInFlightPerKey, "max_bytes_in_flight_per_key", default: 40 << 30),
                maxStoredBytesPerKey: try settings.bytes(maxStoredPerKey, "max_stored_per_key", default: 1 << 40),
                minFreeBytes: try settings.bytes(minFreeSpace, "min_free_space", default: 1 << 30),
                signingKey: signingKey,
                playbackURLTTL: try settings.seconds(playbackUrlTtl, "playback_url_ttl", default: 6 * 3600),
                segmentCacheBytes: Int(try settings.bytes(segmentCacheSize, "segment_cache_size", default: 256 << 20)),
                sendfile: try settings.bool(sendfile, "sendfile", default: false),
                requestHeadTimeout: try settings.seconds(requestHeadTimeout, "request_head_timeout", default: 10),
                minBodyRate: try settings.bytes(minBodyRate, "min_body_rate", default: 1024),
                bodyRateWindow: try settings.seconds(bodyRateWindow, "body_rate_window", default: 30),
                maxConnectionsPerClient: max(0, try settings.int(maxConnectionsPerClient, "max_connections_per_client", default: 256)),
                metricsPublic: try settings.bool(metricsPublic, "metrics_public", default: false),
                sendTimeout: sendTimeoutSeconds,
                embedFrameAncestors: try EmbedPolicy.frameAncestors(settings.string(embedFrameAncestors, "embed_frame_ancestors") ?? "*"),
                maxCaptionBytes: Int(captionBytes),
                maxCaptionsPerVideo: captionsPerVideo)
            let certificate = settings.string(tlsCertificate, "tls_certificate"), key = settings.string(tlsKey, "tls_key")
            switch (certificate, key) {
            case let (certificate?, key?): server.tls = .init(certificate: certificate, key: key)
            case (nil, nil): break
            default: throw ValidationError("tls_certificate and tls_key go together: give both, or neither for plain HTTP")
            }
            let redirect = try settings.int(httpRedirectPort, "http_redirect_port", default: 0)
            if redirect != 0 {
                guard server.tls != nil else { throw ValidationError("http_redirect_port needs TLS (tls_certificate and tls_key)") }
                guard (1...65535).contains(redirect), redirect != server.port else {
                    throw ValidationError("http_redirect_port must be a port (1-65535) other than port")
                }
                server.redirectPort = redirect
            }
            server.hstsMaxAge = try settings.int(hstsMaxAge, "hsts_max_age", default: 15_552_000)
            guard server.hstsMaxAge >= 0 else { throw ValidationError("hsts_max_age must be 0 or more") }
            do {
                server.trustedProxies = try AddressRange.list(settings.string(trustedProxies, "trusted_proxies") ?? "")
            } catch let error as TLSSetupError {
                throw ValidationError("trusted_proxies: \(error)")
            }
            server.webhookAllowPrivate = try settings.bool(webhookAllowPrivate, "webhook_allow_private", default: false)
            server.webhookTimeout = try settings.seconds(webhookTimeout, "webhook_timeout", default: 10)
            server.webhookRetryBase = try settings.seconds(webhookRetryBase, "webhook_retry_base", default: 30)
            guard server.webhookTimeout > 0, server.webhookRetryBase > 0 else {
                throw ValidationError("webhook_timeout and webhook_retry_base must be more than 0")
            }
            return server
        } catch let error as SettingsError {
            throw ValidationError(error.description)
        } catch let error as EmbedPolicy.Invalid {
            throw ValidationError(error.description)
        }
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve pages, uploads, the videos API and HLS over HTTP (no workers; see 'reel up').")

    @OptionGroup var data: DataOptions
    @OptionGroup var server: ServerOptions

    func run() async throws {
        // `systemctl reload` (SIGHUP) must not end the server, also while it still waits for the catalog;
        // once it serves, CertificateReloader takes SIGHUP to read the TLS certificate again.
        signal(SIGHUP, SIG_IGN)
        let logger = try data.logger("reel.serve")
        let settings = try server.serverSettings(data: data)
        let catalog = try await data.openCatalog(logger: logger, waitFor: 300)
        try await ReelServer(settings: settings, catalog: catalog, logger: logger).run()
    }
}
