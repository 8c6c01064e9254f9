import Catalog
import Foundation
import Storage

/// Makes the `Video` object of the API (see docs/openapi.yaml) from the catalog's records.
struct VideoJSON {
    let layout: StorageLayout
    let signer: URLSigner
    let playbackURLTTL: TimeInterval

    func video(_ video: VideoRecord, renditions: [RenditionRecord], now: Date = Date()) -> API.Video {
        // A failed video is not served, even the part that played while it was encoding.
        let playable = video.state != .failed && (video.playableAt != nil || video.state == .ready)
        // Private videos get signed URLs; the signature covers the whole folder, poster included.
        let base: String
        if video.visibility == .private {
            base = signer.prefix(videoId: video.id, expires: Int64(now.timeIntervalSince1970 + playbackURLTTL))
        } else {
            base = "/hls/\(video.id)"
        }
        let posterExists = FileManager.default.fileExists(atPath: layout.posterFile(video: video.id).path)
        // Written by finalize: a video has its storyboard once it is ready (never a failed one's).
        let storyboardExists = video.state == .ready
            && FileManager.default.fileExists(atPath: layout.storyboardIndex(video: video.id).path)
        return API.Video(
            id: video.id, title: video.title, filename: video.filename,
            visibility: video.visibility.rawValue, state: video.state.rawValue,
            progress: (video.progress * 1000).rounded() / 10,
            durationSeconds: video.durationSeconds, sizeBytes: video.sizeBytes, sha256: video.sha256,
            renditions: renditions.map {
                API.Rendition(name: $0.name, kind: $0.kind, width: $0.width, height: $0.height, bandwidth: $0.bandwidth, codecs: $0.codecs)
            },
            downloads: video.state == .ready ? downloads(video.id, base: base) : [],
            posterUrl: posterExists ? "\(base)/poster.jpg" : nil,
            playbackUrl: playable ? "\(base)/master.m3u8" : nil,
            storyboardUrl: storyboardExists ? "\(base)/storyboard.vtt" : nil,
            playable: playable, error: video.error,
            createdAt: Self.timestamp(video.createdAt),
            playableAt: video.playableAt.map(Self.timestamp), readyAt: video.readyAt.map(Self.timestamp))
    }

    /// The files in the video's `download/` folder (only finished ones: they are renamed into place
    /// whole), MP4 before M4A.
    private func downloads(_ id: String, base: String) -> [API.Download] {
        let folder = layout.downloadsDirectory(video: id)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
        return names.filter { !$0.hasPrefix(".") && ($0.hasSuffix(".mp4") || $0.hasSuffix(".m4a")) && MediaPath.isPlainName($0) }
            .sorted { ($0.hasSuffix(".m4a") ? 1 : 0, $0) < ($1.hasSuffix(".m4a") ? 1 : 0, $1) }
            .compactMap { name in
                guard let size = (try? FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(name).path))?[.size] as? Int64
                else { return nil }
                return API.Download(name: name, url: "\(base)/download/\(name)", size: size,
                                    mime: name.hasSuffix(".m4a") ? "audio/mp4" : "video/mp4")
            }
    }

    /// Made once: three timestamps per video per response.
    private static let timestampFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func timestamp(_ date: Date) -> String { timestampFormat.format(date) }
}
