import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import NIOPosix

/// Sends the files `Sendfile` describes when there is no plain socket to `sendfile(2)` them to: over TLS
/// (encryption happens in user space) and on HTTP/2 streams (bytes go out in DATA frames). It sits
/// among the HTTP channel's handlers, where bodies are `HTTPResponsePart.body` buffers, and replaces a
/// descriptor with the file's bytes read in 64 KiB pieces on NIO's thread pool, one piece in flight:
/// a slow client holds one piece in memory, not the file. Writes that come meanwhile (the end of the
/// response, the next response) wait their turn, so the order on the wire stays the order written.
final class FileBodyHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// HTTP/2's default flow-control window: a stream that stops reading pins one piece, not more.
    static let pieceSize = 64 << 10

    private let logger: Logger
    private let fileIO = NonBlockingFileIO(threadPool: .singleton)
    private var sending = false
    private var waiting: [(part: HTTPResponsePart, promise: EventLoopPromise<Void>?)] = []
    private var flushWanted = false

    init(logger: Logger) { self.logger = logger }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let part = unwrapOutboundIn(data)
        if sending {
            waiting.append((part, promise))
        } else {
            send(context: context, part: part, promise: promise)
        }
    }

    func flush(context: ChannelHandlerContext) {
        if sending { flushWanted = true } else { context.flush() }
    }

    private func send(context: ChannelHandlerContext, part: HTTPResponsePart, promise: EventLoopPromise<Void>?) {
        guard case .body(let buffer) = part, let region = Sendfile.decode(buffer) else {
            context.write(wrapOutboundOut(part), promise: promise)
            return
        }
        let handle: NIOFileHandle
        do {
            handle = try Sendfile.open(region)
        } catch {
            logger.warning("file body: \(error); closing the connection")
            promise?.fail(error)
            context.close(promise: nil)
            return
        }
        sending = true
        pump(context: context, handle: handle, offset: region.offset, end: region.offset + region.count, promise: promise)
    }

    private func pump(context: ChannelHandlerContext, handle: NIOFileHandle, offset: Int, end: Int,
                      promise: EventLoopPromise<Void>?) {
        guard offset < end else {
            try? handle.close()
            promise?.succeed()
            finish(context: context)
            return
        }
        let count = min(Self.pieceSize, end - offset)
        // The callbacks run on the channel's event loop, where the handler and its context live.
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        fileIO.read(fileHandle: handle, fromOffset: Int64(offset), byteCount: count, allocator: context.channel.allocator,
                    eventLoop: context.eventLoop)
            .flatMap { piece -> EventLoopFuture<Void> in
                let (handler, context) = bound.value
                guard piece.readableBytes == count else {
                    return context.eventLoop.makeFailedFuture(Sendfile.OpenError.changed("a file shrank while it was sent"))
                }
                return context.writeAndFlush(handler.wrapOutboundOut(.body(piece)))
            }
            .whenComplete { result in
                let (handler, context) = bound.value
                switch result {
                case .success:
                    handler.pump(context: context, handle: handle, offset: offset + count, end: end, promise: promise)
                case .failure(let error):
                    // The client went away, or the file shrank under us: the response cannot be completed.
                    try? handle.close()
                    promise?.fail(error)
                    context.close(promise: nil)
                    handler.sending = false
                    for (_, waiter) in handler.waiting { waiter?.fail(error) }
                    handler.waiting.removeAll()
                }
            }
    }

    /// The file is out: the writes that waited go now, in order (one may be another file).
    private func finish(context: ChannelHandlerContext) {
        sending = false
        while !sending, !waiting.isEmpty {
            let (part, promise) = waiting.removeFirst()
            send(context: context, part: part, promise: promise)
        }
        if !sending && flushWanted {
            flushWanted = false
            context.flush()
        }
    }
}
