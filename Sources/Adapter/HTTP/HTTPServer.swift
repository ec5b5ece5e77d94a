import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum HTTPServerError: Error, Sendable, Equatable, CustomStringConvertible {
    case alreadyStarted
    case addressResolution(String)
    case socket(operation: String, errno: Int32)
    case threadStart

    public var description: String {
        switch self {
        case .alreadyStarted: "HTTP server already started"
        case .addressResolution(let message): "cannot resolve listen address: \(message)"
        case .socket(let operation, let code): "\(operation) failed: \(String(cString: strerror(code)))"
        case .threadStart: "cannot start the accept thread"
        }
    }
}

/// A small HTTP/1.1 server on blocking-style threads.
///
/// Design:
/// - one **accept thread** polls the listening socket (plus a wake pipe for shutdown);
/// - every accepted connection gets its **own thread**, which reads, parses, calls the
///   handler and writes responses in order (keep-alive and pipelining included). Every
///   read and write is a `poll(2)` with a deadline, so a slow or stalled client only ever
///   holds its own thread, and is dropped with 408 when its deadline passes;
/// - above `maxConnections` open connections, the accept thread answers 503 itself and
///   closes, without a thread: the socket is half-closed and kept in the accept thread's
///   poll set for up to `lingerTimeout` so that the client can still read the answer;
/// - `shutdown()` stops accepting (the listener is closed, new connects are refused),
///   closes idle connections at once, lets requests already in progress finish for up to
///   `shutdownGrace` (their responses carry `Connection: close`), then cuts what remains.
///
/// Protocol choices (see `HTTPServerLimits` for every bound and its status code):
/// - request bodies must be framed by `Content-Length`; any `Transfer-Encoding` (chunked
///   included) is answered **501 Not Implemented** and the connection closed;
/// - POST/PUT/PATCH without `Content-Length` → 411; malformed, negative, overflowing or
///   conflicting `Content-Length` → 400; HTTP/1.1 without exactly one `Host` → 400;
///   versions other than 1.0/1.1 → 505; `Expect: 100-continue` is honoured, other
///   expectations get 417;
/// - HTTP/1.1 stays open unless `Connection: close`; HTTP/1.0 closes unless
///   `Connection: keep-alive`; every error response closes the connection;
/// - responses always carry `Content-Length` (except 1xx/204/304) and `Date`; HEAD
///   responses carry the length but no body.
///
/// Handlers run on the connection's thread and may block it; they must be thread-safe.
/// `@unchecked Sendable`: all mutable state is guarded by `lock`.
public final class HTTPServer: @unchecked Sendable {
    public typealias Handler = @Sendable (HTTPRequest) -> HTTPResponse
    public typealias ThrowingHandler = @Sendable (HTTPRequest) throws -> HTTPResponse

    public let host: String
    public let limits: HTTPServerLimits
    let handler: ThrowingHandler
    let log: (@Sendable (String) -> Void)?

    private let lock = NSCondition()
    private var state: State = .idle
    private var requestedPort: UInt16
    private var listenFD: Int32 = -1
    private var wakeRead: Int32 = -1
    private var wakeWrite: Int32 = -1
    private var acceptThreadDone = false
    private var connections: [UInt64: Int32] = [:]  // id → fd, for cutting on shutdown
    private var nextConnectionID: UInt64 = 0
    private var accepted = 0
    private var rejected = 0

    private enum State { case idle, running, stopping, stopped }

    /// - Parameters:
    ///   - host: address to listen on (`127.0.0.1`, `0.0.0.0`, `::1`, ...).
    ///   - port: 0 picks an ephemeral port; read `port` after `start()`.
    ///   - log: receives one line per unexpected event (handler errors, accept failures).
    public convenience init(
        host: String = "127.0.0.1", port: UInt16 = 0, limits: HTTPServerLimits = HTTPServerLimits(),
        log: (@Sendable (String) -> Void)? = nil, handler: @escaping Handler
    ) {
        self.init(host: host, port: port, limits: limits, log: log, throwingHandler: handler)
    }

    /// A handler that may throw: `HTTPError` becomes its status, any other error a 500
    /// (logged, not sent to the client).
    public init(
        host: String = "127.0.0.1", port: UInt16 = 0, limits: HTTPServerLimits = HTTPServerLimits(),
        log: (@Sendable (String) -> Void)? = nil, throwingHandler: @escaping ThrowingHandler
    ) {
        self.host = host
        self.requestedPort = port
        self.limits = limits
        self.log = log
        self.handler = throwingHandler
    }

    /// A server answering with `router`.
    public convenience init(
        host: String = "127.0.0.1", port: UInt16 = 0, limits: HTTPServerLimits = HTTPServerLimits(),
        log: (@Sendable (String) -> Void)? = nil, router: Router
    ) {
        self.init(host: host, port: port, limits: limits, log: log, handler: { router.handle($0) })
    }

    deinit {
        if listenFD >= 0 { close(listenFD) }
        if wakeRead >= 0 { close(wakeRead) }
        if wakeWrite >= 0 { close(wakeWrite) }
    }

    /// The bound port (the ephemeral one when constructed with port 0); 0 before `start()`.
    public var port: UInt16 {
        lock.lock()
        defer { lock.unlock() }
        return state == .idle ? 0 : requestedPort
    }

    /// Connections currently open (served by a thread).
    public var openConnections: Int {
        lock.lock()
        defer { lock.unlock() }
        return connections.count
    }

    /// Connections accepted and served since start (not counting those refused with 503).
    public var acceptedConnections: Int {
        lock.lock()
        defer { lock.unlock() }
        return accepted
    }

    /// Connections refused with 503 because `maxConnections` were open.
    public var rejectedConnections: Int {
        lock.lock()
        defer { lock.unlock() }
        return rejected
    }

    /// Binds, listens and starts the accept thread. Returns the bound port.
    @discardableResult
    public func start() throws(HTTPServerError) -> UInt16 {
        lock.lock()
        defer { lock.unlock() }
        guard state == .idle else { throw .alreadyStarted }

        let addresses: [HTTPSocket.ResolvedAddress]
        do {
            addresses = try HTTPSocket.resolve(host: host, port: requestedPort, passive: true)
        } catch {
            throw .addressResolution("\(host): \(error.message)")
        }
        guard let address = addresses.first else { throw .addressResolution("\(host): no address") }

        let fd = HTTPSocket.makeStreamSocket(family: address.family)
        guard fd >= 0 else { throw .socket(operation: "socket", errno: errno) }
        HTTPSocket.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        var rc = address.withSockaddr { bind(fd, $0, $1) }
        guard rc == 0 else {
            let code = errno
            close(fd)
            throw .socket(operation: "bind \(host):\(requestedPort)", errno: code)
        }
        rc = listen(fd, Int32(clamping: max(1, limits.listenBacklog)))
        guard rc == 0 else {
            let code = errno
            close(fd)
            throw .socket(operation: "listen", errno: code)
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let boundPort: UInt16 =
            storage.ss_family == sa_family_t(AF_INET6)
            ? withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            : withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            }

        var pipeFDs: [Int32] = [-1, -1]
        guard HTTPSocket.pipe2(&pipeFDs, O_CLOEXEC | O_NONBLOCK) == 0 else {
            let code = errno
            close(fd)
            throw .socket(operation: "pipe", errno: code)
        }

        listenFD = fd
        wakeRead = pipeFDs[0]
        wakeWrite = pipeFDs[1]
        requestedPort = boundPort
        state = .running
        guard HTTPSocket.spawnThread({ [self] in acceptLoop() }) else {
            close(fd)
            close(pipeFDs[0])
            close(pipeFDs[1])
            listenFD = -1
            wakeRead = -1
            wakeWrite = -1
            state = .idle
            throw .threadStart
        }
        return boundPort
    }

    /// Stops the server and returns once every connection thread has finished (or, for a
    /// handler that never returns, once `shutdownGrace` plus one second has passed).
    /// New connections are refused from the moment this is called; idle keep-alive
    /// connections are closed at once; requests whose head was already received are
    /// completed and answered with `Connection: close` if they finish within the grace.
    /// Safe to call more than once and from any thread (not from a handler).
    public func shutdown() {
        lock.lock()
        guard state == .running else {
            // Already stopping or stopped (or never started): wait for the first call.
            while state == .stopping { lock.wait() }
            if state == .idle { state = .stopped }
            lock.unlock()
            return
        }
        state = .stopping
        let wake = wakeWrite
        lock.unlock()

        var byte: UInt8 = 1
        _ = write(wake, &byte, 1)  // the pipe stays readable: every poller sees it

        let grace = Date(timeIntervalSinceNow: limits.shutdownGrace)
        lock.lock()
        while !(acceptThreadDone && connections.isEmpty), lock.wait(until: grace) {}
        if !connections.isEmpty {
            log?("http: cutting \(connections.count) connection(s) still open after the shutdown grace")
            for fd in connections.values { Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
            let hardStop = Date(timeIntervalSinceNow: 1)
            while !(acceptThreadDone && connections.isEmpty), lock.wait(until: hardStop) {}
        }
        state = .stopped
        lock.broadcast()
        lock.unlock()
    }

    var isStopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return state != .running
    }

    /// The read end of the wake pipe; readable once shutdown has begun.
    var wakeFD: Int32 {
        lock.lock()
        defer { lock.unlock() }
        return wakeRead
    }

    // MARK: - Accept thread

    private struct Lingering {
        var fd: Int32
        var deadline: UInt64
    }

    private func acceptLoop() {
        lock.lock()
        let listener = listenFD
        let wake = wakeRead
        lock.unlock()

        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 16)
        defer { scratch.deallocate() }
        var lingering: [Lingering] = []
        var stopping = false
        var backoffUntil: UInt64 = 0

        while !stopping {
            var fds = [pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
            let current = HTTPSocket.now()
            if current >= backoffUntil { fds.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0)) }
            for entry in lingering { fds.append(pollfd(fd: entry.fd, events: Int16(POLLIN), revents: 0)) }
            var nearest = lingering.map(\.deadline).min() ?? UInt64.max
            if current < backoffUntil { nearest = min(nearest, backoffUntil) }
            let timeout: Int32 =
                nearest == UInt64.max ? -1 : Int32(clamping: (nearest &- min(nearest, current) + 999_999) / 1_000_000)
            let rc = poll(&fds, nfds_t(fds.count), timeout)
            if rc < 0 && errno != EINTR {
                log?("http: poll on listener failed: \(String(cString: strerror(errno)))")
                break
            }
            if fds[0].revents != 0 { stopping = true; break }

            // Lingering 503s: discard input; close on EOF, error or deadline.
            let after = HTTPSocket.now()
            let lingerBase = fds.count - lingering.count
            var keep: [Lingering] = []
            for (index, entry) in lingering.enumerated() {
                var open = after < entry.deadline
                if open, fds[lingerBase + index].revents != 0 {
                    open = HTTPSocket.drainAvailable(entry.fd, scratch: scratch)
                }
                if open { keep.append(entry) } else { close(entry.fd) }
            }
            lingering = keep

            if fds.count > 1, fds[1].fd == listener, fds[1].revents != 0 {
                if !acceptPending(listener, lingering: &lingering, scratch: scratch) {
                    backoffUntil = HTTPSocket.deadline(after: 0.1)  // out of descriptors: retry shortly
                }
            }
        }

        for entry in lingering { close(entry.fd) }
        lock.lock()
        close(listenFD)
        listenFD = -1
        acceptThreadDone = true
        lock.broadcast()
        lock.unlock()
    }

    /// Accepts every pending connection. Returns false when accept failed for lack of
    /// descriptors or memory (the caller backs off instead of spinning).
    private func acceptPending(_ listener: Int32, lingering: inout [Lingering], scratch: UnsafeMutableRawBufferPointer)
        -> Bool
    {
        while true {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    HTTPSocket.accept4(listener, $0, &length, Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue))
                }
            }
            if fd < 0 {
                switch errno {
                case EAGAIN, EWOULDBLOCK: return true
                case EINTR, ECONNABORTED, EPROTO: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    log?("http: accept: \(String(cString: strerror(errno)))")
                    return false
                default:
                    log?("http: accept: \(String(cString: strerror(errno)))")
                    return true
                }
            }
            HTTPSocket.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            let remote = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { HTTPSocket.describe($0, length) }
            }

            lock.lock()
            let full = connections.count >= limits.maxConnections
            var id: UInt64 = 0
            if full {
                rejected += 1
            } else {
                nextConnectionID += 1
                id = nextConnectionID
                connections[id] = fd
                accepted += 1
            }
            lock.unlock()

            if full {
                reject(fd, lingering: &lingering, scratch: scratch, message: "too many open connections\n")
                continue
            }
            let connection = HTTPConnection(server: self, id: id, fd: fd, remoteAddress: remote)
            if !HTTPSocket.spawnThread({ connection.run() }) {
                lock.lock()
                connections[id] = nil
                accepted -= 1
                rejected += 1
                lock.unlock()
                log?("http: cannot start a connection thread; answering 503")
                reject(fd, lingering: &lingering, scratch: scratch, message: "server busy\n")
            }
        }
    }

    /// Answers 503 on the accept thread without blocking it, then half-closes and lingers.
    private func reject(_ fd: Int32, lingering: inout [Lingering], scratch: UnsafeMutableRawBufferPointer, message: String) {
        var response = HTTPResponse.text(503, message)
        response.headers.add("Retry-After", "1")
        let bytes = response.serialized(headRequest: false, close: true, http10KeepAlive: false)
        // Small enough for an empty socket buffer: a zero deadline only prevents waiting.
        HTTPSocket.writeAll(fd, bytes, deadline: 0)
        Glibc.shutdown(fd, Int32(SHUT_WR))
        if lingering.count >= 1024 {
            close(fd)
        } else if HTTPSocket.drainAvailable(fd, scratch: scratch) {
            lingering.append(Lingering(fd: fd, deadline: HTTPSocket.deadline(after: limits.lingerTimeout)))
        } else {
            close(fd)
        }
    }

    // MARK: - Connection bookkeeping

    /// Called by a connection thread when it is done: forgets and closes the socket.
    /// Closing under the lock guarantees `shutdown()` never touches a reused descriptor.
    func connectionFinished(id: UInt64, fd: Int32) {
        lock.lock()
        connections[id] = nil
        close(fd)
        lock.broadcast()
        lock.unlock()
    }

    /// Runs the handler, mapping thrown errors to responses.
    func respond(to request: HTTPRequest) -> HTTPResponse {
        do {
            return try handler(request)
        } catch let error as HTTPError {
            return error.response
        } catch {
            log?("http: handler for \(request.method) \(request.path) threw: \(error)")
            return .text(500, "internal server error\n")
        }
    }
}
