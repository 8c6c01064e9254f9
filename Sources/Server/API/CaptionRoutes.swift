import Captions
import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import Storage
import Synchronization

/// `/v1/videos/{id}/captions`: upload a WebVTT or SRT file as a caption track, list, delete. A finished
/// video's playlists are republished at once; before that the finalize job publishes them.
struct CaptionRoutes: Sendable {
    let catalog: any Catalog
    let auth: Authenticator
    let layout: StorageLayout
    let maxBytes: Int
    /// Caption tracks one video may have (`max_captions_per_video`).
    let maxTracks: Int
    let logger: Logger

    var store: CaptionStore { CaptionStore(layout: layout) }

    func register<Context: APIRequestContext>(on router: Router<Context>) {
        let videos = router.group("/v1/videos")
        videos.group()
            .add(middleware: OptionalKey(auth: auth))
            .get(":id/captions") { _, context in
                try await list(id: context.parameters.get("id") ?? "", key: context.key)
            }
        videos.group()
            .add(middleware: RequireKey(auth: auth, scope: .upload))
            .post(":id/captions") { request, context in try await upload(request, context) }
            .delete(":id/captions/:track") { _, context in
                try await delete(id: context.parameters.get("id") ?? "", track: context.parameters.get("track") ?? "",
                                 key: try context.requireKey())
            }
    }

    private func list(id: String, key: APIKeyRecord?) async throws -> API.CaptionList {
        let video = try await visibleVideo(id, to: key)
        let tracks = try await NIOThreadPool.singleton.runIfActive { [store] in try store.tracks(video: video.id) }
        return API.CaptionList(items: tracks.map(API.Caption.init))
    }

    private func upload(_ request: Request, _ context: some APIRequestContext) async throws -> EditedResponse<API.Caption> {
        let key = try context.requireKey()
        let video = try await changeableVideo(context.parameters.get("id") ?? "", by: key)
        let query = request.uri.queryParameters
        let language = query.get("lang") ?? ""
        guard CaptionTrack.isLanguageTag(language) else {
            throw Problem(.badRequest, "lang must be a BCP 47 language tag such as en, pt-BR or zh-Hant\(language.isEmpty ? "" : ", not '\(language)'").")
        }
        let label = (FormQuery.value("label", in: request.uri) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard label.count <= 100, !label.contains(where: \.isNewline) else {
            throw Problem(.badRequest, "label must be one line of at most 100 characters.")
        }
        let isDefault: Bool
        switch query.get("default") ?? "false" {
        case "true", "yes", "1": isDefault = true
        case "false", "no", "0", "": isDefault = false
        default: throw Problem(.badRequest, "default must be true or false.")
        }
        var format: CaptionParser.Format?
        if let text = query.get("format"), !text.isEmpty {
            guard let parsed = CaptionParser.Format(rawValue: text) else { throw Problem(.badRequest, "format must be vtt or srt.") }
            format = parsed
        } else if let type = request.headers[.contentType]?.lowercased() {
            if type.hasPrefix("text/vtt") { format = .webVTT }
            if type.hasPrefix("application/x-subrip") || type.hasPrefix("text/srt") { format = .subRip }
        }
        if let text = request.headers[.contentLength], let length = Int(text), length > maxBytes {
            throw tooLarge
        }
        context.bodyAcceptor()
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: maxBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw tooLarge
        }
        let cues: [Cue]
        do {
            cues = try CaptionParser.parse(Data(buffer: body), format: format, limits: CaptionLimits(maxBytes: maxBytes))
        } catch {
            throw Problem(.unprocessableContent, error.line > 0
                ? "Line \(error.line) of the caption file is wrong: \(error.reason). Nothing was stored."
                : "The caption file was refused: \(error.reason). Nothing was stored.")
        }
        let track = CaptionTrack(id: Self.newId(), language: language, label: label.isEmpty ? language : label,
                                 source: .upload, isDefault: isDefault, cueCount: cues.count, created: Date())
        // Under the video's lock, which the finalize job holds while it publishes: whichever runs second
        // sees the other's result.
        let full = Mutex(0)
        try await catalog.withVideoLock(videoId: video.id) { [store, maxTracks] in
            let count = try store.tracks(video: video.id).count
            guard count < maxTracks else { return full.withLock { $0 = count } }
            try store.add(track, cues: cues, video: video.id)
            try store.republish(video: video.id)
        }
        if full.withLock({ $0 }) > 0 {
            throw Problem(.conflict, "This video already has \(maxTracks) caption tracks, the most allowed (max_captions_per_video); delete one first.")
        }
        logger.info("caption track added", metadata: ["video": "\(video.id)", "track": "\(track.id)", "cues": "\(cues.count)"])
        return EditedResponse(status: .created, headers: [.location: "/v1/videos/\(video.id)/captions/\(track.id)"],
                              response: API.Caption(track))
    }

    private func delete(id: String, track: String, key: APIKeyRecord) async throws -> Response {
        let video = try await changeableVideo(id, by: key)
        guard MediaPath.isPlainName(track) else { throw Problem(.notFound, "Video \(id) has no caption track \(track).") }
        let removed = Mutex(false)
        try await catalog.withVideoLock(videoId: video.id) { [store] in
            guard try store.remove(track: track, video: video.id) else { return }
            try store.republish(video: video.id)
            removed.withLock { $0 = true }
        }
        guard removed.withLock({ $0 }) else { throw Problem(.notFound, "Video \(id) has no caption track \(track).") }
        logger.info("caption track deleted", metadata: ["video": "\(video.id)", "track": "\(track)"])
        return Response(status: .noContent)
    }

    private var tooLarge: Problem {
        Problem(.contentTooLarge, "The caption file is larger than this server accepts (\(maxBytes) bytes; max_caption_size).")
    }

    private func visibleVideo(_ id: String, to key: APIKeyRecord?) async throws -> VideoRecord {
        guard let video = try await catalog.video(id: id), Authenticator.audience(of: key).canSee(video) else {
            throw Problem(.notFound, "No video with id \(id).")
        }
        return video
    }

    /// Captions change only by an admin key or the key that uploaded the video.
    private func changeableVideo(_ id: String, by key: APIKeyRecord) async throws -> VideoRecord {
        let video = try await visibleVideo(id, to: key)
        guard key.scope == .admin || video.ownerKeyId == key.id else {
            throw Problem(.forbidden, "Only the key that uploaded this video, or an admin key, can change its captions.")
        }
        guard video.state != .failed else {
            throw Problem(.conflict, "This video failed to process; it has no playlists to add captions to.")
        }
        return video
    }

    static func newId() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<6).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}

extension API {
    struct Caption: ResponseCodable, Sendable {
        var id: String
        var language: String
        var label: String
        var source: String
        var isDefault: Bool
        var cueCount: Int
        var createdAt: String

        init(_ track: CaptionTrack) {
            id = track.id
            language = track.language
            label = track.label
            source = track.source.rawValue
            isDefault = track.isDefault
            cueCount = track.cueCount
            createdAt = track.created.formatted(.iso8601)
        }
    }

    struct CaptionList: ResponseCodable, Sendable {
        var items: [Caption]
    }
}
