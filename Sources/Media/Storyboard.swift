import Foundation

/// One thumbnail of a storyboard: the picture on screen at `time`, and where it sits in its sheet.
public struct StoryboardTile: Sendable, Codable, Equatable {
    /// k: the thumbnail of `k × interval`.
    public var index: Int
    /// Seconds on the output timeline.
    public var time: Double
    /// The sprite sheet, relative to the video's folder (`storyboard/<first index>.jpg`).
    public var sheet: String
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(index: Int, time: Double, sheet: String, x: Int, y: Int, width: Int, height: Int) {
        self.index = index; self.time = time; self.sheet = sheet
        self.x = x; self.y = y; self.width = width; self.height = height
    }
}

/// What one piece made of a video's storyboard (a thumbnail for each `k × interval` in its range).
public struct StoryboardPart: Sendable, Codable, Equatable {
    public var interval: Double
    public var tiles: [StoryboardTile]
    /// Why thumbnails are missing, when making them failed. A storyboard is an extra: its failure is
    /// reported here, never as the transcode's.
    public var error: String?

    public init(interval: Double, tiles: [StoryboardTile], error: String? = nil) {
        self.interval = interval
        self.tiles = tiles
        self.error = error
    }
}

/// The WebVTT index of a storyboard: one cue per thumbnail, from its time to the next thumbnail's (or
/// the end of the video), whose text is the sheet and the tile's rectangle as a media fragment.
public enum StoryboardIndex {
    /// The name of the index in the video's folder.
    public static let fileName = "storyboard.vtt"
    /// The folder of the sheets in the video's folder.
    public static let folder = "storyboard"

    /// The tiles of every piece, once each, in time order. Nil when there are none.
    public static func merge(_ parts: [StoryboardPart]) -> (interval: Double, tiles: [StoryboardTile])? {
        guard let interval = parts.first(where: { !$0.tiles.isEmpty })?.interval else { return nil }
        var byIndex: [Int: StoryboardTile] = [:]
        for part in parts where part.interval == interval {
            for tile in part.tiles { byIndex[tile.index] = tile }
        }
        return (interval, byIndex.values.sorted { $0.index < $1.index })
    }

    /// The WebVTT text. `duration`: the video's, where the last cue ends.
    public static func webVTT(tiles: [StoryboardTile], interval: Double, duration: Double) -> String {
        var text = "WEBVTT\n"
        for tile in tiles {
            let end = min(tile.time + interval, duration)
            guard end > tile.time else { continue }
            text += "\n\(timestamp(tile.time)) --> \(timestamp(end))\n"
            text += "\(tile.sheet)#xywh=\(tile.x),\(tile.y),\(tile.width),\(tile.height)\n"
        }
        return text
    }

    /// Writes `storyboard.vtt` into `directory` (temporary name, synced, renamed).
    public static func write(tiles: [StoryboardTile], interval: Double, duration: Double, to directory: URL) throws(MediaError) {
        let file = try SegmentFile(directory: directory, name: fileName, index: -1)
        _ = try file.append(Array(webVTT(tiles: tiles, interval: interval, duration: duration).utf8))
        try file.close()
    }

    /// `hh:mm:ss.mmm`
    static func timestamp(_ seconds: Double) -> String {
        let ms = Int((max(seconds, 0) * 1000).rounded())
        return String(format: "%02d:%02d:%02d.%03d", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
    }
}
