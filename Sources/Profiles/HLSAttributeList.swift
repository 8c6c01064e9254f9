import Foundation

/// The attribute list of an HLS tag (`#EXT-X-STREAM-INF:BANDWIDTH=…,CODECS="a,b",…`), RFC 8216 §4.2.
/// Quoted values may contain commas; only what tailoring needs is exposed.
struct HLSAttributeList {
    private(set) var values: [String: String] = [:]

    /// Parses what follows the first ':' of a tag line; malformed pairs are skipped.
    init(tagLine: String) {
        guard let colon = tagLine.firstIndex(of: ":") else { return }
        var name = ""
        var value = ""
        var readingValue = false
        var quoted = false
        for character in tagLine[tagLine.index(after: colon)...] {
            if quoted {
                if character == "\"" { quoted = false } else { value.append(character) }
            } else if character == "\"" && readingValue {
                quoted = true
            } else if character == "," {
                store(name, value, readingValue)
                (name, value, readingValue) = ("", "", false)
            } else if character == "=" && !readingValue {
                readingValue = true
            } else if readingValue {
                value.append(character)
            } else {
                name.append(character)
            }
        }
        store(name, value, readingValue)
    }

    private mutating func store(_ name: String, _ value: String, _ complete: Bool) {
        let key = name.trimmingCharacters(in: .whitespaces)
        guard complete, !key.isEmpty else { return }
        values[key] = value.trimmingCharacters(in: .whitespaces)
    }

    /// BANDWIDTH in bits per second.
    var bandwidth: Int? { values["BANDWIDTH"].flatMap { Int($0) } }

    /// The SHORT side of RESOLUTION (so portrait 720x1280 is 720, like rung heights); nil without one.
    var shortSide: Int? {
        guard let resolution = values["RESOLUTION"] else { return nil }
        let sides = resolution.lowercased().split(separator: "x").compactMap { Int($0) }
        guard sides.count == 2, sides.allSatisfy({ $0 > 0 }) else { return nil }
        return min(sides[0], sides[1])
    }
}
