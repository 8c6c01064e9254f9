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
        let node: Any?
        do { node = try Yams.load(yaml: text) } catch { throw SettingsError("\(path): \(error)") }
        guard let map = node as? [String: Any] else {
            if node == nil { return Settings(file: [:], path: path) }
            throw SettingsError("\(path): expected a mapping of setting: value")
        }
        var values: [String: String] = [:]
        for (key, value) in map {
            guard Self.known.contains(key) else {
                throw SettingsError("\(path): unknown setting '\(key)' (known: \(Self.known.sorted().joined(separator: ", ")))")
            }
            values[key] = "\(value)"
        }
        return Settings(file: values, path: path)
    }

    /// Config-file keys; each has an environment variable `REEL_<KEY>` (upper case).
    static let known: Set<String> = [
        "data_dir", "database_url", "host", "port", "profile", "profiles_dir", "workers", "max_upload_size",
        "upload_expiry", "min_free_space", "playback_url_ttl", "signing_key", "segment_cache_size",
    ]

    /// flag ?? REEL_<KEY> ?? file[key]
    func string(_ flag: String?, _ key: String) -> String? {
        flag ?? ProcessInfo.processInfo.environment["REEL_" + key.uppercased()] ?? file[key]
    }

    func int(_ flag: Int?, _ key: String, default value: Int) throws -> Int {
        if let flag { return flag }
        guard let text = string(nil, key) else { return value }
        guard let number = Int(text) else { throw SettingsError("\(key) must be an integer, not '\(text)'") }
        return number
    }

    func bytes(_ flag: String?, _ key: String, default value: Int64) throws -> Int64 {
        guard let text = string(flag, key) else { return value }
        guard let bytes = Self.parseBytes(text) else {
            throw SettingsError("\(key) must be a size like 1048576, 500MB or 20GiB, not '\(text)'")
        }
        return bytes
    }

    func seconds(_ flag: String?, _ key: String, default value: TimeInterval) throws -> TimeInterval {
        guard let text = string(flag, key) else { return value }
        guard let seconds = Self.parseDuration(text) else {
            throw SettingsError("\(key) must be a duration like 90, 90s, 30m or 24h, not '\(text)'")
        }
        return seconds
    }

    static func parseBytes(_ text: String) -> Int64? {
        let units: [(String, Double)] = [("tib", 1_099_511_627_776), ("gib", 1_073_741_824), ("mib", 1_048_576), ("kib", 1024),
                                         ("tb", 1e12), ("gb", 1e9), ("mb", 1e6), ("kb", 1e3), ("b", 1)]
        let lower = text.lowercased().replacingOccurrences(of: " ", with: "")
        for (suffix, factor) in units where lower.hasSuffix(suffix) {
            return Double(lower.dropLast(suffix.count)).map { Int64($0 * factor) }
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

struct SettingsError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
