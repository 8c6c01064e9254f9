import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTPTypes

/// Answers `Expect: 100-continue` (RFC 9110 §10.1.1), which Hummingbird does not do, but only once the
/// route has accepted the request (key, upload, offset, quota and space checked) and is about to read the
/// body: the route sends `Accept` down the pipeline (`ExpectContinueContext.bodyAcceptor`). A request
/// refused first gets its final response instead, and the client never sends the body.
///
/// It also ends connections whose request body is not wanted: after a response carrying
/// `Connection: close` (`EdgeMiddleware` adds it to refusals of requests with a body), it half-closes,
/// drops whatever the client still sends, and closes once the client hangs up, `lingerLimit` bytes were
/// dropped or `lingerTime` passed. Hummingbird would otherwise read (and drop) the whole body, however
/// large. The short linger lets the response reach the client before the connection is reset.
final class ExpectContinueHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The route accepted the current request and is about to read its body.
    struct Accept: Sendable {}

    static let lingerLimit = 1 << 20
    static let lingerTime = TimeAmount.seconds(2)

    /// One entry per request whose final response is not written yet: whether it still waits for 100.
    private var waiting: [Bool] = []
    private var closeAfterResponse = false
    private var lingering = false
    private var dropped = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if lingering {
            if case .body(let buffer) = part { dropped += buffer.readableBytes }
            if dropped > Self.lingerLimit { context.close(promise: nil) }
            return
        }
        if case .head(let request) = part {
            waiting.append(request.headerFields[.expect].map { $0.caseInsensitiveCompare("100-continue") == .orderedSame } ?? false)
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is Accept else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        if waiting.first == true {
            waiting[0] = false
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        promise?.succeed()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let response) where response.status.kind != .informational:
            if !waiting.isEmpty { waiting.removeFirst() }
            if response.headerFields[.connection]?.lowercased() == "close" { closeAfterResponse = true }
            context.write(data, promise: promise)
        case .end where closeAfterResponse:
            closeAfterResponse = false
            lingering = true
            context.writeAndFlush(data, promise: promise)
            context.close(mode: .output, promise: nil)
            let channel = context.channel
            context.eventLoop.scheduleTask(in: Self.lingerTime) { channel.close(promise: nil) }
        default:
            context.write(data, promise: promise)
        }
    }
}

/// A request context that carries its connection, so that a route can answer `Expect: 100-continue`.
protocol ExpectContinueContext: RequestContext {
    var channel: (any Channel)? { get }
}

extension ExpectContinueContext {
    /// Call when the request is accepted and its body is about to be read: sends a pending `100 Continue`.
    var bodyAcceptor: @Sendable () -> Void {
        let channel = channel
        return { channel?.triggerUserOutboundEvent(ExpectContinueHandler.Accept(), promise: nil) }
    }
}
