import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One accepted connection, served start to finish on its own thread.
///
/// Phases of each request and the deadline that bounds them:
/// 1. *idle* (keep-alive, nothing buffered): `idleTimeout` from the previous response;
///    expiry, client EOF or server shutdown close silently.
/// 2. *head*: `headerReadTimeout` from accept (first request) or from the request's first
///    byte; expiry → 408. Shutdown during this phase closes (503 if bytes were received).
/// 3. *body*: `bodyReadTimeout` from the end of the head; expiry → 408.
/// 4. *handler*, then *write*: `writeTimeout`; a client that does not read is dropped.
/// Requests already buffered (pipelined) are answered one by one, in order.
final class HTTPConnection: @unchecked Sendable {  // owned by exactly one thread once started
    private let server: HTTPServer
    private let id: UInt64
    private let fd: Int32
    private let remoteAddress: String
    private let limits: HTTPServerLimits
    private let acceptedAt: UInt64

    private var buffer: [UInt8] = []
    private var start = 0  // first unconsumed byte of `buffer`
    private var wakeFD: Int32 = -1
    private var scratch = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    private static let readChunk = 64 * 1024

    init(server: HTTPServer, id: UInt64, fd: Int32, remoteAddress: String) {
        self.server = server
        self.id = id
        self.fd = fd
        self.remoteAddress = remoteAddress
        self.limits = server.limits
        self.acceptedAt = HTTPSocket.now()
    }

    func run() {
        scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readChunk, alignment: 16)
        wakeFD = server.wakeFD
        serve()
        scratch.deallocate()
        server.connectionFinished(id: id, fd: fd)
    }

    private var unconsumed: Int { buffer.count - start }

    private func serve() {
        var parser = HTTPRequestHeadParser(limits: limits)
        var served = 0
        while true {
            // 1. Idle between requests.
            var headDeadline = acceptedAt &+ nanoseconds(limits.headerReadTimeout)
            if served > 0 {
                if unconsumed == 0 {
                    let idleDeadline = HTTPSocket.deadline(after: limits.idleTimeout)
                    guard HTTPSocket.wait(fd, deadline: idleDeadline, wakeFD: wakeFD) == .ready,
                        case .data = readMore()
                    else { return }
                }
                headDeadline = HTTPSocket.deadline(after: limits.headerReadTimeout)
            }

            // 2. Head.
            var head: HTTPRequestHead?
            while head == nil {
                let result = buffer.withUnsafeBufferPointer {
                    parser.parse(UnsafeBufferPointer(rebasing: $0[start...]))
                }
                switch result {
                case .complete(let parsed, let consumed):
                    head = parsed
                    start += consumed
                    parser.reset()
                case .failed(let error):
                    return fail(error.status, error.message)
                case .needMore:
                    switch HTTPSocket.wait(fd, deadline: headDeadline, wakeFD: wakeFD) {
                    case .ready:
                        guard case .data = readMore() else { return }
                    case .timedOut:
                        return fail(408, "request head not received in time")
                    case .woken:
                        if unconsumed > 0 { fail(503, "server shutting down") }
                        return
                    case .failed:
                        return
                    }
                }
            }
            guard let head else { return }

            // 3. Framing and body.
            let bodyLength: Int
            do {
                bodyLength = try head.validatedBodyLength(limits: limits)
            } catch {
                return fail(error.status, error.message)
            }
            if let expectation = head.headers["Expect"], head.version == .http1_1 {
                guard expectation.lowercased() == "100-continue" else {
                    return fail(417, "unsupported expectation")
                }
                if bodyLength > 0 && unconsumed == 0 {
                    guard HTTPSocket.writeAll(
                        fd, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8),
                        deadline: HTTPSocket.deadline(after: limits.writeTimeout))
                    else { return }
                }
            }
            if unconsumed < bodyLength {
                // No reserveCapacity(bodyLength): a head alone must not make us allocate
                // up to maxBodySize; the buffer grows only as bytes actually arrive.
                let bodyDeadline = HTTPSocket.deadline(after: limits.bodyReadTimeout)
                while unconsumed < bodyLength {
                    switch HTTPSocket.wait(fd, deadline: bodyDeadline) {
                    case .ready:
                        guard case .data = readMore(max: bodyLength - unconsumed) else { return }
                    case .timedOut:
                        return fail(408, "request body not received in time")
                    case .woken, .failed:
                        return
                    }
                }
            }
            let body = bodyLength == 0 ? Data() : Data(buffer[start..<(start + bodyLength)])
            start += bodyLength
            compactBuffer()

            // 4. Handler and response.
            let request = HTTPRequest(
                method: head.method, target: head.target, version: head.version,
                headers: head.headers, body: body, remoteAddress: remoteAddress)
            let response = server.respond(to: request)
            served += 1
            let keepAlive =
                head.wantsKeepAlive
                && !response.headers.tokens(for: "Connection").contains("close")
                && !server.isStopping
            let bytes = response.serialized(
                headRequest: head.method == "HEAD", close: !keepAlive,
                http10KeepAlive: keepAlive && head.version == .http1_0)
            guard HTTPSocket.writeAll(fd, bytes, deadline: HTTPSocket.deadline(after: limits.writeTimeout)) else {
                return
            }
            if !keepAlive { return linger() }
        }
    }

    /// Reads whatever is available (at most `max` bytes) into the buffer.
    private func readMore(max: Int = HTTPConnection.readChunk) -> HTTPSocket.ReadResult {
        while true {
            let result = HTTPSocket.read(fd, into: &buffer, max: max, scratch: scratch)
            if result != .wouldBlock { return result }
            // Spurious readiness: wait briefly again rather than spin.
            if HTTPSocket.wait(fd, deadline: HTTPSocket.deadline(after: 1)) == .failed { return .failed(EBADF) }
        }
    }

    /// Drops consumed bytes once they dominate the buffer; releases a large buffer when empty.
    private func compactBuffer() {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 256 * 1024)
            start = 0
        } else if start >= 64 * 1024 && start * 2 >= buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
    }

    /// Sends an error response with `Connection: close`, then lingers and closes.
    private func fail(_ status: Int, _ message: String) {
        let response = HTTPResponse.text(status, message + "\n")
        let bytes = response.serialized(headRequest: false, close: true, http10KeepAlive: false)
        if HTTPSocket.writeAll(fd, bytes, deadline: HTTPSocket.deadline(after: limits.writeTimeout)) {
            linger()
        }
    }

    /// Half-closes, then discards input until the client closes or `lingerTimeout` passes,
    /// so that unread request bytes do not make the kernel reset the connection (which can
    /// destroy the response before the client reads it). Cut short by server shutdown.
    private func linger() {
        Glibc.shutdown(fd, Int32(SHUT_WR))
        let deadline = HTTPSocket.deadline(after: limits.lingerTimeout)
        while true {
            switch HTTPSocket.wait(fd, deadline: deadline, wakeFD: wakeFD) {
            case .ready:
                if !HTTPSocket.drainAvailable(fd, scratch: scratch) { return }
            case .woken:
                _ = HTTPSocket.drainAvailable(fd, scratch: scratch)
                return
            case .timedOut, .failed:
                return
            }
        }
    }

    private func nanoseconds(_ seconds: TimeInterval) -> UInt64 {
        UInt64(max(0, min(seconds, 1e9)) * 1e9)
    }
}
