import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import Storage
import Synchronization

/// Serves the HLS tree of each video: `/hls/{video}/…` for public videos, `/s/{expires}/{signature}/hls/{video}/…`
/// for anyone holding a signed URL. The master playlist is tailored to the device asking for it.
struct StreamingHandler: Sendable {
    let layout: StorageLayout
    let statuses: VideoStatusCache
    let signer: URLSigner
    let devices: DeviceRulesSource
    let cache: FileCache?
    /// Send media files from 64 KiB with sendfile(2), not only those above `StoredFile.wholeReadLimit`
    /// (`SendfileHandler` is always in the pipeline).
    let sendfile: Bool
    /// Tailored masters by file version and device class (a master is tailored once, served many times).
    let tailoredMasters = TailoredMasters()

    static let immutable = "max-age=31536000, immutable"
    static let finalPlaylist = "max-age=86400"

    /// `components` are the raw path components after `/hls/`.
    func serve(_ request: Request, components: [Substring], signed: Bool) async throws -> Response {
        guard let path = MediaPath.parse(components) else { throw Problem.notFound() }
        guard let status = try await statuses.status(of: path.videoId) else { throw Problem.notFound() }
        // What a failed video wrote before it failed is not a video: none of it is served.
        if status.state == .failed { throw Problem.notFound() }
        if status.visibility == .private && !signed {
            // The same answer as for an id that does not exist: a private video's existence is not told.
            throw Problem.notFound()
        }
        let found: (path: String, identity: FileIdentity)
        do {
            found = try StoredFile.find(root: layout.hls.path, components: [path.videoId] + path.components)
        } catch {
            throw Problem.notFound()
        }
        // Large media files leave as file regions (sendfile(2)): always above `wholeReadLimit`, so that no
        // response holds a copy of one however slowly its client reads; with `sendfile` on, from 64 KiB.
        // Playlists (tailored, gzip'd) and other files are read into memory, through the cache.
        let file: StoredFile?
        if path.kind != .playlist && (found.identity.size > StoredFile.wholeReadLimit
                                      || (sendfile && found.identity.size >= Sendfile.threshold)) {
            file = nil
        } else {
            do {
                file = try await StoredFile.load(path: found.path, identity: found.identity, cache: cache)
            } catch StoredFileError.notFound {
                throw Problem.notFound()
            } catch StoredFileError.tooLarge {
                throw Problem(.contentTooLarge, "This playlist is larger than the streaming handler serves.")
            } catch StoredFileError.unreadable(let reason) {
                throw Problem(.serviceUnavailable, "The file could not be read (\(reason)); try again.")
            }
        }
        let scope = signed ? "private" : "public"
        var headers: HTTPFields = [:]
        let identity = file?.identity ?? found.identity
        var representation = Representation(content: file.map { .bytes($0.bytes) } ?? .file(path: found.path, identity: identity),
                                            etag: identity.etag, lastModified: identity.lastModified,
                                            contentType: path.contentType)
        switch path.kind {
        case .segment, .initSegment, .subtitles:
            // A caption track's segments never change either: a new upload is a new track, with a new folder.
            headers[.cacheControl] = "\(scope), \(Self.immutable)"
        case .poster, .storyboard, .other:
            // A storyboard is written again when its video is transcoded again: kept an hour, like the poster.
            headers[.cacheControl] = "\(scope), max-age=3600"
        case .download:
            headers[.cacheControl] = "\(scope), max-age=3600"
            headers[.contentDisposition] = DownloadName.contentDisposition(title: status.title, videoId: path.videoId,
                                                                           file: path.fileName)
        case .playlist:
            guard let file else { throw Problem.notFound() }  // playlists are always read into memory
            // A finished video's master still changes when captions are added or deleted: it is revalidated
            // (a 304 while it has not changed), never kept.
            if path.isMaster {
                headers[.cacheControl] = status.state == .ready ? "\(scope), no-cache" : "no-cache"
            } else {
                headers[.cacheControl] = Self.hasEndList(file.bytes) ? "\(scope), \(Self.finalPlaylist)" : "no-cache"
            }
            var vary = ["Accept-Encoding"]
            var variantTag = ""
            if path.isMaster {
                let device = try devices.decide(for: request)
                headers[HTTPField.Name("Reel-Device-Class")!] = device.name
                vary += ["User-Agent", "Sec-CH-UA-Mobile", "Sec-CH-UA-Platform", "Save-Data"]
                // The rules' version too: after an edit of devices.yaml a cached master is not "not modified".
                let tag = "-" + device.tag + "-" + String(devices.version, radix: 16)
                let tailored = tailoredMasters.get(file.etag + tag) ?? {
                    let text = String(buffer: file.bytes)
                    let tailored = device.tailor(text)
                    let result: ByteBuffer? = tailored == text ? nil : ByteBuffer(string: tailored)
                    tailoredMasters.put(file.etag + tag, result)
                    return result
                }()
                if let tailored {
                    representation.content = .bytes(tailored)
                    variantTag += tag
                }
            }
            if Gzip.accepted(request.headers[.acceptEncoding]), request.headers[.range] == nil,
               case .bytes(let bytes) = representation.content, let zipped = Gzip.compress(Array(buffer: bytes)) {
                representation.content = .bytes(ByteBuffer(bytes: zipped))
                headers[.contentEncoding] = "gzip"
                variantTag += "-gz"
            }
            if !variantTag.isEmpty { representation.etag = String(file.etag.dropLast()) + variantTag + "\"" }
            headers[.vary] = vary.joined(separator: ", ")
        }
        return representation.response(to: request, headers: headers)
    }

    /// A finished media playlist ends with `#EXT-X-ENDLIST` (and a newline): only its tail is looked at.
    static func hasEndList(_ bytes: ByteBuffer) -> Bool {
        let tail = bytes.readableBytesView.suffix(32)
        return String(decoding: tail, as: UTF8.self).contains("#EXT-X-ENDLIST")
    }

    /// `/s/{expires}/{signature}/hls/{video}/…`
    func serveSigned(_ request: Request, components: [Substring]) async throws -> Response {
        guard components.count >= 5, components[2] == "hls" else { throw Problem.notFound() }
        let videoId = String(components[3])
        switch signer.verify(videoId: videoId, expires: String(components[0]), signature: String(components[1])) {
        case .valid: break
        case .expired: throw Problem(.forbidden, "This playback URL has expired; ask the API for a new one.")
        case .invalid: throw Problem(.forbidden, "This playback URL's signature is not valid.")
        }
        return try await serve(request, components: Array(components.dropFirst(3)), signed: true)
    }
}

/// A small memo of tailored master playlists; `nil` entries mean "the same as the file".
final class TailoredMasters: Sendable {
    private let entries = Mutex<[String: ByteBuffer?]>([:])

    func get(_ key: String) -> ByteBuffer?? { entries.withLock { $0[key] } }

    func put(_ key: String, _ value: ByteBuffer?) {
        entries.withLock { entries in
            if entries.count >= 2048 { entries.removeAll() }  // masters change rarely; a reset is cheap
            entries[key] = value
        }
    }
}
