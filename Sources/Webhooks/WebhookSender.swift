import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Sends one delivery attempt: signs the body, checks the destination against the address policy, POSTs
/// it with timeouts and without following redirects, and reads at most a few KiB of the answer.
///
/// One sender per process: it owns the HTTP client (and its connection pool), which must be shut down
/// with `shutdown()` or by using `withSender`. Sends run concurrently; a slow receiver only holds its own
/// connection.
public final class WebhookSender: Sendable {
    public struct Options: Sendable {
        public var policy: WebhookAddressPolicy
        public var connectTimeout: Duration
        /// Bounds the whole attempt after resolving: connect, send, and the answer (head and read body).
        public var timeout: Duration
        /// How much of a response body is kept for the delivery log; the rest is not read.
        public var responseLimit: Int
        public var userAgent: String

        public init(policy: WebhookAddressPolicy = .publicOnly, connectTimeout: Duration = .seconds(5),
                    timeout: Duration = .seconds(10), responseLimit: Int = 4096,
                    userAgent: String = "Reel-Webhooks/1") {
            self.policy = policy
            self.connectTimeout = connectTimeout
            self.timeout = timeout
            self.responseLimit = responseLimit
            self.userAgent = userAgent
        }
    }

    public let options: Options
    private let client: HTTPClient

    public init(options: Options = Options(), eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.options = options
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: options.connectTimeout.timeAmount, read: options.timeout.timeAmount)
        configuration.decompression = .disabled
        client = HTTPClient(eventLoopGroup: eventLoopGroup, configuration: configuration)
    }

    /// Closes the connection pool. Call once, when the process stops sending.
    public func shutdown() async throws {
        try await client.shutdown()
    }

    /// Runs `body` with a sender and shuts it down afterwards, whether `body` throws or not.
    public static func withSender<T: Sendable>(options: Options = Options(),
                                               _ body: (WebhookSender) async throws -> T) async throws -> T {
        let sender = WebhookSender(options: options)
        let result: Result<T, any Error>
        do { result = .success(try await body(sender)) } catch { result = .failure(error) }
        try await sender.shutdown()
        return try result.get()
    }

    /// One attempt. Never throws: every way it can end is an outcome for the log.
    public func send(_ delivery: WebhookDelivery, at date: Date = Date()) async -> WebhookOutcome {
        let clock = ContinuousClock()
        let start = clock.now
        func elapsed() -> Int {
            let (seconds, attoseconds) = (clock.now - start).components
            return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
        }
        func failure(_ kind: WebhookFailure.Kind, _ message: String, retryable: Bool = true,
                     response: String = "") -> WebhookOutcome {
            .failed(WebhookFailure(kind: kind, message: message, retryable: retryable,
                                   milliseconds: elapsed(), response: response))
        }

        let destination = delivery.destination
        let addresses: [IPAddress]
        if let literal = IPAddress(destination.host) {
            addresses = [literal]
        } else {
            do {
                addresses = try await HostResolver.resolve(destination.host, port: destination.port)
            } catch {
                return failure(.connection, "\(error)")
            }
        }
        if let refusal = options.policy.refusal(for: addresses, host: destination.host) {
            return failure(.refused(refusal), refusal.description, retryable: false)
        }

        // DNS rebinding: the name was checked as it resolved a moment ago; if the client resolved it again
        // it could get another answer (a short TTL pointing at 127.0.0.1). For plain http the request goes
        // to the checked address itself, with the name in the Host header. For https the client resolves
        // the name again (it needs it for SNI and the certificate check, and AsyncHTTPClient can only pin
        // addresses per client, not per request); a rebound name then reaches an internal host only if that
        // host presents a valid certificate for the attacker's name, which the certificate check refuses.
        let pinned = destination.scheme == "http" ? addresses[0] : nil
        var request = HTTPClientRequest(url: destination.url(connectingTo: pinned))
        request.method = .POST
        if pinned != nil { request.headers.add(name: "Host", value: destination.hostHeader) }
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: options.userAgent)
        request.headers.add(name: "Reel-Event", value: delivery.event)
        request.headers.add(name: "Reel-Delivery", value: delivery.id)
        request.headers.add(name: WebhookSignature.headerName,
                            value: WebhookSignature.sign(body: delivery.body, secret: delivery.secret, at: date))
        request.body = .bytes(ByteBuffer(bytes: delivery.body))

        let status: Int
        let reason: String
        let location: String?
        var excerpt = [UInt8]()
        do {
            let response = try await client.execute(request, deadline: .now() + options.timeout.timeAmount)
            status = Int(response.status.code)
            reason = response.status.reasonPhrase
            location = response.headers.first(name: "Location")
            // Read only the first `responseLimit` bytes; leaving the loop early drops the rest of the body
            // and closes the connection, so a receiver sending gigabytes costs nothing more.
            for try await chunk in response.body {
                excerpt += chunk.readableBytesView.prefix(options.responseLimit - excerpt.count)
                if excerpt.count >= options.responseLimit { break }
            }
        } catch let error as HTTPClientError
                    where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return failure(.timeout, "\(destination.host) did not answer within the timeout (\(error))")
        } catch {
            return failure(.connection, "the request to \(destination.host) failed: \(error)")
        }

        let text = String(decoding: excerpt, as: UTF8.self)
        let statusText = "\(status) \(reason)"
        switch status {
        case 200..<300:
            return .delivered(status: status, milliseconds: elapsed(), response: text)
        case 410:
            return .gone(milliseconds: elapsed(), response: text)
        case 300..<400:
            return failure(.redirect(status, location: location),
                           "the receiver answered \(statusText)\(location.map { " to \($0)" } ?? ""); redirects are not followed",
                           response: text)
        case 408, 429, 500...:
            return failure(.status(status), "the receiver answered \(statusText)", response: text)
        case 400..<500:
            return failure(.status(status),
                           "the receiver answered \(statusText); the delivery is retried in case the receiver is fixed",
                           response: text)
        default:
            return failure(.status(status), "the receiver answered \(statusText)", response: text)
        }
    }
}

extension Duration {
    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
