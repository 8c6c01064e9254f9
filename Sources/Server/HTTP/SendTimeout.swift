import NIOCore

/// Closes a connection whose client has stopped reading: when the socket stays full (the channel
/// unwritable) for `timeout`, like nginx's `send_timeout`. Hummingbird's idle timeout does not run while
/// a response is being written, so without this a client that stops reading mid-file would hold its
/// connection, and whatever waits to be sent to it, for as long as it likes. A client that keeps reading,
/// however slowly, drains the socket now and then, which starts the clock again.
final class SendTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            timer?.cancel()
            timer = nil
        } else if timer == nil {
            timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                context.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }
}
