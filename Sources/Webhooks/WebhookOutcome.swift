/// What one delivery attempt came to, for the delivery log and the retry decision.
public enum WebhookOutcome: Sendable, Equatable {
    /// A 2xx answer. `response` is at most the first few KiB of the body, as text.
    case delivered(status: Int, milliseconds: Int, response: String)
    /// 410 Gone: the receiver asks for the endpoint to be disabled; nothing more should be sent to it.
    case gone(milliseconds: Int, response: String)
    case failed(WebhookFailure)

    public var isDelivered: Bool { if case .delivered = self { true } else { false } }
}

public struct WebhookFailure: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// An answer that is not 2xx, 3xx or 410.
        case status(Int)
        /// A 3xx: not followed, since a redirect could point at an internal host the policy would refuse.
        case redirect(Int, location: String?)
        /// No connection, or no complete answer, within the connect or total timeout.
        case timeout
        /// The host did not resolve, the connection was refused or reset, TLS failed.
        case connection
        /// The address policy refused what the host resolves to.
        case refused(WebhookAddressRefusal)
    }

    public let kind: Kind
    /// A sentence for the delivery log.
    public let message: String
    /// Whether another attempt may succeed. Every failure of the receiver is retried (a misconfigured
    /// receiver gets fixed, within the backoff's day); only a refused address is not.
    public let retryable: Bool
    public let milliseconds: Int
    public let response: String

    public var status: Int? {
        switch kind {
        case .status(let code), .redirect(let code, _): code
        default: nil
        }
    }

    public var description: String { message }
}
