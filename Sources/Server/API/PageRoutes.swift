import Crypto
import Foundation
import Storage
import HTTPTypes
import Hummingbird
import NIOCore

/// The upload, library, watch and embed pages: the files of `Sources/Server/Pages`, compiled into the
/// binary by the EmbedPages plugin and held in memory.
/// `GET /` is also the load balancer's health check, so it must stay cheap: no catalog, no disk.
struct PageRoutes: Sendable {
    private let files: [String: Representation.Stored]
    /// The `frame-ancestors` sources of the embed page (`EmbedPolicy`).
    private let embedFrameAncestors: String
    /// The scheme of the absolute links in the discovery `Link` header.
    private let scheme: ForwardedScheme

    init(embedFrameAncestors: String = "*", scheme: ForwardedScheme = ForwardedScheme(tls: false, trusted: [])) throws {
        self.embedFrameAncestors = embedFrameAncestors
        self.scheme = scheme
        var files: [String: Representation.Stored] = [:]
        let started = Int(Date().timeIntervalSince1970)
        for (name, base64) in EmbeddedPages.files {
            guard let data = Data(base64Encoded: base64) else {
                throw Problem(.internalServerError, "the embedded page \(name) is damaged")
            }
            files[name] = .init(bytes: ByteBuffer(bytes: data), etag: "\"\(FileDigest.hex(Crypto.SHA256.hash(data: data)).prefix(16))\"",
                                lastModified: started)
        }
        self.files = files
    }

    func register<Context: RemoteAddressRequestContext>(on router: Router<Context>) {
        router.get("/") { request, _ in try page("index.html", request) }
        router.get("/upload") { request, _ in try page("upload.html", request) }
        router.get("/watch/:id") { request, context in
            try page("watch.html", request, discover: context.parameters.get("id"), peer: context.remoteAddress)
        }
        router.get("/embed/:id") { request, context in
            try page("embed.html", request, frameAncestors: embedFrameAncestors, discover: context.parameters.get("id"),
                     peer: context.remoteAddress)
        }
        router.get("/assets/:file") { request, context in try page(context.parameters.get("file") ?? "", request, asset: true) }
    }

    /// `frameAncestors`: who may frame an HTML page (Reel's origin only, unless given). `discover`: the
    /// video id of a watch or embed page, announced to oEmbed consumers in a `Link` header.
    private func page(_ name: String, _ request: Request, asset: Bool = false, frameAncestors: String? = nil,
                      discover videoId: String? = nil, peer: SocketAddress? = nil) throws -> Response {
        guard MediaPath.isPlainName(name), let file = files[name], asset == !name.hasSuffix(".html") else {
            throw Problem.notFound()
        }
        let representation = Representation(content: .bytes(file.bytes), etag: file.etag, lastModified: file.lastModified,
                                            contentType: Self.contentType(name))
        var headers: HTTPFields = [
            .cacheControl: "no-cache",
            // Ask Chromium for the device hints the streaming handler reads.
            HTTPField.Name("Accept-CH")!: "Sec-CH-UA-Mobile, Sec-CH-UA-Platform, Save-Data",
        ]
        if !asset {
            headers[.contentSecurityPolicy] = frameAncestors.map(EmbedPolicy.embedPage) ?? EmbedPolicy.otherPages
        }
        if let videoId, MediaPath.isPlainName(videoId), let link = OEmbedRoutes.discoveryLink(videoId: videoId, request: request,
                                                                                                    scheme: scheme.scheme(request, peer: peer)) {
            headers[HTTPField.Name("Link")!] = link
        }
        return representation.response(to: request, headers: headers)
    }

    static func contentType(_ name: String) -> String {
        switch (name as NSString).pathExtension {
        case "html": "text/html; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "js": "text/javascript; charset=utf-8"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        case "ico": "image/x-icon"
        default: "application/octet-stream"
        }
    }
}

extension Representation {
    struct Stored: Sendable {
        var bytes: ByteBuffer
        var etag: String
        var lastModified: Int
    }
}
