#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address as bytes (4 or 16). An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is read as
/// the IPv4 address it carries, so `::ffff:127.0.0.1` is loopback like `127.0.0.1`.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
            self.bytes = Array(bytes[12..<16])
        } else if bytes.count == 4 || bytes.count == 16 {
            self.bytes = bytes
        } else {
            return nil
        }
    }

    /// A literal in the standard forms only (`a.b.c.d`, RFC 4291 IPv6, no zone); names and the odd forms
    /// `getaddrinfo` also takes (`2130706433`, `0x7f.1`) are not literals here: they go through the resolver.
    public init?(_ text: some StringProtocol) {
        let text = String(text)
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self.init(bytes: withUnsafeBytes(of: &v4) { Array($0) })
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            self.init(bytes: withUnsafeBytes(of: &v6) { Array($0) })
            return
        }
        return nil
    }

    public var isIPv4: Bool { bytes.count == 4 }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let family = isIPv4 ? AF_INET : AF_INET6
        let ok = bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil
        }
        guard ok else { return bytes.map(String.init).joined(separator: ".") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The text for the host part of a URL: IPv6 in brackets.
    public var urlHost: String { isIPv4 ? description : "[\(description)]" }

    /// What kind of address this is, for the address policy.
    public var scope: IPAddressScope {
        for (network, scope) in IPAddressScope.table where network.contains(self) { return scope }
        return .public
    }
}

/// A network in CIDR notation (`10.0.0.0/8`, `fd00::/8`); a bare address is a /32 or /128.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { return nil }
        // An IPv4-mapped network (`::ffff:10.0.0.0/104`) is written with IPv6 bits but became an IPv4
        // address: its prefix then counts within the last 32 bits.
        let writtenLength = parts[0].contains(":") ? 128 : 32
        let skipped = writtenLength - address.bytes.count * 8
        if parts.count == 2 {
            guard let length = Int(parts[1]), (skipped...writtenLength).contains(length) else { return nil }
            prefixLength = length - skipped
        } else {
            prefixLength = writtenLength - skipped
        }
        self.address = address
    }

    public func contains(_ other: IPAddress) -> Bool {
        guard other.bytes.count == address.bytes.count else { return false }
        var remaining = prefixLength
        for (a, b) in zip(address.bytes, other.bytes) where remaining > 0 {
            let bits = min(8, remaining)
            let mask: UInt8 = bits == 8 ? 0xff : ~(0xff >> UInt8(bits))
            if a & mask != b & mask { return false }
            remaining -= bits
        }
        return true
    }

    public var description: String { "\(address)/\(prefixLength)" }
}

/// The address classes the policy tells apart.
public enum IPAddressScope: String, Sendable {
    case unspecified, loopback, linkLocal = "link-local", multicast, broadcast, reserved
    case `private`, sharedAddressSpace = "shared address space (carrier-grade NAT)"
    case `public`

    /// First match wins; the order only matters where networks nest.
    static let table: [(IPNetwork, IPAddressScope)] = ([
        ("0.0.0.0/8", .unspecified), ("::/128", .unspecified),
        ("127.0.0.0/8", .loopback), ("::1/128", .loopback),
        // 169.254.169.254 (cloud metadata services) is in here.
        ("169.254.0.0/16", .linkLocal), ("fe80::/10", .linkLocal),
        ("224.0.0.0/4", .multicast), ("ff00::/8", .multicast),
        ("255.255.255.255/32", .broadcast), ("240.0.0.0/4", .reserved),
        ("10.0.0.0/8", .private), ("172.16.0.0/12", .private), ("192.168.0.0/16", .private),
        ("fc00::/7", .private),
        ("100.64.0.0/10", .sharedAddressSpace),
    ] as [(String, IPAddressScope)]).map { (IPNetwork($0.0)!, $0.1) }
}
