import Foundation

/// One entry of an egress allowlist: an exact host name (`github.com`), every
/// subdomain of a suffix (`*.githubusercontent.com`: `a.githubusercontent.com`,
/// `a.b.githubusercontent.com`, not `githubusercontent.com` itself), or an IP
/// literal (`203.0.113.7`, `[2001:db8::1]`, matched in canonical form). Names are
/// compared case-insensitively without a trailing dot.
public struct HostPattern: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        case exact(String)
        case suffix(String)         // without the "*."
        case address(IPAddress)
    }
    public let kind: Kind

    /// Parses a pattern; nil when it is not a host name, `*.` suffix or IP literal
    /// (a bare `*`, wildcards elsewhere, ports, schemes and paths are refused).
    public init?(_ text: String) {
        let t = text.trimmingCharacters(in: .whitespaces)
        if let ip = IPAddress(t) { kind = .address(ip); return }
        if t.hasPrefix("*.") {
            guard let suffix = HostPattern.normalizedName(String(t.dropFirst(2))) else { return nil }
            kind = .suffix(suffix)
        } else {
            guard let name = HostPattern.normalizedName(t) else { return nil }
            kind = .exact(name)
        }
    }

    /// True when `host` (a name or IP literal as a client sent it) is covered.
    public func matches(_ host: String) -> Bool {
        if let ip = IPAddress(host) {
            if case .address(let a) = kind { return a.unmapped == ip.unmapped }
            return false
        }
        guard let name = HostPattern.normalizedName(host) else { return false }
        switch kind {
        case .exact(let e): return name == e
        case .suffix(let s): return name.count > s.count + 1 && name.hasSuffix("." + s)
        case .address: return false
        }
    }

    public var description: String {
        switch kind {
        case .exact(let e): return e
        case .suffix(let s): return "*." + s
        case .address(let a): return a.isIPv4 ? "\(a)" : "[\(a)]"
        }
    }

    /// Lower case, no trailing dot, letters/digits/`-`/`_` labels of 1-63, at most 253
    /// in all; nil otherwise (IP literals are not names).
    public static func normalizedName(_ text: String) -> String? {
        var t = text.lowercased()
        if t.hasSuffix(".") { t.removeLast() }
        guard !t.isEmpty, t.utf8.count <= 253 else { return nil }
        for label in t.split(separator: ".", omittingEmptySubsequences: false) {
            guard (1...63).contains(label.utf8.count),
                  label.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d || $0 == 0x5f }),
                  !label.hasPrefix("-"), !label.hasSuffix("-") else { return nil }
        }
        return t
    }
}
