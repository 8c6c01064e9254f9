import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Per connection, against clients that hold it open by sending slowly (the idle timeout only catches
/// clients that stop altogether):
/// - a request head, once its first bytes arrived, must be complete within `headTimeout`;
/// - a request body must arrive at `minBodyRate` bytes a second or more, measured over `rateWindow`, but
///   only over the time the server was waiting for it (while Reel is slow to consume, e.g. a slow disk,
///   the connection is not read and the client is not blamed).
/// Either failure closes the connection.
final class SlowClientHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    struct Limits: Sendable {
        var headTimeout: TimeAmount
        /// Bytes a second; 0 turns the check off.
        var minBodyRate: Int64
        var rateWindow: TimeAmount
    }

    let limits: Limits
    let logger: Logger

    private var inBody = false
    /// The client waits for `100 Continue` before it sends the body: nothing to blame it for yet.
    private var awaitingContinue = false
    private var decodedThisRead = false
    private var headTimer: Scheduled<Void>?
    private var rateTimer: Scheduled<Void>?
    private var bodyBytes: Int64 = 0
    /// Time in this window during which a read was outstanding (the server waited for the client).
    private var waited: TimeAmount = .zero
    private var waitingSince: NIODeadline?

    init(limits: Limits, logger: Logger) {
        self.limits = limits
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        decodedThisRead = true
        switch unwrapInboundIn(data) {
        case .head(let request):
            headTimer?.cancel()
            headTimer = nil
            inBody = true
            awaitingContinue = request.headerFields[.expect]?.lowercased() == "100-continue"
            bodyBytes = 0
            waited = .zero
            // A request without a body (most: every GET) ends in the same read; no timer for it.
            if limits.minBodyRate > 0, EdgeMiddleware<ReelRequestContext>.declaresBody(request.headerFields) { scheduleRateCheck(context) }
        case .body(let buffer):
            bodyBytes += Int64(buffer.readableBytes)
        case .end:
            inBody = false
            rateTimer?.cancel()
            rateTimer = nil
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let since = waitingSince {
            waited = waited + (NIODeadline.now() - since)
            waitingSince = nil
        }
        // Bytes arrived between requests without completing a head: the next head has begun.
        if !inBody && !decodedThisRead && headTimer == nil {
            headTimer = context.eventLoop.assumeIsolated().scheduleTask(in: limits.headTimeout) { [self] in
                close(context, "the request head did not arrive in time")
            }
        }
        decodedThisRead = false
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if inBody && !awaitingContinue && waitingSince == nil { waitingSince = .now() }
        context.read()
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if event is ExpectContinueHandler.Accept, awaitingContinue {
            // The body is asked for only now: the window starts now.
            awaitingContinue = false
            bodyBytes = 0
            waited = .zero
            waitingSince = nil
            if limits.minBodyRate > 0 && inBody { scheduleRateCheck(context) }
        }
        context.triggerUserOutboundEvent(event, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        headTimer?.cancel()
        rateTimer?.cancel()
        context.fireChannelInactive()
    }

    private func scheduleRateCheck(_ context: ChannelHandlerContext) {
        rateTimer?.cancel()
        rateTimer = context.eventLoop.assumeIsolated().scheduleTask(in: limits.rateWindow) { [self] in
            if let since = waitingSince {
                let now = NIODeadline.now()
                waited = waited + (now - since)
                waitingSince = now
            }
            // Judged only when the server spent at least half the window waiting for the client.
            let seconds = Double(waited.nanoseconds) / 1e9
            if waited.nanoseconds * 2 >= limits.rateWindow.nanoseconds, Double(bodyBytes) < Double(limits.minBodyRate) * seconds {
                close(context, "the request body arrived at \(Int64(Double(bodyBytes) / max(seconds, 0.001))) bytes/s, below \(limits.minBodyRate)")
                return
            }
            bodyBytes = 0
            waited = .zero
            scheduleRateCheck(context)
        }
    }

    private func close(_ context: ChannelHandlerContext, _ reason: String) {
        logger.info("slow client disconnected", metadata: [
            "reason": "\(reason)", "client": "\(context.channel.remoteAddress?.ipAddress ?? "?")",
        ])
        context.close(promise: nil)
    }
}

/// Open connections per client address, shared by all connections of the server.
final class ClientConnections: Sendable {
    /// 0: no cap.
    let limit: Int
    private let counts = Mutex<[String: Int]>([:])

    init(limit: Int) { self.limit = limit }

    func admit(_ address: String) -> Bool {
        counts.withLock { counts in
            let current = counts[address, default: 0]
            guard limit == 0 || current < limit else { return false }
            counts[address] = current + 1
            return true
        }
    }

    func release(_ address: String) {
        counts.withLock { counts in
            let left = counts[address, default: 1] - 1
            counts[address] = left > 0 ? left : nil
        }
    }
}

/// Closes a new connection at once when its client address already has `ClientConnections.limit` open.
final class ConnectionLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    let connections: ClientConnections
    let logger: Logger
    private var admitted: String?
    private var decided = false

    init(connections: ClientConnections, logger: Logger) {
        self.connections = connections
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        releaseSlot()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        releaseSlot()
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard !decided else { return }
        decided = true
        guard let address = context.channel.remoteAddress?.ipAddress else { return }
        if connections.admit(address) {
            admitted = address
        } else {
            logger.info("connection refused: too many from one client", metadata: ["client": "\(address)", "limit": "\(connections.limit)"])
            context.close(promise: nil)
        }
    }

    private func releaseSlot() {
        if let admitted { connections.release(admitted) }
        admitted = nil
    }
}
