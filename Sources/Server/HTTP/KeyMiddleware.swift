import Catalog
import Hummingbird

/// A request context that carries the caller's API key (`Authenticator`), put there by `RequireKey` or
/// `OptionalKey` on the routes' groups.
protocol KeyedRequestContext: RequestContext {
    var key: APIKeyRecord? { get set }
}

extension KeyedRequestContext {
    /// The key `RequireKey` let through. A route that calls this without that middleware in front of it
    /// is a mistake in the router, not the client's.
    func requireKey() throws -> APIKeyRecord {
        guard let key else { throw Problem(.internalServerError, "This route was set up without a key check; it has been logged.") }
        return key
    }
}

/// Lets through only requests with a key of at least `scope` (admin covers upload): 401 with
/// `WWW-Authenticate` without a key or with an unknown one, 403 for an upload key on an admin route.
struct RequireKey<Context: KeyedRequestContext>: RouterMiddleware {
    let auth: Authenticator
    let scope: APIKeyScope

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.key = try await auth.require(scope, for: request)
        return try await next(request, context)
    }
}

/// For routes that anyone may call (public videos, `/readyz`): the key when there is one. A key that is
/// present but unknown or revoked is still a 401: the client should learn that its key is wrong.
struct OptionalKey<Context: KeyedRequestContext>: RouterMiddleware {
    let auth: Authenticator

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.key = try await auth.key(for: request)
        return try await next(request, context)
    }
}
