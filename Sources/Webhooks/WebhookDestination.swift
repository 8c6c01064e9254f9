import Foundation

/// A receiver URL, checked when it is registered: http or https, a host, no user name or password (they
/// would be sent to whoever the host is and show in logs), an optional port. The address policy is applied
/// again at each send, on what the host resolves to then.
public struct WebhookDestination: Hashable, Sendable, CustomStringConvertible {
    public let scheme: String
    /// Lowercased; an IPv6 literal without its brackets.
    public let host: String
    public let port: Int
    /// Path and query, at least "/".
    public let target: String

    public init(_ text: String) throws(WebhookDestinationError) {
        guard text.count <= 2048 else { throw .invalid("the URL is longer than 2048 characters") }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw .invalid("\"\(text)\" is not a URL")
        }
        guard scheme == "http" || scheme == "https" else {
            throw .invalid("a webhook URL must start with http:// or https://, not \(scheme)://")
        }
        guard components.user == nil, components.password == nil else {
            throw .invalid("a webhook URL may not carry a user name or password; authenticate with the signature")
        }
        var host = (components.host ?? "").lowercased()
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw .invalid("the URL has no host") }
        guard !host.contains("%") else { throw .invalid("a webhook host may not name an interface (%zone)") }
        if let port = components.port {
            guard (1...65535).contains(port) else { throw .invalid("the port must be between 1 and 65535") }
        }
        self.scheme = scheme
        self.host = host
        self.port = components.port ?? (scheme == "https" ? 443 : 80)
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        self.target = path + (components.percentEncodedQuery.map { "?\($0)" } ?? "")
    }

    /// The URL with the host replaced by `address` (the connection then goes where the policy looked).
    func url(connectingTo address: IPAddress?) -> String {
        let hostPart = address?.urlHost ?? (IPAddress(host).map(\.urlHost) ?? host)
        let defaultPort = scheme == "https" ? 443 : 80
        return "\(scheme)://\(hostPart)\(port == defaultPort ? "" : ":\(port)")\(target)"
    }

    /// The Host header: the name, and the port if it is not the default.
    var hostHeader: String {
        let hostPart = IPAddress(host).map(\.urlHost) ?? host
        return port == (scheme == "https" ? 443 : 80) ? hostPart : "\(hostPart):\(port)"
    }

    public var description: String { url(connectingTo: nil) }

    /// For a host that is an IP literal, the policy's answer without resolving anything (for the API to
    /// refuse a registration at once); nil for a name, which is checked at send time.
    public func literalRefusal(under policy: WebhookAddressPolicy) -> WebhookAddressRefusal? {
        guard let address = IPAddress(host) else { return nil }
        return policy.refusal(for: address, host: host)
    }
}

public struct WebhookDestinationError: Error, Equatable, Sendable, CustomStringConvertible {
    public let reason: String
    static func invalid(_ reason: String) -> Self { Self(reason: reason) }
    public var description: String { "The webhook URL is not usable: \(reason)." }
}
