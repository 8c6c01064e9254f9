import Foundation
import HTTPTypes
import Hummingbird

/// An error the client can act on, sent as RFC 9457 problem details (`application/problem+json`).
public struct Problem: Error, Sendable {
    public var status: HTTPResponse.Status
    public var title: String
    public var detail: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ detail: String, title: String? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.detail = detail
        self.title = title ?? status.reasonPhrase
        self.headers = headers
    }

    static func notFound(_ detail: String = "Nothing here.") -> Problem { Problem(.notFound, detail) }

    /// The catalog's database cannot be reached. What the database said goes to the log, not to clients.
    static let catalogUnavailable = Problem(
        .serviceUnavailable, "The catalog cannot be reached at the moment (its database may be restarting). Try again in a few seconds.",
        headers: [.retryAfter: "5"])

    /// `type` points at the HTTP status' definition: the client needs nothing more specific today.
    func response() -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(Body(type: "about:blank", title: title, status: status.code, detail: detail))) ?? Data()
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// An error that has an answer for the client: `Problem` itself, and domain errors such as `UploadError`
/// that map themselves to one. `EdgeMiddleware` sends it.
protocol ProblemConvertible: Error {
    var problem: Problem { get }
}

extension Problem: ProblemConvertible {
    var problem: Problem { self }
}

extension Problem {
    /// The JSON members (docs/openapi.yaml, `Problem`).
    struct Body: Codable, Sendable {
        var type: String
        var title: String
        var status: Int
        var detail: String
    }
}

extension HTTPResponse.Status {
    static let locked = HTTPResponse.Status(code: 423, reasonPhrase: "Locked")
    static let insufficientStorage = HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")
    /// tus checksum extension: the body does not match `Upload-Checksum`.
    static let checksumMismatch = HTTPResponse.Status(code: 460, reasonPhrase: "Checksum Mismatch")
}
