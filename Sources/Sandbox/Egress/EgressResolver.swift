import Foundation

/// Name resolution for the egress proxy: IP literals and `staticHosts` at once,
/// other names with the host's getaddrinfo on a background queue (it blocks). The
/// proxy checks and connects to exactly the addresses returned here.
enum EgressResolver {
    /// Where blocking lookups run (the proxy's loop never blocks on DNS).
    static let queue = DispatchQueue(label: "coven.egress.resolver", qos: .utility, attributes: .concurrent)

    /// The addresses of `host` without DNS, or nil when a lookup is needed.
    static func immediate(_ host: String, policy: CompiledEgressPolicy) -> [IPAddress]? {
        if let ip = IPAddress(host) { return [ip] }
        if let pinned = policy.staticAddress(of: host) { return [pinned] }
        return nil
    }

    /// getaddrinfo (stream sockets, AI_ADDRCONFIG), in resolver order, without duplicates.
    static func lookup(_ host: String) -> Result<[IPAddress], EgressResolveError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &res)
        guard rc == 0 else { return .failure(EgressResolveError(message: String(cString: gai_strerror(rc)))) }
        defer { freeaddrinfo(res) }
        var out: [IPAddress] = []
        var p = res
        while let cur = p {
            if let sa = cur.pointee.ai_addr, let ip = IPAddress(sockaddr: UnsafePointer(sa)), !out.contains(ip) { out.append(ip) }
            p = cur.pointee.ai_next
        }
        return out.isEmpty ? .failure(EgressResolveError(message: "no addresses")) : .success(out)
    }
}

struct EgressResolveError: Error, Sendable {
    let message: String
}
