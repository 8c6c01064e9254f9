import Foundation
import Yams

/// Turns a composed YAML tree into a `Profile`, collecting every problem (with the line and
/// column of the node at fault) instead of stopping at the first one.
struct ProfileReader {
    static let topLevelKeys = ["name", "segment_duration", "keyframe_interval", "preset", "audio", "rungs", "storyboard", "downloads"]
    static let storyboardKeys = ["enabled", "interval", "width", "columns", "rows"]
    static let downloadKeys = ["video", "audio"]
    static let audioKeys = ["codec", "bitrate", "channels", "sample_rate"]
    static let rungKeys = ["name", "height", "bitrate", "peak", "profile", "level", "max_fps"]
    static let codecProfiles = ["baseline", "main", "high"]
    static let presets = [
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo",
    ]
    static let audioCodecs = ["aac"]
    static let aacSampleRates = [8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000, 88_200, 96_000]

    let file: String
    private(set) var issues: [ProfileIssue] = []

    init(file: String) {
        self.file = file
    }

    // MARK: Profile

    mutating func read(root: Node?) -> Profile? {
        guard let root else {
            report("the profile is empty; it needs at least a 'rungs' list", at: nil)
            return nil
        }
        guard let fields = fields(of: root, context: "", allowed: Self.topLevelKeys) else { return nil }

        let stem = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        let name = string("name", in: fields) ?? stem
        let segment = positiveNumber("segment_duration", in: fields, unit: " seconds")
        let keyframe = positiveNumber("keyframe_interval", in: fields, unit: " seconds")
        let segmentDuration = segment ?? ProfileDefaults.segmentDuration
        let keyframeInterval = keyframe ?? ProfileDefaults.keyframeInterval
        if fields.has("segment_duration") == (segment != nil), fields.has("keyframe_interval") == (keyframe != nil) {
            let ratio = segmentDuration / keyframeInterval
            if ratio < 1 - 1e-9 || abs(ratio - ratio.rounded()) > 1e-6 {
                let at = fields.value("segment_duration") ?? fields.value("keyframe_interval")
                report("segment_duration (\(format(segmentDuration))) must be a whole multiple of keyframe_interval "
                    + "(\(format(keyframeInterval))) so every segment starts on a keyframe", at: at)
            }
        }
        let preset = choice("preset", in: fields, from: Self.presets) ?? ProfileDefaults.preset

        var audio = AudioSpec.standard
        if let node = fields.value("audio"), !isNull(node) {
            audio = readAudio(node) ?? audio
        }
        let rungs = readRungs(fields)
        var downloads = DownloadSpec.off
        if let node = fields.value("downloads"), !isNull(node) {
            downloads = readDownloads(node, rungs: rungs) ?? downloads
        }
        let storyboard = fields.value("storyboard").map { readStoryboard($0) } ?? .standard

        guard issues.isEmpty else { return nil }
        return Profile(
            name: name, rungs: rungs, audio: audio,
            segmentDuration: segmentDuration, keyframeInterval: keyframeInterval, preset: preset,
            downloads: downloads, storyboard: storyboard
        )
    }

    // MARK: Storyboard

    /// `storyboard: off` (or false, no), `storyboard: on`, or a mapping of its keys (`enabled: false`
    /// turns it off too). Absent keys take `StoryboardSpec.standard`'s values.
    private mutating func readStoryboard(_ node: Node) -> StoryboardSpec? {
        if let scalar = node.scalar {
            switch scalar.string.lowercased() {
            case "off", "false", "no": return nil
            case "on", "true", "yes": return .standard
            default:
                report("storyboard must be 'off', 'on' or a mapping of interval, width, columns and rows, got \(describe(node))", at: node)
                return nil
            }
        }
        guard let fields = fields(of: node, context: "storyboard: ", allowed: Self.storyboardKeys) else { return nil }
        var enabled = true
        if let text = string("enabled", in: fields)?.lowercased() {
            switch text {
            case "true", "yes", "on": enabled = true
            case "false", "no", "off": enabled = false
            default: report("storyboard: enabled must be true or false, got '\(text)'", at: fields.value("enabled"))
            }
        }
        let standard = StoryboardSpec.standard
        let interval = positiveNumber("interval", in: fields, unit: " seconds")
        if let interval, !StoryboardSpec.intervalRange.contains(interval) {
            report("storyboard: interval must be between \(format(StoryboardSpec.intervalRange.lowerBound)) and "
                + "\(format(StoryboardSpec.intervalRange.upperBound)) seconds, got \(format(interval))", at: fields.value("interval"))
        }
        let width = positiveInt("width", in: fields)
        if let width {
            if !StoryboardSpec.widthRange.contains(width) {
                report("storyboard: width must be between \(StoryboardSpec.widthRange.lowerBound) and "
                    + "\(StoryboardSpec.widthRange.upperBound) pixels, got \(width)", at: fields.value("width"))
            } else if width % 2 != 0 {
                report("storyboard: width must be even (4:2:0 pictures need even sizes), got \(width)", at: fields.value("width"))
            }
        }
        var grid: [String: Int] = [:]
        for key in ["columns", "rows"] {
            guard let count = positiveInt(key, in: fields) else { continue }
            if !StoryboardSpec.gridRange.contains(count) {
                report("storyboard: \(key) must be between \(StoryboardSpec.gridRange.lowerBound) and "
                    + "\(StoryboardSpec.gridRange.upperBound), got \(count)", at: fields.value(key))
            }
            grid[key] = count
        }
        guard enabled else { return nil }
        return StoryboardSpec(interval: interval ?? standard.interval, width: width ?? standard.width,
                              columns: grid["columns"] ?? standard.columns, rows: grid["rows"] ?? standard.rows)
    }

    // MARK: Audio

    private mutating func readAudio(_ node: Node) -> AudioSpec? {
        guard let fields = fields(of: node, context: "audio: ", allowed: Self.audioKeys) else { return nil }
        let standard = AudioSpec.standard
        let codec = choice("codec", in: fields, from: Self.audioCodecs)
        let audioBitrate = bitrate("bitrate", in: fields)
        let channels = positiveInt("channels", in: fields)
        if let channels, channels > 8, let at = fields.value("channels") {
            report("audio: channels must be between 1 and 8, got \(channels)", at: at)
        }
        var sampleRate = positiveInt("sample_rate", in: fields)
        if let rate = sampleRate, !Self.aacSampleRates.contains(rate) {
            report("audio: sample_rate \(rate) is not an AAC sample rate (use 48000 or 44100)", at: fields.value("sample_rate"))
            sampleRate = nil
        }
        return AudioSpec(
            codec: codec ?? standard.codec, bitrate: audioBitrate ?? standard.bitrate,
            channels: channels ?? standard.channels, sampleRate: sampleRate ?? standard.sampleRate
        )
    }

    // MARK: Downloads

    /// `video`: a rung of this profile, `highest` or `off` (default off); `audio`: true or false (default false).
    private mutating func readDownloads(_ node: Node, rungs: [RungSpec]) -> DownloadSpec? {
        guard let fields = fields(of: node, context: "downloads: ", allowed: Self.downloadKeys) else { return nil }
        var video = DownloadSpec.Video.off
        if let text = string("video", in: fields) {
            let names = rungs.map(\.name)
            switch text.lowercased() {
            case "off", "false", "no", "none": video = .off
            case "highest": video = .highest
            default:
                if names.contains(text) {
                    video = .rung(text)
                } else if !rungs.isEmpty {
                    report("downloads: video '\(text)' is not a rung of this profile (use one of \(names.joined(separator: ", ")), "
                        + "highest or off)", at: fields.value("video"))
                }
            }
        }
        let audio = boolean("audio", in: fields) ?? false
        return DownloadSpec(video: video, audio: audio)
    }

    // MARK: Rungs

    /// A rung plus the nodes later checks point at.
    private struct ParsedRung {
        var spec: RungSpec
        var node: Node
        var nameNode: Node?
        var heightNode: Node?
        var bitrateNode: Node?
        var complete: Bool
    }

    private mutating func readRungs(_ fields: Fields) -> [RungSpec] {
        guard let node = fields.value("rungs") else {
            report("missing required key 'rungs' (the list of renditions)", at: fields.node)
            return []
        }
        guard let sequence = node.sequence else {
            report("rungs must be a list of renditions (each item starting with '- '), got \(describe(node))", at: node)
            return []
        }
        guard !sequence.isEmpty else {
            report("rungs is empty; a profile needs at least one rung", at: node)
            return []
        }

        var parsed: [ParsedRung] = []
        for (index, item) in sequence.enumerated() {
            if let rung = readRung(item, number: index + 1) { parsed.append(rung) }
        }
        checkDuplicates(parsed)
        parsed.sort { $0.spec.height < $1.spec.height }
        checkBitratesRise(parsed)
        return parsed.map(\.spec)
    }

    private mutating func readRung(_ node: Node, number: Int) -> ParsedRung? {
        // Name the rung in messages as early as possible, before its fields are checked.
        let label: String
        if let name = node.mapping?["name"]?.scalar?.string, !name.isEmpty {
            label = "rung '\(name)'"
        } else if let height = node.mapping?["height"]?.scalar?.string, Int(height) != nil {
            label = "rung '\(height)p'"
        } else {
            label = "rung #\(number)"
        }
        let context = "\(label): "
        guard let fields = fields(of: node, context: context, allowed: Self.rungKeys) else { return nil }

        let height = positiveInt("height", in: fields, required: true)
        if let height, height % 2 != 0 {
            report("\(context)height must be even (4:2:0 video needs even sizes), got \(height)", at: fields.value("height"))
        }
        var name = string("name", in: fields)
        if let given = name, !isValidRungName(given) {
            report("\(context)name '\(given)' may only use letters, digits, '-', '_' and '.' "
                + "(it becomes a directory name) and must not start with '.'", at: fields.value("name"))
            name = nil
        }
        let videoBitrate = bitrate("bitrate", in: fields, required: true)
        var peak = bitrate("peak", in: fields)
        if let peak, let videoBitrate, peak < videoBitrate {
            report("\(context)peak (\(Bitrate.format(peak))) must not be below bitrate (\(Bitrate.format(videoBitrate)))",
                   at: fields.value("peak"))
        }
        if peak == nil, !fields.has("peak"), let videoBitrate {
            peak = ProfileDefaults.peak(forBitrate: videoBitrate)
        }
        let codecProfile = choice("profile", in: fields, from: Self.codecProfiles)
        let level = readLevel(in: fields, context: context)
        let maxFrameRate = positiveNumber("max_fps", in: fields, unit: " fps")

        let complete = height != nil && videoBitrate != nil && peak != nil && level != nil
            && (codecProfile != nil || !fields.has("profile"))
            && (maxFrameRate != nil || !fields.has("max_fps"))
        let spec = RungSpec(
            name: name ?? "\(height ?? 0)p",
            height: height ?? 0,
            videoBitrate: videoBitrate ?? 0,
            peakBitrate: peak ?? 0,
            codecProfile: codecProfile ?? ProfileDefaults.codecProfile,
            level: level?.name ?? "",
            maxFrameRate: maxFrameRate ?? ProfileDefaults.maxFrameRate
        )
        if complete, let level, spec.height % 2 == 0, spec.peakBitrate >= spec.videoBitrate {
            checkLevelFits(spec, level: level, context: context, at: fields.value("level"))
        }
        return ParsedRung(
            spec: spec, node: node, nameNode: fields.value("name"), heightNode: fields.value("height"),
            bitrateNode: fields.value("bitrate"), complete: complete
        )
    }

    private mutating func readLevel(in fields: Fields, context: String) -> H264Level? {
        guard let text = string("level", in: fields, required: true) else { return nil }
        guard let level = H264Level.named(text) else {
            let known = H264Level.all.map(\.name).joined(separator: ", ")
            report("\(context)level '\(text)' is not an H.264 level (one of \(known))", at: fields.value("level"))
            return nil
        }
        return level
    }

    /// The level must cover the rung as a 16:9 picture at its frame-rate cap and peak bitrate.
    /// (Sources of other shapes may need more; the planner raises the level for those.)
    private mutating func checkLevelFits(_ spec: RungSpec, level: H264Level, context: String, at node: Node?) {
        let width = RungPlanner.evenRounded(Double(spec.height) * 16 / 9)
        let fits = level.allows(
            width: width, height: spec.height, frameRate: spec.maxFrameRate,
            peakBitrate: spec.peakBitrate, codecProfile: spec.codecProfile
        )
        guard !fits else { return }
        let stream = "\(width)x\(spec.height) at up to \(format(spec.maxFrameRate)) fps with peak \(Bitrate.format(spec.peakBitrate))"
        if let needed = H264Level.minimum(
            width: width, height: spec.height, frameRate: spec.maxFrameRate,
            peakBitrate: spec.peakBitrate, codecProfile: spec.codecProfile
        ) {
            report("\(context)\(stream) needs H.264 level \(needed.name) or higher, but level is \(level.name) "
                + "(raise level, or lower max_fps or peak)", at: node)
        } else {
            report("\(context)\(stream) exceeds every H.264 level", at: node)
        }
    }

    private mutating func checkDuplicates(_ rungs: [ParsedRung]) {
        var names: [String: Node] = [:]
        var heights: [Int: Node] = [:]
        for rung in rungs {
            let name = rung.spec.name
            if let first = names[name] {
                report("rung '\(name)': duplicate rung name (first used at line \(first.mark?.line ?? 0))",
                       at: rung.nameNode ?? rung.node)
            } else {
                names[name] = rung.nameNode ?? rung.node
            }
            let height = rung.spec.height
            guard height > 0 else { continue }
            if let first = heights[height] {
                report("rung '\(name)': duplicate height \(height) (first used at line \(first.mark?.line ?? 0)); "
                    + "one rung per height", at: rung.heightNode ?? rung.node)
            } else {
                heights[height] = rung.heightNode ?? rung.node
            }
        }
    }

    /// A taller rung with no more bits than a shorter one is almost always a typo.
    private mutating func checkBitratesRise(_ rungs: [ParsedRung]) {
        let complete = rungs.filter(\.complete)
        for (lower, upper) in zip(complete, complete.dropFirst())
        where upper.spec.height > lower.spec.height && upper.spec.videoBitrate <= lower.spec.videoBitrate {
            report("rung '\(upper.spec.name)': bitrate \(Bitrate.format(upper.spec.videoBitrate)) must be above "
                + "the \(Bitrate.format(lower.spec.videoBitrate)) of the smaller rung '\(lower.spec.name)'",
                at: upper.bitrateNode ?? upper.node)
        }
    }

    private func isValidRungName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0)) }
    }

    // MARK: Reporting

    mutating func report(_ message: String, at node: Node?) {
        let mark = node?.mark
        issues.append(ProfileIssue(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, message: message))
    }

    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): return isNull(node) ? "nothing" : "'\(scalar.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    func isNull(_ node: Node) -> Bool {
        guard let scalar = node.scalar else { return false }
        return scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    private func format(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int(number)) : String(number)
    }
}
