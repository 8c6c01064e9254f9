import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// The hot GETs — playlists and segments that every player fetches over and over — answered on the
/// connection's event loop, before Hummingbird: no task, no router, no middleware, no catalog query.
/// `StreamingHandler.answerNow` gives the answer when everything is at hand (the video's status cached,
/// the file in the cache or sent from disk, a tailored or gzip'd playlist already made); anything else —
/// a cold cache, an error, a request with a body — goes on to Hummingbird unchanged, which answers it as
/// before (and warms the caches). The headers are the ones the router's middleware adds.
///
/// HTTP/1.1 answers leave in request order: while Hummingbird owes a response on this connection,
/// every later request goes to it too. When an answer fills the socket's buffer, later requests (and
/// reads, parse errors and events) wait until it drains, in order, so a client that pipelines requests
/// and never reads holds one answer, and no answer overtakes one waiting here.
final class StreamingFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let streaming: StreamingHandler
    private let metrics: ServerMetrics
    /// What EdgeMiddleware and Hummingbird add to every answer (CORS, Server).
    private let common: [HTTPField]

    /// Requests handed to Hummingbird whose response has not ended yet.
    private var owed = 0
    /// The request answered here is still being read: its remaining parts are dropped.
    private var inAnsweredRequest = false
    /// What arrived while an answer waits for the socket to drain, handled in order once it has.
    private var held = CircularBuffer<Inbound>()

    private enum Inbound {
        case part(HTTPRequestPart)
        /// A parse error: Hummingbird answers it with a 400 and closes, which must not overtake answers.
        case error(any Error)
        case event(Any)
    }
    private var waitingForSocket = false
    private var readWanted = false
    private var flushWanted = false
    /// Answered a `Connection: close` request: nothing more is read.
    private var closing = false
    private var date: (second: Int, text: String) = (0, "")
    /// Only on HTTP/2 streams (see `init`); on other channels every part passes untouched.
    private let streamsOnly: Bool
    private var enabled = true

    /// `hsts`: the `Strict-Transport-Security` value the router adds (with TLS). `streamsOnly`: answer
    /// only on HTTP/2 stream channels. Hummingbird puts the same handlers on HTTP/1.1-over-TLS
    /// connections, but ahead of its connection-state handler, which would then never see these
    /// answers (and close a busy connection as idle); there this handler stands aside.
    init(streaming: StreamingHandler, metrics: ServerMetrics, serverName: String, hsts: String? = nil, streamsOnly: Bool = false) {
        self.streaming = streaming
        self.metrics = metrics
        var common = [HTTPField(name: .accessControlAllowOrigin, value: "*"),
                      HTTPField(name: .accessControlExposeHeaders, value: EdgeMiddleware<ReelRequestContext>.exposedHeaders),
                      HTTPField(name: .server, value: serverName)]
        if let hsts { common.append(HTTPField(name: .strictTransportSecurity, value: hsts)) }
        self.common = common
        self.streamsOnly = streamsOnly
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // An HTTP/2 stream is a child channel of its connection, itself a child of the listening socket; an
        // HTTP/1.1 connection is a child of the listening socket only.
        enabled = !streamsOnly || context.channel.parent?.parent != nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard enabled else { return context.fireChannelRead(data) }
        let part = unwrapInboundIn(data)
        if waitingForSocket || !held.isEmpty {
            held.append(.part(part))
        } else {
            handle(part, context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if waitingForSocket || !held.isEmpty {
            held.append(.error(error))
        } else {
            context.fireErrorCaught(error)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if waitingForSocket || !held.isEmpty {
            held.append(.event(event))
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfWanted(context)
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if waitingForSocket || !held.isEmpty {
            readWanted = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if waitingForSocket && context.channel.isWritable {
            waitingForSocket = false
            var forwarded = false
            while !waitingForSocket, let next = held.popFirst() {
                switch next {
                case .part(let part): forwarded = handle(part, context: context) || forwarded
                case .error(let error): context.fireErrorCaught(error)
                case .event(let event): context.fireUserInboundEventTriggered(event)
                }
            }
            flushIfWanted(context)
            if forwarded { context.fireChannelReadComplete() }
            if readWanted && held.isEmpty && !waitingForSocket {
                readWanted = false
                context.read()
            }
        }
        context.fireChannelWritabilityChanged()
    }

    /// Hummingbird's responses pass here on their way out: each `.end` settles one it owed.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), owed > 0 { owed -= 1 }
        context.write(data, promise: promise)
    }

    /// Answers `part`'s request here or hands it on; true when it was handed on.
    @discardableResult
    private func handle(_ part: HTTPRequestPart, context: ChannelHandlerContext) -> Bool {
        if closing { return false }
        switch part {
        case .head(let request):
            let started = ContinuousClock.now
            if owed == 0, let answer = answer(request) {
                inAnsweredRequest = true
                send(answer, for: request, started: started, context: context)
                return false
            }
            owed += 1
        case .body, .end:
            if inAnsweredRequest {
                if case .end = part { inAnsweredRequest = false }
                return false
            }
        }
        context.fireChannelRead(wrapInboundOut(part))
        return true
    }

    /// Only plain GET and HEAD without a body; the rest is Hummingbird's.
    private func answer(_ request: HTTPRequest) -> StreamingAnswer? {
        guard request.method == .get || request.method == .head else { return nil }
        let fields = request.headerFields
        guard fields[.transferEncoding] == nil, fields[.expect] == nil,
              fields[.contentLength] == nil || fields[.contentLength] == "0",
              let target = request.path, target.utf8.first == UInt8(ascii: "/") else { return nil }
        let path: Substring, hasQuery: Bool
        if let question = target.utf8.firstIndex(of: UInt8(ascii: "?")) {
            (path, hasQuery) = (target[..<question], true)
        } else {
            (path, hasQuery) = (target[...], false)
        }
        return streaming.answerNow(request, target: path, hasQuery: hasQuery)
    }

    private func send(_ answer: StreamingAnswer, for request: HTTPRequest, started: ContinuousClock.Instant,
                      context: ChannelHandlerContext) {
        var head = HTTPResponse(status: answer.status, headerFields: answer.headers)
        head.headerFields.append(contentsOf: common)
        head.headerFields.append(HTTPField(name: .date, value: currentDate()))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        for piece in answer.body {
            switch piece {
            case .bytes(let bytes): context.write(wrapOutboundOut(.body(bytes)), promise: nil)
            case .file(let region): context.write(wrapOutboundOut(.body(Sendfile.encode(region))), promise: nil)
            }
        }
        series(request.method, answer.status.code).record(seconds: started.duration(to: .now).seconds)
        metrics.fastAnswers.increment()
        // As Hummingbird decides it (which compares the value exactly), so both paths agree.
        if request.headerFields[.connection] == "close" {
            closing = true
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
            return
        }
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
        flushWanted = true
        if !context.channel.isWritable {
            waitingForSocket = true
            flushIfWanted(context)
        }
    }

    /// The metrics series of the answers here, kept per connection (a few methods and statuses).
    private var knownSeries: [(method: HTTPRequest.Method, status: Int, series: ServerMetrics.RequestSeries)] = []

    private func series(_ method: HTTPRequest.Method, _ status: Int) -> ServerMetrics.RequestSeries {
        if let known = knownSeries.first(where: { $0.method == method && $0.status == status }) { return known.series }
        let made = metrics.requestSeries(method: method, route: "/hls", status: status)
        knownSeries.append((method, status, made))
        return made
    }

    private func flushIfWanted(_ context: ChannelHandlerContext) {
        if flushWanted {
            flushWanted = false
            context.flush()
        }
    }

    /// `Date`, formatted once a second per connection.
    private func currentDate() -> String {
        let now = time(nil)
        if now != date.second {
            date = (now, HTTPDate.format(epochSeconds: now))
        }
        return date.text
    }
}
