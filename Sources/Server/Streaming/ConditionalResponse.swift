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
    /// `lastModified` as the header says it (given when it is already at hand).
    var lastModifiedText: String

    init(content: Content, etag: String, lastModified: Int, contentType: String, lastModifiedText: String? = nil) {
        self.content = content
        self.etag = etag
        self.lastModified = lastModified
        self.contentType = contentType
        self.lastModifiedText = lastModifiedText ?? HTTPDate.format(epochSeconds: lastModified)
    }

    /// The answer to GET/HEAD `request`, or the page's problem (416) thrown.
    func answer(to request: HTTPRequest, headers extra: HTTPFields) throws -> StreamingAnswer {
        var headers = extra
        headers[.eTag] = etag
        headers[.lastModified] = lastModifiedText
        headers[.contentType] = contentType
        headers[.acceptRanges] = "bytes"

        if notModified(request) {
            headers[.contentType] = nil
            return StreamingAnswer(status: .notModified, headers: headers)
        }
        let size = content.size
        var range = ByteRangeRequest.parse(request.headerFields[.range], size: size)
        if range != .none, let ifRange = request.headerFields[.ifRange], !ifRangeMatches(ifRange) {
            range = .none  // the client's partial copy is stale: send everything
        }
        let isHead = request.method == .head
        switch range {
        case .none:
            headers[.contentLength] = String(size)
            return StreamingAnswer(status: .ok, headers: headers, body: isHead ? [] : [content.piece(0..<size)])
        case .unsatisfiable:
            throw Problem(.rangeNotSatisfiable, "The range is outside the file (\(size) bytes).",
                          headers: [.contentRange: "bytes */\(size)"])
        case .satisfiable(let span):
            headers[.contentRange] = "bytes \(span.lowerBound)-\(span.upperBound)/\(size)"
            headers[.contentLength] = String(span.count)
            return StreamingAnswer(status: .partialContent, headers: headers,
                                   body: isHead ? [] : [content.piece(span.lowerBound..<(span.upperBound + 1))])
        case .several(let spans):
            let boundary = Self.boundary
            var body: [StreamingAnswer.Piece] = []
            var length = 0
            for span in spans {
                let prefix = ByteBuffer(string: "\r\n--\(boundary)\r\nContent-Type: \(contentType)\r\n"
                                                + "Content-Range: bytes \(span.lowerBound)-\(span.upperBound)/\(size)\r\n\r\n")
                body += [.bytes(prefix), content.piece(span.lowerBound..<(span.upperBound + 1))]
                length += prefix.readableBytes + span.count
            }
            let closing = ByteBuffer(string: "\r\n--\(boundary)--\r\n")
            body.append(.bytes(closing))
            headers[.contentType] = "multipart/byteranges; boundary=\(boundary)"
            headers[.contentLength] = String(length + closing.readableBytes)
            return StreamingAnswer(status: .partialContent, headers: headers, body: isHead ? [] : body)
        }
    }

    /// The answer as a Hummingbird response (problems included).
    func response(to request: Request, headers: HTTPFields) -> Response {
        do {
            return try answer(to: request.head, headers: headers).response
        } catch {
            return (error as? Problem ?? Problem(.internalServerError, "\(error)")).response()
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

        func piece(_ span: Range<Int>) -> StreamingAnswer.Piece {
            switch self {
            case .bytes(let bytes):
                .bytes(bytes.getSlice(at: bytes.readerIndex + span.lowerBound, length: span.count) ?? ByteBuffer())
            case .file(let path, let identity):
                .file(.init(path: path, identity: identity, offset: span.lowerBound, count: span.count))
            }
        }
    }

    /// RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since.
    private func notModified(_ request: HTTPRequest) -> Bool {
        guard request.method == .get || request.method == .head else { return false }
        if let tags = request.headerFields[.ifNoneMatch] {
            if tags.trimmingCharacters(in: .whitespaces) == "*" { return true }
            return tags.split(separator: ",").contains { weakEqual(String($0), etag) }
        }
        if let since = request.headerFields[.ifModifiedSince].flatMap(HTTPDate.parse) {
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
