import Foundation
import Storage

/// A video's caption tracks on the storage root (one JSON file each, written atomically) and their
/// publication: segmented WebVTT, a playlist per track, and the master's SUBTITLES group.
///
/// Files rather than catalog rows: a track belongs to one video's storage area, is only ever read whole,
/// and goes when the video's folders go; no query spans videos. Callers change and publish them holding
/// the catalog's lock on the video (`Catalog.withVideoLock`; `publishSegments` holds it too), so an upload
/// on one host and the finalize job on another take turns: whichever runs second sees the other's result.
public struct CaptionStore: Sendable {
    public let layout: StorageLayout

    public init(layout: StorageLayout) { self.layout = layout }

    struct Stored: Codable {
        var track: CaptionTrack
        var cues: [Cue]
    }

    public func tracks(video: String) throws -> [CaptionTrack] {
        try stored(video: video).map(\.track)
    }

    private func stored(video: String) throws -> [Stored] {
        let dir = layout.captionsDirectory(video: video)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
        // Dates keep their fractions (the default strategy), so tracks added within a second stay in order.
        let decoder = JSONDecoder()
        return try names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.map { name in
            try decoder.decode(Stored.self, from: Data(contentsOf: dir.appendingPathComponent(name)))
        }.sorted { ($0.track.created, $0.track.id) < ($1.track.created, $1.track.id) }
    }

    /// Stores a track; with `isDefault`, the other tracks stop being the default.
    public func add(_ track: CaptionTrack, cues: [Cue], video: String) throws {
        let encoder = JSONEncoder()
        if track.isDefault {
            for var other in try stored(video: video) where other.track.isDefault && other.track.id != track.id {
                other.track.isDefault = false
                try AtomicFile.write(try encoder.encode(other), to: file(video: video, track: other.track.id))
            }
        }
        try AtomicFile.write(try encoder.encode(Stored(track: track, cues: cues)), to: file(video: video, track: track.id))
    }

    /// False when there was no such track.
    public func remove(track id: String, video: String) throws -> Bool {
        let url = file(video: video, track: id)
        guard FileManager.default.fileExists(atPath: url.path) else { return false }
        try FileManager.default.removeItem(at: url)
        return true
    }

    private func file(video: String, track id: String) -> URL {
        layout.captionsDirectory(video: video).appendingPathComponent("\(id).json")
    }

    /// The timeline finalize wrote; for a video finalized by a Reel that wrote none, the one its final
    /// playlists and first fragment give (`PublishedTimeline`), kept for next time. Nil while encoding.
    public func timeline(video: String) -> CaptionTimeline? {
        if let data = try? Data(contentsOf: layout.captionTimeline(video: video)) {
            return try? JSONDecoder().decode(CaptionTimeline.self, from: data)
        }
        guard let published = PublishedTimeline.read(hls: layout.hlsDirectory(video: video)) else { return nil }
        try? saveTimeline(published, video: video)
        return published
    }

    public func saveTimeline(_ timeline: CaptionTimeline, video: String) throws {
        try AtomicFile.write(try JSONEncoder().encode(timeline), to: layout.captionTimeline(video: video))
    }

    /// Writes every track's segments and playlist (before any master names them) and returns the tracks.
    public func writeRenditions(video: String, timeline: CaptionTimeline) throws -> [CaptionTrack] {
        let all = try stored(video: video)
        let hls = layout.hlsDirectory(video: video)
        for item in all {
            let dir = hls.appendingPathComponent(item.track.renditionName, isDirectory: true)
            for (j, text) in WebVTTSegments.segments(item.cues, timeline: timeline).enumerated() {
                try AtomicFile.write(Data(text.utf8), to: dir.appendingPathComponent(WebVTTSegments.segmentName(j)))
            }
            try AtomicFile.write(Data(WebVTTSegments.playlist(timeline: timeline).utf8), to: dir.appendingPathComponent("index.m3u8"))
        }
        return all.map(\.track)
    }

    /// Removes published caption folders of tracks that no longer exist (after the master stopped naming them).
    public func removeStaleRenditions(video: String, keeping tracks: [CaptionTrack]) {
        let hls = layout.hlsDirectory(video: video)
        let keep = Set(tracks.map(\.renditionName))
        for name in (try? FileManager.default.contentsOfDirectory(atPath: hls.path)) ?? []
        where name.hasPrefix("subs-") && !keep.contains(name) {
            try? FileManager.default.removeItem(at: hls.appendingPathComponent(name))
        }
    }

    /// Republishes a finished video's captions: renditions, then the master, then stale folders go.
    /// Does nothing before the video is finalized (no timeline yet): finalize publishes them then.
    @discardableResult
    public func republish(video: String) throws -> Bool {
        guard let timeline = timeline(video: video) else { return false }
        let tracks = try writeRenditions(video: video, timeline: timeline)
        let masterURL = layout.masterPlaylist(video: video)
        let master = try String(contentsOf: masterURL, encoding: .utf8)
        try AtomicFile.write(Data(MasterSubtitles.apply(master, tracks: tracks).utf8), to: masterURL)
        removeStaleRenditions(video: video, keeping: tracks)
        return true
    }
}
