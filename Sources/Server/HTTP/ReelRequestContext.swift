import Catalog
import Hummingbird
import NIOCore

/// What the API's routes need of a request context: the connection, the caller's key, and the API's JSON.
protocol APIRequestContext: ExpectContinueContext, KeyedRequestContext where Encoder == APIJSONEncoder {}

/// Reel's request context: Hummingbird's basics, the connection (for `Expect: 100-continue`) and the
/// caller's API key once `RequireKey` or `OptionalKey` has read it. Responses are encoded by `APIJSONEncoder`.
struct ReelRequestContext: APIRequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: (any Channel)?
    var key: APIKeyRecord?
    var responseEncoder: APIJSONEncoder { APIJSONEncoder() }
    /// The peer of the connection (the balancer's address behind one; see `ForwardedScheme`).
    var remoteAddress: SocketAddress? { channel?.remoteAddress }

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
        key = nil
    }
}
