import Foundation

/// One proxy request head, parsed: `CONNECT host:port` (a TLS tunnel) or an
/// absolute-URI plain-HTTP request (`GET http://host[:port]/path HTTP/1.1`), which
/// is forwarded with an origin-form request line and `Connection: close` (one
/// request per proxied connection; what follows the head is relayed unread).
struct EgressRequest: Equatable {
    enum Mode: Equatable { case connect, forward }
    var mode: Mode
    var method: String
    /// Lower-case name or canonical IP literal (no brackets).
    var host: String
    var port: Int
    /// What to send upstream first (forward mode): the rewritten head.
    var upstreamHead: [UInt8]

    /// The largest request head accepted (431 beyond).
    static let maxHeadBytes = 16 * 1024
    static let maxHeaderLines = 100

    /// Index just past the blank line ending the head in `buf`, or nil if not there yet.
    static func headEnd(in buf: UnsafeRawBufferPointer) -> Int? {
        guard buf.count >= 4 else { return nil }
        var i = 0
        while i + 3 < buf.count {
            if buf[i] == 13 && buf[i + 1] == 10 && buf[i + 2] == 13 && buf[i + 3] == 10 { return i + 4 }
            i += 1
        }
        return nil
    }

    /// Parses a complete head (through its blank line). The error text says what is wrong.
    static func parse(_ head: [UInt8]) throws(EgressRequestError) -> EgressRequest {
        guard head.allSatisfy({ $0 == 9 || ($0 >= 32 && $0 < 127) || $0 == 13 || $0 == 10 }) else {
            throw EgressRequestError("request head is not printable ASCII")
        }
        let text = String(decoding: head, as: UTF8.self)
        var lines = text.components(separatedBy: "\r\n")
        while lines.last == "" { lines.removeLast() }
        guard let requestLine = lines.first, !requestLine.isEmpty else { throw EgressRequestError("empty request line") }
        guard lines.count - 1 <= maxHeaderLines else { throw EgressRequestError("more than \(maxHeaderLines) header lines") }
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw EgressRequestError("malformed request line (expected METHOD TARGET HTTP/1.x)")
        }
        let (method, target, version) = (parts[0], parts[1], parts[2])
        guard method.utf8.allSatisfy(isTokenByte) else { throw EgressRequestError("malformed method") }
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else { throw EgressRequestError("unsupported protocol version '\(version)'") }

        var headers: [(String, String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                  !line.hasPrefix(" "), !line.hasPrefix("\t") else {
                throw EgressRequestError("malformed header line")
            }
            let name = String(line[..<colon])
            guard name.utf8.allSatisfy(isTokenByte) else { throw EgressRequestError("malformed header name") }
            headers.append((name, line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }

        if method == "CONNECT" {
            let (host, port) = try authority(target, defaultPort: nil)
            return EgressRequest(mode: .connect, method: method, host: host, port: port, upstreamHead: [])
        }
        let lower = target.lowercased()
        if lower.hasPrefix("https://") {
            throw EgressRequestError("https:// URLs go through CONNECT, not a plain request")
        }
        guard lower.hasPrefix("http://") else {
            throw EgressRequestError("this is a proxy: send CONNECT host:port or an absolute http:// URL")
        }
        let rest = target.dropFirst(7)
        let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let auth = String(rest[..<end])
        guard !auth.contains("@") else { throw EgressRequestError("credentials in the URL are not forwarded") }
        let (host, port) = try authority(auth, defaultPort: 80)
        var path = String(rest[end...])
        if let hash = path.firstIndex(of: "#") { path = String(path[..<hash]) }
        if path.isEmpty || path.hasPrefix("?") { path = "/" + path }

        let dropped: Set<String> = ["host", "connection", "proxy-connection", "proxy-authorization", "keep-alive"]
        let hostHeader = (IPAddress(host).map { $0.isIPv4 ? host : "[\(host)]" } ?? host) + (port == 80 ? "" : ":\(port)")
        var out = "\(method) \(path) \(version)\r\nHost: \(hostHeader)\r\n"
        for (n, v) in headers where !dropped.contains(n.lowercased()) { out += "\(n): \(v)\r\n" }
        out += "Connection: close\r\n\r\n"
        return EgressRequest(mode: .forward, method: method, host: host, port: port, upstreamHead: Array(out.utf8))
    }

    /// `host:port`, `[v6]:port` (or without port when there is a default).
    static func authority(_ text: String, defaultPort: Int?) throws(EgressRequestError) -> (String, Int) {
        var hostPart: Substring
        var portPart: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw EgressRequestError("unterminated [IPv6] literal") }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw EgressRequestError("malformed authority '\(text)'") }
                portPart = after.dropFirst()
            }
            guard case .v6 = IPAddress(String(hostPart)) else { throw EgressRequestError("malformed IPv6 literal") }
        } else {
            let pieces = text.split(separator: ":", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw EgressRequestError("malformed authority '\(text)' (IPv6 needs [brackets])") }
            hostPart = pieces[0]
            portPart = pieces.count == 2 ? pieces[1] : nil
        }
        let port: Int
        if let portPart {
            guard !portPart.isEmpty, portPart.count <= 5, portPart.allSatisfy(\.isASCII), portPart.allSatisfy(\.isNumber),
                  let p = Int(portPart), (1...65535).contains(p) else {
                throw EgressRequestError("malformed port in '\(text)'")
            }
            port = p
        } else if let d = defaultPort {
            port = d
        } else {
            throw EgressRequestError("CONNECT needs host:port")
        }
        if let ip = IPAddress(String(hostPart)) { return (ip.description, port) }
        guard let name = HostPattern.normalizedName(String(hostPart)) else {
            throw EgressRequestError("malformed host name")
        }
        return (name, port)
    }

    private static func isTokenByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)
            || "!#$%&'*+-.^_`|~".utf8.contains(b)
    }
}

struct EgressRequestError: Error, CustomStringConvertible, Equatable {
    let description: String
    init(_ d: String) { description = d }
}
