import Captions
import Foundation
import ReelTestSupport
import Testing
import Yams
@testable import Server

/// The response types against docs/openapi.yaml: each one, with every optional value absent, sends exactly
/// the members its schema lists (absent values as null, not left out). Tests/http checks real responses
/// against the same document.
@Suite("API objects")
struct APIObjectTests {
    let schemas: [String: Any]

    init() throws {
        let text = try String(contentsOf: Paths.repository.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        let document = try #require(try Yams.load(yaml: text) as? [String: Any])
        schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
    }

    static let video = API.Video(id: "v", title: "t", filename: nil, visibility: "public", state: "queued", progress: 0,
                                 durationSeconds: nil, sizeBytes: 1, sha256: nil, renditions: [], downloads: [], posterUrl: nil,
                                 playbackUrl: nil, storyboardUrl: nil, playable: false, error: nil, createdAt: "2025-01-01T00:00:00Z",
                                 playableAt: nil, readyAt: nil)

    static let caption = API.Caption(CaptionTrack(id: "c", language: "en", label: "English", source: .upload, isDefault: false,
                                                  cueCount: 1, created: Date(timeIntervalSince1970: 0)))

    @Test("Video, Rendition, VideoPage, Upload, Problem, Liveness, Readiness and Caption send their schema's members")
    func membersMatchTheDocument() throws {
        let samples: [(String, any Encodable)] = [
            ("Video", Self.video),
            ("Rendition", API.Rendition(name: "audio", kind: "audio", width: nil, height: nil, bandwidth: 1, codecs: "mp4a.40.2")),
            ("VideoPage", API.VideoPage(items: [Self.video], limit: 1, offset: 0, next: nil)),
            ("Upload", API.Upload(id: "u", offset: 0, length: 1, expiresAt: "2025-01-01T00:00:00Z", videoId: nil)),
            ("Problem", Problem.Body(type: "about:blank", title: "Not Found", status: 404, detail: "Nothing here.")),
            ("Liveness", API.Liveness()),
            ("Readiness", API.Readiness(status: "ready", checks: .init(catalog: "ok", storage: "ok", disk: "ok"))),
            ("Caption", Self.caption),
            ("CaptionList", API.CaptionList(items: [Self.caption])),
            ("Download", API.Download(name: "720p.mp4", url: "/hls/v/download/720p.mp4", size: 1, mime: "video/mp4")),
        ]
        for (name, sample) in samples {
            let schema = try #require(schemas[name] as? [String: Any], "\(name) is in docs/openapi.yaml")
            let properties = Set((schema["properties"] as? [String: Any] ?? [:]).keys)
            let required = Set(schema["required"] as? [String] ?? [])
            let sent = try Self.members(sample)
            #expect(required.isSubset(of: sent), "\(name) leaves out \(required.subtracting(sent).sorted())")
            #expect(sent.isSubset(of: properties), "\(name) sends \(sent.subtracting(properties).sorted()), not in the document")
        }
        // The nested checks of /readyz.
        let readiness = try #require(schemas["Readiness"] as? [String: Any])
        let checks = try #require((readiness["properties"] as? [String: Any])?["checks"] as? [String: Any])
        let sent = try Self.members(API.Readiness.Checks(catalog: "ok", storage: "ok", disk: "ok"))
        #expect(sent == Set((checks["properties"] as? [String: Any] ?? [:]).keys))
    }

    @Test("Absent values are null, and the /readyz checks are left out when not shown")
    func nulls() throws {
        let video = try Self.object(Self.video)
        for member in ["filename", "durationSeconds", "sha256", "posterUrl", "playbackUrl", "storyboardUrl", "error", "playableAt", "readyAt"] {
            #expect(video[member] is NSNull, "\(member)")
        }
        #expect(try Self.object(API.VideoPage(items: [], limit: 1, offset: 0, next: nil))["next"] is NSNull)
        #expect(try Self.object(API.Readiness(status: "ready", checks: nil)).keys.sorted() == ["status"])
        // Decoding gives back what was sent (the types are Codable, so clients in Swift can share them).
        let decoded = try JSONDecoder().decode(API.Video.self, from: try JSONEncoder().encode(Self.video))
        #expect(decoded.filename == nil && decoded.id == "v" && decoded.renditions.isEmpty)
    }

    static func object(_ value: some Encodable) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: try JSONEncoder().encode(value)) as? [String: Any])
    }

    static func members(_ value: any Encodable) throws -> Set<String> { Set(try object(value).keys) }
}
