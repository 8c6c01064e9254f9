import ArgumentParser
import Foundation
import Media

struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe", abstract: "Show what a media file holds: container, duration and each stream.")

    @Argument(help: "The file to inspect.") var file: String
    @Flag(help: "Print JSON instead of text.") var json = false

    func run() throws {
        let result: ProbeResult
        do { result = try Prober.probe(path: file) } catch { throw fail(error) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            print(ProbeText.render(result))
        }
    }
}

/// The human-readable form of a probe result.
enum ProbeText {
    static func render(_ r: ProbeResult) -> String {
        var lines = ["\(r.path): \(r.containerLongName) (\(r.container)), \(bytes(r.sizeBytes))"]
        lines.append("  duration: \(r.duration.map { String(format: "%.3f s", $0) } ?? "unknown")"
            + (r.bitrate.map { ", \($0 / 1000) kb/s" } ?? ""))
        for s in r.streams {
            var parts = ["#\(s.index) \(s.kind.rawValue): \(s.codec)"]
            if let profile = s.profile { parts.append(profile) }
            if let v = s.video {
                if let fmt = v.pixelFormat { parts.append(fmt + (v.bitDepth.map { " (\($0)-bit \(v.chromaSubsampling ?? ""))" } ?? "")) }
                var size = "\(v.codedWidth)x\(v.codedHeight)"
                if v.displayWidth != v.codedWidth || v.displayHeight != v.codedHeight {
                    size += " shown as \(v.displayWidth)x\(v.displayHeight)"
                }
                if v.rotation != 0 { size += " (rotated \(v.rotation)°)" }
                parts.append(size)
                if let fps = v.frameRateValue { parts.append(String(format: "%.3f fps", fps) + (v.variableFrameRate ? " variable" : "")) }
                parts.append(v.fieldOrder)
            }
            if let a = s.audio { parts.append("\(a.sampleRate) Hz, \(a.channelLayout) (\(a.channels) ch)") }
            if let b = s.bitrate { parts.append("\(b / 1000) kb/s") }
            if s.isDefaultChoice { parts.append("[used]") }
            lines.append("  " + parts.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }

    static func bytes(_ n: Int64) -> String {
        n >= 1 << 20 ? String(format: "%.1f MiB", Double(n) / 1048576) : String(format: "%.1f KiB", Double(n) / 1024)
    }
}
