import Foundation

/// Puts renditions — whole, or assembled from chunks encoded by different workers — into playlists.
public enum HLSAssembler {
    /// Merges parts of the same rendition (by name): segments and I-frames sorted by segment number,
    /// a segment produced twice (a re-run chunk) kept once.
    public static func merge(_ parts: [RenditionSummary]) -> [RenditionSummary] {
        var merged: [String: RenditionSummary] = [:]
        var order: [String] = []
        for part in parts {
            if var existing = merged[part.name] {
                existing.segments += part.segments
                existing.iframes += part.iframes
                merged[part.name] = existing
            } else {
                merged[part.name] = part
                order.append(part.name)
            }
        }
        return order.compactMap { name in
            guard var r = merged[name] else { return nil }
            var seen = Set<Int64>()
            r.segments = r.segments.sorted { $0.index < $1.index }.filter { seen.insert($0.index).inserted }
            let position = Dictionary(uniqueKeysWithValues: r.segments.map { ($0.uri, $0.index) })
            var seenFrames = Set<String>()
            r.iframes = r.iframes
                .filter { seenFrames.insert("\($0.uri)@\($0.offset)").inserted }
                .sorted { (position[$0.uri] ?? 0, $0.offset) < (position[$1.uri] ?? 0, $1.offset) }
            return r
        }
    }

    /// The renditions that decide how long a finished video is: its video rungs (audio may end a few
    /// milliseconds later, in a tiny extra segment, or earlier); the audio only when there is no video.
    public static func timing(_ renditions: [RenditionSummary]) -> [RenditionSummary] {
        let videos = renditions.filter { $0.kind == "video" }
        return videos.isEmpty ? renditions : videos
    }

    /// The target duration the final media playlists announce, for playlists that follow them (captions).
    public static func targetDuration(_ renditions: [RenditionSummary], segmentDuration: Double) -> Int {
        HLSPlaylists.targetDuration(renditions.flatMap { $0.segments.map(\.duration) } + [segmentDuration])
    }

    /// How many segments, counted from 0 without a gap, every rendition has.
    public static func contiguousSegments(_ renditions: [RenditionSummary]) -> Int {
        renditions.map { r in
            var n = 0
            for s in r.segments { if s.index == Int64(n) { n += 1 } else { break } }
            return n
        }.min() ?? 0
    }

    /// The renditions as the final playlists list them: merged, each cut to the segments of the video
    /// rungs (the audio's tiny extra segment dropped). What a download is made of.
    public static func finalRenditions(_ parts: [RenditionSummary]) -> [RenditionSummary] {
        listing(parts, final: true).renditions
    }

    private static func listing(_ parts: [RenditionSummary], final: Bool) -> (renditions: [RenditionSummary], count: Int) {
        let renditions = merge(parts)
        let count = contiguousSegments(final ? timing(renditions) : renditions)
        let listed = renditions.map { r -> RenditionSummary in
            var r = r
            r.segments = Array(r.segments.prefix(count))
            let uris = Set(r.segments.map(\.uri))
            r.iframes = r.iframes.filter { uris.contains($0.uri) }
            return r
        }
        return (listed, count)
    }

    /// Writes the master playlist and every media playlist into `directory`, each by write-then-rename.
    /// While encoding (`final == false`) media playlists are EVENT playlists over the first
    /// `contiguousSegments` segments that every rendition has; final playlists are VOD with I-frame
    /// playlists and as long as the video rungs (`timing`). `segmentDuration` (the profile's) sets the
    /// least target duration. `master` may add to the master playlist's text (the caption tracks' group).
    /// Returns the number of segments listed.
    @discardableResult
    public static func write(_ parts: [RenditionSummary], to directory: URL, final: Bool,
                             segmentDuration: Double, master: (String) -> String = { $0 }) throws(MediaError) -> Int {
        let (listed, count) = listing(parts, final: final)
        let videos = listed.filter { $0.kind == "video" }
        let audio = listed.first { $0.kind == "audio" }
        var files: [(String, String)] = []
        for r in listed {
            files.append(("\(r.name)/index.m3u8", HLSPlaylists.mediaPlaylist(r, ended: final, segmentDuration: segmentDuration)))
            if final && r.kind == "video" { files.append(("\(r.name)/iframes.m3u8", HLSPlaylists.iframePlaylist(r))) }
        }
        // The master goes last: once it exists, everything it names does too.
        files.append(("master.m3u8", master(HLSPlaylists.masterPlaylist(video: videos, audio: audio, iframes: final))))
        for (name, text) in files {
            try publish(Data(text.utf8), to: directory.appendingPathComponent(name))
        }
        return count
    }

    static func publish(_ data: Data, to url: URL) throws(MediaError) {
        let partial = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).part")
        do {
            try data.write(to: partial)
            if rename(partial.path, url.path) != 0 { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        } catch {
            try? FileManager.default.removeItem(at: partial)
            throw .outputFailed(path: url.path, reason: "\(error)")
        }
    }
}
