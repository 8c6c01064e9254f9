import Foundation
import Storage

/// Everything `reel serve` needs to know, already resolved from the config file, environment and flags.
public struct ServerSettings: Sendable {
    public var host: String
    public var port: Int
    public var layout: StorageLayout
    /// Where `devices.yaml` lives (the profiles directory).
    public var profilesDirectory: URL
    /// Largest upload accepted, in bytes (advertised as `Tus-Max-Size`).
    public var maxUploadBytes: Int64
    /// Unfinished uploads are removed this long after their last byte arrived.
    public var uploadExpiry: TimeInterval
    /// Uploads are refused (507) when they would leave less than this free on the storage root.
    public var minFreeBytes: Int64
    /// HMAC key of signed playback URLs. Every host behind the load balancer needs the same one.
    public var signingKey: [UInt8]
    /// How long a signed playback URL handed out by the API stays valid.
    public var playbackURLTTL: TimeInterval
    /// Bytes of immutable segments kept in memory (0 disables the cache).
    public var segmentCacheBytes: Int

    public init(host: String = "0.0.0.0", port: Int = 5000, layout: StorageLayout, profilesDirectory: URL,
                maxUploadBytes: Int64 = 20 << 30, uploadExpiry: TimeInterval = 24 * 3600, minFreeBytes: Int64 = 1 << 30,
                signingKey: [UInt8], playbackURLTTL: TimeInterval = 6 * 3600, segmentCacheBytes: Int = 256 << 20) {
        self.host = host; self.port = port; self.layout = layout; self.profilesDirectory = profilesDirectory
        self.maxUploadBytes = maxUploadBytes; self.uploadExpiry = uploadExpiry; self.minFreeBytes = minFreeBytes
        self.signingKey = signingKey; self.playbackURLTTL = playbackURLTTL; self.segmentCacheBytes = segmentCacheBytes
    }

    /// The signing key from `<root>/signing.key`, created (random, mode 0600) on first use. On a shared
    /// NFS root every host reads the same file, so signed URLs work behind a load balancer.
    public static func signingKey(in layout: StorageLayout) throws -> [UInt8] {
        let url = layout.root.appendingPathComponent("signing.key")
        if let text = try? String(contentsOf: url, encoding: .utf8) {
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.count >= 16 { return Array(trimmed.utf8) }
        }
        var random = [UInt8](repeating: 0, count: 32)
        for i in random.indices { random[i] = UInt8.random(in: 0...255) }
        let hex = random.map { String(format: "%02x", $0) }.joined()
        try FileManager.default.createDirectory(at: layout.root, withIntermediateDirectories: true)
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 {
            _ = hex.withCString { write(fd, $0, strlen($0)) }
            fsync(fd)
            close(fd)
            return Array(hex.utf8)
        }
        // Another process created it first: use theirs.
        let text = try String(contentsOf: url, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return Array(text.utf8)
    }
}
