import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Low-level socket plumbing shared by the server and the client: monotonic deadlines,
/// poll-based waits, non-blocking reads and writes, address formatting, detached threads.
/// All sockets are non-blocking and close-on-exec; every wait is a `poll(2)` bounded by
/// a deadline, so no call here can block forever.
enum HTTPSocket {
    /// Monotonic nanoseconds.
    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    static func deadline(after seconds: TimeInterval) -> UInt64 {
        now() &+ UInt64(max(0, min(seconds, 1e9)) * 1e9)
    }

    enum WaitResult: Equatable {
        case ready
        case timedOut
        /// The wake descriptor became readable (the server is stopping).
        case woken
        case failed
    }

    /// Waits until `fd` has `events` (or an error/hang-up), `deadline` passes, or
    /// `wakeFD` becomes readable. The wake descriptor wins when both are ready.
    static func wait(
        _ fd: Int32, for events: Int32 = Int32(POLLIN), deadline: UInt64?, wakeFD: Int32? = nil
    ) -> WaitResult {
        var fds = [pollfd(fd: fd, events: Int16(events), revents: 0)]
        if let wakeFD { fds.append(pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)) }
        while true {
            var timeout: Int32 = -1
            if let deadline {
                let current = now()
                if current >= deadline { return .timedOut }
                timeout = Int32(clamping: (deadline - current + 999_999) / 1_000_000)
            }
            let rc = poll(&fds, nfds_t(fds.count), timeout)
            if rc < 0 {
                if errno == EINTR { continue }
                return .failed
            }
            if rc == 0 { continue }  // re-check the deadline
            if fds.count > 1, fds[1].revents != 0 { return .woken }
            if fds[0].revents & Int16(POLLNVAL) != 0 { return .failed }
            if fds[0].revents != 0 { return .ready }
        }
    }

    enum ReadResult: Equatable {
        case data(Int)
        case wouldBlock
        case eof
        case failed(Int32)
    }

    /// One non-blocking `recv` of at most `max` bytes appended to `buffer`.
    static func read(_ fd: Int32, into buffer: inout [UInt8], max: Int, scratch: UnsafeMutableRawBufferPointer)
        -> ReadResult
    {
        let size = Swift.min(max, scratch.count)
        while true {
            let n = recv(fd, scratch.baseAddress, size, Int32(MSG_DONTWAIT))
            if n > 0 {
                buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
                return .data(n)
            }
            if n == 0 { return .eof }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: return .failed(errno)
            }
        }
    }

    /// Writes all of `bytes`, waiting for buffer space until `deadline`.
    /// Returns false on timeout or error (including a peer reset). Never raises SIGPIPE.
    @discardableResult
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, deadline: UInt64) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            if n > 0 {
                offset += n
                continue
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    if wait(fd, for: Int32(POLLOUT), deadline: deadline) != .ready { return false }
                    continue
                }
            }
            return false
        }
        return true
    }

    @discardableResult
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], deadline: UInt64) -> Bool {
        bytes.withUnsafeBytes { writeAll(fd, $0, deadline: deadline) }
    }

    /// Discards whatever is readable right now; returns false once the peer has closed.
    static func drainAvailable(_ fd: Int32, scratch: UnsafeMutableRawBufferPointer) -> Bool {
        while true {
            let n = recv(fd, scratch.baseAddress, scratch.count, Int32(MSG_DONTWAIT))
            if n > 0 { continue }
            if n == 0 { return false }
            if errno == EINTR { continue }
            return errno == EAGAIN || errno == EWOULDBLOCK
        }
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var v = value
        _ = setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    /// `address:port` (IPv6 in brackets) for a socket address.
    static func describe(_ storage: UnsafePointer<sockaddr>, _ length: socklen_t) -> String {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let rc = getnameinfo(
            storage, length, &host, socklen_t(host.count), &service, socklen_t(service.count),
            NI_NUMERICHOST | NI_NUMERICSERV)
        guard rc == 0 else { return "?" }
        let h = cString(host)
        let s = cString(service)
        return h.contains(":") ? "[\(h)]:\(s)" : "\(h):\(s)"
    }

    static func cString(_ chars: [CChar]) -> String {
        let bytes = chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Resolves `host:port` for a stream socket (numeric port, any family).
    static func resolve(host: String, port: UInt16, passive: Bool) throws(ResolveError) -> [ResolvedAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let list else { throw ResolveError(message: String(cString: gai_strerror(rc))) }
        defer { freeaddrinfo(list) }
        var out: [ResolvedAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = list
        while let entry = cursor {
            if let addr = entry.pointee.ai_addr {
                let bytes = [UInt8](UnsafeRawBufferPointer(start: addr, count: Int(entry.pointee.ai_addrlen)))
                out.append(ResolvedAddress(family: entry.pointee.ai_family, bytes: bytes))
            }
            cursor = entry.pointee.ai_next
        }
        return out
    }

    struct ResolveError: Error { var message: String }

    struct ResolvedAddress {
        var family: Int32
        var bytes: [UInt8]
        func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
            bytes.withUnsafeBytes { raw in
                body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
            }
        }
    }

    /// A new non-blocking, close-on-exec stream socket.
    static func makeStreamSocket(family: Int32) -> Int32 {
        socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    }

    // accept4(2) and pipe2(2) set close-on-exec atomically (no window in which a
    // concurrent fork could inherit the descriptor), but glibc only declares them under
    // _GNU_SOURCE, which Swift's Glibc module does not define: look them up by name.
    private typealias Accept4 = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?, Int32) -> Int32
    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32
    private static let accept4Function: Accept4 = {
        guard let symbol = dlsym(nil, "accept4") else { fatalError("libc without accept4") }
        return unsafeBitCast(symbol, to: Accept4.self)
    }()
    private static let pipe2Function: Pipe2 = {
        guard let symbol = dlsym(nil, "pipe2") else { fatalError("libc without pipe2") }
        return unsafeBitCast(symbol, to: Pipe2.self)
    }()

    static func accept4(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>?, _ length: UnsafeMutablePointer<socklen_t>?, _ flags: Int32) -> Int32 {
        accept4Function(fd, address, length, flags)
    }

    static func pipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32 {
        pipe2Function(fds, flags)
    }

    private final class ThreadBody {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    /// Starts a detached thread. Returns false when the system refuses a new thread
    /// (the caller can then answer 503 instead of crashing).
    static func spawnThread(_ body: @escaping @Sendable () -> Void) -> Bool {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attributes, { context in
            Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<ThreadBody>.fromOpaque(context).release()
            return false
        }
        return true
    }
}
