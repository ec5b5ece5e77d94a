import Foundation

/// An IPv4 or IPv6 address, parsed strictly (inet_pton: no "127.1", no octal, no
/// zone ids) and printed canonically, so a policy entry and a request name the same
/// address the same way.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    /// 16 bytes, network order.
    case v6([UInt8])

    /// Parses a literal; `[::1]` brackets are accepted.
    public init?(_ text: String) {
        var t = Substring(text)
        if t.hasPrefix("[") && t.hasSuffix("]") { t = t.dropFirst().dropLast() }
        guard !t.isEmpty, t.count <= 45 else { return nil }
        var a4 = in_addr()
        if inet_pton(AF_INET, String(t), &a4) == 1 {
            self = .v4(UInt32(bigEndian: a4.s_addr))
            return
        }
        var a6 = in6_addr()
        if inet_pton(AF_INET6, String(t), &a6) == 1 {
            self = .v6(withUnsafeBytes(of: &a6) { Array($0) })
            return
        }
        return nil
    }

    /// From a socket address of family AF_INET or AF_INET6.
    init?(sockaddr sa: UnsafePointer<sockaddr>) {
        switch Int32(sa.pointee.sa_family) {
        case AF_INET:
            let a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee }
            self = .v4(UInt32(bigEndian: a.sin_addr.s_addr))
        case AF_INET6:
            var a = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee }
            self = .v6(withUnsafeBytes(of: &a.sin6_addr) { Array($0) })
        default:
            return nil
        }
    }

    public var isIPv4: Bool { if case .v4 = self { return true } else { return false } }

    /// The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d).
    public var mappedIPv4: IPAddress? {
        guard case .v6(let b) = self, b[0..<10].allSatisfy({ $0 == 0 }), b[10] == 0xff, b[11] == 0xff else { return nil }
        return .v4(UInt32(b[12]) << 24 | UInt32(b[13]) << 16 | UInt32(b[14]) << 8 | UInt32(b[15]))
    }

    /// IPv4-mapped addresses as plain IPv4; everything else unchanged.
    public var unmapped: IPAddress { mappedIPv4 ?? self }

    public var description: String {
        switch self {
        case .v4(let v):
            return "\(v >> 24).\((v >> 16) & 0xff).\((v >> 8) & 0xff).\(v & 0xff)"
        case .v6(let b):
            var a = in6_addr()
            withUnsafeMutableBytes(of: &a) { raw in for i in 0..<16 { raw[i] = b[i] } }
            var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &a, &buf, socklen_t(buf.count)) != nil else { return "?" }
            return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// "host:port" with brackets around IPv6.
    public func description(port: Int) -> String {
        isIPv4 ? "\(self):\(port)" : "[\(self)]:\(port)"
    }

    /// The address as bits, most significant first, and its width (32 or 128).
    var bits: (hi: UInt64, lo: UInt64, width: Int) {
        switch self {
        case .v4(let v): return (0, UInt64(v), 32)
        case .v6(let b):
            var hi: UInt64 = 0, lo: UInt64 = 0
            for i in 0..<8 { hi = hi << 8 | UInt64(b[i]) }
            for i in 8..<16 { lo = lo << 8 | UInt64(b[i]) }
            return (hi, lo, 128)
        }
    }
}

/// An address range: `10.0.0.0/8`, `fc00::/7`, or one address (`127.0.0.1` = /32).
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let a = IPAddress(String(parts[0])) else { return nil }
        let width = a.isIPv4 ? 32 : 128
        var len = width
        if parts.count == 2 {
            guard let n = Int(parts[1]), n >= 0, n <= width, parts[1].allSatisfy(\.isNumber) else { return nil }
            len = n
        }
        self.init(address: a, prefixLength: len)
    }

    public init(address: IPAddress, prefixLength: Int) {
        // An IPv4-mapped range with a prefix covering the mapping is an IPv4 range.
        if let v4 = address.mappedIPv4, prefixLength >= 96 {
            self.address = v4
            self.prefixLength = prefixLength - 96
        } else {
            self.address = address
            self.prefixLength = prefixLength
        }
    }

    /// True when `ip` (IPv4-mapped addresses compared as IPv4) is inside the range.
    public func contains(_ ip: IPAddress) -> Bool {
        let a = address.bits, b = ip.unmapped.bits
        guard a.width == b.width else { return false }
        // IPv4 sits in the low 32 of 128 bits, so its prefix counts from bit 96.
        let len = prefixLength + (a.width == 32 ? 96 : 0)
        let hiBits = min(len, 64), loBits = max(len - 64, 0)
        let hiMask: UInt64 = hiBits == 0 ? 0 : ~UInt64(0) << UInt64(64 - hiBits)
        let loMask: UInt64 = loBits == 0 ? 0 : ~UInt64(0) << UInt64(64 - loBits)
        return a.hi & hiMask == b.hi & hiMask && a.lo & loMask == b.lo & loMask
    }

    public var description: String {
        let full = address.isIPv4 ? 32 : 128
        return prefixLength == full ? "\(address)" : "\(address)/\(prefixLength)"
    }
}
