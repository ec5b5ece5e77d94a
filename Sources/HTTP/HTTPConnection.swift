import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One accepted connection, served start to finish on its own thread.
///
/// Phases of each request and the deadline that bounds them:
/// 1. *idle* (nothing buffered): before the first request, `headerReadTimeout` from accept
///    (expiry → 408); between requests, `idleTimeout` from the previous response (expiry,
///    client EOF or server shutdown close silently). An idle connection, and one lingering
///    after its last answer, may be evicted by the accept thread to make room (it then
///    ends without reading).
/// 2. *head*: `headerReadTimeout` from accept (first request) or from the request's first
///    byte; expiry → 408. Shutdown during this phase closes (503 if bytes were received).
///    Then the head handler may answer at once, before any of the body is read.
/// 3. *body*: `bodyReadTimeout` from the end of the head; expiry → 408. Its bytes are
///    reserved from the server's memory budget as they arrive (503 when it is spent), as
///    is a fixed allowance for the whole request from its first byte.
/// 4. *handler*, then *write*: `writeTimeout`; a client that does not read is dropped.
///    The body is freed, and its reservation returned, before the response is written.
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

    /// Head and chunked-body reads go through `scratch`, this much at a time.
    private static let readChunk = 16 * 1024
    /// `Content-Length` bodies are received straight into their storage, this much at a time.
    private static let bodyChunk = 64 * 1024

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
            // 1. Idle: nothing buffered (pipelined bytes make the connection busy at once).
            var headDeadline = acceptedAt &+ nanoseconds(limits.headerReadTimeout)
            if unconsumed == 0 {
                server.connectionIdle(id: id, served > 0 ? .keptAlive : .silent)
                let idleDeadline = served > 0 ? HTTPSocket.deadline(after: limits.idleTimeout) : headDeadline
                switch HTTPSocket.wait(fd, deadline: idleDeadline, wakeFD: wakeFD) {
                case .ready:
                    guard server.connectionBusy(id: id), case .data = readMore() else { return }
                case .timedOut:
                    return served > 0 ? () : fail(408, "request head not received in time")
                case .woken, .failed:
                    return
                }
            }
            if served > 0 { headDeadline = HTTPSocket.deadline(after: limits.headerReadTimeout) }
            // In progress from its first byte until answered (or failed, lingering included):
            // the request holds its connection's share of the memory budget.
            guard server.memoryBudget.reserve(exactly: HTTPServer.requestAllowance) else {
                server.countMemoryBudgetRefusal()
                return fail(503, Self.budgetMessage)
            }
            defer { server.memoryBudget.release(HTTPServer.requestAllowance) }

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

            // 3. Framing, expectations, the head handler.
            let framing: BodyFraming
            do {
                framing = try head.validatedFraming(limits: limits)
            } catch {
                return fail(error.status, error.message)
            }
            let bodyPending = framing != .length(0)
            let expectsContinue: Bool
            if let expectation = head.headers["Expect"], head.version == .http1_1 {
                guard expectation.lowercased() == "100-continue" else {
                    return fail(417, "unsupported expectation")
                }
                expectsContinue = true
            } else {
                expectsContinue = false
            }
            var observer: (any HTTPBodyObserver)?
            if let inspect = server.headHandler {
                let preview = HTTPRequest(
                    method: head.method, target: head.target, version: head.version,
                    headers: head.headers, remoteAddress: remoteAddress)
                switch inspect(preview) {
                case .proceed:
                    break
                case .observe(let o):
                    observer = o
                case .respond(let response):
                    // The body was not read, so the connection cannot be reused.
                    served += 1
                    guard send(response, for: head, mustClose: bodyPending) else { return }
                    continue
                }
            }
            if case .length(let length) = framing, length > 0, !server.memoryBudget.fits(length) {
                // Would not fit now: say so before the client sends it.
                server.countMemoryBudgetRefusal()
                return fail(503, Self.budgetMessage)
            }
            if expectsContinue, bodyPending, unconsumed == 0 {
                guard HTTPSocket.writeAll(
                    fd, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8),
                    deadline: HTTPSocket.deadline(after: limits.writeTimeout))
                else { return }
            }

            // 4. Body, handler and response. Everything holding the body lives in this
            // block, so it is freed (and its reservation returned) before the write, which
            // may wait `writeTimeout` for a client that does not read.
            let response: HTTPResponse
            do {
                var reserved = 0
                let outcome: BodyOutcome
                switch framing {
                case .length(0): outcome = .body(Data())
                case .length(let length): outcome = readBody(length: length, observer: observer, reserved: &reserved)
                case .chunked: outcome = readChunkedBody(observer: observer, reserved: &reserved)
                }
                defer { server.memoryBudget.release(reserved) }
                switch outcome {
                case .body(let body):
                    compactBuffer()
                    response = server.respond(to: HTTPRequest(
                        method: head.method, target: head.target, version: head.version,
                        headers: head.headers, body: body, remoteAddress: remoteAddress, bodyObserver: observer))
                case .failed(let status, let message):
                    server.memoryBudget.release(reserved)
                    reserved = 0
                    return fail(status, message)
                case .closed:
                    return
                }
            }
            served += 1
            guard send(response, for: head, mustClose: false) else { return }
        }
    }

    private enum BodyOutcome {
        case body(Data)
        case failed(Int, String)
        case closed
    }

    private static let budgetMessage = "server busy: requests in progress hold its whole memory budget; retry later"

    /// A `Content-Length` body: what came with the head, then straight from the socket,
    /// each piece reserved from the budget before it is read.
    private func readBody(length: Int, observer: (any HTTPBodyObserver)?, reserved: inout Int) -> BodyOutcome {
        guard let storage = BodyStorage(capacity: length) else {
            return .failed(503, "server busy: cannot allocate the request body")
        }
        let early = min(unconsumed, length)
        if early > 0 {
            guard server.memoryBudget.reserve(exactly: early) else {
                server.countMemoryBudgetRefusal()
                return .failed(503, Self.budgetMessage)
            }
            reserved += early
            buffer.withUnsafeBytes { storage.append(UnsafeRawBufferPointer(rebasing: $0[start..<(start + early)])) }
            observer?.consume(storage.bytes(from: 0))
            start += early
            compactBuffer()
        }
        let deadline = HTTPSocket.deadline(after: limits.bodyReadTimeout)
        while storage.count < length {
            switch HTTPSocket.wait(fd, deadline: deadline) {
            case .ready:
                let granted = server.memoryBudget.reserve(upTo: min(length - storage.count, Self.bodyChunk))
                guard granted > 0 else {
                    server.countMemoryBudgetRefusal()
                    return .failed(503, Self.budgetMessage)
                }
                let before = storage.count
                let result = storage.receive(fd, max: granted)
                reserved += storage.count - before
                server.memoryBudget.release(granted - (storage.count - before))
                switch result {
                case .data: observer?.consume(storage.bytes(from: before))
                case .wouldBlock: continue
                case .eof, .failed: return .closed
                }
            case .timedOut:
                return .failed(408, "request body not received in time")
            case .woken, .failed:
                return .closed
            }
        }
        return .body(storage.takeData())
    }

    /// A chunked body, decoded from the connection's buffer as it fills; decoded bytes are
    /// reserved from the budget as they come out. Bytes after its end stay buffered.
    private func readChunkedBody(observer: (any HTTPBodyObserver)?, reserved: inout Int) -> BodyOutcome {
        guard let storage = BodyStorage(capacity: limits.maxBodySize) else {
            return .failed(503, "server busy: cannot allocate the request body")
        }
        var decoder = ChunkedBodyDecoder(limits: limits)
        let budget = server.memoryBudget
        var taken = 0
        let deadline = HTTPSocket.deadline(after: limits.bodyReadTimeout)
        while true {
            let result: Result<Int, HTTPProtocolError> = buffer.withUnsafeBufferPointer { all in
                do throws(HTTPProtocolError) {
                    return .success(try decoder.decode(UnsafeBufferPointer(rebasing: all[start...])) { piece in
                        guard budget.reserve(exactly: piece.count) else { return HTTPProtocolError(503, Self.budgetMessage) }
                        taken += piece.count
                        let before = storage.count
                        storage.append(UnsafeRawBufferPointer(piece))
                        observer?.consume(storage.bytes(from: before))
                        return nil
                    })
                } catch {
                    return .failure(error)
                }
            }
            reserved = taken
            switch result {
            case .success(let consumed):
                start += consumed
            case .failure(let error):
                if error.status == 503 { server.countMemoryBudgetRefusal() }
                return .failed(error.status, error.message)
            }
            if decoder.isDone { return .body(storage.takeData()) }
            compactBuffer()
            switch HTTPSocket.wait(fd, deadline: deadline) {
            case .ready:
                guard case .data = readMore() else { return .closed }
            case .timedOut:
                return .failed(408, "request body not received in time")
            case .woken, .failed:
                return .closed
            }
        }
    }

    /// Writes `response` and says whether the connection goes on (else it has lingered
    /// and is done). It closes when asked to, when the client or handler wants it, when
    /// the server is stopping, and when slots run low (an idle connection would take one).
    private func send(_ response: HTTPResponse, for head: HTTPRequestHead, mustClose: Bool) -> Bool {
        var keepAlive =
            !mustClose && head.wantsKeepAlive
            && !response.headers.tokens(for: "Connection").contains("close")
            && !server.isStopping && !server.slotsRunningLow
        if let producer = response.stream, head.method != "HEAD", !HTTPResponse.statusForbidsBody(response.status) {
            // HTTP/1.0 has no chunks: the body ends with the connection.
            if head.version == .http1_0 { keepAlive = false }
            return sendStream(response, producer: producer, for: head, keepAlive: keepAlive)
        }
        let bytes = response.serialized(
            headRequest: head.method == "HEAD", close: !keepAlive,
            http10KeepAlive: keepAlive && head.version == .http1_0)
        guard HTTPSocket.writeAll(fd, bytes, deadline: HTTPSocket.deadline(after: limits.writeTimeout)) else {
            return false
        }
        if !keepAlive {
            linger()
            return false
        }
        return true
    }

    /// Writes a streamed response: its head, then what the producer writes, as it writes
    /// it, then the last chunk. A small send buffer keeps what a slow client makes the
    /// kernel hold small too; every write waits at most `writeTimeout`. Says whether the
    /// connection goes on (only when the body was ended cleanly).
    private func sendStream(_ response: HTTPResponse, producer: HTTPBodyProducer, for head: HTTPRequestHead,
                            keepAlive: Bool) -> Bool {
        let framing: HTTPResponse.StreamFraming = head.version == .http1_0 ? .close : .chunked
        HTTPSocket.setOption(fd, SOL_SOCKET, SO_SNDBUF, Int32(HTTPBodyWriter.sendBufferSize))
        let bytes = response.serialized(headRequest: false, close: !keepAlive, http10KeepAlive: false, streamed: framing)
        guard HTTPSocket.writeAll(fd, bytes, deadline: HTTPSocket.deadline(after: limits.writeTimeout)) else {
            return false
        }
        let server = self.server
        let writer = HTTPBodyWriter(fd: fd, wakeFD: wakeFD, chunked: framing == .chunked,
                                    writeTimeout: limits.writeTimeout, stopping: { server.isStopping })
        producer(writer)
        guard writer.finish() else { return false }
        if !keepAlive || server.isStopping {
            linger()
            return false
        }
        return true
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
            buffer.removeAll(keepingCapacity: buffer.capacity <= 64 * 1024)
            start = 0
        } else if start >= 16 * 1024 && start * 2 >= buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
    }

    /// Sends an error response with `Connection: close` (503s say when to retry), then
    /// lingers and closes.
    private func fail(_ status: Int, _ message: String) {
        var response = HTTPResponse.text(status, message + "\n")
        if status == 503 { response.headers.add("Retry-After", "1") }
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
        server.connectionIdle(id: id, .lingering)  // answered: the slot may go to a newcomer
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
