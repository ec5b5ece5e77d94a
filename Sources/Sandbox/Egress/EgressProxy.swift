import Foundation
import Synchronization
import CSandbox

/// The supervisor side of a `proxy`-mode sandbox: an HTTP proxy on a unix socket
/// that only that sandbox can reach (bind-mounted in, relayed to 127.0.0.1:3128
/// inside). It serves `CONNECT host:port` tunnels and absolute-URI plain-HTTP
/// requests, applies the `EgressPolicy` (host, port, then every resolved address),
/// connects to the address it checked, answers refusals with a 403 that names the
/// rule, and records every decision in its `EgressLog`.
///
/// One proxy per sandbox: one loop thread with non-blocking sockets and poll, name
/// lookups on a background queue, bounded by the policy's connection limit,
/// timeouts and byte cap, so one sandbox's traffic or misbehaviour cannot starve
/// another's.
public final class EgressProxy: @unchecked Sendable {
    /// Bytes buffered per direction of a tunnel.
    public static let tunnelBufferSize = EgressConnection.bufferSize

    public let socketPath: String
    public let policy: CompiledEgressPolicy
    public let log: EgressLog

    private let listenFD: Int32
    private let wakeRead: Int32
    /// The wake pipe's write end; nil once closed (resolver callbacks may come late).
    private let wakeWrite: Mutex<Int32?>
    private let peerUID: uid_t?
    private let localAddresses: Set<IPAddress>
    private let stopping = Atomic<Bool>(false)
    private let stopped = DispatchSemaphore(value: 0)
    private let resolutions = Mutex<[(Int, Result<[IPAddress], EgressResolveError>)]>([])
    private let clock = ContinuousClock()

    // Loop-thread state.
    private var connections: [EgressConnection] = []
    private var nextID = 0
    private var bytesMoved: UInt64 = 0
    private var capReached = false

    /// Starts a proxy listening on `socketPath` (replaced if it exists).
    /// - Parameters:
    ///   - socketOwner: chown the socket to this uid/gid (root mode: the sandbox's host identity); it is 0600.
    ///   - peerUID: refuse clients whose SO_PEERCRED uid differs (403).
    public init(policy: EgressPolicy, socketPath: String, socketOwner: (uid: uid_t, gid: gid_t)? = nil,
                peerUID: uid_t? = nil) throws {
        self.policy = try policy.compiled()
        self.socketPath = socketPath
        self.log = EgressLog(policy: policy)
        self.peerUID = peerUID
        self.localAddresses = AddressClassifier.hostAddresses()

        // Paths past sun_path's 108 bytes (deep state directories) are bound through
        // the directory's descriptor: /proc/self/fd/N/name.
        let dirPath = (socketPath as NSString).deletingLastPathComponent
        let name = (socketPath as NSString).lastPathComponent
        var dirFD: Int32 = -1
        var bindPath = socketPath
        if socketPath.utf8.count >= 100 {
            dirFD = open(dirPath.isEmpty ? "." : dirPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard dirFD >= 0 else { throw EgressProxyError("open \(dirPath): \(String(cString: strerror(errno)))") }
            bindPath = "/proc/self/fd/\(dirFD)/\(name)"
        }
        defer { if dirFD >= 0 { Glibc.close(dirFD) } }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(bindPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            throw EgressProxyError("socket path too long (\(bytes.count) bytes): \(socketPath)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        unlink(socketPath)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw EgressProxyError("socket: \(String(cString: strerror(errno)))") }
        let bound = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
        }
        guard bound, listen(fd, 128) == 0 else {
            let e = errno
            Glibc.close(fd)
            throw EgressProxyError("bind \(socketPath): \(String(cString: strerror(e)))")
        }
        if let o = socketOwner, chown(socketPath, o.uid, o.gid) != 0 {
            let e = errno
            Glibc.close(fd); unlink(socketPath)
            throw EgressProxyError("chown \(socketPath): \(String(cString: strerror(e)))")
        }
        chmod(socketPath, 0o600)
        listenFD = fd

        var w: [Int32] = [-1, -1]
        guard cs_pipe(&w, 1) == 0 else {
            let e = errno
            Glibc.close(fd); unlink(socketPath)
            throw EgressProxyError("pipe: \(String(cString: strerror(e)))")
        }
        wakeRead = w[0]
        wakeWrite = Mutex(w[1])

        EgressMetrics.proxyStarted()
        let box = UnsafeProxyBox(self)
        let t = Thread { box.proxy?.run(); box.proxy = nil }
        t.name = "egress-proxy"
        t.start()
    }

    /// Stops the proxy: closes every connection (open tunnels end with "sandbox
    /// ended"), removes the socket, and returns once the log is final. Idempotent.
    public func close() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake()
        stopped.wait()
        wakeWrite.withLock { fd in
            if let w = fd { Glibc.close(w) }
            fd = nil
        }
        Glibc.close(wakeRead)
        unlink(socketPath)
        EgressMetrics.proxyStopped()
    }

    /// Every decision so far (final once `close` returned).
    public func report() -> EgressReport { log.report() }

    /// This proxy's counters (live).
    public var counters: EgressCounters { log.counters }

    private func wake() {
        wakeWrite.withLock { fd in
            guard let w = fd else { return }
            var b: UInt8 = 1
            _ = write(w, &b, 1)
        }
    }

    // MARK: - Loop

    private func run() {
        var fds: [pollfd] = []
        while !stopping.load(ordering: .acquiring) {
            fds.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0))
            fds.append(pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0))
            for c in connections {
                let (ci, ui) = c.interest
                fds.append(pollfd(fd: ci != 0 ? c.client : -1, events: ci, revents: 0))
                fds.append(pollfd(fd: ui != 0 ? c.upstream : -1, events: ui, revents: 0))
            }
            var timeout: Int32 = -1
            let now = clock.now
            for c in connections {
                if let d = c.deadline { timeout = Self.minTimeout(timeout, Self.ms(until: d, from: now)) }
            }
            let n = poll(&fds, nfds_t(fds.count), timeout)
            if n < 0 && errno != EINTR { break }
            if fds[0].revents != 0 {
                var sink = [UInt8](repeating: 0, count: 64)
                while read(wakeRead, &sink, sink.count) > 0 {}
            }
            if stopping.load(ordering: .acquiring) { break }
            let count = connections.count
            for i in 0..<count {
                let c = connections[i]
                let cr = fds[2 + 2 * i].revents, ur = fds[3 + 2 * i].revents
                if (cr != 0 || ur != 0) && c.state != .done { step(c, clientEvents: cr, upstreamEvents: ur) }
            }
            for (id, result) in resolutions.withLock({ r -> [(Int, Result<[IPAddress], EgressResolveError>)] in defer { r.removeAll() }; return r }) {
                if let c = connections.first(where: { $0.id == id }), c.state == .resolving { resolved(c, result) }
            }
            if fds[1].revents != 0 { acceptClients() }
            let later = clock.now
            for c in connections where c.state != .done {
                if let d = c.deadline, d <= later { expired(c) }
            }
            connections.removeAll { $0.state == .done }
        }
        for c in connections where c.state != .done {
            if c.record.outcome == .invalid && c.record.rule.isEmpty { c.record.rule = "sandbox ended before a complete request" }
            finish(c, reason: c.tunnelOpen ? "sandbox ended" : nil, end: .normal)
        }
        connections.removeAll()
        Glibc.close(listenFD)
        stopped.signal()
    }

    // MARK: - Accept

    private func acceptClients() {
        for _ in 0..<64 {
            let fd = cs_accept(listenFD)
            if fd < 0 { return }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            if let expected = peerUID {
                var uid: uid_t = 0
                if cs_peer_cred(fd, &uid, nil) != 0 || uid != expected {
                    refuseAtOnce(fd, status: 403, rule: "peer uid \(uid) is not the sandbox's", denial: .peer)
                    continue
                }
            }
            // Past the limit nothing is kept: a flood of connections costs this daemon no descriptors.
            if connections.count(where: { $0.state != .done }) >= policy.policy.maxConnections {
                refuseAtOnce(fd, status: 503, rule: "more than \(policy.policy.maxConnections) concurrent connections",
                             denial: .connectionLimit)
                continue
            }
            let c = EgressConnection(id: nextID, client: fd, now: clock.now)
            nextID += 1
            connections.append(c)
            c.deadline = c.accepted + .milliseconds(Int64(policy.policy.headerTimeout * 1000))
        }
    }

    /// Answers and closes a connection without reading from it or keeping anything.
    private func refuseAtOnce(_ fd: Int32, status: Int, rule: String, denial: EgressDenial) {
        let bytes = EgressResponse.error(status: status, message: "coven egress: request denied: \(rule)")
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
        shutdown(fd, Int32(SHUT_WR))
        Glibc.close(fd)
        log.add(EgressRecord(started: Date(), method: "", host: "", port: 0, address: nil, outcome: .denied, rule: rule,
                             status: status, bytesUp: 0, bytesDown: 0, durationMs: 0, closeReason: nil), denial: denial)
    }

    // MARK: - Per-connection steps

    private func step(_ c: EgressConnection, clientEvents cr: Int16, upstreamEvents ur: Int16) {
        let readable = Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)
        switch c.state {
        case .head:
            if cr & readable != 0 { readHead(c) }
        case .connecting:
            if ur != 0 { connectFinished(c) }
        case .tunnel:
            pump(c, clientEvents: cr, upstreamEvents: ur)
        case .answering:
            flushAnswer(c)
        case .draining:
            drain(c)
        case .resolving, .done:
            break
        }
    }

    private func readHead(_ c: EgressConnection) {
        let room = EgressRequest.maxHeadBytes - c.up.len
        let r = recv(c.client, c.up.storage + c.up.len, room, 0)
        if r < 0 {
            if errno == EAGAIN || errno == EINTR { return }
            c.record.rule = "client error before a complete request: \(String(cString: strerror(errno)))"
            finish(c, reason: nil, end: .normal)
            return
        }
        if r == 0 {
            c.record.rule = c.up.len == 0 ? "client closed without a request" : "client closed before a complete request head"
            finish(c, reason: nil, end: .normal)
            return
        }
        let searchFrom = max(0, c.up.len - 3)
        c.up.len += r
        let end = EgressRequest.headEnd(in: UnsafeRawBufferPointer(start: c.up.storage + searchFrom, count: c.up.len - searchFrom))
            .map { $0 + searchFrom }
        guard let end else {
            if c.up.len >= EgressRequest.maxHeadBytes {
                answer(c, status: 431, outcome: .invalid, rule: "request head larger than \(EgressRequest.maxHeadBytes) bytes")
            }
            return
        }
        let head = Array(UnsafeRawBufferPointer(start: c.up.storage, count: end))
        c.up.off = end       // what follows the head is the client's first payload
        do {
            let req = try EgressRequest.parse(head)
            c.request = req
            c.record.method = req.method
            c.record.host = req.host
            c.record.port = req.port
            decide(c, req)
        } catch {
            c.record.method = Self.methodToken(head)
            answer(c, status: 400, outcome: .invalid, rule: "malformed request: \(error.description)")
        }
    }

    private func decide(_ c: EgressConnection, _ req: EgressRequest) {
        if capReached {
            answer(c, status: 403, outcome: .denied, rule: "egress byte cap of \(policy.policy.maxBytes ?? 0) bytes reached", denial: .byteCap)
            return
        }
        switch policy.check(host: req.host, port: req.port) {
        case .failure(let refusal):
            answer(c, status: 403, outcome: .denied, rule: refusal.message, denial: refusal.kind == .port ? .port : .host)
            return
        case .success(let pattern):
            c.record.rule = "allow_hosts \(pattern)"
        }
        c.deadline = clock.now + .milliseconds(Int64(policy.policy.connectTimeout * 1000))
        if let ips = EgressResolver.immediate(req.host, policy: policy) {
            addressesKnown(c, ips, literal: IPAddress(req.host) != nil)
            return
        }
        c.state = .resolving
        let id = c.id, host = req.host
        EgressResolver.queue.async { [weak self] in
            let result = EgressResolver.lookup(host)
            guard let self else { return }
            self.resolutions.withLock { $0.append((id, result)) }
            self.wake()
        }
    }

    private func resolved(_ c: EgressConnection, _ result: Result<[IPAddress], EgressResolveError>) {
        switch result {
        case .success(let ips): addressesKnown(c, ips, literal: false)
        case .failure(let e): answer(c, status: 502, outcome: .failed, rule: "cannot resolve \(c.record.host): \(e.message)")
        }
    }

    private func addressesKnown(_ c: EgressConnection, _ ips: [IPAddress], literal: Bool) {
        switch policy.permitted(ips, literal: literal, localAddresses: localAddresses) {
        case .failure(let refusal):
            c.record.address = refusal.address?.description
            answer(c, status: 403, outcome: .denied, rule: refusal.message, denial: .address)
        case .success(let list):
            c.candidates = list.prefix(4).map(\.0)
            c.candidateIndex = 0
            connectNext(c)
        }
    }

    /// Starts a non-blocking connect to the next candidate address.
    private func connectNext(_ c: EgressConnection) {
        c.closeUpstream()
        while c.candidateIndex < c.candidates.count {
            let ip = c.candidates[c.candidateIndex]
            c.candidateIndex += 1
            c.connectingTo = ip
            let fd = Self.startConnect(ip, port: c.record.port)
            if fd.fd < 0 {
                c.lastConnectError = String(cString: strerror(fd.err))
                continue
            }
            c.upstream = fd.fd
            if fd.connected { established(c) } else { c.state = .connecting }
            return
        }
        let target = c.connectingTo.map { $0.description(port: c.record.port) } ?? "\(c.record.host):\(c.record.port)"
        c.record.address = c.connectingTo?.description
        answer(c, status: 502, outcome: .failed, rule: "connect to \(target) failed: \(c.lastConnectError)")
    }

    private static func startConnect(_ ip: IPAddress, port: Int) -> (fd: Int32, connected: Bool, err: Int32) {
        var storage = sockaddr_storage()
        let len: socklen_t
        let family: Int32
        switch ip {
        case .v4(let v):
            family = AF_INET
            len = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    sin.pointee.sin_family = sa_family_t(AF_INET)
                    sin.pointee.sin_port = in_port_t(UInt16(port).bigEndian)
                    sin.pointee.sin_addr.s_addr = v.bigEndian
                }
            }
        case .v6(let b):
            family = AF_INET6
            len = socklen_t(MemoryLayout<sockaddr_in6>.size)
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin in
                    sin.pointee.sin6_family = sa_family_t(AF_INET6)
                    sin.pointee.sin6_port = in_port_t(UInt16(port).bigEndian)
                    withUnsafeMutableBytes(of: &sin.pointee.sin6_addr) { raw in for i in 0..<16 { raw[i] = b[i] } }
                }
            }
        }
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return (-1, false, errno) }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let r = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, len) } }
        if r == 0 { return (fd, true, 0) }
        if errno == EINPROGRESS { return (fd, false, 0) }
        let e = errno
        Glibc.close(fd)
        return (-1, false, e)
    }

    private func connectFinished(_ c: EgressConnection) {
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(c.upstream, SOL_SOCKET, SO_ERROR, &err, &len) != 0 { err = errno }
        if err == 0 {
            established(c)
        } else {
            c.lastConnectError = String(cString: strerror(err))
            connectNext(c)
        }
    }

    private func established(_ c: EgressConnection) {
        guard let req = c.request else { return }
        c.state = .tunnel
        c.tunnelOpen = true
        c.record.outcome = .allowed
        c.record.address = c.connectingTo?.description
        if let ip = c.connectingTo, let range = policy.privateException(for: ip) { c.record.rule += ", allow_private \(range)" }
        let down = RelayBuffer(capacity: EgressConnection.bufferSize)
        c.down = down
        let leftover = c.up.unwritten
        switch req.mode {
        case .connect:
            c.record.status = 200
            down.load(EgressResponse.established)
            c.up.load(leftover)
        case .forward:
            c.up.load(req.upstreamHead + leftover)
        }
        log.tunnelOpened()
        touch(c)
        pump(c, clientEvents: 0, upstreamEvents: 0)
    }

    private func touch(_ c: EgressConnection) {
        c.deadline = policy.policy.idleTimeout.map { clock.now + .milliseconds(Int64($0 * 1000)) }
    }

    // MARK: - Tunnel

    /// Moves bytes both ways as far as the sockets allow without blocking.
    private func pump(_ c: EgressConnection, clientEvents cr: Int16, upstreamEvents ur: Int16) {
        guard let down = c.down else { return }
        let readable = Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)
        var moved = false
        // Client -> buffer.
        if cr & readable != 0 && !c.up.eof && c.up.pending == 0 {
            let r = recv(c.client, c.up.storage, c.up.capacity, 0)
            if r > 0 { c.up.off = 0; c.up.len = r; moved = true }
            else if r == 0 { c.up.eof = true }
            else if errno != EAGAIN && errno != EINTR { return endTunnel(c, "client: \(String(cString: strerror(errno)))") }
        }
        // Destination -> buffer (never past the byte cap).
        if ur & readable != 0 && !down.eof && down.pending == 0 {
            let room = allowance(down.capacity)
            if room == 0 { return byteCapReached() }
            let r = recv(c.upstream, down.storage, room, 0)
            if r > 0 {
                down.off = 0; down.len = r; moved = true
                c.record.bytesDown += UInt64(r)
                account(up: 0, down: UInt64(r))
            } else if r == 0 {
                down.eof = true
            } else if errno != EAGAIN && errno != EINTR {
                return endTunnel(c, "destination: \(String(cString: strerror(errno)))")
            }
        }
        // Buffer -> destination (never past the byte cap).
        while c.up.pending > 0 {
            let room = allowance(c.up.pending)
            if room == 0 { return byteCapReached() }
            let w = send(c.upstream, c.up.storage + c.up.off, room, Int32(MSG_NOSIGNAL))
            if w > 0 {
                c.up.off += w; moved = true
                c.record.bytesUp += UInt64(w)
                account(up: UInt64(w), down: 0)
                continue
            }
            if w < 0 && errno == EINTR { continue }
            if w < 0 && errno == EAGAIN { break }
            return endTunnel(c, "destination: \(String(cString: strerror(errno)))")
        }
        // Buffer -> client.
        while down.pending > 0 {
            let w = send(c.client, down.storage + down.off, down.pending, Int32(MSG_NOSIGNAL))
            if w > 0 { down.off += w; moved = true; continue }
            if w < 0 && errno == EINTR { continue }
            if w < 0 && errno == EAGAIN { break }
            return endTunnel(c, "client: \(String(cString: strerror(errno)))")
        }
        if c.up.pending == 0 { c.up.off = 0; c.up.len = 0 }
        if down.pending == 0 { down.off = 0; down.len = 0 }
        // The client half-closed: pass it on and keep reading the answer.
        if c.up.eof && c.up.pending == 0 && !c.up.shut {
            shutdown(c.upstream, Int32(SHUT_WR))
            c.up.shut = true
        }
        // The destination is done: once the client has everything, the connection is over.
        if down.eof && down.pending == 0 { return endTunnel(c, "closed") }
        if moved { touch(c) }
    }

    /// How many of `want` bytes may still move under the byte cap.
    private func allowance(_ want: Int) -> Int {
        guard let cap = policy.policy.maxBytes else { return want }
        return bytesMoved >= cap ? 0 : Int(min(UInt64(want), cap - bytesMoved))
    }

    private func account(up: UInt64, down: UInt64) {
        bytesMoved += up + down
        log.addBytes(up: up, down: down)
    }

    private func byteCapReached() {
        capReached = true
        log.markByteCapReached()
        let reason = "byte cap reached (\(policy.policy.maxBytes ?? 0) bytes)"
        for c in connections where c.state == .tunnel { finish(c, reason: reason, end: .byteCap) }
    }

    private func endTunnel(_ c: EgressConnection, _ reason: String) {
        finish(c, reason: reason, end: .normal)
    }

    // MARK: - Answers and the end of a connection

    /// Queues the proxy's own answer; the connection closes once it is written.
    private func answer(_ c: EgressConnection, status: Int, outcome: EgressRecord.Outcome, rule: String, denial: EgressDenial? = nil) {
        c.closeUpstream()
        c.record.outcome = outcome
        c.record.rule = rule
        c.record.status = status
        c.denial = denial
        let target = c.record.host.isEmpty ? "request" : "\(c.record.host):\(c.record.port)"
        let verb = outcome == .denied ? "denied" : outcome == .invalid ? "refused" : "failed"
        let down = RelayBuffer(capacity: 1024)
        var bytes = EgressResponse.error(status: status, message: "coven egress: \(target) \(verb): \(rule)")
        if bytes.count > down.capacity { bytes = Array(bytes.prefix(down.capacity)) }
        down.load(bytes)
        c.down = down
        c.state = .answering
        c.deadline = clock.now + .seconds(5)
        flushAnswer(c)
    }

    private func flushAnswer(_ c: EgressConnection) {
        guard let down = c.down else { return finish(c, reason: nil, end: .normal) }
        while down.pending > 0 {
            let w = send(c.client, down.storage + down.off, down.pending, Int32(MSG_NOSIGNAL))
            if w > 0 { down.off += w; continue }
            if w < 0 && errno == EINTR { continue }
            if w < 0 && errno == EAGAIN { return }
            return finish(c, reason: nil, end: .normal)
        }
        // Written: half-close and read what the client still sends, so closing does not reset the answer away.
        shutdown(c.client, Int32(SHUT_WR))
        c.state = .draining
        c.deadline = clock.now + .seconds(2)
    }

    private func drain(_ c: EgressConnection) {
        let r = recv(c.client, c.up.storage, c.up.capacity, 0)
        if r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR)) { return }
        finish(c, reason: nil, end: .normal)
    }

    private func expired(_ c: EgressConnection) {
        switch c.state {
        case .head:
            answer(c, status: 408, outcome: .invalid,
                   rule: "no complete request head within \(Self.seconds(policy.policy.headerTimeout))")
        case .resolving, .connecting:
            if let ip = c.connectingTo { c.record.address = ip.description }
            answer(c, status: 504, outcome: .failed,
                   rule: "\(c.state == .resolving ? "resolving" : "connecting to") \(c.record.host) timed out after \(Self.seconds(policy.policy.connectTimeout))")
        case .tunnel:
            finish(c, reason: "idle timeout", end: .idle)
        case .answering, .draining:
            finish(c, reason: nil, end: .normal)
        case .done:
            break
        }
    }

    /// Closes both sides and records the connection (exactly once).
    private func finish(_ c: EgressConnection, reason: String?, end: EgressLog.TunnelEnd) {
        guard c.state != .done else { return }
        c.state = .done
        c.deadline = nil
        c.closeUpstream()
        Glibc.close(c.client)
        if c.tunnelOpen {
            c.tunnelOpen = false
            log.tunnelClosed(reason: end)
            c.record.closeReason = reason
        }
        c.record.durationMs = ((clock.now - c.accepted).seconds * 1000 * 1000).rounded() / 1000
        log.add(c.record, denial: c.denial)
    }

    /// The request's first word when it looks like a method (for the log of a malformed request).
    static func methodToken(_ head: [UInt8]) -> String {
        let word = head.prefix { $0 != 32 && $0 != 13 && $0 != 10 }.prefix(16)
        return word.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) }) ? String(decoding: word, as: UTF8.self) : ""
    }

    static func seconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s))s" : String(format: "%.1fs", s)
    }

    static func ms(until t: ContinuousClock.Instant, from now: ContinuousClock.Instant) -> Int32 {
        let d = t - now
        if d <= .zero { return 0 }
        return Int32(min(d.seconds * 1000 + 1, 86_400_000))
    }

    static func minTimeout(_ a: Int32, _ b: Int32) -> Int32 { a < 0 ? b : min(a, b) }
}

public struct EgressProxyError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ d: String) { description = d }
}

/// Hands the proxy to its loop thread before `init` has returned.
private final class UnsafeProxyBox: @unchecked Sendable {
    var proxy: EgressProxy?
    init(_ p: EgressProxy) { proxy = p }
}
