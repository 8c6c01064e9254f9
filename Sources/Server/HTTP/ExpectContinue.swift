import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers `Expect: 100-continue` with `100 Continue` as soon as the request head arrives (RFC 9110
/// §10.1.1), which Hummingbird does not do: without it curl waits a second before sending an upload body.
/// Whether the request is then accepted (key, size, free space) is decided by the route as usual; after a
/// refusal Hummingbird reads and drops the rest of the body, as it would after curl's wait.
final class ExpectContinueHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let request) = unwrapInboundIn(data),
           let expectation = request.headerFields[.expect],
           expectation.caseInsensitiveCompare("100-continue") == .orderedSame {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
    }
}
