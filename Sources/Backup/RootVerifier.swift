import Catalog
import Foundation
import Storage

/// `reel verify`: checks a storage root against its catalog. Every video's original must be there with
/// the size and SHA-256 the catalog recorded; a ready video's master playlist, each rendition's
/// playlist, and every init segment and segment those name must be there and not empty. Each problem is
/// one line naming the video and the file.
public struct RootVerifier: Sendable {
    public let layout: StorageLayout

    public init(layout: StorageLayout) { self.layout = layout }

    public struct Report: Sendable {
        public var videos = 0
        public var filesChecked = 0
        public var problems: [String] = []
    }

    public func verify(_ catalog: any Catalog) async throws -> Report {
        var report = Report()
        for video in try await BackupWriter.allVideos(catalog).reversed() {
            report.videos += 1
            let original = layout.absolute(video.originalPath)
            report.filesChecked += 1
            if !FileManager.default.fileExists(atPath: original.path) {
                report.problems.append("video \(video.id): original \(video.originalPath) is missing")
            } else if BackupWriter.size(original) != video.sizeBytes {
                report.problems.append("video \(video.id): original \(video.originalPath) is \(BackupWriter.size(original)) bytes, the catalog says \(video.sizeBytes)")
            } else if let expected = video.sha256, try FileDigest.sha256(ofFileAt: original.path) != expected {
                report.problems.append("video \(video.id): original \(video.originalPath) does not match its SHA-256 (corrupt)")
            }
            if video.state == .ready { checkOutputs(video.id, &report) }
        }
        return report
    }

    private func checkOutputs(_ id: String, _ report: inout Report) {
        let hls = layout.hlsDirectory(video: id)
        let master = hls.appendingPathComponent("master.m3u8")
        report.filesChecked += 1
        guard let text = try? String(contentsOf: master, encoding: .utf8) else {
            report.problems.append("video \(id): hls/\(id)/master.m3u8 is missing")
            return
        }
        var seen = Set<String>()  // an I-frame playlist names the same segments as its rendition's
        for playlist in uris(in: text) where playlist.hasSuffix(".m3u8") {
            let url = hls.appendingPathComponent(playlist)
            report.filesChecked += 1
            guard let media = try? String(contentsOf: url, encoding: .utf8) else {
                report.problems.append("video \(id): hls/\(id)/\(playlist) is missing")
                continue
            }
            let dir = url.deletingLastPathComponent()
            for name in uris(in: media) {
                let file = dir.appendingPathComponent(name)
                guard seen.insert(file.path).inserted else { continue }
                report.filesChecked += 1
                if BackupWriter.size(file) == 0 {
                    report.problems.append("video \(id): \(layout.relative(file)) is missing or empty")
                }
            }
        }
    }

    /// The URIs a playlist names: lines that are not tags, and `URI="…"` attributes.
    func uris(in playlist: String) -> [String] {
        var out: [String] = []
        for line in playlist.split(whereSeparator: \.isNewline).map(String.init) {
            if !line.hasPrefix("#") && !line.isEmpty {
                out.append(String(line.split(separator: "?")[0]))
            } else if let range = line.range(of: "URI=\"") {
                let rest = line[range.upperBound...]
                if let end = rest.firstIndex(of: "\"") { out.append(String(rest[..<end])) }
            }
        }
        return out
    }
}
