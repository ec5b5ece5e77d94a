import Foundation
import Sandbox

/// The egress proxy against a direct loopback connection, side by side: connect
/// latency (connect, CONNECT/200 when proxied, one-byte round trip), download
/// throughput, and the proxy's memory per open tunnel. Measured twice: from this
/// process (straight to the proxy's unix socket) and from python3 inside real
/// sandboxes (network host = direct; network proxy = through the relay too).
enum EgressBenchmark {
    static func run(iterations: Int, megabytes: Int, runs: Int, tunnels: Int) {
        let server: BenchServer
        let dir = "/tmp/cv-bench-egress-\(UInt32.random(in: 0...UInt32.max))"
        do {
            server = try BenchServer(downloadBytes: megabytes << 20)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            print("egress bench: set-up failed: \(error)"); return
        }
        defer { server.stop(); try? FileManager.default.removeItem(atPath: dir) }
        let policy = EgressPolicy(allowHosts: ["127.0.0.1"], allowPorts: [Int(server.port)],
                                  allowPrivateDestinations: ["127.0.0.1"], maxConnections: max(256, tunnels + 16))
        let proxy: EgressProxy
        do { proxy = try EgressProxy(policy: policy, socketPath: dir + "/p.sock") } catch {
            print("egress bench: proxy failed: \(error)"); return
        }
        defer { proxy.close() }
        let port = server.port

        // 1. In this process: latency and throughput, interleaved.
        for _ in 0..<20 { _ = latencyDirect(port); _ = latencyProxied(proxy.socketPath, port) }
        var ld: [Double] = [], lp: [Double] = []
        for _ in 0..<iterations {
            ld.append(latencyDirect(port))
            lp.append(latencyProxied(proxy.socketPath, port))
        }
        var td: [Double] = [], tp: [Double] = []
        for _ in 0..<runs {
            td.append(throughput(direct: port, unix: nil))
            tp.append(throughput(direct: port, unix: proxy.socketPath))
        }

        // 2. Inside sandboxes, through the relay.
        let inside = sandboxed(port: port, iterations: iterations, megabytes: megabytes, runs: runs)

        print("egress proxy vs direct loopback, \(ProcessInfo.processInfo.activeProcessorCount) cores; medians")
        print("connect latency = connect + (CONNECT → 200 when proxied) + 1-byte round trip, \(iterations) samples")
        print(Bench.pad("variant", 46) + Bench.pad("median", 12, left: true) + Bench.pad("p90", 12, left: true) + Bench.pad("ratio", 9, left: true))
        func row(_ name: String, _ xs: [Double], base: [Double]?) {
            let ratio = base.map { String(format: "%8.2fx", Bench.median(xs) / Bench.median($0)) } ?? "        -"
            print(Bench.pad(name, 46) + Bench.pad(Bench.ms(Bench.median(xs)), 12, left: true)
                  + Bench.pad(Bench.ms(Bench.percentile(xs, 0.9)), 12, left: true) + Bench.pad(ratio, 9, left: true))
        }
        row("direct 127.0.0.1 (this process)", ld, base: nil)
        row("proxy unix socket (this process)", lp, base: ld)
        if let inside {
            row("direct 127.0.0.1 (sandbox, network host)", inside.directLatency, base: nil)
            row("proxy via relay (sandbox, network proxy)", inside.proxyLatency, base: inside.directLatency)
        }
        print("download throughput, \(megabytes) MiB, \(runs) runs")
        print(Bench.pad("variant", 46) + Bench.pad("median", 12, left: true) + Bench.pad("ratio", 9, left: true))
        func trow(_ name: String, _ xs: [Double], base: [Double]?) {
            let ratio = base.map { String(format: "%8.2fx", Bench.median(xs) / Bench.median($0)) } ?? "        -"
            print(Bench.pad(name, 46) + Bench.pad(String(format: "%7.0f MB/s", Bench.median(xs)), 12, left: true) + Bench.pad(ratio, 9, left: true))
        }
        trow("direct 127.0.0.1 (this process)", td, base: nil)
        trow("proxy unix socket (this process)", tp, base: td)
        if let inside {
            trow("direct 127.0.0.1 (sandbox, network host)", inside.directThroughput, base: nil)
            trow("proxy via relay (sandbox, network proxy)", inside.proxyThroughput, base: inside.directThroughput)
        }

        // 3. Memory per open tunnel (a fresh proxy; the echo server is one poll thread).
        memory(tunnels: tunnels, dir: dir)
        if let inside, let rss = inside.relayRSSKiB {
            print(String(format: "relay (C, static buffers): %d KiB private memory with %d tunnels open (16 KiB through each)", rss, inside.relayTunnels))
        }
    }

    // MARK: - This process

    static func latencyDirect(_ port: UInt16) -> Double {
        Bench.time {
            let fd = tcpConnect(port)
            guard fd >= 0 else { return }
            defer { close(fd) }
            _ = sendAll(fd, Array("p".utf8))
            var b: UInt8 = 0
            _ = read(fd, &b, 1)
        }
    }

    static func latencyProxied(_ path: String, _ port: UInt16) -> Double {
        Bench.time {
            guard let fd = tunnel(path, port) else { return }
            defer { close(fd) }
            _ = sendAll(fd, Array("p".utf8))
            var b: UInt8 = 0
            _ = read(fd, &b, 1)
        }
    }

    /// MB/s of one download (direct, or through the proxy when `unix` is set).
    static func throughput(direct port: UInt16, unix: String?) -> Double {
        var total = 0
        let secs = Bench.time {
            let fd = unix.flatMap { tunnel($0, port) } ?? (unix == nil ? tcpConnect(port) : -1)
            guard fd >= 0 else { return }
            defer { close(fd) }
            _ = sendAll(fd, Array("d".utf8))
            var buf = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = read(fd, &buf, buf.count)
                if n <= 0 { break }
                total += n
            }
        }
        return Double(total) / 1e6 / secs
    }

    static func tcpConnect(_ port: UInt16) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(port.bigEndian)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 } }
        if !ok { close(fd); return -1 }
        return fd
    }

    /// A CONNECT tunnel through the proxy's unix socket, ready for payload.
    static func tunnel(_ path: String, _ port: UInt16) -> Int32? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var a = sockaddr_un()
        a.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &a.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        let ok = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 } }
        guard ok, sendAll(fd, Array("CONNECT 127.0.0.1:\(port) HTTP/1.1\r\n\r\n".utf8)) else { close(fd); return nil }
        // Read the 39-byte "200 Connection established" head byte-exactly (no payload follows unasked).
        var head: [UInt8] = []
        var b: UInt8 = 0
        while !(head.count >= 4 && head.suffix(4) == [13, 10, 13, 10]) {
            guard read(fd, &b, 1) == 1 else { close(fd); return nil }
            head.append(b)
        }
        guard head.starts(with: Array("HTTP/1.1 200".utf8)) else { close(fd); return nil }
        return fd
    }

    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            off += n
        }
        return true
    }

    // MARK: - Memory

    static func rssKiB() -> Int {
        let s = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = s.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    static func memory(tunnels: Int, dir: String) {
        guard let echo = try? PollEchoServer() else { print("memory: echo server failed"); return }
        defer { echo.stop() }
        let policy = EgressPolicy(allowHosts: ["127.0.0.1"], allowPorts: [Int(echo.port)],
                                  allowPrivateDestinations: ["127.0.0.1"], maxConnections: tunnels + 16)
        guard let proxy = try? EgressProxy(policy: policy, socketPath: dir + "/m.sock") else { print("memory: proxy failed"); return }
        defer { proxy.close() }
        let chunk = [UInt8](repeating: 7, count: 32 * 1024)
        var buf = [UInt8](repeating: 0, count: chunk.count)
        // Warm up allocator and code paths with a few tunnels, then measure.
        for _ in 0..<8 { if let fd = tunnel(proxy.socketPath, echo.port) { close(fd) } }
        let before = rssKiB()
        var fds: [Int32] = []
        for _ in 0..<tunnels {
            guard let fd = tunnel(proxy.socketPath, echo.port) else { break }
            _ = sendAll(fd, chunk)
            var got = 0
            while got < chunk.count { let n = read(fd, &buf, buf.count); if n <= 0 { break }; got += n }
            fds.append(fd)
        }
        let after = rssKiB()
        let open = proxy.counters.tunnelsOpen
        for fd in fds { close(fd) }
        print(String(format: "proxy memory: %.1f KiB RSS per open tunnel (%d tunnels, 32 KiB echoed through each; buffers %d KiB/tunnel)",
                     Double(after - before) / Double(max(open, 1)), open, 2 * EgressProxy.tunnelBufferSize / 1024))
    }

    // MARK: - Inside sandboxes

    /// Private_Clean + Private_Dirty of the sandbox init's child named coven-relay.
    static func relayPrivateKiB(initPID: pid_t) -> Int? {
        let children = (try? String(contentsOfFile: "/proc/\(initPID)/task/\(initPID)/children", encoding: .utf8)) ?? ""
        for pid in children.split(separator: " ") {
            let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
            guard comm.hasPrefix("coven-relay") else { continue }
            let rollup = (try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8)) ?? ""
            var total = 0
            for line in rollup.split(separator: "\n") where line.hasPrefix("Private_Clean:") || line.hasPrefix("Private_Dirty:") {
                total += Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
            }
            return total
        }
        return nil
    }

    struct Inside {
        var directLatency: [Double] = [], proxyLatency: [Double] = []
        var directThroughput: [Double] = [], proxyThroughput: [Double] = []
        var relayRSSKiB: Int?
        var relayTunnels = 0
    }

    static let python = #"""
    import socket, sys, time, json, os
    port, iters, runs, proxied = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "proxy"
    def conn():
        if not proxied:
            s = socket.create_connection(("127.0.0.1", port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1); return s
        s = socket.create_connection(("127.0.0.1", 3128)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\n\r\n" % port)
        h = b""
        while not h.endswith(b"\r\n\r\n"):
            c = s.recv(1)
            if not c: raise SystemExit("proxy closed")
            h += c
        return s
    lat = []
    for i in range(iters + 20):
        t = time.perf_counter(); s = conn(); s.sendall(b"p"); s.recv(1); d = time.perf_counter() - t; s.close()
        if i >= 20: lat.append(d)
    thr = []
    for i in range(runs):
        t = time.perf_counter(); s = conn(); s.sendall(b"d"); n = 0
        while True:
            c = s.recv(1 << 20)
            if not c: break
            n += len(c)
        thr.append(n / 1e6 / (time.perf_counter() - t)); s.close()
    held = []
    if proxied:
        # Hold 50 tunnels (a byte echoed through each) while the host reads the relay's memory.
        for i in range(50):
            s = conn(); s.sendall(b"p" * 16384); got = 0
            while got < 16384: got += len(s.recv(65536))
            held.append(s)
        open("/out/ready", "w").close()
        for i in range(3000):
            if os.path.exists("/out/done"): break
            time.sleep(0.01)
    print(json.dumps({"lat": lat, "thr": thr, "held": len(held)}))
    """#

    static func sandboxed(port: UInt16, iterations: Int, megabytes: Int, runs: Int) -> Inside? {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else {
            print("note: python3 not installed; in-sandbox rows omitted"); return nil
        }
        let script = "/tmp/cv-bench-egress-\(UInt32.random(in: 0...UInt32.max)).py"
        try? python.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o644)
        defer { unlink(script) }
        let out = script + ".out"
        try? FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        chmod(out, 0o777)
        defer { try? FileManager.default.removeItem(atPath: out) }
        var inside = Inside()
        for mode in ["host", "proxy"] {
            var spec = SandboxSpec(command: ["python3", "/bench.py", String(port), String(iterations), String(runs), mode])
            spec.binds = [Bind(source: script, destination: "/bench.py"), Bind(source: out, destination: "/out", writable: true)]
            spec.timeout = .seconds(300)
            spec.network = mode == "host" ? .host : .proxy
            spec.egress = EgressPolicy(allowHosts: ["127.0.0.1"], allowPorts: [Int(port)], allowPrivateDestinations: ["127.0.0.1"])
            guard let handle = try? Sandbox.launch(spec) else { print("in-sandbox bench (\(mode)): launch failed"); return nil }
            if mode == "proxy" {
                // The relay is init's other child; its private memory is what it costs (the rest is shared with us).
                let deadline = ContinuousClock.now + .seconds(120)
                while !FileManager.default.fileExists(atPath: out + "/ready") && handle.finished == nil && ContinuousClock.now < deadline {
                    usleep(10_000)
                }
                inside.relayRSSKiB = relayPrivateKiB(initPID: handle.hostPID)
                FileManager.default.createFile(atPath: out + "/done", contents: nil)
            }
            let r = handle.wait()
            guard let obj = try? JSONSerialization.jsonObject(with: r.stdout) as? [String: Any],
                  let lat = obj["lat"] as? [Double], let thr = obj["thr"] as? [Double] else {
                print("in-sandbox bench (\(mode)) failed: \(r.report.exitClass) \(String(decoding: r.stderr, as: UTF8.self))")
                return nil
            }
            if mode == "host" { inside.directLatency = lat; inside.directThroughput = thr } else {
                inside.proxyLatency = lat; inside.proxyThroughput = thr
                inside.relayTunnels = obj["held"] as? Int ?? 0
            }
        }
        return inside
    }
}

/// The benchmark's destination: 'p' echoes one byte back (then keeps echoing),
/// 'd' sends `downloadBytes` and closes. One thread per connection.
final class BenchServer: @unchecked Sendable {
    let port: UInt16
    private let fd: Int32
    private let downloadBytes: Int

    init(downloadBytes: Int) throws {
        self.downloadBytes = downloadBytes
        (fd, port) = try listenLoopback()
        let t = Thread { [self] in loop() }
        t.start()
    }

    func stop() { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }

    private func loop() {
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 { if errno == EINTR { continue }; return }
            var one: Int32 = 1
            setsockopt(c, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let total = downloadBytes
            Thread {
                defer { close(c) }
                var cmd: UInt8 = 0
                guard read(c, &cmd, 1) == 1 else { return }
                if cmd == UInt8(ascii: "d") {
                    let block = [UInt8](repeating: 0, count: 1 << 20)
                    var left = total
                    while left > 0 {
                        let n = block.withUnsafeBytes { send(c, $0.baseAddress, min(left, $0.count), Int32(MSG_NOSIGNAL)) }
                        if n <= 0 { return }
                        left -= n
                    }
                } else {
                    var b = cmd
                    while write(c, &b, 1) == 1, read(c, &b, 1) == 1 {}
                }
            }.start()
        }
    }
}

/// An echo server in one poll thread (so the memory benchmark measures the proxy, not threads).
final class PollEchoServer: @unchecked Sendable {
    let port: UInt16
    private let fd: Int32
    private var stopPipe: [Int32] = [-1, -1]

    init() throws {
        (fd, port) = try listenLoopback()
        pipe(&stopPipe)
        let t = Thread { [self] in loop() }
        t.start()
    }

    func stop() { var b: UInt8 = 1; _ = write(stopPipe[1], &b, 1) }

    private func loop() {
        var clients: [Int32] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            var fds = [pollfd(fd: stopPipe[0], events: Int16(POLLIN), revents: 0), pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
            fds += clients.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if poll(&fds, nfds_t(fds.count), -1) < 0 { continue }
            if fds[0].revents != 0 { break }
            if fds[1].revents != 0 { let c = accept(fd, nil, nil); if c >= 0 { clients.append(c) } }
            var gone: Set<Int32> = []
            for p in fds.dropFirst(2) where p.revents != 0 {
                let n = read(p.fd, &buf, buf.count)
                if n <= 0 { gone.insert(p.fd); continue }
                _ = EgressBenchmark.sendAll(p.fd, Array(buf[0..<n]))
            }
            for c in gone { close(c) }
            clients.removeAll { gone.contains($0) }
        }
        for c in clients { close(c) }
        close(fd)
        close(stopPipe[0]); close(stopPipe[1])
    }
}

func listenLoopback() throws -> (Int32, UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &a) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && listen(fd, 1024) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard ok else { close(fd); throw NSError(domain: "bench", code: Int(errno)) }
    return (fd, UInt16(bigEndian: a.sin_port))
}
