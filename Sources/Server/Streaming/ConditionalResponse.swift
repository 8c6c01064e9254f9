import Foundation
import HTTPTypes
import Hummingbird

/// One representation of a resource (a file as stored, or a tailored/gzip'd playlist) and how to answer
/// GET/HEAD for it: conditional requests (304), byte ranges (206/416) and the validators.
struct Representation {
    var bytes: ByteBuffer
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
        let size = bytes.readableBytes
        var range = ByteRangeRequest.parse(request.headers[.range], size: size)
        if range != .none, let ifRange = request.headers[.ifRange], !ifRangeMatches(ifRange) {
            range = .none  // the client's partial copy is stale: send everything
        }
        let isHead = request.method == .head
        switch range {
        case .none:
            headers[.contentLength] = String(size)
            return Response(status: .ok, headers: headers, body: isHead ? .init() : .init(byteBuffer: bytes))
        case .unsatisfiable:
            return Problem(.rangeNotSatisfiable, "The range is outside the file (\(size) bytes).",
                           headers: [.contentRange: "bytes */\(size)"]).response()
        case .satisfiable(let span):
            headers[.contentRange] = "bytes \(span.lowerBound)-\(span.upperBound)/\(size)"
            headers[.contentLength] = String(span.count)
            let slice = bytes.getSlice(at: bytes.readerIndex + span.lowerBound, length: span.count) ?? ByteBuffer()
            return Response(status: .partialContent, headers: headers, body: isHead ? .init() : .init(byteBuffer: slice))
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
