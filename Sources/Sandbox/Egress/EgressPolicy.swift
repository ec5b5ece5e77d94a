import Foundation

/// What a `proxy`-mode sandbox may reach. Default deny: a connection goes through
/// only when its host matches `allowHosts`, its port is in `allowPorts`, and every
/// address it is connected to is global unicast, or covered by
/// `allowPrivateDestinations`. The proxy resolves names itself and connects to the
/// address it checked (never re-resolving), so DNS cannot rebind a listed name onto
/// the host, its networks or cloud metadata.
///
/// JSON-friendly: encodes with the snake_case keys of the proposed `egress` config
/// section (docs/egress.md); every key is optional when decoding.
public struct EgressPolicy: Sendable, Equatable, Codable {
    /// Host patterns: `github.com`, `*.githubusercontent.com`, or an IP literal.
    public var allowHosts: [String]
    /// Destination ports (CONNECT and plain HTTP alike). Plain-HTTP forwarding needs 80 here.
    public var allowPorts: [Int]
    /// Addresses or CIDRs (`10.20.0.5`, `10.20.0.0/16`, `fd00::/8`) the proxy may
    /// connect to although they are loopback/private/link-local/... For tests and
    /// on-premises GitHub Enterprise. The host must still be allowlisted.
    public var allowPrivateDestinations: [String]
    /// Names resolved without DNS, like /etc/hosts lines (`ghe.corp` → `10.20.0.5`).
    /// The address is checked like any resolved one.
    public var staticHosts: [String: String]
    /// Bytes (both directions, all connections) one sandbox may move; past it every
    /// tunnel is closed and new requests are refused. nil = no cap.
    public var maxBytes: UInt64?
    /// Connections one sandbox may hold open at once; more get 503.
    public var maxConnections: Int
    /// A client must send its complete request head within this time (408 after).
    public var headerTimeout: Double
    /// Name resolution plus TCP connect must finish within this time (504 after).
    public var connectTimeout: Double
    /// A tunnel with no traffic either way for this long is closed; nil = never.
    public var idleTimeout: Double?
    /// Connection records kept per sandbox (counters keep counting past it).
    public var maxLogEntries: Int

    /// GitHub: the web/git host, the REST API, archive downloads, raw content, release assets.
    public static let githubHosts = ["github.com", "api.github.com", "codeload.github.com", "*.githubusercontent.com"]
    /// The model providers a runtime talks to.
    public static let modelProviderHosts = ["api.anthropic.com", "api.openai.com"]
    /// The daemon's default allowlist: GitHub plus the model providers.
    public static let defaultAllowlist = githubHosts + modelProviderHosts
    /// The daemon's default policy: `defaultAllowlist` on port 443.
    public static let daemonDefault = EgressPolicy(allowHosts: defaultAllowlist)
    /// Nothing allowed (what `sandbox exec --network proxy` starts from).
    public static let denyAll = EgressPolicy(allowHosts: [])

    public init(allowHosts: [String] = [], allowPorts: [Int] = [443], allowPrivateDestinations: [String] = [],
                staticHosts: [String: String] = [:], maxBytes: UInt64? = nil, maxConnections: Int = 256,
                headerTimeout: Double = 10, connectTimeout: Double = 10, idleTimeout: Double? = 600,
                maxLogEntries: Int = 1000) {
        self.allowHosts = allowHosts
        self.allowPorts = allowPorts
        self.allowPrivateDestinations = allowPrivateDestinations
        self.staticHosts = staticHosts
        self.maxBytes = maxBytes
        self.maxConnections = maxConnections
        self.headerTimeout = headerTimeout
        self.connectTimeout = connectTimeout
        self.idleTimeout = idleTimeout
        self.maxLogEntries = maxLogEntries
    }

    enum CodingKeys: String, CodingKey {
        case allowHosts = "allow_hosts"
        case allowPorts = "allow_ports"
        case allowPrivateDestinations = "allow_private"
        case staticHosts = "static_hosts"
        case maxBytes = "max_bytes"
        case maxConnections = "max_connections"
        case headerTimeout = "header_timeout_s"
        case connectTimeout = "connect_timeout_s"
        case idleTimeout = "idle_timeout_s"
        case maxLogEntries = "max_log_entries"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = EgressPolicy()
        allowHosts = try c.decodeIfPresent([String].self, forKey: .allowHosts) ?? d.allowHosts
        allowPorts = try c.decodeIfPresent([Int].self, forKey: .allowPorts) ?? d.allowPorts
        allowPrivateDestinations = try c.decodeIfPresent([String].self, forKey: .allowPrivateDestinations) ?? []
        staticHosts = try c.decodeIfPresent([String: String].self, forKey: .staticHosts) ?? [:]
        maxBytes = try c.decodeIfPresent(UInt64.self, forKey: .maxBytes)
        maxConnections = try c.decodeIfPresent(Int.self, forKey: .maxConnections) ?? d.maxConnections
        headerTimeout = try c.decodeIfPresent(Double.self, forKey: .headerTimeout) ?? d.headerTimeout
        connectTimeout = try c.decodeIfPresent(Double.self, forKey: .connectTimeout) ?? d.connectTimeout
        idleTimeout = c.contains(.idleTimeout) ? try c.decodeIfPresent(Double.self, forKey: .idleTimeout) : d.idleTimeout
        maxLogEntries = try c.decodeIfPresent(Int.self, forKey: .maxLogEntries) ?? d.maxLogEntries
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(allowHosts, forKey: .allowHosts)
        try c.encode(allowPorts, forKey: .allowPorts)
        try c.encode(allowPrivateDestinations, forKey: .allowPrivateDestinations)
        try c.encode(staticHosts, forKey: .staticHosts)
        try c.encodeIfPresent(maxBytes, forKey: .maxBytes)
        try c.encode(maxConnections, forKey: .maxConnections)
        try c.encode(headerTimeout, forKey: .headerTimeout)
        try c.encode(connectTimeout, forKey: .connectTimeout)
        try c.encode(idleTimeout, forKey: .idleTimeout)   // null = no idle timeout
        try c.encode(maxLogEntries, forKey: .maxLogEntries)
    }

    /// Checks every entry and returns the form the proxy evaluates; the error names
    /// the first bad entry.
    public func compiled() throws -> CompiledEgressPolicy {
        var patterns: [HostPattern] = []
        for h in allowHosts {
            guard let p = HostPattern(h) else {
                throw EgressPolicyError("allow_hosts: '\(h)' is not a host name, *.suffix or IP address")
            }
            patterns.append(p)
        }
        for p in allowPorts where !(1...65535).contains(p) {
            throw EgressPolicyError("allow_ports: \(p) is not a port (1-65535)")
        }
        var ranges: [CIDR] = []
        for a in allowPrivateDestinations {
            guard let r = CIDR(a) else { throw EgressPolicyError("allow_private: '\(a)' is not an address or CIDR") }
            ranges.append(r)
        }
        var pinned: [String: IPAddress] = [:]
        for (name, addr) in staticHosts {
            guard let n = HostPattern.normalizedName(name) else { throw EgressPolicyError("static_hosts: '\(name)' is not a host name") }
            guard let ip = IPAddress(addr) else { throw EgressPolicyError("static_hosts: '\(addr)' (for \(name)) is not an IP address") }
            pinned[n] = ip
        }
        guard maxConnections > 0 else { throw EgressPolicyError("max_connections must be positive") }
        for (k, v) in [("header_timeout_s", headerTimeout), ("connect_timeout_s", connectTimeout), ("idle_timeout_s", idleTimeout ?? 1)]
            where !(v > 0 && v.isFinite) {
            throw EgressPolicyError("\(k) must be a positive number of seconds")
        }
        return CompiledEgressPolicy(policy: self, patterns: patterns, ports: Set(allowPorts), privateRanges: ranges, staticHosts: pinned)
    }
}

/// A policy with every entry parsed; what the proxy evaluates.
public struct CompiledEgressPolicy: Sendable {
    public let policy: EgressPolicy
    public let patterns: [HostPattern]
    public let ports: Set<Int>
    public let privateRanges: [CIDR]
    public let staticHosts: [String: IPAddress]

    /// The pattern that allows `host`, or nil.
    public func pattern(allowing host: String) -> HostPattern? {
        patterns.first { $0.matches(host) }
    }

    /// The `allowPrivateDestinations` range covering `ip`, or nil.
    public func privateException(for ip: IPAddress) -> CIDR? {
        privateRanges.first { $0.contains(ip) }
    }

    /// The pinned address of a name, if `staticHosts` has one.
    public func staticAddress(of host: String) -> IPAddress? {
        HostPattern.normalizedName(host).flatMap { staticHosts[$0] }
    }
}

/// Why a destination is refused or allowed, in words an agent can act on.
extension CompiledEgressPolicy {
    /// Host, then port, against the lists (before anything is resolved). The allowing
    /// pattern, or the refusal text.
    public func check(host: String, port: Int) -> Result<HostPattern, EgressRefusal> {
        guard let p = pattern(allowing: host) else {
            return .failure(EgressRefusal(kind: .host, message: "host not in allowlist"))
        }
        guard ports.contains(port) else {
            let listed = ports.sorted().map(String.init).joined(separator: ", ")
            return .failure(EgressRefusal(kind: .port, message: "port \(port) not allowed (allow_ports: \(listed.isEmpty ? "none" : listed))"))
        }
        return .success(p)
    }

    /// The resolved addresses that may be connected to, each with the
    /// `allowPrivateDestinations` range that admits it (nil for global addresses),
    /// in resolver order; or the refusal naming the addresses and their classes.
    public func permitted(_ ips: [IPAddress], literal: Bool, localAddresses: Set<IPAddress> = [])
        -> Result<[(IPAddress, CIDR?)], EgressRefusal> {
        var ok: [(IPAddress, CIDR?)] = []
        var refused: [(IPAddress, AddressClass)] = []
        for ip in ips {
            let cls = AddressClassifier.classify(ip, localAddresses: localAddresses)
            if let range = privateException(for: ip) { ok.append((ip, range)) }
            else if cls.isGlobal { ok.append((ip, nil)) }
            else { refused.append((ip, cls)) }
        }
        if !ok.isEmpty { return .success(ok) }
        let named = refused.prefix(3).map { "\($0.0) (\($0.1.rawValue))" }.joined(separator: ", ")
        let message = literal ? "address \(named) not allowed" : "resolves to \(named), not allowed"
        return .failure(EgressRefusal(kind: .address, message: message, address: refused.first?.0))
    }
}

/// A refusal by policy: which rule, and the sentence the 403 and the log carry.
public struct EgressRefusal: Error, Sendable, Equatable {
    public enum Kind: String, Sendable { case host, port, address }
    public let kind: Kind
    public let message: String
    public var address: IPAddress?
    public init(kind: Kind, message: String, address: IPAddress? = nil) {
        self.kind = kind; self.message = message; self.address = address
    }
}

public struct EgressPolicyError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ d: String) { description = d }
}
