/// Which addresses a webhook may reach. A receiver is named by whoever holds an API key, so without this
/// the server would make requests for them to its own loopback services, the private network it sits in,
/// or the cloud metadata service (169.254.169.254) — server-side request forgery.
///
/// Public addresses are allowed. Private ranges (10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10) and
/// loopback only when the operator says so (`webhook_allow_private`; tests and single-host setups).
/// Link-local, unspecified, multicast, broadcast and reserved addresses never, unless an operator lists the
/// host or the network explicitly in `allowedHosts` / `allowedNetworks`.
public struct WebhookAddressPolicy: Sendable {
    public var allowPrivate: Bool
    public var allowLoopback: Bool
    /// Host names (lowercased, as in the URL) whose addresses are not checked.
    public var allowedHosts: Set<String>
    /// Networks allowed whatever their class.
    public var allowedNetworks: [IPNetwork]

    public init(allowPrivate: Bool = false, allowLoopback: Bool = false,
                allowedHosts: Set<String> = [], allowedNetworks: [IPNetwork] = []) {
        self.allowPrivate = allowPrivate
        self.allowLoopback = allowLoopback
        self.allowedHosts = Set(allowedHosts.map { $0.lowercased() })
        self.allowedNetworks = allowedNetworks
    }

    /// The default for a server on the internet: public addresses only.
    public static let publicOnly = WebhookAddressPolicy()

    /// Nil if `address` (one that `host` resolved to) may be reached, else why not.
    public func refusal(for address: IPAddress, host: String) -> WebhookAddressRefusal? {
        if allowedHosts.contains(host.lowercased()) { return nil }
        if allowedNetworks.contains(where: { $0.contains(address) }) { return nil }
        let scope = address.scope
        switch scope {
        case .public: return nil
        case .private, .sharedAddressSpace:
            return allowPrivate ? nil : WebhookAddressRefusal(host: host, address: address, scope: scope,
                                                              remedy: "set webhook_allow_private to allow it")
        case .loopback:
            return allowLoopback ? nil : WebhookAddressRefusal(host: host, address: address, scope: scope,
                                                               remedy: "set webhook_allow_private to allow it")
        case .linkLocal, .unspecified, .multicast, .broadcast, .reserved:
            return WebhookAddressRefusal(host: host, address: address, scope: scope,
                                         remedy: "only an explicit entry in webhook_allowed_networks allows it")
        }
    }

    /// Nil if every address may be reached. All of them are checked, not the first: the connection may go
    /// to any of them, and a name that mixes a public address with 127.0.0.1 is an attack, not a mistake.
    public func refusal(for addresses: [IPAddress], host: String) -> WebhookAddressRefusal? {
        for address in addresses {
            if let refusal = refusal(for: address, host: host) { return refusal }
        }
        return nil
    }
}

/// A destination the policy refuses, with the sentence an operator or API user reads.
public struct WebhookAddressRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    public let host: String
    public let address: IPAddress
    public let scope: IPAddressScope
    public let remedy: String

    public var description: String {
        let named = host == address.description ? "" : " (\(host) resolves to it)"
        let kind = scope == .linkLocal ? "link-local, where cloud metadata services answer" : scope.rawValue
        return "webhooks may not reach \(address)\(named) (\(kind)); \(remedy)"
    }
}
