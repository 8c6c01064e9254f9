import Foundation
import Hummingbird

/// The JSON objects of the API, named as in docs/openapi.yaml. Routes return them and Hummingbird encodes
/// them with the context's `APIJSONEncoder`. Every property the document lists is always sent: absent
/// values are `null` (`@Nullable`), never left out.
enum API {
    struct Video: ResponseCodable, Sendable {
        var id: String
        var title: String
        @Nullable var filename: String?
        var visibility: String
        var state: String
        /// Percent of the video's work done, to a tenth.
        var progress: Double
        @Nullable var durationSeconds: Double?
        var sizeBytes: Int64
        @Nullable var sha256: String?
        var renditions: [Rendition]
        /// The static renditions made so far (empty until the downloads job has made them).
        var downloads: [Download]
        @Nullable var posterUrl: String?
        @Nullable var playbackUrl: String?
        /// The storyboard's WebVTT index (thumbnails as `#xywh=` cues), once the video has one.
        @Nullable var storyboardUrl: String?
        var playable: Bool
        @Nullable var error: String?
        var createdAt: String
        @Nullable var playableAt: String?
        @Nullable var readyAt: String?
    }

    /// `GET /oembed`: an oEmbed 1.0 "video" response (its own snake_case names, as the spec has them).
    struct OEmbed: ResponseCodable, Sendable {
        var version = "1.0"
        var type = "video"
        var title: String
        var providerName = "Reel"
        var providerURL: String
        var html: String
        var width: Int
        var height: Int
        var thumbnailURL: String?
        var thumbnailWidth: Int?
        var thumbnailHeight: Int?

        enum CodingKeys: String, CodingKey {
            case version, type, title, html, width, height
            case providerName = "provider_name", providerURL = "provider_url"
            case thumbnailURL = "thumbnail_url", thumbnailWidth = "thumbnail_width", thumbnailHeight = "thumbnail_height"
        }
    }

    struct Rendition: ResponseCodable, Sendable {
        var name: String
        var kind: String
        @Nullable var width: Int?
        @Nullable var height: Int?
        var bandwidth: Int
        var codecs: String
    }

    /// A file offered as a download: an MP4 of one rung, or the audio as `audio.m4a`.
    struct Download: ResponseCodable, Sendable {
        var name: String
        var url: String
        var size: Int64
        var mime: String
    }

    struct VideoPage: ResponseCodable, Sendable {
        var items: [Video]
        var limit: Int
        var offset: Int
        /// The next page, or null on the last one.
        @Nullable var next: String?
    }

    /// `GET /v1/uploads/{id}` (not tus: for pages and scripts).
    struct Upload: ResponseCodable, Sendable {
        var id: String
        var offset: Int64
        var length: Int64
        var expiresAt: String
        @Nullable var videoId: String?
    }

    /// `GET /healthz`.
    struct Liveness: ResponseCodable, Sendable {
        var status = "alive"
    }

    /// `GET /readyz`: the checks only for admin keys (or with `metrics_public`), otherwise left out.
    struct Readiness: ResponseCodable, Sendable {
        var status: String
        var checks: Checks?

        struct Checks: Codable, Sendable {
            var catalog: String
            var storage: String
            var disk: String
        }
    }
}

/// An optional that is encoded as `null` when absent, where Codable would leave the key out.
@propertyWrapper
struct Nullable<Value: Codable & Sendable>: Codable, Sendable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

/// The API's JSON bodies: sorted keys, slashes unescaped (the URLs stay readable), never cached.
struct APIJSONEncoder: ResponseEncoder {
    func encode(_ value: some Encodable, from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
