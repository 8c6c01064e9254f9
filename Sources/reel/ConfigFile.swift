import Foundation
import Yams

/// Settings come from three places; a flag beats the environment, which beats the config file
/// (`--config`, else `$REEL_CONFIG`, else `./reel.yaml` when it exists), which beats the default.
struct Settings {
    let file: [String: String]
    let path: String?

    static func load(configPath: String?) throws -> Settings {
        let explicit = configPath ?? ProcessInfo.processInfo.environment["REEL_CONFIG"]
        let path = explicit ?? (FileManager.default.fileExists(atPath: "reel.yaml") ? "reel.yaml" : nil)
        guard let path else { return Settings(file: [:], path: nil) }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SettingsError("cannot read config file \(path)")
        }
        // Scalars are kept as written (a signing key "0042…" stays a string, `~` is not YAML's null).
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch { throw SettingsError("\(path): \(error)") }
        guard let root else { return Settings(file: [:], path: path) }
        guard let map = root.mapping else { throw SettingsError("\(path): expected a mapping of setting: value") }
        var values: [String: String] = [:]
        for (keyNode, valueNode) in map {
            guard let key = keyNode.string, Self.known.contains(key) else {
                throw SettingsError("\(path): unknown setting '\(keyNode.string ?? "?")' (known: \(Self.known.sorted().joined(separator: ", ")))")
            }
            guard let value = valueNode.scalar?.string else {
                throw SettingsError("\(path): \(key) must be a single value")
            }
            values[key] = value
        }
        // The profiles directory is read by several parts (and by worker child processes) through
        // REEL_PROFILES_DIR; the environment still wins over the file.
        if let profiles = values["profiles_dir"], ProcessInfo.processInfo.environment["REEL_PROFILES_DIR"].map({ $0.isEmpty }) ?? true {
            setenv("REEL_PROFILES_DIR", expandTilde(profiles), 1)
        }
        // So is the node's name (worker owners, upload locks, the autoscaler's status file).
        if let name = values["node_name"], ProcessInfo.processInfo.environment["REEL_NODE_NAME"].map({ $0.isEmpty }) ?? true {
            setenv("REEL_NODE_NAME", name, 1)
        }
        return Settings(file: values, path: path)
    }

    /// Config-file keys; each has an environment variable `REEL_<KEY>` (upper case).
    static let known: Set<String> = [
        "data_dir", "database_url", "node_name", "host", "port", "profile", "profiles_dir", "workers", "max_upload_size",
        "upload_expiry", "min_free_space", "playback_url_ttl", "signing_key", "segment_cache_size", "sendfile",
        "upload_lifetime", "max_open_uploads_per_key", "max_bytes_in_flight_per_key", "max_stored_per_key",
        "request_head_timeout", "min_body_rate", "body_rate_window", "max_connections_per_client",
        "metrics_public", "send_timeout", "embed_frame_ancestors", "max_caption_size", "max_captions_per_video",
        "min_workers", "max_workers", "target_cpu", "backlog_per_worker", "scale_out_cooldown", "scale_in_cooldown",
        "warmup", "cpu_window", "autoscale_interval", "drain_timeout", "hang_after", "lease_duration",
        "max_duration", "max_dimension", "max_frame_rate", "max_streams", "max_chunks",
        "job_timeout_factor", "job_timeout_min", "stall_timeout", "log_format",
        "tls_certificate", "tls_key", "http_redirect_port", "hsts_max_age", "trusted_proxies",
        "webhook_allow_private", "webhook_timeout", "webhook_retry_base",
    ]

    /// flag ?? REEL_<KEY> ?? file[key]; an empty value counts as unset. Paths get `~` expanded.
    func string(_ flag: String?, _ key: String) -> String? {
        let environment = ProcessInfo.processInfo.environment["REEL_" + key.uppercased()]
        let value = [flag, environment, file[key]].compactMap { $0 }.first { !$0.isEmpty }
        return key.hasSuffix("_dir") ? value.map(expandTilde) : value
    }

    func int(_ flag: Int?, _ key: String, default value: Int) throws -> Int {
        if let flag { return flag }
        guard let text = string(nil, key) else { return value }
        guard let number = Int(text) else { throw SettingsError("\(key) must be an integer, not '\(text)'") }
        return number
    }

    func double(_ flag: Double?, _ key: String, default value: Double) throws -> Double {
        if let flag { return flag }
        guard let text = string(nil, key) else { return value }
        guard let number = Double(text), number.isFinite else { throw SettingsError("\(key) must be a number, not '\(text)'") }
        return number
    }

    func bool(_ flag: String?, _ key: String, default value: Bool) throws -> Bool {
        guard let text = string(flag, key) else { return value }
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw SettingsError("\(key) must be true or false, not '\(text)'")
        }
    }

    func bytes(_ flag: String?, _ key: String, default value: Int64) throws -> Int64 {
        guard let text = string(flag, key) else { return value }
        guard let bytes = Self.parseBytes(text), bytes >= 0 else {
            throw SettingsError("\(key) must be a size like 1048576, 500MB or 20GiB, not '\(text)'")
        }
        return bytes
    }

    func seconds(_ flag: String?, _ key: String, default value: TimeInterval) throws -> TimeInterval {
        guard let text = string(flag, key) else { return value }
        guard let seconds = Self.parseDuration(text), seconds > 0, seconds < 100 * 365 * 86400 else {
            throw SettingsError("\(key) must be a duration like 90, 90s, 30m or 24h, not '\(text)'")
        }
        return seconds
    }

    static func parseBytes(_ text: String) -> Int64? {
        let units: [(String, Double)] = [("tib", 1_099_511_627_776), ("gib", 1_073_741_824), ("mib", 1_048_576), ("kib", 1024),
                                         ("tb", 1e12), ("gb", 1e9), ("mb", 1e6), ("kb", 1e3), ("b", 1)]
        let lower = text.lowercased().replacingOccurrences(of: " ", with: "")
        for (suffix, factor) in units where lower.hasSuffix(suffix) {
            guard let number = Double(lower.dropLast(suffix.count)), number * factor < 9e18 else { return nil }
            return Int64(number * factor)
        }
        return Int64(lower)
    }

    static func parseDuration(_ text: String) -> TimeInterval? {
        let lower = text.lowercased().replacingOccurrences(of: " ", with: "")
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, factor) in units where lower.hasSuffix(suffix) {
            if suffix == "s" && lower.hasSuffix("ms") { continue }
            return Double(lower.dropLast(suffix.count)).map { $0 * factor }
        }
        return Double(lower)
    }
}

func expandTilde(_ path: String) -> String {
    guard path == "~" || path.hasPrefix("~/") else { return path }
    return FileManager.default.homeDirectoryForCurrentUser.path + path.dropFirst()
}

struct SettingsError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
