import Catalog
import Foundation
import HTTPTypes
import Hummingbird

/// `GET /oembed?url=…`: the oEmbed (1.0) description of a public video's watch or embed page, so blogs,
/// chats and CMSs that speak oEmbed turn a pasted link into the embeddable player. Only `format=json`.
/// A private video is "not found", word for word as an unknown id (oEmbed suggests 401, but that would
/// tell that the video exists; see `VideoRoutes.visibleVideo`).
struct OEmbedRoutes: Sendable {
    let catalog: any Catalog
    let json: VideoJSON

    func register<Context: APIRequestContext>(on router: Router<Context>) {
        router.get("/oembed") { request, _ in try await describe(request) }
    }

    private func describe(_ request: Request) async throws -> API.OEmbed {
        let query = request.uri.queryParameters
        if let format = query.get("format"), !format.isEmpty, format != "json" {
            throw Problem(.notImplemented, "Only format=json is offered.")
        }
        let maxWidth = try Self.bound(query.get("maxwidth"), name: "maxwidth")
        let maxHeight = try Self.bound(query.get("maxheight"), name: "maxheight")
        guard let text = query.get("url"), !text.isEmpty else {
            throw Problem(.badRequest, "url is missing: give the address of a watch or embed page, e.g. url=http://host/watch/ID.")
        }
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty else {
            throw Problem(.badRequest, "url must be an http(s) address of a watch or embed page.")
        }
        let origin = "\(scheme)://\(host.lowercased())" + (url.port.map { ":\($0)" } ?? "")
        // Only this server's pages: the host the request came to.
        let authority = (request.head.authority ?? "").lowercased()
        let parts = url.path.split(separator: "/").map(String.init)
        guard !authority.isEmpty, origin.hasSuffix("://" + authority), parts.count == 2, parts[0] == "watch" || parts[0] == "embed",
              MediaPath.isPlainName(parts[1]) else {
            throw Problem(.notFound, "\(text) is not a watch or embed page of this server.")
        }
        let id = parts[1]
        guard let video = try await catalog.video(id: id), video.visibility == .public, video.state != .failed else {
            throw Problem(.notFound, "No public video with id \(id).")
        }
        let described = json.video(video, renditions: try await catalog.renditions(videoId: id))
        let pictures = described.renditions.filter { $0.kind == "video" }.compactMap { r in r.width.flatMap { w in r.height.map { (w, $0) } } }
        let largest = pictures.max { $0.0 * $0.1 < $1.0 * $1.1 } ?? (640, 360)
        let (width, height) = Self.fit(largest, maxWidth: maxWidth, maxHeight: maxHeight)
        let src = "\(origin)/embed/\(id)"
        let html = "<iframe src=\"\(Self.escape(src))\" width=\"\(width)\" height=\"\(height)\" title=\"\(Self.escape(video.title))\" "
            + "frameborder=\"0\" allow=\"autoplay; fullscreen; picture-in-picture\" allowfullscreen></iframe>"
        // The poster is made from the largest rung no taller (or wider) than 720 pixels.
        let poster = pictures.last { min($0.0, $0.1) <= 720 } ?? largest
        return API.OEmbed(
            title: video.title, providerURL: origin + "/", html: html, width: width, height: height,
            thumbnailURL: described.posterUrl.map { origin + $0 },
            thumbnailWidth: described.posterUrl == nil ? nil : poster.0,
            thumbnailHeight: described.posterUrl == nil ? nil : poster.1)
    }

    /// The largest size with the video's shape within the bounds a consumer gave.
    static func fit(_ size: (Int, Int), maxWidth: Int?, maxHeight: Int?) -> (Int, Int) {
        var scale = 1.0
        if let maxWidth, size.0 > maxWidth { scale = min(scale, Double(maxWidth) / Double(size.0)) }
        if let maxHeight, size.1 > maxHeight { scale = min(scale, Double(maxHeight) / Double(size.1)) }
        return (max(1, Int((Double(size.0) * scale).rounded(.down))), max(1, Int((Double(size.1) * scale).rounded(.down))))
    }

    private static func bound(_ text: String?, name: String) throws -> Int? {
        guard let text, !text.isEmpty else { return nil }
        guard let value = Int(text), value > 0, value <= 100_000 else {
            throw Problem(.badRequest, "\(name) must be a whole number of pixels from 1 to 100000, not '\(text)'.")
        }
        return value
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// The `Link` header a watch or embed page carries so oEmbed consumers find `/oembed` (RFC 8288, the
    /// header form of oEmbed's `<link rel="alternate">`). Nil without a Host to build the address from.
    static func discoveryLink(videoId: String, request: Request, scheme: String) -> String? {
        guard let authority = request.head.authority, !authority.isEmpty,
              authority.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-.:[]".contains($0)) }) else { return nil }
        let page = "\(scheme)://\(authority)/watch/\(videoId)"
        let encoded = page.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? page
        return "</oembed?url=\(encoded)&format=json>; rel=\"alternate\"; type=\"application/json+oembed\""
    }
}
