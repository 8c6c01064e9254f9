import Foundation
import Logging
import Synchronization

/// How a process writes its log: `text` (swift-log's own lines, for people) or `json` (one object per line,
/// for journald, the CloudWatch agent or any shipper that takes JSON lines as they are).
/// Chosen by `--log-format`, `REEL_LOG_FORMAT` or `log_format`, and set once per process, before the first
/// logger is made. The choice is put into the environment so the worker processes `reel up` and the
/// autoscaler start log the same way.
enum LogOutput: String, CaseIterable {
    case text, json

    private static let chosen = Mutex<LogOutput?>(nil)

    /// Sets the process's log handler the first time it is called; later calls change nothing.
    static func bootstrap(flag: String?, configPath: String?) throws {
        let settings = (try? Settings.load(configPath: configPath)) ?? Settings(file: [:], path: nil)
        let raw = settings.string(flag, "log_format") ?? "text"
        guard let format = LogOutput(rawValue: raw.lowercased()) else {
            throw SettingsError("log_format must be text or json, not '\(raw)'")
        }
        let first = chosen.withLock { current -> Bool in
            guard current == nil else { return false }
            current = format
            return true
        }
        guard first else { return }
        setenv("REEL_LOG_FORMAT", format.rawValue, 1)
        switch format {
        case .text: LoggingSystem.bootstrap(StreamLogHandler.standardError)
        case .json: LoggingSystem.bootstrap(JSONLogHandler.init(label:))
        }
    }
}

/// One JSON object per line on standard error:
/// `{"time":"2026-11-30T01:40:14.123Z","level":"info","logger":"reel.serve","message":"…","source":"Server",
/// "metadata":{"address":"0.0.0.0:5000"}}`. Keys are always in that order; `metadata` only when there is some.
/// A line goes out in one `write(2)` to the descriptor (no stdio buffer shared between threads), so lines
/// from different threads do not interleave in a pipe (journald) or an O_APPEND file.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    init(label: String) {
        self.label = label
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let level = event.level, message = event.message, source = event.source
        var all = metadata
        if let explicit = event.metadata { all.merge(explicit) { _, new in new } }
        if let error = event.error { all["error"] = .string("\(error)") }
        var out = "{\"time\":\"\(Self.timestamp())\",\"level\":\"\(level.rawValue)\",\"logger\":"
        Self.append(label, to: &out)
        out += ",\"message\":"
        Self.append(message.description, to: &out)
        out += ",\"source\":"
        Self.append(source, to: &out)
        if !all.isEmpty {
            out += ",\"metadata\":"
            Self.append(.dictionary(all), to: &out)
        }
        out += "}\n"
        let bytes = Array(out.utf8)
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(STDERR_FILENO, raw.baseAddress! + offset, raw.count - offset)
                if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { return }
            }
        }
    }

    /// UTC, milliseconds: what log shippers parse without a format string.
    static func timestamp(_ date: Date = Date()) -> String {
        let seconds = date.timeIntervalSince1970
        var whole = time_t(seconds.rounded(.down))
        let millis = min(999, Int((seconds - Double(whole)) * 1000))
        var parts = tm()
        gmtime_r(&whole, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), millis)
    }

    static func append(_ value: Logger.Metadata.Value, to out: inout String) {
        switch value {
        case let .string(text): append(text, to: &out)
        case let .stringConvertible(thing): append(thing.description, to: &out)
        case let .array(items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                append(item, to: &out)
            }
            out += "]"
        case let .dictionary(map):
            out += "{"
            for (i, key) in map.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                append(key, to: &out)
                out += ":"
                append(map[key]!, to: &out)
            }
            out += "}"
        }
    }

    /// A JSON string: quotes, backslashes and control characters escaped (RFC 8259 §7).
    static func append(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || scalar.value == 0x2028 || scalar.value == 0x2029:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
