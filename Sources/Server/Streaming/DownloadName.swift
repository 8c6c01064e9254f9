import Foundation

/// The name a downloaded file is saved under: the video's title (its id when the title gives nothing
/// usable), with the file's own extension, as a `Content-Disposition: attachment` (RFC 6266).
enum DownloadName {
    /// `attachment; filename="…"` with an ASCII name every client understands, plus `filename*=UTF-8''…`
    /// (RFC 8187) when the title has more than ASCII.
    static func contentDisposition(title: String, videoId: String, file: String) -> String {
        let ext = file.hasSuffix(".m4a") ? ".m4a" : ".mp4"
        let base = stem(title)
        let ascii = asciiStem(base)
        let fallback = (ascii.isEmpty ? videoId : ascii) + ext
        var value = "attachment; filename=\"\(fallback)\""
        if !base.isEmpty, base != ascii {
            value += "; filename*=UTF-8''" + percentEncoded(base + ext)
        }
        return value
    }

    /// The title without what a file name cannot hold (path separators, control characters, quotes),
    /// without a file extension it came with ("holiday.mov" → "holiday"), at most 100 characters.
    static func stem(_ title: String) -> String {
        var text = String(title.unicodeScalars.map { scalar -> Character in
            if scalar.properties.generalCategory == .control || "/\\\"*?<>|:".unicodeScalars.contains(scalar) { return "_" }
            return Character(scalar)
        })
        if let dot = text.lastIndex(of: "."), dot > text.startIndex {
            let ext = text[text.index(after: dot)...]
            if (2...4).contains(ext.count), ext.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) {
                text = String(text[..<dot])
            }
        }
        text = text.trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: ".")))
        return String(text.prefix(100))
    }

    /// The stem without accents ("Zürich" → "Zurich"), every other character outside printable ASCII
    /// (and `%`, `;`, `,`) replaced by `_`, runs of them collapsed; empty when nothing readable is left.
    static func asciiStem(_ stem: String) -> String {
        var out = ""
        for scalar in stem.folding(options: .diacriticInsensitive, locale: nil).unicodeScalars {
            let keep = scalar.value >= 0x20 && scalar.value < 0x7f && !"%;,".unicodeScalars.contains(scalar)
            if keep { out.unicodeScalars.append(scalar) } else if !out.hasSuffix("_") { out += "_" }
        }
        let trimmed = out.trimmingCharacters(in: CharacterSet(charactersIn: "_ ."))
        return trimmed.contains(where: { $0.isLetter || $0.isNumber }) ? trimmed : ""
    }

    /// RFC 8187 `value-chars`: attr-char as is, every other byte of the UTF-8 as %XX.
    static func percentEncoded(_ text: String) -> String {
        let attrChar = Set("!#$&+-.^_`|~".utf8)
        var out = ""
        for byte in text.utf8 {
            let isAlnum = (0x30...0x39).contains(byte) || (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte)
            if isAlnum || attrChar.contains(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}
