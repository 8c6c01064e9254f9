import Captions
import Catalog
import Foundation
import Media
import Storage

/// Keeps a video's playlists in step with its finished pieces. Each finished piece leaves a manifest
/// (`parts/<piece>.json`: the segments it wrote); playlists are assembled from all manifests present,
/// under the catalog's write lock, so they only ever grow and the final ones are never overwritten.
struct PlaylistPublisher {
    let layout: StorageLayout
    let catalog: any Catalog
    /// The profile's segment duration: playlists' least target duration (see `HLSAssembler.write`).
    let segmentDuration: Double

    func saveManifest(_ parts: [RenditionSummary], video: String, piece: String) throws {
        try AtomicFile.write(try JSONEncoder().encode(parts), to: manifestURL(video: video, piece: piece))
    }

    private func manifestURL(video: String, piece: String) -> URL { layout.partManifest(video: video, piece: piece) }

    /// A running piece's manifest so far (`<piece>.partial.json`); `manifests` reads it only until the
    /// piece's own manifest exists, so a late write by a worker that lost the job changes nothing.
    func savePartialManifest(_ parts: [RenditionSummary], video: String, piece: String) throws {
        try saveManifest(parts, video: video, piece: piece + Self.partial)
    }

    func removePartialManifest(video: String, piece: String) {
        try? FileManager.default.removeItem(at: manifestURL(video: video, piece: piece + Self.partial))
    }

    private static let partial = ".partial"

    // MARK: storyboard

    func saveStoryboard(_ part: StoryboardPart, video: String, piece: String) throws {
        try AtomicFile.write(try JSONEncoder().encode(part),
                             to: layout.storyboardManifests(video: video).appendingPathComponent("\(piece).json"))
    }

    /// Writes `storyboard.vtt` from every piece's thumbnails, each cue ending at the next thumbnail or
    /// the end of the video. Returns the number of thumbnails, nil when the pieces made none.
    func publishStoryboard(video: String, renditions: [RenditionSummary]) throws -> Int? {
        let dir = layout.storyboardManifests(video: video)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return nil }
        let parts = try names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted().map { name in
            try JSONDecoder().decode(StoryboardPart.self, from: Data(contentsOf: dir.appendingPathComponent(name)))
        }
        guard let merged = StoryboardIndex.merge(parts) else { return nil }
        let duration = (renditions.first { $0.kind == "video" } ?? renditions.first)?.totalDuration ?? 0
        try StoryboardIndex.write(tiles: merged.tiles, interval: merged.interval, duration: duration,
                                  to: layout.hlsDirectory(video: video))
        return merged.tiles.count
    }

    func manifests(video: String) throws -> [RenditionSummary] {
        let dir = layout.partsDirectory(video: video)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
        let manifests = Set(names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") })
        return try manifests.filter { name in
            guard name.hasSuffix(Self.partial + ".json") else { return true }
            return !manifests.contains(String(name.dropLast((Self.partial + ".json").count)) + ".json")
        }.sorted().flatMap { name in
            try JSONDecoder().decode([RenditionSummary].self, from: Data(contentsOf: dir.appendingPathComponent(name)))
        }
    }

    /// Publishes EVENT playlists over the finished prefix (when it grew). Returns the segments listed.
    @discardableResult
    func publishProgress(video: String) async throws -> Int {
        let parts = try manifests(video: video)
        let merged = HLSAssembler.merge(parts)
        // A master that lacks the audio group (or the video) a moment later gains would change what a
        // player already started on: publish only once every kind of rendition the plan makes has begun.
        let jobs = try await catalog.jobs(videoId: video, states: nil, limit: 10_000)
        let kinds = Set(jobs.map(\.kind))
        // The first segment is split by rungs across workers: until every group is in, the master would
        // lack rungs it gains a moment later.
        let firstPieces = jobs.filter { $0.kind == .videoChunk && (try? ChunkPayload.decode($0.payload))?.first == 0 }
        if firstPieces.contains(where: { $0.state != .succeeded }) { return 0 }
        let present = Set(merged.map(\.kind))
        if kinds.contains(.audio) && !present.contains("audio") { return 0 }
        if kinds.contains(.videoChunk) && !present.contains("video") { return 0 }
        let count = HLSAssembler.contiguousSegments(merged)
        guard count > 0 else { return 0 }
        let dir = layout.hlsDirectory(video: video)
        _ = try await catalog.publishSegments(videoId: video, count: count, final: false, lease: nil) {
            try HLSAssembler.write(parts, to: dir, final: false, segmentDuration: segmentDuration)
        }
        return count
    }

    /// Writes the final VOD and I-frame playlists. Every piece must be there, without a gap.
    func publishFinal(video: String, lease: Lease) async throws -> [RenditionSummary] {
        let parts = try manifests(video: video)
        let renditions = HLSAssembler.merge(parts)
        let basis = HLSAssembler.timing(renditions)
        let count = HLSAssembler.contiguousSegments(basis)
        let highest = basis.flatMap(\.segments).map(\.index).max().map { Int($0) + 1 } ?? 0
        guard count > 0, count == highest, basis.allSatisfy({ $0.segments.count == count }) else {
            throw WorkerError.incomplete("video \(video): pieces cover \(count) of \(highest) segments")
        }
        let dir = layout.hlsDirectory(video: video)
        // Captions are cut to the video's segments. Inside the video's lock (which the caption API takes
        // too), so a track added meanwhile is either listed here or published by the API right after.
        let captions = CaptionStore(layout: layout)
        let timeline = CaptionTimeline(offset: basis.first?.timeOffset ?? 0, durations: basis.first?.segments.map(\.duration) ?? [],
                                       targetDuration: HLSAssembler.targetDuration(basis, segmentDuration: segmentDuration))
        _ = try await catalog.publishSegments(videoId: video, count: count, final: true, lease: lease) { [segmentDuration] in
            try captions.saveTimeline(timeline, video: video)
            let tracks = try captions.writeRenditions(video: video, timeline: timeline)
            try HLSAssembler.write(parts, to: dir, final: true, segmentDuration: segmentDuration) {
                MasterSubtitles.apply($0, tracks: tracks)
            }
            captions.removeStaleRenditions(video: video, keeping: tracks)
        }
        return renditions
    }
}

enum WorkerError: Error, CustomStringConvertible {
    case incomplete(String)
    case badPayload(String)
    /// Retryable: space may be freed (old videos deleted, uploads finished) before the next attempt.
    case diskFull(available: Int64, reserve: Int64)

    var description: String {
        switch self {
        case let .diskFull(available, reserve):
            "the storage root has \(available >> 20) MiB free, less than the \(reserve >> 20) MiB kept in reserve (min_free_space); the piece will be tried again later"
        case let .incomplete(why): "not all pieces are there: \(why)"
        case let .badPayload(why): "bad job payload: \(why)"
        }
    }
}
