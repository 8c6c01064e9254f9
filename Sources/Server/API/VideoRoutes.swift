import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOPosix
import Storage

/// `/v1/videos`: list, read, delete, retry, and plain (non-tus) uploads for curl and scripts.
struct VideoRoutes: Sendable {
    let catalog: any Catalog
    let auth: Authenticator
    let store: UploadStore
    let json: VideoJSON
    let statuses: VideoStatusCache
    let layout: StorageLayout
    let logger: Logger

    func register<Context: APIRequestContext>(on router: Router<Context>) {
        let videos = router.group("/v1/videos")
        // Anyone may read a public video; a key shows its private ones too.
        videos.group()
            .add(middleware: OptionalKey(auth: auth))
            .get(":id") { _, context in try await get(id: context.parameters.get("id") ?? "", key: context.key) }
        videos.group()
            .add(middleware: RequireKey(auth: auth, scope: .upload))
            .get { request, context in try await list(request, key: try context.requireKey()) }
            .put { request, context in try await upload(request, context) }
            .post { request, context in try await upload(request, context) }
        videos.group()
            .add(middleware: RequireKey(auth: auth, scope: .admin))
            .delete(":id") { _, context in try await delete(id: context.parameters.get("id") ?? "", key: try context.requireKey()) }
            .post(":id/retry") { _, context in try await retry(id: context.parameters.get("id") ?? "", key: try context.requireKey()) }
    }

    private func render(_ video: VideoRecord) async throws -> API.Video {
        json.video(video, renditions: try await catalog.renditions(videoId: video.id))
    }

    private func list(_ request: Request, key: APIKeyRecord) async throws -> API.VideoPage {
        let query = request.uri.queryParameters
        let limit = try Self.integer(query.get("limit"), name: "limit", default: 20, range: 1...200)
        let offset = try Self.integer(query.get("offset"), name: "offset", default: 0, range: 0...Int.max)
        var state: VideoState?
        if let text = query.get("state"), !text.isEmpty {
            guard let parsed = VideoState(rawValue: text) else {
                throw Problem(.badRequest, "state must be one of \(VideoState.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            state = parsed
        }
        // One more than asked tells whether there is a next page.
        // Filtered in the query, so that every page is whole and `next` is right.
        let videos = try await catalog.videos(state: state, audience: Authenticator.audience(of: key), limit: limit + 1, offset: offset)
        var items: [API.Video] = []
        for video in videos.prefix(limit) { items.append(try await render(video)) }
        var next: String?
        if videos.count > limit {
            next = "/v1/videos?limit=\(limit)&offset=\(offset + limit)" + (state.map { "&state=\($0.rawValue)" } ?? "")
        }
        return API.VideoPage(items: items, limit: limit, offset: offset, next: next)
    }

    private func get(id: String, key: APIKeyRecord?) async throws -> API.Video {
        let video = try await visibleVideo(id, to: key)
        return try await render(video)
    }

    /// The video if this key may see it. Someone else's private video is "not found", word for word as an
    /// unknown id: a 403 would tell that it exists.
    private func visibleVideo(_ id: String, to key: APIKeyRecord?) async throws -> VideoRecord {
        guard let video = try await catalog.video(id: id), Authenticator.audience(of: key).canSee(video) else {
            throw Problem(.notFound, "No video with id \(id).")
        }
        return video
    }

    private func delete(id: String, key: APIKeyRecord) async throws -> Response {
        _ = try await visibleVideo(id, to: key)
        do {
            try await catalog.deleteVideo(id: id)
        } catch CatalogError.notFound {
            throw Problem(.notFound, "No video with id \(id).")
        }
        statuses.forget(id)
        // The catalog row is gone first, so nothing serves or works on these files any more.
        let folders = [layout.hlsDirectory(video: id), layout.originalDirectory(video: id), layout.captionsDirectory(video: id),
                       store.directory(id)]
        try await NIOThreadPool.singleton.runIfActive {
            for folder in folders { try? FileManager.default.removeItem(at: folder) }
        }
        logger.info("video deleted", metadata: ["video": "\(id)"])
        return Response(status: .noContent)
    }

    private func retry(id: String, key: APIKeyRecord) async throws -> EditedResponse<API.Video> {
        _ = try await visibleVideo(id, to: key)
        let stuck = try await catalog.jobs(videoId: id, states: [.failed, .dead, .cancelled], limit: 1000)
        guard !stuck.isEmpty else {
            throw Problem(.conflict, "Nothing to retry: none of this video's jobs failed.")
        }
        for job in stuck { try await catalog.retry(jobId: job.id) }
        statuses.forget(id)
        guard let video = try await catalog.video(id: id) else { throw Problem(.notFound, "No video with id \(id).") }
        return EditedResponse(status: .accepted, response: try await render(video))
    }

    /// The whole file as the body of a PUT/POST (not multipart), streamed to disk.
    private func upload(_ request: Request, _ context: some APIRequestContext) async throws -> EditedResponse<API.Video> {
        let key = try context.requireKey()
        let query = request.uri.queryParameters
        var length: Int64?
        if let text = request.headers[.contentLength] {
            guard let value = Int64(text) else { throw Problem(.badRequest, "Content-Length is not a number.") }
            length = value
        } else if request.headers[.transferEncoding] == nil {
            // HTTP/1.1 has no close-delimited request bodies: without either header the body is empty.
            throw Problem(.lengthRequired, "Send the file with Content-Length or chunked transfer encoding.")
        }
        if let sha = query.get("sha256"), sha.count != 64 || !sha.allSatisfy(\.isHexDigit) {
            throw Problem(.badRequest, "sha256 must be 64 hexadecimal digits.")
        }
        // Titles and file names are people's text: "+" is a space there (FormQuery).
        let info = try await store.create(length: length ?? store.maxUploadBytes,
                                    filename: FormQuery.value("filename", in: request.uri),
                                    title: FormQuery.value("title", in: request.uri), visibility: try UploadInfo.visibility(query.get("visibility")),
                                    owner: key.id, lengthKnown: length != nil)
        let appended: UploadStore.Appended
        do {
            appended = try await store.append(id: info.id, at: 0, body: request.body, checksum: nil,
                                              wholeFileSHA256: query.get("sha256"), deferredLength: length == nil,
                                              accepted: context.bodyAcceptor)
        } catch {
            // A plain upload cannot be resumed: leave nothing behind.
            try? await store.delete(info.id)
            throw error
        }
        guard let video = appended.video else {
            try? await store.delete(info.id)
            throw Problem(.badRequest, "The body ended after \(appended.offset) of \(length ?? 0) bytes; nothing was stored.")
        }
        return EditedResponse(status: .created, headers: [.location: "/v1/videos/\(video.id)"], response: try await render(video))
    }

    private static func integer(_ text: String?, name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text, !text.isEmpty else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw Problem(.badRequest, "\(name) must be an integer in \(range.lowerBound)…\(range.upperBound == Int.max ? "" : String(range.upperBound)).")
        }
        return number
    }
}
