import Catalog
import Foundation
import HTTPTypes
import Hummingbird

/// tus 1.0.0 at `/v1/uploads`: core, creation, creation-with-upload, expiration, checksum (sha1, sha256),
/// termination.
struct TusRoutes: Sendable {
    let store: UploadStore
    let auth: Authenticator

    static let version = "1.0.0"
    static let extensions = "creation,creation-with-upload,expiration,checksum,termination"

    func register<Context: APIRequestContext>(on router: Router<Context>) {
        let uploads = router.group("/v1/uploads")
        uploads.on("", method: .options) { _, _ in options() }
        uploads.on(":id", method: .options) { _, _ in options() }
        uploads.group()
            .add(middleware: TusVersionMiddleware())
            .add(middleware: RequireKey(auth: auth, scope: .upload))
            .post { request, context in try await create(request, context) }
            .head(":id") { _, context in try await head(context) }
            .patch(":id") { request, context in try await patch(request, context) }
            .delete(":id") { _, context in try await terminate(context) }
        // Not tus: no version needed.
        uploads.group()
            .add(middleware: RequireKey(auth: auth, scope: .upload))
            .get(":id") { _, context in try await status(context) }
    }

    private func options() -> Response {
        Response(status: .noContent, headers: [
            .tusResumable: Self.version, .tusVersion: Self.version, .tusExtension: Self.extensions,
            .tusMaxSize: String(store.maxUploadBytes), .tusChecksumAlgorithm: "sha1,sha256",
        ])
    }

    private func create(_ request: Request, _ context: some APIRequestContext) async throws -> Response {
        let key = try context.requireKey()
        if request.headers[.uploadDeferLength] != nil {
            throw Problem(.badRequest, "Upload-Defer-Length is not supported: send Upload-Length.")
        }
        guard let lengthText = request.headers[.uploadLength], let length = Int64(lengthText) else {
            throw Problem(.badRequest, "Upload-Length is required (the file's size in bytes).")
        }
        let metadata = try UploadInfo.parseMetadata(request.headers[.uploadMetadata])
        // Everything about the first chunk is checked before anything is created.
        var firstChunkChecksum: UploadStore.Checksum?
        if hasBody(request) {
            try checkContentType(request)
            firstChunkChecksum = try checksum(request)
            if let declared = request.headers[.contentLength].flatMap({ Int64($0) }), declared > length {
                throw Problem(.contentTooLarge, "The body is \(declared) bytes, more than Upload-Length (\(length)).")
            }
        }
        var info = try await store.create(length: length, filename: metadata["filename"] ?? metadata["name"],
                                    title: metadata["title"], visibility: try UploadInfo.visibility(metadata["visibility"]),
                                    owner: key.id)
        var headers: HTTPFields = [.location: "/v1/uploads/\(info.id)"]
        if hasBody(request) || length == 0 {
            // creation-with-upload (or an empty file, complete as soon as it exists).
            do {
                let appended = try await store.append(id: info.id, at: 0, body: request.body, checksum: firstChunkChecksum,
                                                      accepted: context.bodyAcceptor)
                if let video = appended.video { addVideo(video.id, to: &headers) }
            } catch {
                // The upload exists; the client resumes from the offset below (tus: still a 201). The rest
                // of the body may be unread: the connection is closed rather than drained.
                context.logger.info("creation-with-upload body not stored whole", metadata: ["error": "\(error)"])
                headers[.connection] = "close"
            }
            info = try await store.info(info.id)
            headers[.uploadOffset] = String(store.offset(info))
        }
        if info.videoId == nil { headers[.uploadExpires] = HTTPDate.format(epochSeconds: Int(info.expiresAt.timeIntervalSince1970)) }
        return Response(status: .created, headers: headers)
    }

    private func head(_ context: some KeyedRequestContext) async throws -> Response {
        let info = try await store.settle(try await owned(context).id)
        var headers: HTTPFields = [
            .uploadOffset: String(store.offset(info)), .uploadLength: String(info.length), .cacheControl: "no-store",
        ]
        if let id = info.videoId { addVideo(id, to: &headers) } else {
            headers[.uploadExpires] = HTTPDate.format(epochSeconds: Int(info.expiresAt.timeIntervalSince1970))
        }
        return Response(status: .ok, headers: headers)
    }

    private func patch(_ request: Request, _ context: some APIRequestContext) async throws -> Response {
        try checkContentType(request)
        guard let offsetText = request.headers[.uploadOffset], let offset = Int64(offsetText), offset >= 0 else {
            throw Problem(.badRequest, "Upload-Offset is required (where this chunk starts).")
        }
        let info = try await owned(context)
        let appended = try await store.append(id: info.id, at: offset, body: request.body, checksum: try checksum(request),
                                              declared: request.headers[.contentLength].flatMap { Int64($0) },
                                              accepted: context.bodyAcceptor)
        var headers: HTTPFields = [.uploadOffset: String(appended.offset)]
        if let video = appended.video { addVideo(video.id, to: &headers) } else {
            let fresh = try await store.info(info.id)
            headers[.uploadExpires] = HTTPDate.format(epochSeconds: Int(fresh.expiresAt.timeIntervalSince1970))
        }
        return Response(status: .noContent, headers: headers)
    }

    private func terminate(_ context: some KeyedRequestContext) async throws -> Response {
        let info = try await owned(context)
        try await store.delete(info.id)
        return Response(status: .noContent)
    }

    /// Not part of tus: the upload's state as JSON, for pages and scripts.
    private func status(_ context: some KeyedRequestContext) async throws -> API.Upload {
        let info = try await store.settle(try await owned(context).id)
        return API.Upload(id: info.id, offset: store.offset(info), length: info.length,
                          expiresAt: VideoJSON.timestamp(info.expiresAt), videoId: info.videoId)
    }

    /// The upload, if the caller's key created it (or is an admin key); otherwise it does not exist.
    private func owned(_ context: some KeyedRequestContext) async throws -> UploadInfo {
        let key = try context.requireKey()
        let id = context.parameters.get("id") ?? ""
        let info = try await store.info(id)
        guard key.scope == .admin || info.ownerKeyId == nil || info.ownerKeyId == key.id else {
            throw UploadError.notFound(id: id)
        }
        return info
    }

    private func hasBody(_ request: Request) -> Bool {
        if let length = request.headers[.contentLength] { return (Int(length) ?? 0) > 0 }
        return request.headers[.transferEncoding] != nil
    }

    private func checkContentType(_ request: Request) throws {
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/offset+octet-stream") == true else {
            throw Problem(.unsupportedMediaType, "Chunks must be sent as 'Content-Type: application/offset+octet-stream'.")
        }
    }

    private func checksum(_ request: Request) throws -> UploadStore.Checksum? {
        guard let header = request.headers[.uploadChecksum] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, let digest = Data(base64Encoded: String(parts[1])) else {
            throw Problem(.badRequest, "Upload-Checksum must be '<algorithm> <base64 digest>'.")
        }
        switch parts[0].lowercased() {
        case "sha1": return .sha1(digest)
        case "sha256": return .sha256(digest)
        default: throw Problem(.badRequest, "Checksum algorithm '\(parts[0])' is not supported; use sha1 or sha256.")
        }
    }

    private func addVideo(_ id: String, to headers: inout HTTPFields) {
        headers[.reelVideoId] = id
        headers[.reelVideo] = "/v1/videos/\(id)"
    }
}

extension HTTPField.Name {
    static let tusResumable = Self("Tus-Resumable")!
    static let tusVersion = Self("Tus-Version")!
    static let tusExtension = Self("Tus-Extension")!
    static let tusMaxSize = Self("Tus-Max-Size")!
    static let tusChecksumAlgorithm = Self("Tus-Checksum-Algorithm")!
    static let uploadLength = Self("Upload-Length")!
    static let uploadOffset = Self("Upload-Offset")!
    static let uploadMetadata = Self("Upload-Metadata")!
    static let uploadExpires = Self("Upload-Expires")!
    static let uploadChecksum = Self("Upload-Checksum")!
    static let uploadDeferLength = Self("Upload-Defer-Length")!
    static let reelVideoId = Self("Reel-Video-Id")!
    static let reelVideo = Self("Reel-Video")!
}
