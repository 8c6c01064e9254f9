import Foundation

/// Writes HLS version 7 playlists (RFC 8216) for a finished ladder.
enum HLSPlaylists {
    static let audioGroup = "audio"

    /// `segmentDuration`: the profile's, so the target duration covers every segment still to come. An
    /// EVENT playlist that starts with the short segment 0 must not announce a smaller target than the
    /// segments it later gains (RFC 8216 forbids changing it), and the final VOD playlist keeps the same.
    static func mediaPlaylist(_ r: RenditionSummary, ended: Bool = true, segmentDuration: Double = 0) -> String {
        var lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:7",
            "#EXT-X-TARGETDURATION:\(targetDuration(r.segments.map(\.duration) + [segmentDuration]))",
            "#EXT-X-PLAYLIST-TYPE:\(ended ? "VOD" : "EVENT")",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-INDEPENDENT-SEGMENTS",
            "#EXT-X-MAP:URI=\"init.mp4\"",
        ]
        for s in r.segments {
            lines.append("#EXTINF:\(decimal(s.duration)),")
            lines.append(s.uri)
        }
        if ended { lines.append("#EXT-X-ENDLIST") }
        return lines.joined(separator: "\n") + "\n"
    }

    static func iframePlaylist(_ r: RenditionSummary) -> String {
        var lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:7",
            "#EXT-X-TARGETDURATION:\(targetDuration(r.iframes.map(\.duration)))",
            "#EXT-X-PLAYLIST-TYPE:VOD",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-I-FRAMES-ONLY",
            "#EXT-X-INDEPENDENT-SEGMENTS",
            "#EXT-X-MAP:URI=\"init.mp4\"",
        ]
        for f in r.iframes {
            lines.append("#EXTINF:\(decimal(f.duration)),")
            lines.append("#EXT-X-BYTERANGE:\(f.length)@\(f.offset)")
            lines.append(f.uri)
        }
        lines.append("#EXT-X-ENDLIST")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The master playlist: video variants (best first is not required; players pick by BANDWIDTH) that
    /// share one audio rendition, their I-frame playlists, or a lone audio variant for audio-only files.
    static func masterPlaylist(video: [RenditionSummary], audio: RenditionSummary?, iframes: Bool = true) -> String {
        var lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
        if let audio, !video.isEmpty {
            lines.append("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"\(audioGroup)\",NAME=\"Main\",DEFAULT=YES,AUTOSELECT=YES,"
                + "CHANNELS=\"\(audio.channels ?? 2)\",URI=\"\(audio.name)/index.m3u8\"")
        }
        for v in video {
            var attributes = [
                "BANDWIDTH=\(v.peakBitrate + (audio?.peakBitrate ?? 0))",
                "AVERAGE-BANDWIDTH=\(v.averageBitrate + (audio?.averageBitrate ?? 0))",
                "CODECS=\"\([v.codecs, audio?.codecs].compactMap { $0 }.joined(separator: ","))\"",
            ]
            if let w = v.width, let h = v.height { attributes.append("RESOLUTION=\(w)x\(h)") }
            if let fps = v.frameRate { attributes.append("FRAME-RATE=\(String(format: "%.3f", fps))") }
            if audio != nil { attributes.append("AUDIO=\"\(audioGroup)\"") }
            lines.append("#EXT-X-STREAM-INF:" + attributes.joined(separator: ","))
            lines.append("\(v.name)/index.m3u8")
        }
        if video.isEmpty, let audio {
            lines.append("#EXT-X-STREAM-INF:BANDWIDTH=\(audio.peakBitrate),AVERAGE-BANDWIDTH=\(audio.averageBitrate),"
                + "CODECS=\"\(audio.codecs)\"")
            lines.append("\(audio.name)/index.m3u8")
        }
        for v in video where iframes && !v.iframes.isEmpty {
            var attributes = ["BANDWIDTH=\(v.iframePeakBitrate)", "CODECS=\"\(v.codecs)\""]
            if let w = v.width, let h = v.height { attributes.append("RESOLUTION=\(w)x\(h)") }
            attributes.append("URI=\"\(v.name)/iframes.m3u8\"")
            lines.append("#EXT-X-I-FRAME-STREAM-INF:" + attributes.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// EXT-X-TARGETDURATION: every EXTINF, rounded to the nearest integer, must not exceed it.
    static func targetDuration(_ durations: [Double]) -> Int {
        max(1, Int((durations.max() ?? 1).rounded()))
    }

    static func decimal(_ seconds: Double) -> String { String(format: "%.6f", seconds) }
}
