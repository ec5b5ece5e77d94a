import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A TCP server on 127.0.0.1 that accepts every connection, reads what it is sent and
/// never answers: a GitHub that hangs. `accepted` tells a test that a call is pending.
public final class SilentServer: Sendable {
    public let port: UInt16
    private let listener: Int32
    private let connections = Mutex<[Int32]>([])
    private let stopped = Atomic<Bool>(false)

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SilentServerError.socket(errno: errno) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 128) == 0 else { close(fd); throw SilentServerError.socket(errno: errno) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = UInt16(bigEndian: addr.sin_port)
        let t = Thread { [self] in acceptLoop() }
        t.name = "silent-server"
        t.start()
    }

    deinit { shutdown() }

    /// `http://127.0.0.1:PORT`.
    public var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// Connections accepted so far (each holds a request nobody answers).
    public var accepted: Int { connections.withLock { $0.count } }

    /// Closes the listener and every connection (the clients then see a reset or EOF).
    public func shutdown() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
        for fd in connections.withLock({ $0 }) { close(fd) }
    }

    private func acceptLoop() {
        while !stopped.load(ordering: .acquiring) {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                break
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            if stopped.load(ordering: .acquiring) { close(fd); break }
            // Kept open and never read: the request sits in the socket buffer, unanswered.
            connections.withLock { $0.append(fd) }
        }
        close(listener)
    }
}

public enum SilentServerError: Error, Sendable, Equatable {
    case socket(errno: Int32)
}
