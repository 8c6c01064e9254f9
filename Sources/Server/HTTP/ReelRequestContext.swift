import Catalog
import Hummingbird
import NIOCore

/// Reel's request context: Hummingbird's basics, the connection (for `Expect: 100-continue`) and the
/// caller's API key once `RequireKey` or `OptionalKey` has read it.
struct ReelRequestContext: ExpectContinueContext, KeyedRequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: (any Channel)?
    var key: APIKeyRecord?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
        key = nil
    }
}
