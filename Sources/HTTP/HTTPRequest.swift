import Foundation

/// An HTTP protocol version (`HTTP/1.0`, `HTTP/1.1`).
public struct HTTPVersion: Sendable, Hashable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)
    public var description: String { "HTTP/\(major).\(minor)" }
}

/// One decoded `name=value` pair of a query string.
public struct HTTPQueryItem: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A fully received HTTP request, as handed to a handler.
public struct HTTPRequest: Sendable {
    /// The method exactly as sent (methods are case-sensitive): `GET`, `POST`, ...
    public var method: String
    /// The request-target exactly as sent (e.g. `/api/tasks/7?verbose=1`).
    public var target: String
    /// The path part of the target, still percent-encoded (`/api/tasks/a%20b`).
    /// For an absolute-form target (`http://host/x`) this is the path only (`/x`);
    /// for `OPTIONS *` it is `*`.
    public var path: String
    /// The raw query string without the `?`, or nil when the target has none.
    public var query: String?
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var body: Data
    /// The peer as `address:port` (e.g. `127.0.0.1:53122`, `[::1]:53122`).
    public var remoteAddress: String
    /// Parameters captured by `Router` from `{name}` segments, percent-decoded.
    public var pathParameters: [String: String]
    /// The observer a head handler chose for this request's body (`HTTPHeadDecision.observe`),
    /// after it has seen every byte of `body`; nil otherwise.
    public var bodyObserver: (any HTTPBodyObserver)?

    public init(
        method: String, target: String, version: HTTPVersion = .http1_1,
        headers: HTTPHeaders = [:], body: Data = Data(), remoteAddress: String = "",
        pathParameters: [String: String] = [:], bodyObserver: (any HTTPBodyObserver)? = nil
    ) {
        self.method = method
        self.target = target
        let (path, query) = Self.splitTarget(target)
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
        self.pathParameters = pathParameters
        self.bodyObserver = bodyObserver
    }

    /// The path with percent-escapes decoded, or nil if it holds an invalid escape or
    /// decodes to invalid UTF-8. (`%2F` becomes `/`: match on `path` segments when that matters.)
    public var decodedPath: String? { Self.percentDecode(path) }

    /// The query as decoded items, in order (`+` means space, as in forms).
    /// Items whose escapes do not decode are skipped.
    public var queryItems: [HTTPQueryItem] {
        guard let query, !query.isEmpty else { return [] }
        return query.split(separator: "&", omittingEmptySubsequences: true).compactMap { part in
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.percentDecode(String(pieces[0]), plusAsSpace: true) else { return nil }
            let rawValue = pieces.count > 1 ? String(pieces[1]) : ""
            guard let value = Self.percentDecode(rawValue, plusAsSpace: true) else { return nil }
            return HTTPQueryItem(name: name, value: value)
        }
    }

    /// The first decoded query value for `name`.
    public func queryValue(_ name: String) -> String? {
        queryItems.first { $0.name == name }?.value
    }

    /// A path parameter captured by the router.
    public func parameter(_ name: String) -> String? { pathParameters[name] }

    /// Decodes `%XX` escapes (and `+` as space when asked). Returns nil on a malformed
    /// escape or when the bytes are not valid UTF-8.
    public static func percentDecode(_ string: String, plusAsSpace: Bool = false) -> String? {
        let utf8 = string.utf8
        guard utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusAsSpace && $0 == UInt8(ascii: "+")) })
        else { return string }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue)
                else { return nil }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+") where plusAsSpace:
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Percent-encodes everything except RFC 3986 unreserved characters.
    public static func percentEncode(_ string: String) -> String {
        var out = ""
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(hex[Int(byte >> 4)])
                out.unicodeScalars.append(hex[Int(byte & 0xF)])
            }
        }
        return out
    }

    /// Splits a request-target into (path, query). Absolute-form targets
    /// (`http://host:port/p?q`) are reduced to their path and query.
    static func splitTarget(_ target: String) -> (path: String, query: String?) {
        var rest = Substring(target)
        for scheme in ["http://", "https://"] where rest.lowercased().hasPrefix(scheme) {
            rest = rest.dropFirst(scheme.count)
            if let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) {
                rest = rest[slash...]
            } else {
                rest = ""
            }
            if !rest.hasPrefix("/") { rest = Substring("/" + rest) }
            break
        }
        if let mark = rest.firstIndex(of: "?") {
            return (String(rest[..<mark]), String(rest[rest.index(after: mark)...]))
        }
        return (String(rest), nil)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// Sees a request body's bytes as they arrive, before the handler runs (e.g. a streaming
/// MAC, so that the verdict is ready the moment the last byte is in). Called on the
/// connection's thread only, in order, with the decoded bytes of a chunked body.
public protocol HTTPBodyObserver: AnyObject, Sendable {
    func consume(_ bytes: UnsafeRawBufferPointer)
}

/// What a route decides from a request's head alone, before any of its body is read.
/// The request it is given has the method, target, headers and remote address; its body
/// is empty.
public enum HTTPHeadDecision: Sendable {
    /// Read the body and call the handler.
    case proceed
    /// Read the body feeding every byte to the observer, then call the handler with it in
    /// `request.bodyObserver`.
    case observe(any HTTPBodyObserver)
    /// Answer now, without reading the body (e.g. 401 for a request that cannot be
    /// authentic). The connection is closed when a body was announced.
    case respond(HTTPResponse)
}
