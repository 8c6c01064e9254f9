import Foundation

/// Puts a video's caption tracks into its master playlist: one `#EXT-X-MEDIA:TYPE=SUBTITLES` per track in
/// the `subs` group, and `SUBTITLES="subs"` on every variant. Whatever subtitle lines the master had are
/// replaced, so applying it again (after an upload or a delete) gives the same text as once.
public enum MasterSubtitles {
    public static let group = "subs"

    public static func apply(_ master: String, tracks: [CaptionTrack]) -> String {
        let defaultId = tracks.last(where: \.isDefault)?.id
        var names = Set<String>()
        let media = tracks.map { track -> String in
            // NAME must be unique within the group.
            var name = track.label.isEmpty ? track.language : track.label
            var n = 2
            while !names.insert(name).inserted { name = "\(track.label.isEmpty ? track.language : track.label) (\(n))"; n += 1 }
            return "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"\(group)\",NAME=\"\(quoted(name))\",LANGUAGE=\"\(track.language)\","
                + "DEFAULT=\(track.id == defaultId ? "YES" : "NO"),AUTOSELECT=YES,URI=\"\(track.renditionName)/index.m3u8\""
        }
        var out: [String] = []
        var inserted = false
        for line in master.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("#EXT-X-MEDIA:") && line.contains("TYPE=SUBTITLES") { continue }
            if line.hasPrefix("#EXT-X-STREAM-INF:") {
                if !inserted { out += media; inserted = true }
                var attributes = line.dropFirst("#EXT-X-STREAM-INF:".count)
                    .replacingOccurrences(of: #",?SUBTITLES="[^"]*""#, with: "", options: .regularExpression)
                if attributes.hasPrefix(",") { attributes.removeFirst() }
                if !tracks.isEmpty { attributes += ",SUBTITLES=\"\(group)\"" }
                out.append("#EXT-X-STREAM-INF:" + attributes)
                continue
            }
            out.append(line)
        }
        return out.joined(separator: "\n")
    }

    /// Quoted-string attribute values cannot hold `"` or line breaks (RFC 8216 4.2).
    static func quoted(_ text: String) -> String {
        String(text.map { $0 == "\"" ? "'" : ($0.isNewline ? " " : $0) })
    }
}
