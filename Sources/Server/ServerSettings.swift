import Foundation
import Storage
import Webhooks

/// Everything `reel serve` needs to know, already resolved from the config file, environment and flags.
public struct ServerSettings: Sendable {
    public var host: String
    public var port: Int
    public var layout: StorageLayout
    /// Where `devices.yaml` lives (the profiles directory).
    public var profilesDirectory: URL
    /// Largest upload accepted, in bytes (advertised as `Tus-Max-Size`).
    public var maxUploadBytes: Int64
    /// Largest caption file (WebVTT, SRT) accepted by `POST /v1/videos/{id}/captions`, in bytes.
    public var maxCaptionBytes: Int
    /// Caption tracks one video may have (a new one beyond it is 409), so that captions cannot fill the disk.
    public var maxCaptionsPerVideo: Int
    /// Unfinished uploads are removed this long after their last byte arrived.
    public var uploadExpiry: TimeInterval
    /// ...and at the latest this long after they were created, however slowly bytes keep trickling in.
    public var uploadLifetime: TimeInterval
    /// Unfinished uploads one API key may have at a time (a new one beyond it is 507).
    public var maxOpenUploadsPerKey: Int
    /// Bytes one API key may have in unfinished uploads (their `Upload-Length`s, received or not); a new
    /// upload beyond it is 507, one larger than it on its own 413.
    public var maxBytesInFlightPerKey: Int64
    /// Bytes one API key may keep in videos (their originals) plus unfinished uploads.
    public var maxStoredBytesPerKey: Int64
    /// Uploads are refused (507) when they would leave less than this free on the storage root.
    public var minFreeBytes: Int64
    /// A request head must be complete this long after its first bytes arrived, else the connection is closed.
    public var requestHeadTimeout: TimeInterval
    /// Request bodies must arrive at least this fast (bytes a second, measured over `bodyRateWindow` while
    /// the server waits for them), else the connection is closed; 0 turns the check off.
    public var minBodyRate: Int64
    public var bodyRateWindow: TimeInterval
    /// Open connections one client address may have (0: no cap). Behind a load balancer every client has
    /// its address: raise it or turn it off there.
    public var maxConnectionsPerClient: Int
    /// HMAC key of signed playback URLs. Every host behind the load balancer needs the same one.
    public var signingKey: [UInt8]
    /// How long a signed playback URL handed out by the API stays valid.
    public var playbackURLTTL: TimeInterval
    /// Bytes of recently served files kept in memory (0 disables the cache): every file when `sendfile`
    /// is off, else only those too small for sendfile to pay off.
    public var segmentCacheBytes: Int
    /// Send segments with sendfile(2), from the page cache to the socket without a copy through user space.
    /// Off by default: measured on loopback it cost more CPU in all than copying from the memory cache
    /// (see docs/ARCHITECTURE.md); it is for hosts whose clients are across a real network.
    public var sendfile: Bool
    /// `/metrics` and the `checks` of `/readyz` without an admin key. Off by default: the metrics run
    /// catalog queries and the checks name paths; turn it on only where the port is not reachable from
    /// outside (or scrape with an admin key).
    public var metricsPublic: Bool
    /// A client that takes no bytes of a response for this long is disconnected (nginx's `send_timeout`).
    public var sendTimeout: TimeInterval
    /// Who may show `/embed/{id}` in a frame: the sources of a CSP `frame-ancestors` directive, checked by
    /// `EmbedPolicy`. `*` (the default) lets any site embed public videos; the other pages are framed by
    /// this origin only.
    public var embedFrameAncestors: String
    /// Built-in TLS (`tls_certificate`, `tls_key`): HTTP/2 and HTTP/1.1 over TLS on `port`; nil: plain HTTP.
    public var tls: CertificateStore.Files? = nil
    /// With TLS, a plain-HTTP listener on this port that redirects to https (`http_redirect_port`).
    public var redirectPort: Int? = nil
    /// With TLS, `Strict-Transport-Security: max-age=` this many seconds (`hsts_max_age`; 0: not sent).
    public var hstsMaxAge: Int = 15_552_000
    /// Addresses whose `X-Forwarded-Proto` is believed (`trusted_proxies`): the TLS-terminating balancer.
    public var trustedProxies: [AddressRange] = []
    /// Webhook receivers on private or loopback addresses are allowed (`webhook_allow_private`): for an
    /// operator whose receivers live inside the network, and for tests.
    public var webhookAllowPrivate = false
    /// A delivery attempt's whole time (connect, send, answer), seconds (`webhook_timeout`).
    public var webhookTimeout: TimeInterval = 10
    /// The first retry's wait, seconds (`webhook_retry_base`); later ones double, up to 2 h, for up to a day.
    public var webhookRetryBase: TimeInterval = 30

    public init(host: String = "0.0.0.0", port: Int = 5000, layout: StorageLayout, profilesDirectory: URL,
                maxUploadBytes: Int64 = 20 << 30, uploadExpiry: TimeInterval = 24 * 3600,
                uploadLifetime: TimeInterval = 7 * 24 * 3600, maxOpenUploadsPerKey: Int = 20,
                maxBytesInFlightPerKey: Int64 = 40 << 30, maxStoredBytesPerKey: Int64 = 1 << 40, minFreeBytes: Int64 = 1 << 30,
                signingKey: [UInt8], playbackURLTTL: TimeInterval = 6 * 3600, segmentCacheBytes: Int = 256 << 20,
                sendfile: Bool = false, requestHeadTimeout: TimeInterval = 10, minBodyRate: Int64 = 1024,
                bodyRateWindow: TimeInterval = 30, maxConnectionsPerClient: Int = 256,
                metricsPublic: Bool = false, sendTimeout: TimeInterval = 60, embedFrameAncestors: String = "*",
                maxCaptionBytes: Int = 2 << 20,
                maxCaptionsPerVideo: Int = 50) {
        self.host = host; self.port = port; self.layout = layout; self.profilesDirectory = profilesDirectory
        self.maxUploadBytes = maxUploadBytes; self.uploadExpiry = uploadExpiry; self.minFreeBytes = minFreeBytes
        self.uploadLifetime = uploadLifetime; self.maxOpenUploadsPerKey = maxOpenUploadsPerKey
        self.maxBytesInFlightPerKey = maxBytesInFlightPerKey; self.maxStoredBytesPerKey = maxStoredBytesPerKey
        self.signingKey = signingKey; self.playbackURLTTL = playbackURLTTL; self.segmentCacheBytes = segmentCacheBytes
        self.sendfile = sendfile
        self.requestHeadTimeout = requestHeadTimeout; self.minBodyRate = minBodyRate; self.bodyRateWindow = bodyRateWindow
        self.maxConnectionsPerClient = maxConnectionsPerClient
        self.metricsPublic = metricsPublic; self.sendTimeout = sendTimeout
        self.embedFrameAncestors = embedFrameAncestors
        self.maxCaptionBytes = maxCaptionBytes; self.maxCaptionsPerVideo = maxCaptionsPerVideo
    }

    /// The signing key from `<root>/signing.key`, created (random, mode 0600) on first use. On a shared
    /// NFS root every host reads the same file, so signed URLs work behind a load balancer. The file is
    /// written by `SecretFile` (0600, linked into place), so no host ever reads a half-written key;
    /// a key shorter than 16 bytes is refused rather than used (an empty key would let anyone sign).
    public static func signingKey(in layout: StorageLayout) throws -> [UInt8] {
        let url = layout.signingKeyFile
        if let existing = try readKey(url) { return existing }
        var generator = SystemRandomNumberGenerator()
        let hex = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        do {
            // Linked, not renamed, into place: if another host won the race, its key is the one everyone uses.
            try SecretFile.write(hex, to: url, placement: .keepExisting)
        } catch let failure as AtomicDirectory.Failure {
            throw SigningKeyError(path: failure.path, reason: failure.reason)
        }
        guard let key = try readKey(url) else {
            throw SigningKeyError(path: url.path, reason: "the key file is shorter than 16 characters; delete it to make a new one")
        }
        return key
    }

    private static func readKey(_ url: URL) throws -> [UInt8]? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let text = try String(contentsOf: url, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.count >= 16 else {
            throw SigningKeyError(path: url.path, reason: "the key is shorter than 16 characters; delete the file to make a new one")
        }
        return Array(text.utf8)
    }
}

public struct SigningKeyError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "signing key \(path): \(reason)" }
}

extension ServerSettings {
    /// Where webhooks may go: public addresses only, unless `webhook_allow_private`.
    var webhookPolicy: WebhookAddressPolicy {
        WebhookAddressPolicy(allowPrivate: webhookAllowPrivate, allowLoopback: webhookAllowPrivate)
    }
}
