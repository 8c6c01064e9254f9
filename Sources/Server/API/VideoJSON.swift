import Catalog
import Foundation
import Storage

/// The `Video` object of the API (see docs/openapi.yaml).
struct VideoJSON {
    let layout: StorageLayout
    let signer: URLSigner
    let playbackURLTTL: TimeInterval

    func object(_ video: VideoRecord, renditions: [RenditionRecord], now: Date = Date()) -> [String: Any] {
        // A failed video is not served, even the part that played while it was encoding.
        let playable = video.state != .failed && (video.playableAt != nil || video.state == .ready)
        // Private videos get signed URLs; the signature covers the whole folder, poster included.
        let base: String
        if video.visibility == .private {
            base = signer.prefix(videoId: video.id, expires: Int64(now.timeIntervalSince1970 + playbackURLTTL))
        } else {
            base = "/hls/\(video.id)"
        }
        let posterExists = FileManager.default.fileExists(atPath: layout.hlsDirectory(video: video.id).appendingPathComponent("poster.jpg").path)
        return [
            "id": video.id,
            "title": video.title,
            "filename": video.filename ?? NSNull(),
            "visibility": video.visibility.rawValue,
            "state": video.state.rawValue,
            "progress": (video.progress * 1000).rounded() / 10,
            "durationSeconds": video.durationSeconds ?? NSNull(),
            "sizeBytes": video.sizeBytes,
            "sha256": video.sha256 ?? NSNull(),
            "renditions": renditions.map { rendition -> [String: Any] in
                [
                    "name": rendition.name, "kind": rendition.kind,
                    "width": rendition.width ?? NSNull(), "height": rendition.height ?? NSNull(),
                    "bandwidth": rendition.bandwidth, "codecs": rendition.codecs,
                ]
            },
            "posterUrl": posterExists ? "\(base)/poster.jpg" : NSNull(),
            "playbackUrl": playable ? "\(base)/master.m3u8" : NSNull(),
            "playable": playable,
            "error": video.error ?? NSNull(),
            "createdAt": Self.timestamp(video.createdAt),
            "playableAt": video.playableAt.map(Self.timestamp) ?? NSNull(),
            "readyAt": video.readyAt.map(Self.timestamp) ?? NSNull(),
        ]
    }

    /// Made once: three timestamps per video per response.
    private static let timestampFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func timestamp(_ date: Date) -> String { timestampFormat.format(date) }
}
