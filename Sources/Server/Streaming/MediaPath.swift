import Foundation

/// A request path under `/hls/{video}/…`, checked so that nothing outside the video's folder can be named.
///
/// Every component is percent-decoded once and must be a plain name: letters, digits, `-`, `_`, `.`, not
/// starting with a dot (so no `..`, no hidden `.part` files), no encoded slashes, no empty components
/// (doubled slashes). The `parts/` bookkeeping folder is not served. Symlinks are refused when the file
/// is looked up (`StoredFile.find` lstat's every component, folders at most once a second; files are opened
/// with `O_NOFOLLOW`).
struct MediaPath: Equatable {
    let videoId: String
    /// Components below the video's folder, e.g. ["540p", "seg-00003.m4s"].
    let components: [String]
    /// What the file is, worked out once (it is asked several times a request).
    let kind: Kind

    init(videoId: String, components: [String]) {
        self.videoId = videoId
        self.components = components
        kind = Self.kind(of: components)
    }

    var relative: String { components.joined(separator: "/") }
    var fileName: String { components.last ?? "" }
    var isMaster: Bool { components == ["master.m3u8"] }

    enum Kind { case playlist, initSegment, segment, subtitles, poster, storyboard, download, other }

    private static func kind(of components: [String]) -> Kind {
        let name = components.last ?? ""
        // `storyboard.vtt` and its sheets, `storyboard/<n>.jpg`.
        if components == ["storyboard.vtt"] || (components.count == 2 && components[0] == "storyboard" && name.hasSuffix(".jpg")) {
            return .storyboard
        }
        if components.count == 2, components[0] == "download", name.hasSuffix(".mp4") || name.hasSuffix(".m4a") { return .download }
        if name.hasSuffix(".m3u8") { return .playlist }
        if name.hasSuffix(".m4s") { return .segment }
        if name.hasSuffix(".vtt") { return .subtitles }
        if name == "init.mp4" { return .initSegment }
        if name.hasSuffix(".jpg") { return .poster }
        return .other
    }

    var contentType: String {
        switch kind {
        case .playlist: "application/vnd.apple.mpegurl"
        case .segment: "video/iso.segment"
        case .subtitles: "text/vtt; charset=utf-8"
        case .initSegment: "video/mp4"
        case .poster: "image/jpeg"
        case .download: fileName.hasSuffix(".m4a") ? "audio/mp4" : "video/mp4"
        case .storyboard: fileName.hasSuffix(".vtt") ? "text/vtt; charset=utf-8" : "image/jpeg"
        case .other: "application/octet-stream"
        }
    }

    /// Parses the raw (still percent-encoded) components after `/hls/`; nil means 404.
    static func parse<S: StringProtocol>(_ raw: [S]) -> MediaPath? {
        guard raw.count >= 2, raw.count <= 4 else { return nil }
        var decoded: [String] = []
        for part in raw {
            let text = String(part)
            // Decoding only when there is something to decode (it is the costly part of a segment request).
            guard let name = text.utf8.contains(UInt8(ascii: "%")) ? text.removingPercentEncoding : text,
                  isPlainName(name) else { return nil }
            decoded.append(name)
        }
        guard decoded[1] != "parts" else { return nil }
        return MediaPath(videoId: decoded[0], components: Array(decoded.dropFirst()))
    }

    static func isPlainName(_ name: String) -> Bool {
        let bytes = name.utf8
        guard !bytes.isEmpty, bytes.count <= 128, bytes.first != UInt8(ascii: ".") else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."): true
            default: false
            }
        }
    }
}
