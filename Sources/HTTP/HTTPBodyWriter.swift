import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Produces a streamed response body, piece by piece, on the connection's thread
/// (`HTTPResponse.streaming`). It returns when the body is complete; returning early
/// after `write` or `wait` said false is how it stops.
public typealias HTTPBodyProducer = @Sendable (HTTPBodyWriter) -> Void

/// What a streamed body's producer writes to. Each `write` is one chunk
/// (`Transfer-Encoding: chunked`; for an HTTP/1.0 client the bytes as they are, and the
/// connection's close ends the body), sent before `write` returns: a producer holds at
/// most the piece it is writing, and a client that reads slowly slows the producer
/// down (backpressure) instead of making the server buffer. The socket's send buffer is
/// kept small for the same reason (`sendBufferSize`).
///
/// Only the producer's thread uses it. `@unchecked Sendable`: it is handed to exactly
/// one producer, on the thread that created it.
public final class HTTPBodyWriter: @unchecked Sendable {
    /// The kernel send buffer a streaming connection gets: what a stalled client can make
    /// the host hold for it besides the producer's own piece.
    public static let sendBufferSize = 64 * 1024

    private let fd: Int32
    private let wakeFD: Int32
    private let chunked: Bool
    private let writeTimeout: TimeInterval
    private let stopping: () -> Bool
    private var clientSentData = false
    /// A write failed (client gone, or too slow for `writeTimeout`): the body is cut.
    private(set) var failed = false
    /// Bytes of body written so far (framing not included).
    public private(set) var bytesWritten = 0

    init(fd: Int32, wakeFD: Int32, chunked: Bool, writeTimeout: TimeInterval, stopping: @escaping () -> Bool) {
        self.fd = fd
        self.wakeFD = wakeFD
        self.chunked = chunked
        self.writeTimeout = writeTimeout
        self.stopping = stopping
    }

    /// True once the server is shutting down, or a write failed: the producer should end
    /// (what it writes meanwhile is still sent, within the server's shutdown grace).
    public var isCancelled: Bool { failed || stopping() }

    /// Sends `bytes` (nothing for an empty piece: an empty chunk would end the body).
    /// Blocks until the socket took them, at most the server's `writeTimeout`. False when
    /// they could not be sent: the client is gone or does not read; stop producing.
    @discardableResult
    public func write(_ bytes: some Collection<UInt8>) -> Bool {
        if failed { return false }
        if bytes.isEmpty { return true }
        var frame: [UInt8] = []
        frame.reserveCapacity(bytes.count + 16)
        if chunked { frame.append(contentsOf: Array(String(bytes.count, radix: 16).utf8) + [13, 10]) }
        frame.append(contentsOf: bytes)
        if chunked { frame.append(contentsOf: [13, 10]) }
        guard HTTPSocket.writeAll(fd, frame, deadline: HTTPSocket.deadline(after: writeTimeout)) else {
            failed = true
            return false
        }
        bytesWritten += bytes.count
        return true
    }

    @discardableResult
    public func write(_ text: String) -> Bool { write(Array(text.utf8)) }

    /// Waits `seconds` for nothing in particular, as a follower does between looks at its
    /// source. Returns false early when the stream should end: the client closed its side
    /// (or the connection failed), or the server began shutting down; true when the time
    /// passed.
    public func wait(_ seconds: TimeInterval) -> Bool {
        if isCancelled { return false }
        let deadline = HTTPSocket.deadline(after: seconds)
        while true {
            // A client that sent more (a pipelined request) is not watched for EOF any more:
            // its bytes would make every poll return at once.
            var fds = [pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
            fds.append(pollfd(fd: fd, events: clientSentData ? 0 : Int16(POLLIN), revents: 0))
            let now = HTTPSocket.now()
            if now >= deadline { return true }
            let timeout = Int32(clamping: (deadline - now + 999_999) / 1_000_000)
            let rc = poll(&fds, nfds_t(fds.count), timeout)
            if rc < 0 {
                if errno == EINTR { continue }
                failed = true
                return false
            }
            if rc == 0 { continue }
            if fds[0].revents != 0 { return false }
            let r = fds[1].revents
            if r & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 {
                failed = true
                return false
            }
            if r & Int16(POLLIN) != 0 {
                var byte: UInt8 = 0
                let n = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
                if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                    failed = true
                    return false
                }
                if n > 0 { clientSentData = true }
            }
        }
    }

    /// Ends the body: the last chunk (chunked framing). False when it could not be sent.
    func finish() -> Bool {
        if failed { return false }
        guard chunked else { return true }
        return HTTPSocket.writeAll(fd, Array("0\r\n\r\n".utf8), deadline: HTTPSocket.deadline(after: writeTimeout))
    }
}
