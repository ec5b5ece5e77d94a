import XCTest
import Foundation
import Synchronization
@testable import Sandbox

/// A TCP server on the host for egress tests: loopback by default (or every
/// address), one thread per connection, counting what reached it. Harmless if a
/// sandbox were broken: it only echoes or answers a fixed page.
final class TestTCPServer: @unchecked Sendable {
    enum Mode: Sendable {
        /// Echo every byte until the client closes.
        case echo
        /// Read a request head, answer 200 with `body`, close.
        case http(body: String)
        /// Send `bytes` zero bytes, then close (benchmarks, byte caps).
        case source(bytes: Int)
    }

    let port: UInt16
    let mode: Mode
    private let fd: Int32
    private let accepted = Atomic<Int>(0)
    private let open = Atomic<Bool>(true)

    /// Connections accepted so far.
    var connections: Int { accepted.load(ordering: .acquiring) }

    init(mode: Mode, anyAddress: Bool = false) throws {
        self.mode = mode
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = anyAddress ? 0 : inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp in
                bind(fd, sp, len) == 0 && listen(fd, 128) == 0 && getsockname(fd, sp, &len) == 0
            }
        }
        guard ok else { Glibc.close(fd); throw NSError(domain: "TestTCPServer", code: Int(errno)) }
        self.fd = fd
        port = UInt16(bigEndian: addr.sin_port)
        let t = Thread { [self] in acceptLoop() }
        t.name = "test-tcp-server"
        t.start()
    }

    func shutdown() {
        guard open.exchange(false, ordering: .acquiringAndReleasing) else { return }
        Glibc.shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }

    deinit { shutdown() }

    private func acceptLoop() {
        while open.load(ordering: .acquiring) {
            let c = accept(fd, nil, nil)
            if c < 0 { if errno == EINTR { continue }; return }
            accepted.add(1, ordering: .acquiringAndReleasing)
            var tv = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            let mode = self.mode
            let t = Thread { TestTCPServer.serve(c, mode) }
            t.start()
        }
    }

    private static func serve(_ c: Int32, _ mode: Mode) {
        defer { Glibc.close(c) }
        var buf = [UInt8](repeating: 0, count: 65536)
        switch mode {
        case .echo:
            while true {
                let n = read(c, &buf, buf.count)
                if n <= 0 { return }
                if !writeAll(c, Array(buf[0..<n])) { return }
            }
        case .http(let body):
            var head: [UInt8] = []
            while head.count < 65536 {
                let n = read(c, &buf, buf.count)
                if n <= 0 { return }
                head += buf[0..<n]
                if head.count >= 4, String(decoding: head, as: UTF8.self).contains("\r\n\r\n") { break }
            }
            let b = Array(body.utf8)
            _ = writeAll(c, Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(b.count)\r\nConnection: close\r\n\r\n".utf8) + b)
        case .source(let total):
            let zeros = [UInt8](repeating: 0, count: 65536)
            var left = total
            while left > 0 {
                let n = zeros.withUnsafeBytes { send(c, $0.baseAddress, min(left, $0.count), Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return }
                left -= n
            }
            Glibc.shutdown(c, Int32(SHUT_WR))
            while read(c, &buf, buf.count) > 0 {}
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            off += n
        }
        return true
    }
}

/// Helpers to talk to an `EgressProxy` directly on its unix socket (tests and bench).
enum ProxyClient {
    /// Connects to the proxy's socket with a receive timeout.
    static func connect(_ path: String, timeout: Int = 10) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
        }
        guard ok else { let e = errno; Glibc.close(fd); throw NSError(domain: "ProxyClient", code: Int(e)) }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    static func send(_ fd: Int32, _ text: String) { _ = TestTCPServer.writeAll(fd, Array(text.utf8)) }

    /// Reads until the end of a response head (and returns it with whatever body came along).
    static func readHead(_ fd: Int32) -> String {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while !String(decoding: out, as: UTF8.self).contains("\r\n\r\n") {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads until EOF (or the receive timeout).
    static func readAll(_ fd: Int32, max: Int = 1 << 20) -> String {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while out.count < max {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads exactly `count` bytes (or fewer at EOF/timeout).
    static func readExactly(_ fd: Int32, _ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while out.count < count {
            let n = read(fd, &buf, min(buf.count, count - out.count))
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }
}

enum EgressTestSupport {
    /// A scratch directory for a proxy socket.
    static func socketDirectory() throws -> String {
        let dir = "/tmp/cv-egress-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A policy that allows exactly `name` (pinned to 127.0.0.1) on `port`, with the loopback exception.
    static func loopbackPolicy(name: String = "echo.test", port: UInt16) -> EgressPolicy {
        EgressPolicy(allowHosts: [name], allowPorts: [Int(port)], allowPrivateDestinations: ["127.0.0.1"],
                     staticHosts: [name: "127.0.0.1"])
    }

    /// Python helpers for probes inside a sandbox: `tunnel(host, port)` returns the
    /// socket, status line and body of the proxy's answer.
    static let pythonPrelude = """
    import socket, sys, os, errno
    def tunnel(host, port, timeout=15):
        s = socket.create_connection(("127.0.0.1", 3128), timeout=timeout)
        s.sendall(("CONNECT %s:%d HTTP/1.1\\r\\nHost: %s:%d\\r\\n\\r\\n" % (host, port, host, port)).encode())
        data = b""
        while b"\\r\\n\\r\\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\\r\\n\\r\\n")
        status = head.split(b"\\r\\n")[0].decode()
        return s, status, rest
    def body_of(s, rest):
        out = rest
        while True:
            try:
                chunk = s.recv(4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        return out.decode(errors="replace")

    """

    /// Runs a python probe (prelude included) in a proxy-mode sandbox with `policy`.
    static func runPython(_ script: String, policy: EgressPolicy) -> SandboxResult {
        let path = "/tmp/cv-probe-\(UUID().uuidString.prefix(8)).py"
        try? (pythonPrelude + script).write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        defer { unlink(path) }
        return SandboxTestSupport.run("python3 /probe.py") {
            $0.network = .proxy
            $0.egress = policy
            $0.binds = [Bind(source: path, destination: "/probe.py")]
        }
    }
}
