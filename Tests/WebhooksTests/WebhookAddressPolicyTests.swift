import Testing
@testable import Webhooks

@Suite struct WebhookAddressPolicyTests {
    @Test(arguments: [
        ("127.0.0.1", IPAddressScope.loopback), ("127.255.0.9", .loopback), ("::1", .loopback),
        ("::ffff:127.0.0.1", .loopback), ("169.254.169.254", .linkLocal), ("fe80::1", .linkLocal),
        ("febf::1", .linkLocal), ("0.0.0.0", .unspecified), ("::", .unspecified), ("224.0.0.1", .multicast),
        ("ff02::1", .multicast), ("255.255.255.255", .broadcast), ("10.1.2.3", .private),
        ("172.16.0.1", .private), ("172.31.255.255", .private), ("192.168.1.1", .private),
        ("fd12::1", .private), ("::ffff:10.0.0.1", .private), ("100.64.0.1", .sharedAddressSpace),
        ("172.32.0.1", .public), ("100.128.0.1", .public), ("8.8.8.8", .public), ("2001:4860::8888", .public),
        ("fec0::1", .public),
    ])
    func classifiesLiterals(text: String, scope: IPAddressScope) throws {
        let address = try #require(IPAddress(text))
        #expect(address.scope == scope)
    }

    @Test func defaultPolicyRefusesWithAReadableReason() throws {
        let refusal = try #require(WebhookAddressPolicy.publicOnly.refusal(for: IPAddress("127.0.0.1")!, host: "127.0.0.1"))
        #expect(refusal.description == "webhooks may not reach 127.0.0.1 (loopback); set webhook_allow_private to allow it")
        let metadata = try #require(WebhookAddressPolicy(allowPrivate: true, allowLoopback: true)
            .refusal(for: IPAddress("169.254.169.254")!, host: "metadata.internal"))
        #expect(metadata.description.contains("169.254.169.254 (metadata.internal resolves to it) (link-local"))
        #expect(WebhookAddressPolicy.publicOnly.refusal(for: IPAddress("8.8.8.8")!, host: "8.8.8.8") == nil)
    }

    @Test func operatorOptions() {
        let loopback = IPAddress("127.0.0.1")!, privateAddress = IPAddress("10.0.0.5")!
        let metadata = IPAddress("169.254.169.254")!
        #expect(WebhookAddressPolicy(allowLoopback: true).refusal(for: loopback, host: "x") == nil)
        #expect(WebhookAddressPolicy(allowLoopback: true).refusal(for: privateAddress, host: "x") != nil)
        #expect(WebhookAddressPolicy(allowPrivate: true).refusal(for: privateAddress, host: "x") == nil)
        #expect(WebhookAddressPolicy(allowPrivate: true).refusal(for: loopback, host: "x") != nil)
        #expect(WebhookAddressPolicy(allowPrivate: true, allowLoopback: true).refusal(for: metadata, host: "x") != nil)
        let networks = WebhookAddressPolicy(allowedNetworks: [IPNetwork("10.0.0.0/24")!, IPNetwork("169.254.169.254")!])
        #expect(networks.refusal(for: privateAddress, host: "x") == nil)
        #expect(networks.refusal(for: IPAddress("10.0.1.5")!, host: "x") != nil)
        #expect(networks.refusal(for: metadata, host: "x") == nil)
        let hosts = WebhookAddressPolicy(allowedHosts: ["Hooks.Internal"])
        #expect(hosts.refusal(for: privateAddress, host: "hooks.internal") == nil)
        #expect(hosts.refusal(for: privateAddress, host: "other.internal") != nil)
    }

    @Test func everyResolvedAddressMustPass() {
        let mixed = [IPAddress("8.8.8.8")!, IPAddress("127.0.0.1")!]
        #expect(WebhookAddressPolicy.publicOnly.refusal(for: mixed, host: "rebind.example")?.address == IPAddress("127.0.0.1"))
        #expect(WebhookAddressPolicy.publicOnly.refusal(for: [IPAddress("8.8.8.8")!], host: "dns.example") == nil)
    }

    @Test func localhostResolvesToLoopback() throws {
        let addresses = try HostResolver.resolveBlocking("localhost", port: 80)
        #expect(!addresses.isEmpty)
        #expect(addresses.allSatisfy { $0.scope == .loopback })
        #expect(WebhookAddressPolicy.publicOnly.refusal(for: addresses, host: "localhost") != nil)
        #expect(WebhookAddressPolicy(allowLoopback: true).refusal(for: addresses, host: "localhost") == nil)
    }

    @Test func networks() throws {
        let network = try #require(IPNetwork("172.16.0.0/12"))
        #expect(network.contains(IPAddress("172.20.1.1")!))
        #expect(!network.contains(IPAddress("172.32.0.0")!))
        #expect(!network.contains(IPAddress("fd00::1")!))
        #expect(IPNetwork("10.0.0.0/33") == nil)
        #expect(IPNetwork("nonsense/8") == nil)
        let mapped = try #require(IPNetwork("::ffff:10.0.0.0/104"))
        #expect(mapped.contains(IPAddress("10.9.9.9")!) && !mapped.contains(IPAddress("11.0.0.1")!))
        #expect(IPNetwork("::ffff:10.0.0.0/80") == nil)
        #expect(IPNetwork("::1")?.prefixLength == 128 && IPNetwork("10.0.0.1")?.prefixLength == 32)
    }
}

@Suite struct WebhookDestinationTests {
    @Test func parsesWhatItAccepts() throws {
        let plain = try WebhookDestination("HTTP://Hooks.Example.COM/reel/in?x=1")
        #expect(plain.scheme == "http" && plain.host == "hooks.example.com" && plain.port == 80)
        #expect(plain.target == "/reel/in?x=1")
        let v6 = try WebhookDestination("https://[::1]:8443")
        #expect(v6.host == "::1" && v6.port == 8443 && v6.target == "/")
        #expect(v6.description == "https://[::1]:8443/")
        #expect(v6.hostHeader == "[::1]:8443")
        #expect(plain.url(connectingTo: IPAddress("93.184.216.34")) == "http://93.184.216.34/reel/in?x=1")
    }

    @Test(arguments: ["ftp://example.com/", "file:///etc/passwd", "https://user:pw@example.com/",
                      "https://user@example.com/", "http:///path", "not a url", "https://example.com:0/",
                      "http://[fe80::1%25eth0]/", "gopher://example.com"])
    func refuses(text: String) {
        #expect(throws: WebhookDestinationError.self) { try WebhookDestination(text) }
    }

    @Test func literalHostsAreCheckedAtRegistration() throws {
        #expect(try WebhookDestination("http://169.254.169.254/latest/meta-data").literalRefusal(under: .publicOnly) != nil)
        #expect(try WebhookDestination("http://[::ffff:7f00:1]/").literalRefusal(under: .publicOnly)?.scope == .loopback)
        #expect(try WebhookDestination("https://8.8.8.8/").literalRefusal(under: .publicOnly) == nil)
        #expect(try WebhookDestination("https://example.com/").literalRefusal(under: .publicOnly) == nil)
    }
}
