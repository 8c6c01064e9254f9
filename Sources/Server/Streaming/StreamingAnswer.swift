import HTTPTypes
import Hummingbird
import NIOCore

/// A successful answer of the streaming handler (or a page), before anything is written: Hummingbird
/// writes it as a `Response`; `StreamingFastPath` writes the same parts straight onto the connection.
/// Errors are never answers: they are thrown as `Problem`s and answered by the router.
struct StreamingAnswer {
    /// A piece of the body: bytes in memory, or a region of a file that leaves with sendfile(2).
    enum Piece {
        case bytes(ByteBuffer)
        case file(Sendfile.Region)
    }

    var status: HTTPResponse.Status
    var headers: HTTPFields
    /// Empty for HEAD and 304 (the headers still say how long the body would be).
    var body: [Piece] = []

    var response: Response {
        let body: ResponseBody
        switch self.body.count {
        case 0: body = .init()
        case 1:
            switch self.body[0] {
            case .bytes(let bytes): body = .init(byteBuffer: bytes)
            case .file(let region): body = Sendfile.body(region)
            }
        default:
            let pieces = self.body
            let length = pieces.reduce(0) { total, piece in
                switch piece {
                case .bytes(let bytes): total + bytes.readableBytes
                case .file(let region): total + region.count
                }
            }
            // One descriptor per file part: `SendfileHandler` sends each as its own region.
            body = ResponseBody(contentLength: length) { writer in
                for piece in pieces {
                    switch piece {
                    case .bytes(let bytes): try await writer.write(bytes)
                    case .file(let region): try await writer.write(Sendfile.encode(region))
                    }
                }
                try await writer.finish(nil)
            }
        }
        return Response(status: status, headers: headers, body: body)
    }
}
