import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A response received by `HTTPClient`.
public struct HTTPClientResponse: Sendable {
    public var status: Int
    public var reason: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var body: Data
    /// The body as UTF-8 text (nil if it is not valid UTF-8).
    public var text: String? { String(data: body, encoding: .utf8) }

    public init(status: Int, reason: String = "", version: HTTPVersion = .http1_1,
                headers: HTTPHeaders = [:], body: Data = Data()) {
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.body = body
    }
}

public enum HTTPClientError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidURL(String)
    case unsupportedScheme(String)
    case resolveFailed(String)
    case connectFailed(errno: Int32)
    case timedOut
    /// The server closed the connection before a complete response arrived.
    case connectionClosed
    case malformedResponse(String)
    case responseTooLarge
    case ioError(errno: Int32)

    public var description: String {
        switch self {
        case .invalidURL(let url): "invalid URL: \(url)"
        case .unsupportedScheme(let scheme): "unsupported scheme \(scheme) (http:// only)"
        case .resolveFailed(let message): "cannot resolve host: \(message)"
        case .connectFailed(let code): "connect failed: \(String(cString: strerror(code)))"
        case .timedOut: "timed out"
        case .connectionClosed: "connection closed before a complete response"
        case .malformedResponse(let why): "malformed response: \(why)"
        case .responseTooLarge: "response too large"
        case .ioError(let code): "I/O error: \(String(cString: strerror(code)))"
        }
    }
}

/// A small blocking HTTP/1.1 client over plain sockets, for `http://` URLs only
/// (tests and loopback services). Thread-safe; each call blocks its caller.
///
/// - Requests always carry `Host` and, when there is a body (or for POST/PUT/PATCH),
///   `Content-Length`. Bodies are never chunked.
/// - Responses are read by `Content-Length`, `Transfer-Encoding: chunked`, or until close.
///   1xx interim responses are skipped.
/// - With `keepAlive`, finished connections are pooled per host:port and reused; a pooled
///   connection the server has meanwhile closed is detected and replaced, and an idempotent
///   request that fails on a reused connection before any response byte is retried once.
/// - `timeout` bounds the whole call: connect, send and receive.
public final class HTTPClient: Sendable {
    public let keepAlive: Bool
    public let maxResponseBodySize: Int
    public let maxIdlePerHost: Int

    private let idle = Mutex<[String: [Int32]]>([:])
    private let opened = Atomic<Int>(0)

    public init(keepAlive: Bool = true, maxResponseBodySize: Int = 64 * 1024 * 1024, maxIdlePerHost: Int = 4) {
        self.keepAlive = keepAlive
        self.maxResponseBodySize = maxResponseBodySize
        self.maxIdlePerHost = maxIdlePerHost
    }

    deinit { closeIdleConnections() }

    /// How many TCP connections this client has opened (reuse keeps it low).
    public var connectionsOpened: Int { opened.load(ordering: .relaxed) }

    /// Closes every pooled idle connection.
    public func closeIdleConnections() {
        let all = idle.withLock { pool in
            defer { pool = [:] }
            return pool.values.flatMap { $0 }
        }
        for fd in all { close(fd) }
    }

    public func get(_ url: String, headers: HTTPHeaders = [:], timeout: TimeInterval = 10) throws(HTTPClientError)
        -> HTTPClientResponse
    {
        try request("GET", url, headers: headers, timeout: timeout)
    }

    public func post(_ url: String, body: Data, headers: HTTPHeaders = [:], timeout: TimeInterval = 10)
        throws(HTTPClientError) -> HTTPClientResponse
    {
        try request("POST", url, headers: headers, body: body, timeout: timeout)
    }

    /// Sends one request and returns the complete response.
    public func request(
        _ method: String, _ url: String, headers: HTTPHeaders = [:], body: Data? = nil,
        timeout: TimeInterval = 10
    ) throws(HTTPClientError) -> HTTPClientResponse {
        try send(method, url, headers: headers, body: body, timeout: timeout, sink: nil)
    }

    /// Sends one request and hands a successful (2xx) response's body to `onBody` piece by
    /// piece as it arrives (a chunked one chunk by chunk), so following a long stream holds
    /// no more than one read in memory. The returned response's body is empty for a 2xx, and
    /// complete (within `maxResponseBodySize`) otherwise, so errors can still be read.
    public func stream(
        _ method: String, _ url: String, headers: HTTPHeaders = [:], body: Data? = nil,
        timeout: TimeInterval = 10, onBody: @escaping (Data) -> Void
    ) throws(HTTPClientError) -> HTTPClientResponse {
        try send(method, url, headers: headers, body: body, timeout: timeout, sink: onBody)
    }

    private func send(
        _ method: String, _ url: String, headers: HTTPHeaders, body: Data?, timeout: TimeInterval,
        sink: ((Data) -> Void)?
    ) throws(HTTPClientError) -> HTTPClientResponse {
        let target = try Self.parse(url)
        let deadline = HTTPSocket.deadline(after: timeout)
        let message = serialize(method: method, target: target, headers: headers, body: body)
        let idempotent = ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"].contains(method)

        for attempt in 0..<2 {
            let (fd, reused) = try connection(to: target, deadline: deadline, allowReuse: attempt == 0)
            let outcome = exchange(fd, message: message, method: method, deadline: deadline, sink: sink)
            switch outcome {
            case .response(let response, let reusable):
                if reusable && keepAlive { release(fd, key: target.key) } else { close(fd) }
                return response
            case .failed(let error, let gotBytes):
                close(fd)
                if reused && !gotBytes && idempotent && error != .timedOut { continue }
                throw error
            }
        }
        throw .connectionClosed
    }

    // MARK: - URL and request

    struct Target {
        var host: String
        var port: UInt16
        var requestTarget: String
        var hostHeader: String
        var key: String { "\(host):\(port)" }
    }

    static func parse(_ url: String) throws(HTTPClientError) -> Target {
        guard let schemeEnd = url.range(of: "://") else { throw .invalidURL(url) }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" else { throw .unsupportedScheme(scheme) }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = String(rest[authorityEnd...])
        if let hash = path.firstIndex(of: "#") { path = String(path[..<hash]) }
        if path.isEmpty || path.hasPrefix("?") { path = "/" + path }
        guard !authority.isEmpty, !authority.contains("@"),
            path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { throw .invalidURL(url) }

        var host = String(authority)
        var port: UInt16 = 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw .invalidURL(url) }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = UInt16(after.dropFirst()) else { throw .invalidURL(url) }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let p = UInt16(authority[authority.index(after: colon)...]) else { throw .invalidURL(url) }
            port = p
        }
        guard !host.isEmpty else { throw .invalidURL(url) }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return Target(
            host: host, port: port, requestTarget: path,
            hostHeader: port == 80 ? hostPart : "\(hostPart):\(port)")
    }

    private func serialize(method: String, target: Target, headers: HTTPHeaders, body: Data?) -> [UInt8] {
        var head = "\(method) \(target.requestTarget) HTTP/1.1\r\n"
        if !headers.contains("Host") { head += "Host: \(target.hostHeader)\r\n" }
        for field in headers where !HTTPHeaders.namesEqual(field.name, "Content-Length") {
            head += "\(field.name): \(field.value)\r\n"
        }
        if let body {
            head += "Content-Length: \(body.count)\r\n"
        } else if ["POST", "PUT", "PATCH"].contains(method) {
            head += "Content-Length: 0\r\n"
        }
        if !keepAlive && !headers.contains("Connection") { head += "Connection: close\r\n" }
        head += "\r\n"
        var bytes = Array(head.utf8)
        if let body { bytes.append(contentsOf: body) }
        return bytes
    }

    // MARK: - Connections

    private func connection(to target: Target, deadline: UInt64, allowReuse: Bool) throws(HTTPClientError)
        -> (fd: Int32, reused: Bool)
    {
        while allowReuse, let fd = idle.withLock({ $0[target.key]?.popLast() }) {
            // A pooled connection with anything readable has been closed (or spoken on)
            // by the server meanwhile: discard it.
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 0) == 0 { return (fd, true) }
            close(fd)
        }
        let addresses: [HTTPSocket.ResolvedAddress]
        do {
            addresses = try HTTPSocket.resolve(host: target.host, port: target.port, passive: false)
        } catch {
            throw .resolveFailed("\(target.host): \(error.message)")
        }
        var lastError: HTTPClientError = .resolveFailed("\(target.host): no address")
        for address in addresses {
            let fd = HTTPSocket.makeStreamSocket(family: address.family)
            if fd < 0 {
                lastError = .connectFailed(errno: errno)
                continue
            }
            var rc = address.withSockaddr { Glibc.connect(fd, $0, $1) }
            if rc != 0 && errno == EINPROGRESS {
                switch HTTPSocket.wait(fd, for: Int32(POLLOUT), deadline: deadline) {
                case .ready:
                    var error: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                    rc = error == 0 ? 0 : -1
                    errno = error
                case .timedOut:
                    close(fd)
                    throw .timedOut
                default:
                    rc = -1
                }
            }
            if rc == 0 {
                HTTPSocket.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
                opened.add(1, ordering: .relaxed)
                return (fd, false)
            }
            lastError = .connectFailed(errno: errno)
            close(fd)
        }
        throw lastError
    }

    private func release(_ fd: Int32, key: String) {
        let kept = idle.withLock { pool -> Bool in
            var list = pool[key] ?? []
            guard list.count < maxIdlePerHost else { return false }
            list.append(fd)
            pool[key] = list
            return true
        }
        if !kept { close(fd) }
    }

    // MARK: - Exchange

    private enum Outcome {
        case response(HTTPClientResponse, reusable: Bool)
        case failed(HTTPClientError, gotBytes: Bool)
    }

    private func exchange(_ fd: Int32, message: [UInt8], method: String, deadline: UInt64,
                          sink: ((Data) -> Void)?) -> Outcome {
        // If sending fails the server may still have answered (e.g. 413 or 503 before
        // reading everything), so read what is there before giving up.
        let sent = HTTPSocket.writeAll(fd, message, deadline: deadline)
        var reader = ResponseReader(fd: fd, deadline: deadline, maxBody: maxResponseBodySize)
        reader.sink = sink
        do {
            let (response, reusable) = try reader.read(headRequest: method == "HEAD")
            return .response(response, reusable: reusable && sent)
        } catch {
            if !sent && HTTPSocket.now() >= deadline { return .failed(.timedOut, gotBytes: reader.gotBytes) }
            return .failed(error, gotBytes: reader.gotBytes)
        }
    }

    /// Reads one response from a socket (lenient about bare LF, strict about framing).
    private struct ResponseReader {
        let fd: Int32
        let deadline: UInt64
        let maxBody: Int
        var buffer: [UInt8] = []
        var start = 0
        var gotBytes = false
        var closed = false
        /// Takes a 2xx body as it arrives instead of it being collected.
        var sink: ((Data) -> Void)?
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)

        init(fd: Int32, deadline: UInt64, maxBody: Int) {
            self.fd = fd
            self.deadline = deadline
            self.maxBody = maxBody
        }

        mutating func read(headRequest: Bool) throws(HTTPClientError) -> (HTTPClientResponse, Bool) {
            defer { scratch.deallocate() }
            while true {
                let (version, status, reason, headers) = try readHead()
                if (100...199).contains(status) && status != 101 { continue }  // interim
                var reusable = version == .http1_1 && !headers.tokens(for: "Connection").contains("close")
                if !(200...299).contains(status) { sink = nil }
                let body: Data
                if headRequest || (100...199).contains(status) || status == 204 || status == 304 {
                    body = Data()
                } else if headers.tokens(for: "Transfer-Encoding").last == "chunked" {
                    body = try readChunked()
                } else if let lengthValue = headers["Content-Length"] {
                    guard let length = Int(lengthValue.trimmingCharacters(in: .whitespaces)), length >= 0 else {
                        throw .malformedResponse("bad Content-Length \(lengthValue)")
                    }
                    guard length <= maxBody else { throw .responseTooLarge }
                    try fill(length)
                    body = Data(buffer[start..<(start + length)])
                    start += length
                } else if let sink {
                    while !closed {
                        try more()
                        if buffer.count > start { sink(Data(buffer[start...])); buffer.removeAll(keepingCapacity: true); start = 0 }
                    }
                    body = Data()
                    reusable = false
                } else {
                    while !closed {
                        try more()
                        if buffer.count - start > maxBody { throw .responseTooLarge }
                    }
                    body = Data(buffer[start...])
                    start = buffer.count
                    reusable = false
                }
                if start != buffer.count { reusable = false }  // unexpected extra bytes
                let response = HTTPClientResponse(
                    status: status, reason: reason, version: version, headers: headers, body: body)
                return (response, reusable && !closed)
            }
        }

        private mutating func more() throws(HTTPClientError) {
            switch HTTPSocket.wait(fd, deadline: deadline) {
            case .ready: break
            case .timedOut: throw .timedOut
            case .woken, .failed: throw .ioError(errno: EBADF)
            }
            switch HTTPSocket.read(fd, into: &buffer, max: scratch.count, scratch: scratch) {
            case .data: gotBytes = true
            case .wouldBlock: break
            case .eof: closed = true
            case .failed(let code):
                if code == ECONNRESET { closed = true } else { throw .ioError(errno: code) }
            }
        }

        private mutating func fill(_ count: Int) throws(HTTPClientError) {
            while buffer.count - start < count {
                if closed { throw .connectionClosed }
                try more()
            }
        }

        private mutating func line(limit: Int) throws(HTTPClientError) -> String {
            while true {
                if let lf = buffer[start...].firstIndex(of: 0x0A) {
                    var end = lf
                    if end > start && buffer[end - 1] == 0x0D { end -= 1 }
                    let text = String(decoding: buffer[start..<end], as: UTF8.self)
                    start = lf + 1
                    return text
                }
                if buffer.count - start > limit { throw .malformedResponse("line too long") }
                if closed { throw .connectionClosed }
                try more()
            }
        }

        private mutating func readHead() throws(HTTPClientError)
            -> (HTTPVersion, Int, String, HTTPHeaders)
        {
            let statusLine = try line(limit: 64 * 1024)
            let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]),
                (100...999).contains(status)
            else { throw .malformedResponse("status line '\(statusLine.prefix(100))'") }
            let version: HTTPVersion = parts[0] == "HTTP/1.0" ? .http1_0 : .http1_1
            let reason = parts.count > 2 ? String(parts[2]) : ""
            var headers = HTTPHeaders()
            var total = 0
            while true {
                let field = try line(limit: 64 * 1024)
                if field.isEmpty { break }
                total += field.utf8.count
                guard total < 1024 * 1024, headers.count < 1000 else { throw .malformedResponse("head too large") }
                guard let colon = field.firstIndex(of: ":") else {
                    throw .malformedResponse("header line '\(field.prefix(100))'")
                }
                headers.add(
                    String(field[..<colon]),
                    field[field.index(after: colon)...].trimmingCharacters(in: CharacterSet(charactersIn: " \t")))
            }
            return (version, status, reason, headers)
        }

        /// Reads a chunk (and its CRLF) into the buffer; a collected body stays within maxBody.
        /// A streamed chunk may be large, so the buffer is compacted first.
        private mutating func fillChunk(_ count: Int, into body: inout Data) throws(HTTPClientError) {
            if sink == nil {
                guard body.count + count - 2 <= maxBody else { throw .responseTooLarge }
            } else {
                guard count - 2 <= maxBody else { throw .responseTooLarge }
                if start > 0 { buffer.removeSubrange(0..<start); start = 0 }
            }
            try fill(count)
        }

        private mutating func readChunked() throws(HTTPClientError) -> Data {
            var body = Data()
            while true {
                let sizeLine = try line(limit: 4096)
                let hex = sizeLine.split(separator: ";", maxSplits: 1).first.map {
                    $0.trimmingCharacters(in: .whitespaces)
                } ?? ""
                guard let size = Int(hex, radix: 16), size >= 0 else {
                    throw .malformedResponse("chunk size '\(sizeLine.prefix(40))'")
                }
                if size == 0 {
                    while try !line(limit: 64 * 1024).isEmpty {}  // trailers
                    return body
                }
                try fillChunk(size + 2, into: &body)
                if let sink {
                    sink(Data(buffer[start..<(start + size)]))
                } else {
                    body.append(contentsOf: buffer[start..<(start + size)])
                }
                start += size
                guard buffer[start] == 0x0D, buffer[start + 1] == 0x0A else {
                    throw .malformedResponse("chunk not followed by CRLF")
                }
                start += 2
            }
        }
    }
}
