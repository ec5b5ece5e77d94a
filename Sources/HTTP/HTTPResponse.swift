import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A response produced by a handler.
///
/// The server owns message framing: it always writes `Content-Length` itself (a handler's
/// `Content-Length`, `Transfer-Encoding` and `Connection` fields are replaced), adds `Date`
/// when absent, and adds `Connection: close` when it is going to close the connection.
/// A handler may set `Connection: close` to make the server close after this response.
/// A streamed response (`streaming`) is framed with `Transfer-Encoding: chunked` instead
/// (for an HTTP/1.0 client: by closing the connection), its body produced as it is sent.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var reason: String
    public var headers: HTTPHeaders
    public var body: Data
    /// Produces the body while it is sent, in place of `body` (see `streaming`).
    public var stream: HTTPBodyProducer?

    /// `reason` defaults to the standard phrase for `status`.
    public init(status: Int, reason: String? = nil, headers: HTTPHeaders = [:], body: Data = Data()) {
        self.status = status
        self.reason = reason ?? Self.reasonPhrase(for: status)
        self.headers = headers
        self.body = body
    }

    /// A response whose body `producer` writes piece by piece on the connection's thread,
    /// each piece sent before the next is asked for (bounded memory, whatever its length).
    /// Not run for HEAD requests; the server's shutdown makes `HTTPBodyWriter.wait` return
    /// false, and the producer should then end (the body is ended cleanly).
    public static func streaming(_ status: Int, headers: HTTPHeaders = [:], _ producer: @escaping HTTPBodyProducer) -> HTTPResponse {
        var r = HTTPResponse(status: status, headers: headers)
        r.stream = producer
        return r
    }

    /// A `text/plain; charset=utf-8` response.
    public static func text(_ status: Int, _ text: String, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var headers = headers
        if !headers.contains("Content-Type") { headers.add("Content-Type", "text/plain; charset=utf-8") }
        return HTTPResponse(status: status, headers: headers, body: Data(text.utf8))
    }

    /// A JSON response from an `Encodable` value. Encoding failure yields a 500.
    /// The default encoder sorts keys (stable output) and does not escape `/`.
    public static func json<T: Encodable>(
        _ status: Int, _ value: T, encoder: JSONEncoder? = nil, headers: HTTPHeaders = [:]
    ) -> HTTPResponse {
        let encoder = encoder ?? defaultEncoder()
        guard let data = try? encoder.encode(value) else {
            return .text(500, "internal server error: response encoding failed\n")
        }
        return json(status, data: data, headers: headers)
    }

    /// A JSON response from a `JSONSerialization`-compatible dictionary
    /// (values: String, numbers, Bool, NSNull, arrays and dictionaries of those).
    /// An invalid object yields a 500.
    public static func json(_ status: Int, _ object: [String: Any], headers: HTTPHeaders = [:]) -> HTTPResponse {
        guard JSONSerialization.isValidJSONObject(object),
            let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        else {
            return .text(500, "internal server error: response encoding failed\n")
        }
        return json(status, data: data, headers: headers)
    }

    /// A JSON response from already-serialized bytes (sent as-is, not re-encoded).
    public static func json(_ status: Int, data: Data, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var headers = headers
        if !headers.contains("Content-Type") { headers.add("Content-Type", "application/json") }
        return HTTPResponse(status: status, headers: headers, body: data)
    }

    private static func defaultEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// The standard reason phrase for a status code ("" for unknown codes).
    public static func reasonPhrase(for status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 417: "Expectation Failed"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: ""
        }
    }
}

/// An error a handler (or `Router` route) can throw to answer with a specific status.
/// Any other error thrown by a handler becomes a 500 without details.
public struct HTTPError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var message: String
    public init(_ status: Int, _ message: String = "") {
        self.status = status
        self.message = message
    }
    /// A `text/plain` response carrying `message` (or the reason phrase).
    public var response: HTTPResponse {
        .text(status, (message.isEmpty ? HTTPResponse.reasonPhrase(for: status) : message) + "\n")
    }
    public var description: String { "HTTP \(status) \(message)" }
}

// MARK: - Wire format (server side)

extension HTTPResponse {
    /// Whether a response with this status never carries a body (1xx, 204, 304);
    /// the server sends no `Content-Length` for these either.
    static func statusForbidsBody(_ status: Int) -> Bool {
        (100...199).contains(status) || status == 204 || status == 304
    }

    /// Serializes status line, headers and body.
    /// - Parameters:
    ///   - headRequest: the request was HEAD: send the headers (with the body's length) only.
    ///   - close: add `Connection: close` (the server will close after this response).
    ///   - http10KeepAlive: the request was HTTP/1.0 and the connection stays open:
    ///     say `Connection: keep-alive` so the client knows.
    func serialized(headRequest: Bool, close: Bool, http10KeepAlive: Bool) -> [UInt8] {
        serialized(headRequest: headRequest, close: close, http10KeepAlive: http10KeepAlive, streamed: nil)
    }

    /// How a streamed body is framed: chunks, or (HTTP/1.0) the connection's close.
    enum StreamFraming { case chunked, close }

    /// As above; with `streamed`, the head of a streamed response (no `Content-Length`,
    /// `Transfer-Encoding: chunked` when so framed) and no body.
    func serialized(headRequest: Bool, close: Bool, http10KeepAlive: Bool, streamed: StreamFraming?) -> [UInt8] {
        var status = self.status
        var reason = self.reason
        if !(100...599).contains(status) {
            status = 500
            reason = Self.reasonPhrase(for: 500)
        }
        var head = "HTTP/1.1 \(status) \(Self.sanitizedReason(reason))\r\n"
        var hasDate = false
        for field in headers {
            if HTTPHeaders.namesEqual(field.name, "Content-Length")
                || HTTPHeaders.namesEqual(field.name, "Transfer-Encoding")
                || HTTPHeaders.namesEqual(field.name, "Connection")
            {
                continue
            }
            // Never let a handler split the response: drop fields that are not
            // a token name with a value free of CR, LF and NUL.
            guard HTTPSyntax.isToken(field.name), HTTPSyntax.isValidFieldValue(field.value) else { continue }
            if HTTPHeaders.namesEqual(field.name, "Date") { hasDate = true }
            head += "\(field.name): \(field.value)\r\n"
        }
        if !hasDate { head += "Date: \(HTTPDate.now())\r\n" }
        let forbidsBody = Self.statusForbidsBody(status)
        if streamed == .chunked && !forbidsBody {
            head += "Transfer-Encoding: chunked\r\n"
        } else if streamed == nil && !forbidsBody {
            head += "Content-Length: \(body.count)\r\n"
        }
        if close {
            head += "Connection: close\r\n"
        } else if http10KeepAlive {
            head += "Connection: keep-alive\r\n"
        }
        head += "\r\n"
        var bytes = Array(head.utf8)
        if !headRequest && !forbidsBody && streamed == nil { bytes.append(contentsOf: body) }
        return bytes
    }

    private static func sanitizedReason(_ reason: String) -> String {
        String(reason.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : Character($0) })
    }
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for the `Date` header.
enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func now() -> String { format(time(nil)) }

    static func format(_ seconds: time_t) -> String {
        var t = seconds
        var tm = tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[Int(tm.tm_wday)]), \(two(tm.tm_mday)) \(months[Int(tm.tm_mon)]) \(tm.tm_year + 1900) "
            + "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) GMT"
    }
}
