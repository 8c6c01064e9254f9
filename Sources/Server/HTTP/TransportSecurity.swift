import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Webhooks

/// `Strict-Transport-Security` on every answer when Reel terminates TLS itself: a browser that saw it
/// goes straight to https:// for `maxAge` seconds, so a first request over plain HTTP cannot be stripped.
struct HSTSMiddleware<Context: RequestContext>: RouterMiddleware {
    let value: String

    init(maxAge: Int) { value = "max-age=\(maxAge)" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPResponseError {
            // Problems (404, 401, …) are answers too: they carry the header as well.
            response = try error.response(from: request, context: context)
        }
        response.headers[.strictTransportSecurity] = value
        return response
    }
}

/// Which scheme a client used, for the absolute links Reel writes (oEmbed, discovery `Link`). With
/// built-in TLS every request came over https. Behind a TLS-terminating balancer the request says so in
/// `X-Forwarded-Proto`, which is believed only from the addresses in `trusted_proxies`: anyone else
/// could send it.
public struct ForwardedScheme: Sendable {
    let tls: Bool
    let trusted: [AddressRange]

    public init(tls: Bool, trusted: [AddressRange]) {
        self.tls = tls
        self.trusted = trusted
    }

    func scheme(_ request: Request, peer: SocketAddress?) -> String {
        if tls { return "https" }
        guard let peer, trusted.contains(where: { $0.contains(peer) }),
              // The last value: the one our proxy added (a client's own header comes before it).
              let proto = request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.split(separator: ",").last?
                .trimmingCharacters(in: .whitespaces).lowercased()
        else { return "http" }
        return proto == "https" ? "https" : "http"
    }
}

/// An address or a CIDR block (`10.0.0.0/8`, `192.168.1.5`, `::1`, `fd00::/8`), for `trusted_proxies`:
/// the Webhooks target's `IPNetwork` (one parser of addresses in the code base), with a sentence for
/// a value that is not one.
public struct AddressRange: Sendable, Equatable, CustomStringConvertible {
    let network: IPNetwork

    public init(_ text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let network = IPNetwork(trimmed) else {
            throw TLSSetupError("'\(text)' is not an IP address or CIDR block with a valid prefix length (e.g. 10.0.0.0/8)")
        }
        self.network = network
    }

    /// A comma- or space-separated list; empty for nothing.
    public static func list(_ text: String) throws -> [AddressRange] {
        try text.split(whereSeparator: { $0 == "," || $0 == " " }).map { try AddressRange(String($0)) }
    }

    /// An IPv4 client on a dual-stack socket (::ffff:a.b.c.d) counts as its IPv4 address.
    func contains(_ address: SocketAddress) -> Bool {
        guard let ip = address.ipAddress.flatMap({ IPAddress($0) }) else { return false }
        return network.contains(ip)
    }

    public var description: String { network.description }
}

/// The plain-HTTP listener next to the TLS one (`http_redirect_port`): every request is sent to the same
/// path over https with a 308 (method and body kept), except `GET /`, the load balancer's health check,
/// which answers 200 so a balancer that checks over plain HTTP still sees the host alive.
enum HTTPSRedirect {
    static func application(host: String, port: Int, httpsPort: Int, configuration: HTTP1Channel.Configuration,
                            logger: Logger) -> some ApplicationProtocol {
        let router = Router()
        router.get("/") { _, _ in Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                                           body: .init(byteBuffer: ByteBuffer(string: "ok\n"))) }
        let redirect: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            guard let authority = request.head.authority, let hostName = hostPart(authority) else {
                throw HTTPError(.badRequest, message: "A Host header is needed to redirect to https.")
            }
            let target = "https://\(hostName)\(httpsPort == 443 ? "" : ":\(httpsPort)")\(request.uri.description)"
            return Response(status: .permanentRedirect, headers: [.location: target])
        }
        router.on("**", method: .get, use: redirect)
        router.on("**", method: .head, use: redirect)
        router.on("**", method: .post, use: redirect)
        router.on("**", method: .put, use: redirect)
        router.on("**", method: .patch, use: redirect)
        router.on("**", method: .delete, use: redirect)
        router.on("**", method: .options, use: redirect)
        return Application(router: router, server: .http1(configuration: configuration),
                           configuration: .init(address: .hostname(host, port: port), serverName: "reel"), logger: logger)
    }

    /// The host of an authority (`example.com:80` → `example.com`, `[::1]:80` → `[::1]`), if it is one.
    static func hostPart(_ authority: String) -> String? {
        let host: Substring
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[...close]
        } else {
            host = authority.split(separator: ":", maxSplits: 1).first ?? ""
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-.[]:".contains($0)) }) else { return nil }
        return String(host)
    }
}
