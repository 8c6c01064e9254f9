import Foundation

/// One cue: seconds on the source's timeline (0 is the first picture of the video), and its text.
public struct Cue: Sendable, Codable, Equatable {
    public var start: Double
    public var end: Double
    /// WebVTT cue settings (`line:90% align:start`), kept from a WebVTT file; empty otherwise.
    public var settings: String
    /// One or more lines, none of them empty.
    public var text: String

    public init(start: Double, end: Double, settings: String = "", text: String) {
        self.start = start
        self.end = end
        self.settings = settings
        self.text = text
    }
}

/// Why a caption file was refused, and on which line (1-based; 0 when it is about the whole file).
public struct CaptionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var reason: String

    public init(line: Int, _ reason: String) {
        self.line = line
        self.reason = reason
    }

    public var description: String { line > 0 ? "Line \(line): \(reason)" : reason }
}

/// How big a caption file may be. Bytes are a setting (`max_caption_bytes`); the others keep a hostile
/// file from costing much memory or time within that size.
public struct CaptionLimits: Sendable, Equatable {
    public var maxBytes: Int
    public var maxCues: Int
    public var maxLineBytes: Int

    public init(maxBytes: Int = 2 << 20, maxCues: Int = 20_000, maxLineBytes: Int = 2_000) {
        self.maxBytes = maxBytes
        self.maxCues = maxCues
        self.maxLineBytes = maxLineBytes
    }
}

/// Reads WebVTT and SubRip (SRT) files into cues. Either the whole file is good, or it is refused with the
/// first line that is wrong: nothing half-parsed comes out.
public enum CaptionParser {
    public enum Format: String, Sendable { case webVTT = "vtt", subRip = "srt" }

    /// `format` nil: WebVTT when the file starts with `WEBVTT`, SubRip otherwise.
    public static func parse(_ data: Data, format: Format? = nil, limits: CaptionLimits = CaptionLimits()) throws(CaptionError) -> [Cue] {
        guard data.count <= limits.maxBytes else {
            throw CaptionError(line: 0, "the file is \(data.count) bytes, more than the \(limits.maxBytes) allowed")
        }
        let lines = try splitLines(data, limits: limits)
        let looksVTT = lines.first.map { $0 == "WEBVTT" || $0.hasPrefix("WEBVTT ") || $0.hasPrefix("WEBVTT\t") } ?? false
        let cues: [Cue]
        switch format ?? (looksVTT ? .webVTT : .subRip) {
        case .webVTT:
            guard looksVTT else { throw CaptionError(line: 1, "a WebVTT file must start with the line \"WEBVTT\"") }
            cues = try parseBlocks(lines, from: 1, limits: limits, vtt: true)
        case .subRip:
            cues = try parseBlocks(lines, from: 0, limits: limits, vtt: false)
        }
        guard !cues.isEmpty else { throw CaptionError(line: 0, "the file has no cues") }
        return cues
    }

    /// UTF-8 lines without their CR/LF (a byte order mark is dropped).
    static func splitLines(_ data: Data, limits: CaptionLimits) throws(CaptionError) -> [String] {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var lines: [String] = []
        var start = 0
        var i = 0
        func take(_ end: Int) throws(CaptionError) {
            let slice = bytes[start..<end]
            guard slice.count <= limits.maxLineBytes else {
                throw CaptionError(line: lines.count + 1, "the line is \(slice.count) bytes long, more than the \(limits.maxLineBytes) allowed")
            }
            guard let text = String(validating: slice, as: UTF8.self) else {
                throw CaptionError(line: lines.count + 1, "the line is not valid UTF-8 (save the file as UTF-8)")
            }
            guard !text.contains("\u{0}") else { throw CaptionError(line: lines.count + 1, "the line holds a NUL character") }
            lines.append(text)
        }
        while i < bytes.count {
            if bytes[i] == 0x0A || bytes[i] == 0x0D {
                try take(i)
                if bytes[i] == 0x0D, i + 1 < bytes.count, bytes[i + 1] == 0x0A { i += 1 }
                start = i + 1
            }
            i += 1
        }
        if start < bytes.count { try take(bytes.count) }
        return lines
    }

    /// Blocks separated by blank lines. WebVTT: the header block is skipped, NOTE/STYLE/REGION blocks are
    /// dropped, a cue may have an identifier line. SubRip: a cue number line, then the timing line.
    private static func parseBlocks(_ lines: [String], from first: Int, limits: CaptionLimits, vtt: Bool) throws(CaptionError) -> [Cue] {
        var cues: [Cue] = []
        var i = first
        if vtt {
            // The rest of the header block (metadata headers) runs to the first blank line.
            while i < lines.count, !lines[i].isEmpty {
                if lines[i].contains("-->") { throw CaptionError(line: i + 1, "a blank line must follow the WEBVTT header before the first cue") }
                i += 1
            }
        }
        while i < lines.count {
            if isBlank(lines[i]) { i += 1; continue }
            let blockStart = i
            if vtt, ["NOTE", "STYLE", "REGION"].contains(where: { lines[i] == $0 || lines[i].hasPrefix($0 + " ") || lines[i].hasPrefix($0 + "\t") }) {
                while i < lines.count, !lines[i].isEmpty { i += 1 }
                continue
            }
            var timingLine = i
            if !lines[i].contains("-->") {
                // An identifier (WebVTT) or the cue number (SubRip), then the timing line.
                if !vtt, Int(lines[i].trimmingCharacters(in: .whitespaces)) == nil {
                    throw CaptionError(line: i + 1, "expected a cue number or a timing line (00:00:01,000 --> 00:00:02,000), found \"\(excerpt(lines[i]))\"")
                }
                timingLine = i + 1
                guard timingLine < lines.count, lines[timingLine].contains("-->") else {
                    throw CaptionError(line: timingLine < lines.count ? timingLine + 1 : blockStart + 1,
                                       "expected a timing line (\(vtt ? "00:00:01.000 --> 00:00:02.000" : "00:00:01,000 --> 00:00:02,000")) after \"\(excerpt(lines[blockStart]))\"")
                }
            }
            var cue = try timing(lines[timingLine], line: timingLine + 1, vtt: vtt)
            var text: [String] = []
            i = timingLine + 1
            while i < lines.count, !isBlank(lines[i]) {
                if lines[i].contains("-->") {
                    throw CaptionError(line: i + 1, "cue text may not contain \"-->\" (is a blank line missing before this cue?)")
                }
                text.append(lines[i])
                i += 1
            }
            cue.text = text.joined(separator: "\n")
            guard cues.count < limits.maxCues else {
                throw CaptionError(line: timingLine + 1, "the file has more than the \(limits.maxCues) cues allowed")
            }
            if !cue.text.isEmpty { cues.append(cue) }
        }
        return cues
    }

    private static func isBlank(_ line: String) -> Bool { line.allSatisfy { $0 == " " || $0 == "\t" } }

    /// `start --> end [settings]`.
    private static func timing(_ text: String, line: Int, vtt: Bool) throws(CaptionError) -> Cue {
        let halves = text.components(separatedBy: "-->")
        guard halves.count == 2 else { throw CaptionError(line: line, "a timing line has one \"-->\"") }
        let startText = halves[0].trimmingCharacters(in: .whitespaces)
        let rest = halves[1].trimmingCharacters(in: .whitespaces)
        let endText = String(rest.prefix { $0 != " " && $0 != "\t" })
        let settings = rest.dropFirst(endText.count).trimmingCharacters(in: .whitespaces)
        guard let start = parseTimestamp(startText, vtt: vtt) else {
            throw CaptionError(line: line, "\"\(excerpt(startText))\" is not a timestamp (\(vtt ? "hh:mm:ss.ttt or mm:ss.ttt" : "hh:mm:ss,ttt"))")
        }
        guard let end = parseTimestamp(endText, vtt: vtt) else {
            throw CaptionError(line: line, "\"\(excerpt(endText))\" is not a timestamp (\(vtt ? "hh:mm:ss.ttt or mm:ss.ttt" : "hh:mm:ss,ttt"))")
        }
        guard end > start else {
            throw CaptionError(line: line, "the cue ends at \(endText), not after it starts at \(startText)")
        }
        return Cue(start: start, end: end, settings: vtt ? settings : "", text: "")
    }

    /// WebVTT: `[hh:]mm:ss.ttt`. SubRip: `hh:mm:ss,ttt` (a `.` and 1–3 fraction digits are accepted, as
    /// many tools write them). Minutes and seconds below 60.
    public static func parseTimestamp(_ text: String, vtt: Bool) -> Double? {
        let separators: Set<Character> = vtt ? ["."] : [",", "."]
        guard let cut = text.lastIndex(where: { separators.contains($0) }) else { return nil }
        let fraction = text[text.index(after: cut)...]
        let fields = text[..<cut].split(separator: ":", omittingEmptySubsequences: false)
        guard (vtt ? 3...3 : 1...3).contains(fraction.count), fraction.allSatisfy({ $0.isASCII && $0.isNumber }),
              let ms = Int(fraction), (vtt ? 2...3 : 3...3).contains(fields.count) else { return nil }
        var values: [Int] = []
        for (n, field) in fields.enumerated() {
            let isHours = fields.count == 3 && n == 0
            guard !field.isEmpty, field.allSatisfy({ $0.isASCII && $0.isNumber }), field.count <= (isHours ? 4 : 2),
                  isHours || field.count == 2 || !vtt, let v = Int(field) else { return nil }
            if !isHours && v > 59 { return nil }
            values.append(v)
        }
        let hours = values.count == 3 ? values[0] : 0
        let minutes = values[values.count - 2]
        let seconds = values[values.count - 1]
        var millis = ms
        for _ in fraction.count..<3 { millis *= 10 }
        return Double((hours * 3600 + minutes * 60 + seconds) * 1000 + millis) / 1000
    }

    private static func excerpt(_ text: String) -> String { text.count > 40 ? String(text.prefix(40)) + "…" : text }
}
