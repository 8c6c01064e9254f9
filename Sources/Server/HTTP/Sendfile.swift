import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Files sent with sendfile(2), straight from the page cache to the socket, never copied through user
/// space. Hummingbird's response bodies carry only ByteBuffers, so a route writes a small *descriptor*
/// buffer instead of the file's bytes (and the file's length as Content-Length); `SendfileHandler`, the
/// handler next to the socket, sees it after HTTP/1 framing and writes a NIO `FileRegion` in its place.
/// The descriptor starts with a token drawn at random by this process, so bytes that came from anywhere
/// else (a file, a client) can never be taken for one.
enum Sendfile {
    /// Files at least this large go through sendfile; smaller ones are cheaper copied from memory
    /// (one read instead of open + fstat + sendfile + close per request).
    static let threshold = 64 << 10

    static let token: [UInt8] = {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }()

    /// Which bytes of which file: the identity is checked again when the file is opened, so a file
    /// replaced between the route's `lstat` and the send is never sent under the old length.
    struct Region: Equatable {
        var path: String
        var identity: FileIdentity
        var offset: Int
        var count: Int
    }

    /// The body of a response that sends `region`.
    static func body(_ region: Region) -> ResponseBody {
        let descriptor = encode(region)
        return ResponseBody(contentLength: region.count) { writer in
            try await writer.write(descriptor)
            try await writer.finish(nil)
        }
    }

    static func encode(_ region: Region) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: token.count + 40 + region.path.utf8.count)
        buffer.writeBytes(token)
        buffer.writeInteger(region.identity.inode)
        buffer.writeInteger(Int64(region.identity.size))
        buffer.writeInteger(region.identity.modifiedNanos)
        buffer.writeInteger(Int64(region.offset))
        buffer.writeInteger(Int64(region.count))
        buffer.writeString(region.path)
        return buffer
    }

    /// nil for every buffer that is not a descriptor written by `encode` in this process.
    static func decode(_ buffer: ByteBuffer) -> Region? {
        guard buffer.readableBytes > token.count + 40,
              buffer.readableBytesView.prefix(token.count).elementsEqual(token) else { return nil }
        var buffer = buffer
        buffer.moveReaderIndex(forwardBy: token.count)
        guard let inode = buffer.readInteger(as: UInt64.self), let size = buffer.readInteger(as: Int64.self),
              let modified = buffer.readInteger(as: Int64.self), let offset = buffer.readInteger(as: Int64.self),
              let count = buffer.readInteger(as: Int64.self), let path = buffer.readString(length: buffer.readableBytes)
        else { return nil }
        return Region(path: path, identity: FileIdentity(inode: inode, size: Int(size), modifiedNanos: modified),
                      offset: Int(offset), count: Int(count))
    }

    enum OpenError: Error, CustomStringConvertible {
        case cannotOpen(String, Int32)
        case changed(String)
        var description: String {
            switch self {
            case .cannotOpen(let path, let code): "cannot open \(path): \(String(cString: strerror(code)))"
            case .changed(let path): "\(path) changed after its headers were sent"
            }
        }
    }

    /// Opens the region's file, refusing symlinks and a file that is no longer the one described.
    static func open(_ region: Region) throws -> NIOFileHandle {
        let fd = Foundation.open(region.path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw OpenError.cannotOpen(region.path, errno) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, FileIdentity(info) == region.identity else {
            close(fd)
            throw OpenError.changed(region.path)
        }
        return NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd)
    }
}

/// Swaps sendfile descriptors for `FileRegion`s (see `Sendfile`). It sits at the head of the pipeline,
/// below the HTTP/1 encoder, where bodies are plain `IOData`. If the file cannot be sent after the
/// headers left, the connection is closed: the client sees a short body, never a wrong one.
final class SendfileHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .byteBuffer(let buffer) = unwrapOutboundIn(data), let region = Sendfile.decode(buffer) else {
            context.write(data, promise: promise)
            return
        }
        let handle: NIOFileHandle
        do {
            handle = try Sendfile.open(region)
        } catch {
            logger.warning("sendfile: \(error); closing the connection")
            promise?.fail(error)
            context.close(promise: nil)
            return
        }
        let fileRegion = FileRegion(fileHandle: handle, readerIndex: region.offset, endIndex: region.offset + region.count)
        let sent = context.eventLoop.makePromise(of: Void.self)
        // Written or failed (the client went away), the descriptor is closed exactly once.
        sent.futureResult.whenComplete { _ in try? handle.close() }
        if let promise { sent.futureResult.cascade(to: promise) }
        context.write(wrapOutboundOut(.fileRegion(fileRegion)), promise: sent)
    }
}

/// Hummingbird's HTTP/1 channel with `SendfileHandler` added next to the socket and, when given, the
/// streaming fast path after Hummingbird's connection-state handler (so that idle timeouts and graceful
/// shutdown see its requests and answers too).
struct SendfileHTTP1Channel: ServerChildChannel {
    let http1: HTTP1Channel
    let fastPath: (@Sendable () -> StreamingFastPath)?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1Channel.Value> {
        http1.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(SendfileHandler(logger: logger), position: .first)
            if let fastPath {
                let state = try pipeline.handler(type: HTTPConnectionStateHandler.self)
                try pipeline.addHandler(fastPath(), position: .after(state))
            }
            return value
        }
    }

    func handle(value: HTTP1Channel.Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 whose responses may send files with sendfile(2), with the streaming fast path if given.
    static func http1WithSendfile(configuration: HTTP1Channel.Configuration,
                                  fastPath: (@Sendable () -> StreamingFastPath)? = nil) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            SendfileHTTP1Channel(http1: HTTP1Channel(responder: responder, configuration: configuration), fastPath: fastPath)
        }
    }
}
