import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import NIOSSL
import NIOTLS

/// What guards a TLS connection before there is any HTTP on it. Hummingbird adds our HTTP handlers (and
/// its idle timeout) only after the handshake and ALPN, and on HTTP/2 per stream: without this, a client
/// could hold any number of sockets that never send a ClientHello. So, between NIOSSL and whatever
/// ALPN puts after it: the per-address connection cap (`ClientConnections`, counted per connection, not
/// per HTTP/2 stream) and a handshake deadline (`request_head_timeout`).
final class TLSConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    let connections: ClientConnections
    let handshakeTimeout: TimeAmount
    let logger: Logger
    private var admitted: String?
    private var deadline: Scheduled<Void>?

    init(connections: ClientConnections, handshakeTimeout: TimeAmount, logger: Logger) {
        self.connections = connections
        self.handshakeTimeout = handshakeTimeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if let address = context.channel.remoteAddress?.ipAddress {
            guard connections.admit(address) else {
                logger.info("connection refused: too many from one client", metadata: ["client": "\(address)", "limit": "\(connections.limit)"])
                context.close(promise: nil)
                return
            }
            admitted = address
        }
        let channel = NIOLoopBound(context.channel, eventLoop: context.eventLoop)
        let logger = logger
        deadline = context.eventLoop.scheduleTask(in: handshakeTimeout) {
            logger.info("TLS handshake not finished in time; closing", metadata: [
                "client": "\(channel.value.remoteAddress?.ipAddress ?? "?")"])
            channel.value.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            deadline?.cancel()
            deadline = nil
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        release()
    }

    private func release() {
        deadline?.cancel()
        deadline = nil
        if let admitted { connections.release(admitted) }
        admitted = nil
    }
}

/// Hummingbird's HTTP/2-or-HTTP/1.1 TLS channel with `TLSConnectionGuard` right after NIOSSL.
struct GuardedTLSChannel: ServerChildChannel {
    let inner: HTTP2UpgradeChannel
    let connections: ClientConnections
    let handshakeTimeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP2UpgradeChannel.Value> {
        let future = inner.setup(channel: channel, logger: logger)
        do {
            // The upgrade channel added NIOSSL (and the ALPN handler) synchronously.
            let tls = try channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
            try channel.pipeline.syncOperations.addHandler(
                TLSConnectionGuard(connections: connections, handshakeTimeout: handshakeTimeout, logger: logger),
                position: .after(tls))
        } catch {
            channel.close(promise: nil)
        }
        return future
    }

    func handle(value: HTTP2UpgradeChannel.Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
