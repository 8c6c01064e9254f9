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
    /// Tailored and gzip'd playlists by file version: each is made once, served many times.
    let variants = PlaylistVariants()
    /// Whole answers to plain GETs of playlists, for the fast path.
    let answers = PlaylistAnswers()
    let directories = VerifiedDirectories()
    /// `layout.hls` as a path, made once (a URL's path is worked out again on every call).
    let hlsRoot: String

    init(layout: StorageLayout, statuses: VideoStatusCache, signer: URLSigner, devices: DeviceRulesSource, cache: FileCache?,
         sendfile: Bool) {
        self.layout = layout
        self.statuses = statuses
        self.signer = signer
        self.devices = devices
        self.cache = cache
        self.sendfile = sendfile
        hlsRoot = layout.hls.path
    }

    static let immutable = "max-age=31536000, immutable"
    static let finalPlaylist = "max-age=86400"
    static let deviceClass = HTTPField.Name("Reel-Device-Class")!

    /// The Cache-Control values, made once: `public` for public videos, `private` through signed URLs.
    struct CacheControl {
        let immutable, hour, revalidate, finalPlaylist: String

        init(_ scope: String) {
            immutable = "\(scope), \(StreamingHandler.immutable)"
            hour = "\(scope), max-age=3600"
            revalidate = "\(scope), no-cache"
            finalPlaylist = "\(scope), \(StreamingHandler.finalPlaylist)"
        }

        static let `public` = CacheControl("public")
        static let signed = CacheControl("private")
    }

    /// `components` are the raw path components after `/hls/`.
    func serve(_ request: Request, components: [Substring], signed: Bool) async throws -> Response {
        guard let path = MediaPath.parse(components) else { throw Problem.notFound() }
        guard let status = try await statuses.status(of: path.videoId) else { throw Problem.notFound() }
        let found = try locate(path, status: status, signed: signed)
        var file: StoredFile?
        if readsIntoMemory(path, found.identity) {
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
        let explicitDevice = path.isMaster ? request.uri.queryParameters.get("device").map { String($0) } : nil
        return try answer(request.head, path: path, status: status, signed: signed, found: found, file: file,
                          explicitDevice: explicitDevice, atHandOnly: false).response
    }

    /// The answer when everything it needs is at hand without waiting: the video's status cached, the
    /// file in the cache or sent from disk (`StreamingFastPath`, on the connection's event loop). Nil
    /// means "ask `serve`": for anything missing, and for every error, so that errors have one source.
    /// `target` is the request's path without its query: `/hls/…` or `/s/{expires}/{signature}/hls/…`.
    func answerNow(_ request: HTTPRequest, target: Substring, hasQuery: Bool) -> StreamingAnswer? {
        var components = target.split(separator: "/", omittingEmptySubsequences: false).dropFirst()  // "" before the first /
        var signed = false
        if components.first == "s" {
            guard components.count >= 6, components[components.startIndex + 3] == "hls" else { return nil }
            let (expires, signature) = (components[components.startIndex + 1], components[components.startIndex + 2])
            let video = components[components.startIndex + 4]
            guard signer.verify(videoId: String(video), expires: String(expires), signature: String(signature)) == .valid else { return nil }
            components = components.dropFirst(4)
            signed = true
        } else {
            guard components.first == "hls" else { return nil }
            components = components.dropFirst()
        }
        // Percent-escapes are left to `serve`, which decodes them once; so is a master's `?device=`.
        guard !target.utf8.contains(UInt8(ascii: "%")), let path = MediaPath.parse(Array(components)),
              !(hasQuery && path.isMaster),
              let cached = statuses.fresh(path.videoId), let status = cached,
              let found = try? locate(path, status: status, signed: signed) else { return nil }
        // A plain GET or HEAD of a playlist: the whole answer may be known already.
        var key: PlaylistAnswers.Key?
        if path.kind == .playlist, Self.isPlain(request) {
            guard let device = path.isMaster
                    ? (try? devices.decide(headers: request.headerFields, explicitClass: nil, memoisedOnly: true))?.tag : ""
            else { return nil }
            key = .init(path: found.path, identity: found.identity, signed: signed, ready: status.state == .ready,
                        device: device, gzip: Gzip.accepted(request.headerFields[.acceptEncoding]))
            if let key, var known = answers.answer(key) {
                if request.method == .head { known.body = [] }
                return known
            }
        }
        var file: StoredFile?
        if readsIntoMemory(path, found.identity) {
            guard let hit = cache?.lookup(path: found.path, identity: found.identity) else { return nil }
            file = hit
        }
        guard let made = try? answer(request, path: path, status: status, signed: signed, found: found, file: file,
                                     explicitDevice: nil, atHandOnly: true) else { return nil }
        if let key, request.method == .get { answers.remember(key, made) }
        return made
    }

    /// No range and no validators: the answer depends only on the file and the request's class.
    private static func isPlain(_ request: HTTPRequest) -> Bool {
        let fields = request.headerFields
        return fields[.range] == nil && fields[.ifNoneMatch] == nil && fields[.ifModifiedSince] == nil && fields[.ifRange] == nil
    }

    /// The file a path names, if the video may be served to this request.
    private func locate(_ path: MediaPath, status: VideoStatusCache.Status, signed: Bool) throws -> (path: String, identity: FileIdentity) {
        // What a failed video wrote before it failed is not a video: none of it is served.
        if status.state == .failed { throw Problem.notFound() }
        if status.visibility == .private && !signed {
            // The same answer as for an id that does not exist: a private video's existence is not told.
            throw Problem.notFound()
        }
        do {
            return try StoredFile.find(root: hlsRoot, components: [path.videoId] + path.components, directories: directories)
        } catch {
            throw Problem.notFound()
        }
    }

    /// Large media files leave as file regions (sendfile(2)): always above `wholeReadLimit`, so that no
    /// response holds a copy of one however slowly its client reads; with `sendfile` on, from 64 KiB.
    /// Playlists (tailored, gzip'd) and other files are read into memory, through the cache.
    private func readsIntoMemory(_ path: MediaPath, _ identity: FileIdentity) -> Bool {
        path.kind == .playlist || !(identity.size > StoredFile.wholeReadLimit || (sendfile && identity.size >= Sendfile.threshold))
    }

    /// Headers, validators and the body for a located file (`file` when it was read into memory).
    /// `atHandOnly` (on an event loop): nothing costly is made — a device decision, tailoring or gzip not
    /// made yet throws `NotAtHand`.
    private func answer(_ request: HTTPRequest, path: MediaPath, status: VideoStatusCache.Status, signed: Bool,
                        found: (path: String, identity: FileIdentity), file: StoredFile?,
                        explicitDevice: String?, atHandOnly: Bool) throws -> StreamingAnswer {
        let cache = signed ? CacheControl.signed : CacheControl.public
        var headers: HTTPFields = [:]
        let identity = file?.identity ?? found.identity
        var representation = Representation(content: file.map { .bytes($0.bytes) } ?? .file(path: found.path, identity: identity),
                                            etag: file?.etag ?? identity.etag, lastModified: identity.lastModified,
                                            contentType: path.contentType, lastModifiedText: file?.lastModifiedText)
        switch path.kind {
        case .segment, .initSegment, .subtitles:
            // A caption track's segments never change either: a new upload is a new track, with a new folder.
            headers[.cacheControl] = cache.immutable
        case .poster, .storyboard, .other:
            // A storyboard is written again when its video is transcoded again: kept an hour, like the poster.
            headers[.cacheControl] = cache.hour
        case .download:
            headers[.cacheControl] = cache.hour
            headers[.contentDisposition] = DownloadName.contentDisposition(title: status.title, videoId: path.videoId,
                                                                           file: path.fileName)
        case .playlist:
            guard let file else { throw Problem.notFound() }  // playlists are always read into memory
            // A finished video's master still changes when captions are added or deleted: it is revalidated
            // (a 304 while it has not changed), never kept.
            if path.isMaster {
                headers[.cacheControl] = status.state == .ready ? cache.revalidate : "no-cache"
            } else {
                headers[.cacheControl] = file.endsList ? cache.finalPlaylist : "no-cache"
            }
            var variantTag = ""
            var bytes = file.bytes
            if path.isMaster {
                let device = try devices.decide(headers: request.headerFields, explicitClass: explicitDevice, memoisedOnly: atHandOnly)
                headers[Self.deviceClass] = device.name
                headers[.vary] = "Accept-Encoding, User-Agent, Sec-CH-UA-Mobile, Sec-CH-UA-Platform, Save-Data"
                if let tailored = try variants.variant(of: file, key: device.tag, make: atHandOnly ? nil : { text in
                    let tailored = device.tailor(text)
                    return tailored == text ? nil : tailored
                }) {
                    bytes = tailored
                    variantTag += device.tag
                }
            } else {
                headers[.vary] = "Accept-Encoding"
            }
            if Gzip.accepted(request.headerFields[.acceptEncoding]), request.headerFields[.range] == nil,
               let zipped = try variants.gzipped(bytes, of: file, key: variantTag, make: !atHandOnly) {
                bytes = zipped
                headers[.contentEncoding] = "gzip"
                variantTag += "-gz"
            }
            representation.content = .bytes(bytes)
            if !variantTag.isEmpty { representation.etag = String(file.etag.dropLast()) + variantTag + "\"" }
        }
        return try representation.answer(to: request, headers: headers)
    }

    /// A finished media playlist ends with `#EXT-X-ENDLIST` (and a newline): only its tail is looked at.
    static func hasEndList(_ bytes: ByteBuffer) -> Bool {
        let tail = bytes.readableBytesView.suffix(32)
        let mark = Array("#EXT-X-ENDLIST".utf8)
        guard tail.count >= mark.count else { return false }
        return tail.indices.dropLast(mark.count - 1).contains { start in
            tail[start..<(start + mark.count)].elementsEqual(mark)
        }
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
