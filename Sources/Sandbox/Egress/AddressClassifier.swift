import Foundation

/// What kind of destination an address is. Only `global` is reachable through the
/// egress proxy unless the policy names the address in `allowPrivateDestinations`.
public enum AddressClass: String, Sendable, Codable, CaseIterable {
    case global
    case loopback
    /// RFC 1918 (10/8, 172.16/12, 192.168/16).
    case `private`
    /// 169.254/16 (cloud metadata lives here) and fe80::/10.
    case linkLocal = "link-local"
    /// 100.64/10, carrier-grade NAT (RFC 6598).
    case sharedAddressSpace = "cgnat"
    case multicast
    /// 0.0.0.0/8 and ::, "this host".
    case unspecified
    case broadcast
    /// fc00::/7 (RFC 4193).
    case uniqueLocal = "unique-local"
    /// Documentation, benchmarking, protocol assignments, 240/4, IPv6 outside
    /// 2000::/3 and the transition prefixes we cannot see through.
    case reserved
    /// An address of one of the daemon host's own interfaces.
    case thisHost = "this-host"

    /// True for the one class the proxy connects to without an explicit exception.
    public var isGlobal: Bool { self == .global }
}

/// Classifies destination addresses for the egress policy: every range that
/// reaches the host itself, its networks or special-purpose space is named, so
/// the proxy can refuse it and say why. IPv4-mapped, NAT64 and 6to4 IPv6 addresses
/// are judged by the IPv4 address inside them.
public enum AddressClassifier {
    private static let v4Table: [(CIDR, AddressClass)] = table([
        ("0.0.0.0/8", .unspecified),
        ("10.0.0.0/8", .private),
        ("100.64.0.0/10", .sharedAddressSpace),
        ("127.0.0.0/8", .loopback),
        ("169.254.0.0/16", .linkLocal),
        ("172.16.0.0/12", .private),
        ("192.0.0.0/24", .reserved),        // IETF protocol assignments
        ("192.0.2.0/24", .reserved),        // TEST-NET-1
        ("192.88.99.0/24", .reserved),      // 6to4 relay anycast
        ("192.168.0.0/16", .private),
        ("198.18.0.0/15", .reserved),       // benchmarking
        ("198.51.100.0/24", .reserved),     // TEST-NET-2
        ("203.0.113.0/24", .reserved),      // TEST-NET-3
        ("224.0.0.0/4", .multicast),
        ("255.255.255.255/32", .broadcast),
        ("240.0.0.0/4", .reserved),
    ])

    private static let v6Table: [(CIDR, AddressClass)] = table([
        ("::/128", .unspecified),
        ("::1/128", .loopback),
        ("64:ff9b:1::/48", .reserved),      // local-use NAT64
        ("100::/64", .reserved),            // discard-only
        ("2001::/23", .reserved),           // IETF protocol assignments, Teredo
        ("2001:db8::/32", .reserved),       // documentation
        ("fc00::/7", .uniqueLocal),
        ("fe80::/10", .linkLocal),
        ("fec0::/10", .reserved),           // site-local (deprecated)
        ("ff00::/8", .multicast),
    ])

    private static func table(_ rows: [(String, AddressClass)]) -> [(CIDR, AddressClass)] {
        rows.map { (CIDR($0.0)!, $0.1) }
    }

    private static let globalUnicast = CIDR("2000::/3")!
    private static let nat64 = CIDR("64:ff9b::/96")!
    private static let sixToFour = CIDR("2002::/16")!

    /// The class of `ip`; `localAddresses` are the host's own (see `hostAddresses()`).
    public static func classify(_ ip: IPAddress, localAddresses: Set<IPAddress> = []) -> AddressClass {
        if let v4 = ip.mappedIPv4 { return classify(v4, localAddresses: localAddresses) }
        switch ip {
        case .v4:
            if let c = v4Table.first(where: { $0.0.contains(ip) })?.1 { return c }
            return localAddresses.contains(ip) ? .thisHost : .global
        case .v6(let b):
            // NAT64 and 6to4 embed an IPv4 address: what they reach is that address.
            if nat64.contains(ip) {
                return classify(.v4(UInt32(b[12]) << 24 | UInt32(b[13]) << 16 | UInt32(b[14]) << 8 | UInt32(b[15])),
                                localAddresses: localAddresses)
            }
            if sixToFour.contains(ip) {
                let inner = classify(.v4(UInt32(b[2]) << 24 | UInt32(b[3]) << 16 | UInt32(b[4]) << 8 | UInt32(b[5])),
                                     localAddresses: localAddresses)
                if inner != .global { return inner }
            }
            if let c = v6Table.first(where: { $0.0.contains(ip) })?.1 { return c }
            // ::/96 (IPv4-compatible) and everything else outside global unicast.
            guard globalUnicast.contains(ip) else { return .reserved }
            return localAddresses.contains(ip) ? .thisHost : .global
        }
    }

    /// The addresses of this host's interfaces (getifaddrs), so a name that resolves
    /// to the daemon host's own public address is refused like loopback is.
    public static func hostAddresses() -> Set<IPAddress> {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0 else { return [] }
        defer { freeifaddrs(head) }
        var out: Set<IPAddress> = []
        var p = head
        while let cur = p {
            if let sa = cur.pointee.ifa_addr, let ip = IPAddress(sockaddr: UnsafePointer(sa)) { out.insert(ip) }
            p = cur.pointee.ifa_next
        }
        return out
    }
}
