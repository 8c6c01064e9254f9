import Foundation

/// Where the video's segments lie, so captions can be cut at the same boundaries. Written by the finalize
/// job (`StorageLayout.captionTimeline`), read whenever captions are published.
public struct CaptionTimeline: Sendable, Codable, Equatable {
    /// Seconds the fMP4 timeline is ahead of the source's: the constant timestamp offset every piece shares.
    public var offset: Double
    /// Every segment's duration, in order; segment 0 starts at source time 0 (media time `offset`).
    public var durations: [Double]
    /// The video playlists' EXT-X-TARGETDURATION, which the caption playlists repeat.
    public var targetDuration: Int

    public init(offset: Double, durations: [Double], targetDuration: Int) {
        self.offset = offset
        self.durations = durations
        self.targetDuration = targetDuration
    }
}

/// Segmented WebVTT for HLS: one `.vtt` file per video segment, on the same boundaries.
///
/// Cue times are written on the source's timeline and every file carries the same
/// `X-TIMESTAMP-MAP=MPEGTS:<offset in 90 kHz ticks>,LOCAL:00:00:00.000`: source time 0 is where the fMP4
/// presentation timeline puts the first picture, so cues line up with the video in every player that maps
/// them (Safari, hls.js, Chromium). A cue that spans a boundary is repeated, unchanged, in every segment
/// it overlaps (players drop the duplicates), so it shows whichever segment a player starts from.
public enum WebVTTSegments {
    public static func timestampMap(offset: Double) -> String {
        "X-TIMESTAMP-MAP=MPEGTS:\(Int64((offset * 90_000).rounded())),LOCAL:00:00:00.000"
    }

    public static func segmentName(_ index: Int) -> String { String(format: "seg-%05d.vtt", index) }

    /// The text of every segment file, in order.
    public static func segments(_ cues: [Cue], timeline: CaptionTimeline) -> [String] {
        let header = "WEBVTT\n" + timestampMap(offset: timeline.offset) + "\n"
        var start = 0.0
        var files: [String] = []
        let sorted = cues.sorted { ($0.start, $0.end) < ($1.start, $1.end) }
        for (j, duration) in timeline.durations.enumerated() {
            // The last segment takes every cue still to come; none is lost to rounding at the very end.
            let end = j == timeline.durations.count - 1 ? Double.infinity : start + duration
            var text = header
            for cue in sorted where cue.start < end && cue.end > start {
                text += "\n" + timestamp(cue.start) + " --> " + timestamp(cue.end)
                    + (cue.settings.isEmpty ? "" : " " + cue.settings) + "\n" + cue.text + "\n"
            }
            files.append(text)
            start += duration
        }
        return files
    }

    /// The caption track's media playlist: VOD, one entry per video segment, the video's target duration.
    public static func playlist(timeline: CaptionTimeline) -> String {
        var lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:7",
            "#EXT-X-TARGETDURATION:\(timeline.targetDuration)",
            "#EXT-X-PLAYLIST-TYPE:VOD",
            "#EXT-X-MEDIA-SEQUENCE:0",
        ]
        for (j, d) in timeline.durations.enumerated() {
            lines.append("#EXTINF:\(String(format: "%.6f", d)),")
            lines.append(segmentName(j))
        }
        lines.append("#EXT-X-ENDLIST")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `hh:mm:ss.ttt`, to the millisecond.
    public static func timestamp(_ seconds: Double) -> String {
        let ms = Int64((max(seconds, 0) * 1000).rounded())
        return String(format: "%02lld:%02lld:%02lld.%03lld", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
    }
}
