import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Storage
import Testing
@testable import Server

/// The router of `reel serve` (`buildRouter`), called in-process over a real SQLite catalog and storage
/// root in a temporary directory: status codes, problem JSON, tus headers and who sees which video.
/// The connection-level handlers (100-continue, slow clients, sendfile) are not in this path; Tests/http
/// covers them against a real process.
@Suite("Router")
struct RouterTests {
    let root: URL
    let catalog: SQLiteCatalog
    let dependencies: ServerDependencies
    /// Secrets of an admin key, an upload key and a second upload key (someone else).
    let admin: String
    let upload: String
    let other: String
    let uploadKey: APIKeyRecord

    init() async throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("reel-router-\(UUID().uuidString)")
        let catalog = try SQLiteCatalog(path: root.appendingPathComponent("reel.sqlite").path)
        self.catalog = catalog
        let settings = ServerSettings(layout: StorageLayout(root: root), profilesDirectory: root, minFreeBytes: 0,
                                      signingKey: Array("0123456789abcdef".utf8))
        dependencies = try ServerDependencies(settings: settings, catalog: catalog, metrics: ServerMetrics(),
                                              logger: Logger(label: "router-tests"))
        admin = try await Self.key("admin", .admin, in: catalog).secret
        let uploader = try await Self.key("uploader", .upload, in: catalog)
        (upload, uploadKey) = (uploader.secret, uploader.record)
        other = try await Self.key("someone-else", .upload, in: catalog).secret
    }

    static func key(_ name: String, _ scope: APIKeyScope, in catalog: SQLiteCatalog) async throws -> (secret: String, record: APIKeyRecord) {
        let (secret, hash) = Authenticator.newKey()
        return (secret, try await catalog.createAPIKey(name: name, scope: scope, secretHash: hash))
    }

    func withRouter(_ settings: ((inout ServerSettings) -> Void)? = nil,
                    _ test: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        var dependencies = dependencies
        if let settings {
            var values = dependencies.settings
            settings(&values)
            dependencies = try ServerDependencies(settings: values, catalog: catalog, metrics: ServerMetrics(),
                                                  logger: Logger(label: "router-tests"))
        }
        let app = Application(router: try buildRouter(dependencies))
        try await app.test(.router) { client in try await test(client) }
    }

    // MARK: - Authentication

    @Test("No key: 401 with WWW-Authenticate and problem JSON")
    func noKey() async throws {
        try await withRouter { client in
            let response = try await client.execute(uri: "/v1/videos", method: .get)
            let problem = try Self.problem(response, 401)
            #expect(response.headers[.wwwAuthenticate] == "Bearer realm=\"reel\"")
            #expect(problem["title"] as? String == "Unauthorized")
            #expect((problem["detail"] as? String)?.contains("needs an API key") == true)
        }
    }

    @Test("An unknown key or a malformed Authorization header: 401, never treated as anonymous")
    func unknownKey() async throws {
        try await withRouter { client in
            for header in ["Bearer reel_not-a-key", "Basic dXNlcjpwYXNz"] {
                // Even where no key is needed (a video's page of the API), a wrong key is an error.
                for uri in ["/v1/videos", "/v1/videos/00000000-0000-0000-0000-000000000000"] {
                    let response = try await client.execute(uri: uri, method: .get, headers: [.authorization: header])
                    _ = try Self.problem(response, 401)
                    #expect(response.headers[.wwwAuthenticate] == "Bearer realm=\"reel\"", "\(header) on \(uri)")
                }
            }
        }
    }

    @Test("An upload key on an admin route: 403 naming the key's scope")
    func uploadKeyOnAdminRoute() async throws {
        let video = try await video(.public, owner: uploadKey.id)
        try await withRouter { [upload] client in
            for (uri, method) in [("/v1/videos/\(video.id)", HTTPRequest.Method.delete), ("/v1/videos/\(video.id)/retry", .post), ("/metrics", .get)] {
                let response = try await client.execute(uri: uri, method: method, headers: Self.bearer(upload))
                let problem = try Self.problem(response, 403)
                #expect((problem["detail"] as? String)?.contains("needs an admin key") == true, "\(method) \(uri)")
            }
        }
        #expect(try await catalog.video(id: video.id) != nil)
    }

    @Test("/readyz: its reasons for admin keys only; a wrong key is a 401 there too")
    func readyzDetail() async throws {
        try await withRouter { [admin, upload] client in
            let anonymous = try Self.json(try await client.execute(uri: "/readyz", method: .get))
            #expect(anonymous["status"] as? String == "ready" && anonymous["checks"] == nil)
            let uploader = try Self.json(try await client.execute(uri: "/readyz", method: .get, headers: Self.bearer(upload)))
            #expect(uploader["checks"] == nil)
            let operator_ = try Self.json(try await client.execute(uri: "/readyz", method: .get, headers: Self.bearer(admin)))
            #expect((operator_["checks"] as? [String: String])?["catalog"] == "ok")
            _ = try Self.problem(try await client.execute(uri: "/readyz", method: .get, headers: Self.bearer("reel_wrong")), 401)
            _ = try Self.problem(try await client.execute(uri: "/metrics", method: .get), 401)
            #expect(try await client.execute(uri: "/metrics", method: .get, headers: Self.bearer(admin)).status == .ok)
        }
    }

    @Test("With metrics_public, /metrics and the reasons of /readyz need no key, and no key is read")
    func metricsPublic() async throws {
        try await withRouter({ $0.metricsPublic = true }) { client in
            #expect(try await client.execute(uri: "/metrics", method: .get).status == .ok)
            let ready = try Self.json(try await client.execute(uri: "/readyz", method: .get, headers: Self.bearer("reel_wrong")))
            #expect((ready["checks"] as? [String: String])?["storage"] == "ok")
        }
    }

    // MARK: - tus

    @Test("tus: OPTIONS, then POST, HEAD and PATCH to the end, with the protocol's headers")
    func tusHeaders() async throws {
        try await withRouter { [upload, catalog] client in
            let options = try await client.execute(uri: "/v1/uploads", method: .options)
            #expect(options.status == .noContent)
            #expect(options.headers[.tusResumable] == "1.0.0" && options.headers[.tusVersion] == "1.0.0")
            #expect(options.headers[.tusExtension]?.contains("creation-with-upload") == true)
            #expect(options.headers[.tusMaxSize] != nil)

            let created = try await client.execute(uri: "/v1/uploads", method: .post, headers: Self.tus(upload, [.uploadLength: "10"]))
            #expect(created.status == .created)
            #expect(created.headers[.tusResumable] == "1.0.0")
            #expect(created.headers[.uploadExpires] != nil)
            let location = try #require(created.headers[.location])
            #expect(location.hasPrefix("/v1/uploads/"))

            let head = try await client.execute(uri: location, method: .head, headers: Self.tus(upload))
            #expect(head.status == .ok)
            #expect(head.headers[.uploadOffset] == "0" && head.headers[.uploadLength] == "10")
            #expect(head.headers[.tusResumable] == "1.0.0" && head.headers[.cacheControl] == "no-store")

            let chunk = Self.tus(upload, [.uploadOffset: "0", .contentType: "application/offset+octet-stream"])
            let first = try await client.execute(uri: location, method: .patch, headers: chunk, body: ByteBuffer(repeating: 1, count: 4))
            #expect(first.status == .noContent)
            #expect(first.headers[.uploadOffset] == "4" && first.headers[.tusResumable] == "1.0.0")
            #expect(first.headers[.reelVideoId] == nil)

            // A chunk at the wrong offset: 409, still a tus answer.
            let wrong = try await client.execute(uri: location, method: .patch, headers: chunk, body: ByteBuffer(repeating: 1, count: 6))
            _ = try Self.problem(wrong, 409)
            #expect(wrong.headers[.tusResumable] == "1.0.0")

            var last = chunk
            last[.uploadOffset] = "4"
            let done = try await client.execute(uri: location, method: .patch, headers: last, body: ByteBuffer(repeating: 2, count: 6))
            #expect(done.status == .noContent)
            #expect(done.headers[.uploadOffset] == "10")
            let videoId = try #require(done.headers[.reelVideoId])
            #expect(done.headers[.reelVideo] == "/v1/videos/\(videoId)")
            #expect(try await catalog.video(id: videoId)?.sizeBytes == 10)

            let status = try await client.execute(uri: location, method: .get, headers: Self.bearer(upload))
            #expect(status.status == .ok)
            let json = try Self.json(status)
            #expect(json["offset"] as? Int == 10 && json["length"] as? Int == 10 && json["videoId"] as? String == videoId)
        }
    }

    @Test("tus without Tus-Resumable: 412 naming the version; errors of tus requests carry Tus-Resumable")
    func tusVersion() async throws {
        try await withRouter { [upload] client in
            let created = try await client.execute(uri: "/v1/uploads", method: .post, headers: Self.tus(upload, [.uploadLength: "10"]))
            let location = try #require(created.headers[.location])
            var plain = Self.bearer(upload)
            plain[.uploadLength] = "10"
            for (uri, method) in [("/v1/uploads", HTTPRequest.Method.post), (location, .head), (location, .patch), (location, .delete)] {
                let response = try await client.execute(uri: uri, method: method, headers: plain)
                #expect(response.status == .preconditionFailed, "\(method) \(uri)")
                #expect(response.headers[.tusVersion] == "1.0.0" && response.headers[.tusResumable] == "1.0.0")
            }
            // Before the key: a request without the version is refused as such even without a key.
            let anonymous = try await client.execute(uri: "/v1/uploads", method: .post, headers: [.uploadLength: "10"])
            #expect(anonymous.status == .preconditionFailed)

            let noKey = try await client.execute(uri: "/v1/uploads", method: .post, headers: [.tusResumable: "1.0.0", .uploadLength: "10"])
            _ = try Self.problem(noKey, 401)
            #expect(noKey.headers[.tusResumable] == "1.0.0")
            // The key is checked before anything about the chunk: nothing is told to a caller without one.
            let anonymousChunk = try await client.execute(uri: location, method: .patch, headers: [.tusResumable: "1.0.0", .contentType: "text/plain"],
                                                          body: ByteBuffer(repeating: 1, count: 4))
            _ = try Self.problem(anonymousChunk, 401)
            #expect(anonymousChunk.headers[.tusResumable] == "1.0.0")
            // The status JSON is not tus: no version needed, no tus header.
            let status = try await client.execute(uri: location, method: .get, headers: Self.bearer(upload))
            #expect(status.status == .ok && status.headers[.tusResumable] == nil)
        }
    }

    @Test("Someone else's upload is 404 to another upload key, and reachable by an admin key")
    func uploadOwnership() async throws {
        try await withRouter { [upload, other, admin] client in
            let created = try await client.execute(uri: "/v1/uploads", method: .post, headers: Self.tus(upload, [.uploadLength: "10"]))
            let location = try #require(created.headers[.location])
            for method in [HTTPRequest.Method.head, .delete] {
                let response = try await client.execute(uri: location, method: method, headers: Self.tus(other))
                #expect(response.status == .notFound, "\(method)")
            }
            _ = try Self.problem(try await client.execute(uri: location, method: .get, headers: Self.bearer(other)), 404)
            #expect(try await client.execute(uri: location, method: .head, headers: Self.tus(admin)).status == .ok)
            #expect(try await client.execute(uri: location, method: .delete, headers: Self.tus(upload)).status == .noContent)
            _ = try Self.problem(try await client.execute(uri: location, method: .get, headers: Self.bearer(upload)), 404)
        }
    }

    // MARK: - Visibility

    @Test("A private video: 200 to its owner and admins, 404 (as an unknown id) to another key and to no key")
    func privateVideo() async throws {
        let video = try await video(.private, owner: uploadKey.id)
        try await withRouter { [upload, other, admin] client in
            for secret in [upload, admin] {
                let response = try await client.execute(uri: "/v1/videos/\(video.id)", method: .get, headers: Self.bearer(secret))
                #expect(response.status == .ok)
                let json = try Self.json(response)
                #expect(json["id"] as? String == video.id && json["visibility"] as? String == "private")
            }
            let hidden = try Self.problem(try await client.execute(uri: "/v1/videos/\(video.id)", method: .get, headers: Self.bearer(other)), 404)
            let unknown = try Self.problem(try await client.execute(uri: "/v1/videos/00000000-0000-0000-0000-000000000000", method: .get,
                                                                    headers: Self.bearer(other)), 404)
            #expect(hidden["title"] as? String == unknown["title"] as? String)
            #expect(hidden["detail"] as? String == "No video with id \(video.id).")
            _ = try Self.problem(try await client.execute(uri: "/v1/videos/\(video.id)", method: .get), 404)
            // An admin route does not tell either: another admin-less key never gets this far (403), an
            // admin key does.
            #expect(try await client.execute(uri: "/v1/videos/\(video.id)/retry", method: .post, headers: Self.bearer(admin)).status == .conflict)
        }
    }

    @Test("Lists show a private video to its owner and admins only; public videos to every key")
    func listFiltering() async throws {
        let hidden = try await video(.private, owner: uploadKey.id)
        let open = try await video(.public, owner: uploadKey.id)
        try await withRouter { [upload, other, admin] client in
            func ids(_ secret: String) async throws -> Set<String> {
                let response = try await client.execute(uri: "/v1/videos?limit=200", method: .get, headers: Self.bearer(secret))
                #expect(response.status == .ok)
                let page = try Self.json(response)
                #expect(page["limit"] as? Int == 200 && page["offset"] as? Int == 0 && page["next"] is NSNull)
                return Set((page["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String })
            }
            let owner = try await ids(upload), everyone = try await ids(admin), stranger = try await ids(other)
            #expect(owner == [hidden.id, open.id])
            #expect(everyone == [hidden.id, open.id])
            #expect(stranger == [open.id])
        }
    }

    @Test("Pages of a list: next points at the following page, and a bad parameter is a 400 problem")
    func listPaging() async throws {
        for _ in 0..<3 { _ = try await video(.public, owner: uploadKey.id) }
        try await withRouter { [upload] client in
            let first = try Self.json(try await client.execute(uri: "/v1/videos?limit=2", method: .get, headers: Self.bearer(upload)))
            #expect((first["items"] as? [Any])?.count == 2)
            let next = try #require(first["next"] as? String)
            #expect(next == "/v1/videos?limit=2&offset=2")
            let second = try Self.json(try await client.execute(uri: next, method: .get, headers: Self.bearer(upload)))
            #expect((second["items"] as? [Any])?.count == 1 && second["next"] is NSNull)
            for query in ["limit=0", "limit=abc", "offset=-1", "state=bogus"] {
                _ = try Self.problem(try await client.execute(uri: "/v1/videos?\(query)", method: .get, headers: Self.bearer(upload)), 400)
            }
        }
    }

    // MARK: - Helpers

    /// A video registered directly in the catalog (no upload, no files).
    func video(_ visibility: Visibility, owner: String?) async throws -> VideoRecord {
        try await catalog.createVideo(NewVideo(title: "t", originalPath: "originals/x/source.mp4", sizeBytes: 1,
                                               visibility: visibility, ownerKeyId: owner), jobs: [])
    }

    static func bearer(_ secret: String) -> HTTPFields { [.authorization: "Bearer \(secret)"] }

    static func tus(_ secret: String, _ more: HTTPFields = [:]) -> HTTPFields {
        var headers = bearer(secret)
        headers[.tusResumable] = "1.0.0"
        headers.append(contentsOf: more)
        return headers
    }

    static func json(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }

    /// The RFC 9457 body of an error response, after checking its status, media type and fields.
    static func problem(_ response: TestResponse, _ status: Int) throws -> [String: Any] {
        #expect(response.status.code == status)
        #expect(response.headers[.contentType] == "application/problem+json")
        let body = try json(response)
        #expect(body["status"] as? Int == status)
        #expect(body["type"] as? String == "about:blank")
        #expect((body["title"] as? String)?.isEmpty == false && (body["detail"] as? String)?.isEmpty == false)
        return body
    }
}
