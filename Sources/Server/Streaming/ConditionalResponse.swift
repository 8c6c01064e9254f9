import Foundation
import HTTPTypes
import Hummingbird

/// One representation of a resource (a file as stored, or a tailored/gzip'd playlist) and how to answer
/// GET/HEAD for it: conditional requests (304), byte ranges (206/416) and the validators.
struct Representation {
    var content: Content
    var etag: String
    var lastModified: Int
    var contentType: String

    func response(to request: Request, headers extra: HTTPFields) -> Response {
        var headers = extra
        headers[.eTag] = etag
        headers[.lastModified] = HTTPDate.format(epochSeconds: lastModified)
        headers[.contentType] = contentType
        headers[.acceptRanges] = "bytes"

        if notModified(request) {
            headers[.contentType] = nil
            return Response(status: .notModified, headers: headers)
        }
        let size = content.size
        var range = ByteRangeRequest.parse(request.headers[.range], size: size)
        if range != .none, let ifRange = request.headers[.ifRange], !ifRangeMatches(ifRange) {
            range = .none  // the client's partial copy is stale: send everything
        }
        let isHead = request.method == .head
        switch range {
        case .none:
            headers[.contentLength] = String(size)
            return Response(status: .ok, headers: headers, body: isHead ? .init() : content.body(0..<size))
        case .unsatisfiable:
            return Problem(.rangeNotSatisfiable, "The range is outside the file (\(size) bytes).",
                           headers: [.contentRange: "bytes */\(size)"]).response()
        case .satisfiable(let span):
            headers[.contentRange] = "bytes \(span.lowerBound)-\(span.upperBound)/\(size)"
            headers[.contentLength] = String(span.count)
            return Response(status: .partialContent, headers: headers, body: isHead ? .init() : content.body(span.lowerBound..<(span.upperBound + 1)))
        case .several(let spans):
            let boundary = Self.boundary
            let parts = spans.map { span in
                ByteBuffer(string: "\r\n--\(boundary)\r\nContent-Type: \(contentType)\r\n"
                                   + "Content-Range: bytes \(span.lowerBound)-\(span.upperBound)/\(size)\r\n\r\n")
            }
            let closing = ByteBuffer(string: "\r\n--\(boundary)--\r\n")
            let length = parts.reduce(closing.readableBytes) { $0 + $1.readableBytes } + spans.reduce(0) { $0 + $1.count }
            headers[.contentType] = "multipart/byteranges; boundary=\(boundary)"
            headers[.contentLength] = String(length)
            let pieces = zip(parts, spans).map { (prefix: $0, span: $1.lowerBound..<($1.upperBound + 1)) }
            return Response(status: .partialContent, headers: headers,
                            body: isHead ? .init() : content.multipartBody(pieces, closing: closing, length: length))
        }
    }

    /// One per process: it only has to be absent from the parts, which are media files and playlists.
    static let boundary: String = {
        var generator = SystemRandomNumberGenerator()
        return "reel-" + (0..<16).map { _ in String(UInt8.random(in: 0...255, using: &generator), radix: 16) }.joined()
    }()

    /// The bytes themselves, or a file on disk that leaves as a `FileRegion` (sendfile(2)): large files
    /// always do, so that no response holds a copy of one however slowly its client reads.
    enum Content {
        case bytes(ByteBuffer)
        case file(path: String, identity: FileIdentity)

        var size: Int {
            switch self {
            case .bytes(let bytes): bytes.readableBytes
            case .file(_, let identity): identity.size
            }
        }

        func body(_ span: Range<Int>) -> ResponseBody {
            switch self {
            case .bytes(let bytes):
                .init(byteBuffer: bytes.getSlice(at: bytes.readerIndex + span.lowerBound, length: span.count) ?? ByteBuffer())
            case .file(let path, let identity):
                Sendfile.body(.init(path: path, identity: identity, offset: span.lowerBound, count: span.count))
            }
        }

        /// multipart/byteranges: each part's header, then its bytes.
        func multipartBody(_ pieces: [(prefix: ByteBuffer, span: Range<Int>)], closing: ByteBuffer, length: Int) -> ResponseBody {
            switch self {
            case .bytes(let bytes):
                var body = ByteBufferAllocator().buffer(capacity: length)
                for piece in pieces {
                    body.writeImmutableBuffer(piece.prefix)
                    if let slice = bytes.getSlice(at: bytes.readerIndex + piece.span.lowerBound, length: piece.span.count) {
                        body.writeImmutableBuffer(slice)
                    }
                }
                body.writeImmutableBuffer(closing)
                return .init(byteBuffer: body)
            case .file(let path, let identity):
                // One descriptor per part: `SendfileHandler` sends each as its own region.
                return ResponseBody(contentLength: length) { writer in
                    for piece in pieces {
                        try await writer.write(piece.prefix)
                        try await writer.write(Sendfile.encode(.init(path: path, identity: identity, offset: piece.span.lowerBound,
                                                                      count: piece.span.count)))
                    }
                    try await writer.write(closing)
                    try await writer.finish(nil)
                }
            }
        }
    }

    /// RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since.
    private func notModified(_ request: Request) -> Bool {
        guard request.method == .get || request.method == .head else { return false }
        if let tags = request.headers[.ifNoneMatch] {
            if tags.trimmingCharacters(in: .whitespaces) == "*" { return true }
            return tags.split(separator: ",").contains { weakEqual(String($0), etag) }
        }
        if let since = request.headers[.ifModifiedSince].flatMap(HTTPDate.parse) {
            return lastModified <= since
        }
        return false
    }

    private func ifRangeMatches(_ value: String) -> Bool {
        let value = value.trimmingCharacters(in: .whitespaces)
        if value.hasPrefix("\"") || value.hasPrefix("W/") { return value == etag }  // strong comparison
        return HTTPDate.parse(value) == lastModified
    }

    private func weakEqual(_ a: String, _ b: String) -> Bool {
        func opaque(_ tag: String) -> Substring {
            let tag = tag.trimmingCharacters(in: .whitespaces)
            return tag.hasPrefix("W/") ? tag.dropFirst(2) : tag[...]
        }
        return opaque(a) == opaque(b)
    }
}
