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
/// - connections are counted, in total and per client address; a new connection past
///   `maxConnections` or `maxConnectionsPerClient` first closes the connection (of that
///   address) that has been idle the longest: answered ones lingering before their close,
///   then idle keep-alive connections, then ones that never sent a byte. Closing an idle
///   connection loses nothing (RFC 9112 §9.6 lets a server do so at any time). Only when
///   none is idle does the accept thread answer 503 itself and close, without a thread:
///   the socket is half-closed and kept in the accept thread's poll set for up to
///   `lingerTimeout` so that the client can still read the answer. Once slots run low
///   (fewer than `maxConnections / 16` free), responses close their connection and every
///   accept closes an idle one, so a slot stays free for new requests;
/// - requests in progress hold memory within one budget for all connections
///   (`requestMemoryBudget`): their body bytes, reserved as they arrive, and a fixed
///   `requestAllowance` each; a request that would pass it gets 503 with `Retry-After`;
/// - a head handler (`Router`'s per-route `head:`) may refuse a request from its head
///   alone, before any of its body is read, or watch the body stream in;
/// - `shutdown()` stops accepting (the listener is closed, new connects are refused),
///   closes idle connections at once, lets requests already in progress finish for up to
///   `shutdownGrace` (their responses carry `Connection: close`), then cuts what remains.
///
/// Protocol choices (see `HTTPServerLimits` for every bound and its status code):
/// - request bodies are framed by `Content-Length` or `Transfer-Encoding: chunked`
///   (decoded within the same limits); both at once → 400 and close (request smuggling);
///   other transfer codings → 501;
/// - POST/PUT/PATCH with neither → 411; malformed, negative, overflowing or
///   conflicting `Content-Length` → 400; HTTP/1.1 without exactly one `Host` → 400;
///   versions other than 1.0/1.1 → 505; `Expect: 100-continue` is honoured, other
///   expectations get 417;
/// - HTTP/1.1 stays open unless `Connection: close`; HTTP/1.0 closes unless
///   `Connection: keep-alive`; every error response closes the connection;
/// - responses always carry `Content-Length` (except 1xx/204/304) and `Date`; HEAD
///   responses carry the length but no body;
/// - a streamed response (`HTTPResponse.streaming`) is sent with `Transfer-Encoding:
///   chunked` as its producer writes it, each piece before the next is produced (a client
///   that stops reading holds the producer, and after `writeTimeout` loses the
///   connection); to an HTTP/1.0 client it is sent unframed and the close ends it. At
///   `shutdown()` its producer is told to end (`HTTPBodyWriter.wait` returns false) and the
///   body is ended cleanly within `shutdownGrace`.
///
/// Handlers run on the connection's thread and may block it; they must be thread-safe.
/// `@unchecked Sendable`: all mutable state is guarded by `lock`.
public final class HTTPServer: @unchecked Sendable {
    public typealias Handler = @Sendable (HTTPRequest) -> HTTPResponse
    public typealias ThrowingHandler = @Sendable (HTTPRequest) throws -> HTTPResponse
    public typealias HeadHandler = @Sendable (HTTPRequest) -> HTTPHeadDecision

    /// What a request in progress holds of `requestMemoryBudget` besides its body, from its
    /// first byte until it is answered: about what its connection costs meanwhile (thread
    /// stack, read buffers, allocator overhead; measured at 30-40 KiB), so that the budget
    /// bounds the process's memory, not only the bodies'.
    public static let requestAllowance = 64 * 1024

    public let host: String
    public let limits: HTTPServerLimits
    let handler: ThrowingHandler
    let headHandler: HeadHandler?
    let log: (@Sendable (String) -> Void)?
    let memoryBudget: RequestMemoryBudget

    private let lock = NSCondition()
    private var state: State = .idle
    private var requestedPort: UInt16
    private var listenFD: Int32 = -1
    private var wakeRead: Int32 = -1
    private var wakeWrite: Int32 = -1
    private var acceptThreadDone = false
    private var connections: [UInt64: Slot] = [:]  // every open connection (evicted ones until their thread ends)
    private var slotsInUse = 0  // connections counted against the limits (not evicted)
    private var perClient: [ClientKey: Int] = [:]
    private var nextConnectionID: UInt64 = 0
    private var accepted = 0
    private var refusedConnectionLimit = 0
    private var refusedClientLimit = 0
    private var idleEvictions = 0
    private var refusedMemoryBudget = 0

    /// One open connection, as the accept thread sees it.
    private struct Slot {
        var fd: Int32
        var client: ClientKey
        /// What it waits for when no request is in progress; nil while one is.
        var idle: Idle?
        /// Since when it is idle.
        var idleSince: UInt64 = 0
        /// Closed by the accept thread to make room; its thread is ending.
        var evicted = false
    }

    /// Why a connection has no request in progress, in the order they are evicted.
    enum Idle: Int, Comparable {
        /// Answered with `Connection: close`, waiting for the client to close first.
        case lingering
        /// Between requests (keep-alive).
        case keptAlive
        /// Silent since its accept.
        case silent
        static func < (a: Idle, b: Idle) -> Bool { a.rawValue < b.rawValue }
    }

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
    /// (logged, not sent to the client). `headHandler`, when given, is asked about every
    /// request once its head is in, before its body is read.
    public init(
        host: String = "127.0.0.1", port: UInt16 = 0, limits: HTTPServerLimits = HTTPServerLimits(),
        log: (@Sendable (String) -> Void)? = nil, headHandler: HeadHandler? = nil,
        throwingHandler: @escaping ThrowingHandler
    ) {
        self.host = host
        self.requestedPort = port
        self.limits = limits
        self.log = log
        self.headHandler = headHandler
        self.handler = throwingHandler
        self.memoryBudget = RequestMemoryBudget(limit: max(limits.requestMemoryBudget, limits.maxBodySize + Self.requestAllowance))
    }

    /// A server answering with `router` (its head handlers included).
    public convenience init(
        host: String = "127.0.0.1", port: UInt16 = 0, limits: HTTPServerLimits = HTTPServerLimits(),
        log: (@Sendable (String) -> Void)? = nil, router: Router
    ) {
        self.init(host: host, port: port, limits: limits, log: log, headHandler: { router.inspectHead($0) },
                  throwingHandler: { router.handle($0) })
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

    /// Connections refused with 503 at accept (`maxConnections` or `maxConnectionsPerClient`
    /// open and none of them idle).
    public var rejectedConnections: Int {
        lock.lock()
        defer { lock.unlock() }
        return refusedConnectionLimit + refusedClientLimit
    }

    /// Connections waiting for a request (evictable); for tests.
    var idleConnections: Int {
        lock.lock()
        defer { lock.unlock() }
        return connections.values.filter { !$0.evicted && $0.idle != nil }.count
    }

    /// Counters and gauges for monitoring.
    public var statistics: HTTPServerStatistics {
        lock.lock()
        defer { lock.unlock() }
        return HTTPServerStatistics(
            openConnections: slotsInUse, acceptedConnections: accepted,
            refusedConnectionLimit: refusedConnectionLimit, refusedClientLimit: refusedClientLimit,
            idleEvictions: idleEvictions, refusedMemoryBudget: refusedMemoryBudget,
            requestMemoryInUse: memoryBudget.inUse, requestMemoryBudget: memoryBudget.limit)
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
            for slot in connections.values { Glibc.shutdown(slot.fd, Int32(SHUT_RDWR)) }
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
            let client = ClientKey(storage)

            lock.lock()
            let admission = admit(client)
            var id: UInt64 = 0
            if admission == nil {
                nextConnectionID += 1
                id = nextConnectionID
                connections[id] = Slot(fd: fd, client: client, idle: .silent, idleSince: HTTPSocket.now())
                slotsInUse += 1
                perClient[client, default: 0] += 1
                accepted += 1
            }
            lock.unlock()

            if let admission {
                reject(fd, lingering: &lingering, scratch: scratch, message: admission)
                continue
            }
            let connection = HTTPConnection(server: self, id: id, fd: fd, remoteAddress: remote)
            if !HTTPSocket.spawnThread({ connection.run() }) {
                lock.lock()
                if let slot = connections.removeValue(forKey: id) { uncount(slot) }
                accepted -= 1
                refusedConnectionLimit += 1
                lock.unlock()
                log?("http: cannot start a connection thread; answering 503")
                reject(fd, lingering: &lingering, scratch: scratch, message: "server busy\n")
            }
        }
    }

    /// Makes room for a new connection from `client`, closing idle connections where the
    /// limits call for it. Returns nil when it may be served, else the 503's message.
    /// Called with `lock` held.
    private func admit(_ client: ClientKey) -> String? {
        if perClient[client, default: 0] >= limits.maxConnectionsPerClient, !evictIdle(from: client) {
            refusedClientLimit += 1
            return "too many open connections from your address\n"
        }
        // Keep `reserve` slots free for new requests: past the mark every accept closes
        // an idle connection, and at the limit one must go for this one to be served.
        let reserve = limits.maxConnections / 16
        if slotsInUse >= limits.maxConnections - reserve, !evictIdle(from: nil), slotsInUse >= limits.maxConnections {
            refusedConnectionLimit += 1
            return "too many open connections\n"
        }
        return nil
    }

    /// Closes the connection idle the longest (of `client`, or of anyone): answered ones
    /// lingering before their close first, then idle keep-alive connections, then those
    /// silent since their accept. Its thread sees EOF and ends; the slot is free at once.
    /// Called with `lock` held.
    private func evictIdle(from client: ClientKey?) -> Bool {
        var chosen: (id: UInt64, idle: Idle, since: UInt64)?
        for (id, slot) in connections where !slot.evicted {
            guard let idle = slot.idle, client == nil || slot.client == client else { continue }
            if let c = chosen, (c.idle, c.since) <= (idle, slot.idleSince) { continue }
            chosen = (id, idle, slot.idleSince)
        }
        guard let id = chosen?.id, var slot = connections[id] else { return false }
        slot.evicted = true
        connections[id] = slot
        uncount(slot)
        idleEvictions += 1
        Glibc.shutdown(slot.fd, Int32(SHUT_RDWR))
        return true
    }

    /// Frees the counted place of `slot`. Called with `lock` held.
    private func uncount(_ slot: Slot) {
        slotsInUse -= 1
        let n = perClient[slot.client, default: 1] - 1
        perClient[slot.client] = n > 0 ? n : nil
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
        if let slot = connections.removeValue(forKey: id), !slot.evicted { uncount(slot) }
        close(fd)
        lock.broadcast()
        lock.unlock()
    }

    /// The connection has no request in progress: it may be evicted from now on.
    func connectionIdle(id: UInt64, _ idle: Idle) {
        lock.lock()
        connections[id]?.idle = idle
        connections[id]?.idleSince = HTTPSocket.now()
        lock.unlock()
    }

    /// A request's first bytes are arriving: no longer evictable. False when the
    /// connection was evicted meanwhile (its thread then ends without reading).
    func connectionBusy(id: UInt64) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let slot = connections[id], !slot.evicted else { return false }
        connections[id]?.idle = nil
        return true
    }

    /// Whether fewer than `maxConnections / 16` slots are free: responses then close their
    /// connection rather than leave it idle.
    var slotsRunningLow: Bool {
        lock.lock()
        defer { lock.unlock() }
        let reserve = limits.maxConnections / 16
        return reserve > 0 && slotsInUse >= limits.maxConnections - reserve
    }

    func countMemoryBudgetRefusal() {
        lock.lock()
        refusedMemoryBudget += 1
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

/// A snapshot of `HTTPServer`'s counters (totals since start) and gauges.
public struct HTTPServerStatistics: Sendable, Equatable {
    /// Connections open now (counted against the limits).
    public var openConnections: Int
    public var acceptedConnections: Int
    /// Refused with 503 at accept: `maxConnections` open, none idle.
    public var refusedConnectionLimit: Int
    /// Refused with 503 at accept: `maxConnectionsPerClient` open from the address, none idle.
    public var refusedClientLimit: Int
    /// Idle connections closed to make room for new ones.
    public var idleEvictions: Int
    /// Requests answered 503 because they did not fit `requestMemoryBudget`.
    public var refusedMemoryBudget: Int
    /// Memory held by requests in progress now (bodies and allowances).
    public var requestMemoryInUse: Int
    public var requestMemoryBudget: Int
}

/// The client a connection is counted against: its IPv4 address, or the /64 of its IPv6
/// address (one host usually holds a whole /64). IPv4-mapped IPv6 counts as IPv4.
struct ClientKey: Hashable, Sendable {
    private var high: UInt64
    private var low: UInt32
    private var v6: Bool

    init(_ storage: sockaddr_storage) {
        var s = storage
        high = 0
        low = 0
        v6 = false
        if s.ss_family == sa_family_t(AF_INET6) {
            var address = withUnsafePointer(to: &s) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
            }
            let bytes = withUnsafeBytes(of: &address) { Array($0) }
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                low = bytes[12..<16].reduce(0) { $0 << 8 | UInt32($1) }
            } else {
                high = bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
                v6 = true
            }
        } else if s.ss_family == sa_family_t(AF_INET) {
            let address = withUnsafePointer(to: &s) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            }
            low = UInt32(bigEndian: address.s_addr)
        }
    }
}
