import Hummingbird

/// The tus protocol version on the tus routes (all but OPTIONS, which tells the version instead): a request
/// must send `Tus-Resumable: 1.0.0` (412 otherwise, naming the version in `Tus-Version`), and every answer,
/// errors included, carries `Tus-Resumable`. It runs before the key check, so a request without the
/// version learns that first.
struct TusVersionMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            guard request.headers[.tusResumable] == TusRoutes.version else {
                throw Problem(.preconditionFailed, "This server speaks tus 1.0.0: send 'Tus-Resumable: 1.0.0'.",
                              headers: [.tusVersion: TusRoutes.version])
            }
            var response = try await next(request, context)
            response.headers[.tusResumable] = TusRoutes.version
            return response
        } catch let error as any ProblemConvertible {
            var problem = error.problem
            problem.headers[.tusResumable] = TusRoutes.version
            throw problem
        }
    }
}
