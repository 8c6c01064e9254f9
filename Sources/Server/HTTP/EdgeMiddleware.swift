import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The outermost layer: turns every error into problem details (closing the connection after a refused
/// request with a body), answers CORS preflights, adds CORS
/// headers to every response (errors included, so a browser can read why a request failed), and counts
/// requests for `/metrics`.
struct EdgeMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    static var allowedHeaders: String {
        "Authorization, Content-Type, Range, If-None-Match, If-Modified-Since, If-Range, Tus-Resumable, "
            + "Upload-Length, Upload-Offset, Upload-Metadata, Upload-Checksum, Upload-Defer-Length, X-HTTP-Method-Override"
    }

    static var exposedHeaders: String {
        "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified, Location, Tus-Resumable, Tus-Version, "
            + "Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, Upload-Offset, Upload-Length, Upload-Expires, "
            + "Reel-Video-Id, Reel-Video, Reel-Device-Class"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        var response: Response
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            response = Response(status: .noContent, headers: [
                .accessControlAllowMethods: "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
                .accessControlAllowHeaders: Self.allowedHeaders,
                .accessControlMaxAge: "86400",
            ])
        } else {
            do {
                response = try await next(request, context)
            } catch let error as any ProblemConvertible {
                response = error.problem.response()
            } catch let error as HTTPError {
                response = Problem(error.status, error.body ?? error.status.reasonPhrase, headers: error.headers).response()
            } catch CatalogError.unavailable(let why) {
                // The database is away (restarting, failing over): this is not the request's fault and it
                // will work again shortly. 503 with Retry-After lets clients and load balancers retry.
                context.logger.warning("catalog unavailable", metadata: ["path": "\(request.uri.path)", "error": "\(why)"])
                response = Problem.catalogUnavailable.response()
            } catch {
                context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
                response = Problem(.internalServerError, "The server could not complete the request; it has been logged.").response()
            }
        }
        // A refused request's body may be unread (or even unsent, waiting for 100 Continue): close the
        // connection rather than read it (`ExpectContinueHandler` does the closing). So too after any
        // answer to a request that waited for 100 Continue: a route that never reads bodies (`/healthz`)
        // would otherwise drain one trickled in after it, outside the slow-client deadlines.
        if Self.declaresBody(request), response.status.code >= 400 || request.headers[.expect] != nil {
            response.headers[.connection] = "close"
        }
        response.headers[.accessControlAllowOrigin] = "*"
        response.headers[.accessControlExposeHeaders] = Self.exposedHeaders
        metrics.recordRequest(method: request.method, path: request.uri.path, status: response.status.code,
                              seconds: started.duration(to: .now).seconds)
        return response
    }
}

extension EdgeMiddleware {
    static func declaresBody(_ request: Request) -> Bool { declaresBody(request.headers) }

    static func declaresBody(_ headers: HTTPFields) -> Bool {
        if let length = headers[.contentLength] { return (Int64(length) ?? 1) > 0 }
        return headers[.transferEncoding] != nil
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
