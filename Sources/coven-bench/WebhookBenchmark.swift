import Foundation
import HTTP
import Adapter
import StoreTesting
#if canImport(Glibc)
import Glibc
#endif

/// Webhook ingestion of the real daemon process, beside the disk's own fsync rate:
/// - the anchor: `write` + `fdatasync` of 4 KiB, one after another, in a file in the
///   daemon's state directory (what one SQLite WAL commit with `synchronous=FULL` costs
///   at least: its frames written, then one sync);
/// - signed `issues.assigned` deliveries that each create a task (a distinct issue per
///   delivery, so nothing coalesces), answered with the durable 202;
/// - signed `ping` deliveries (nothing stored).
/// Each round measures the three one after the other; the medians over rounds are
/// printed, and the ratio to the anchor is taken per round. The load generator runs
/// here, on loopback: one thread per keep-alive connection, requests serialized and
/// signed before the clock starts, blocking socket calls.
/// `store` "postgres": the daemon's store is a PostgreSQL database (a throwaway server with
/// fsync on, `StoreTesting`), as one host of a fleet; the anchor stays the state directory's.
enum WebhookBenchmark {
    /// A `serve` process for a benchmark to load.
    struct Daemon {
        var port: Int
        var pid: pid_t
        var secret: [UInt8]
        var directory: String
    }

    /// Starts `serve` (a GitHub-mode configuration, webhooks on) in a scratch directory,
    /// waits until it answers, runs `body`, then stops it. False when it could not start.
    @discardableResult
    static func withDaemon(cli: String, concurrency: Int, store: String = "sqlite", _ body: (Daemon) -> Void) -> Bool {
        let dir = NSTemporaryDirectory() + "coven-bench-webhook-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chmod(dir, 0o711)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let secret = Array("bench-secret-\(UUID().uuidString)".utf8)
        do {
            let key = try RSAPrivateKey.generate(bits: 2048)
            _ = FileManager.default.createFile(atPath: dir + "/app.pem", contents: Data(try key.exportPrivateKeyPEM()),
                                           attributes: [.posixPermissions: 0o600])
        } catch { print("key generation failed: \(error)"); return false }
        _ = FileManager.default.createFile(atPath: dir + "/secret", contents: Data(secret), attributes: [.posixPermissions: 0o600])
        var storeSection = ""
        var server: PostgresTestServer?
        defer { server?.stop() }
        if store == "postgres" {
            do {
                let pg = PostgresTestServer(options: .init(fast: false))
                try pg.start()
                server = pg
                _ = FileManager.default.createFile(atPath: dir + "/db-url", contents: Data(try pg.createDatabase().utf8),
                                                   attributes: [.posixPermissions: 0o600])
            } catch { print("cannot start PostgreSQL: \(error)"); return false }
            storeSection = #", "store": {"kind": "postgres", "url_file": "\#(dir)/db-url", "host_id": "bench"}"#
        }
        let port = 20000 + Int.random(in: 0..<20000)
        // Tasks are accepted durably; the one worker then fails them fast (nothing to clone),
        // with a long backoff so the background stays quiet during the measurement.
        let config = """
        {"listen": "127.0.0.1:\(port)", "state_dir": "\(dir)/state",
         "github": {"app_id": 1, "private_key_path": "\(dir)/app.pem", "webhook_secret_path": "\(dir)/secret",
                    "api_base_url": "http://127.0.0.1:1"},
         "http": {"max_connections_per_client": \(max(64, concurrency * 2))},
         "worker": {"runtime": ["/bin/true"], "concurrency": 1, "max_retries": 0, "timeout": "5s", "grace": "1s"},
         "sandbox": {"network": "none"},
         "familiars": [{"id": "cody", "display_name": "Cody", "bot_username": "cody"}]\(storeSection)}
        """
        _ = FileManager.default.createFile(atPath: dir + "/config.json", contents: Data(config.utf8))

        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: cli)
        daemon.arguments = ["serve", "--config", dir + "/config.json"]
        daemon.standardOutput = FileHandle.nullDevice
        _ = FileManager.default.createFile(atPath: dir + "/daemon.log", contents: nil)
        daemon.standardError = FileHandle(forWritingAtPath: dir + "/daemon.log")
        do { try daemon.run() } catch { print("cannot start \(cli): \(error)"); return false }
        defer { daemon.terminate(); daemon.waitUntilExit() }

        let base = "http://127.0.0.1:\(port)"
        let probe = HTTPClient()
        var up = false
        for _ in 0..<200 {
            if (try? probe.request("GET", base + "/healthz", timeout: 1))?.status == 200 { up = true; break }
            usleep(50_000)
        }
        guard up else {
            print("daemon did not come up: " + ((try? String(contentsOfFile: dir + "/daemon.log", encoding: .utf8)) ?? ""))
            return false
        }
        body(Daemon(port: port, pid: daemon.processIdentifier, secret: secret, directory: dir))
        return true
    }

    static func run(cli: String, requests: Int, concurrency: Int, rounds: Int, store: String = "sqlite") {
        withDaemon(cli: cli, concurrency: concurrency, store: store) { d in
            measure(d, requests: requests, concurrency: concurrency, rounds: rounds, store: store)
        }
    }

    static func measure(_ d: Daemon, requests: Int, concurrency: Int, rounds: Int, store: String) {
        let (port, dir) = (d.port, d.directory)
        usleep(500_000)
        let idleRSS = rss(d.pid)

        var issue = 1000
        func taskRequests(_ n: Int) -> [[UInt8]] {
            defer { issue += n }
            return Self.taskRequests(d, issues: issue..<(issue + n))
        }
        func pingRequests(_ n: Int) -> [[UInt8]] { Self.pingRequests(d, count: n) }
        // Warm-up: the connections, the first task, the first pages of the database.
        _ = load(port: port, requests: taskRequests(200), concurrency: concurrency)
        _ = load(port: port, requests: pingRequests(200), concurrency: concurrency)

        let stateDir = dir + "/state"
        var fsyncRates: [Double] = [], taskRates: [Double] = [], pingRates: [Double] = [], ratios: [Double] = []
        var taskP50: [Double] = [], taskP99: [Double] = [], pingP50: [Double] = [], pingP99: [Double] = []
        var statuses: [Int: Int] = [:]
        var peakRSS = idleRSS
        for _ in 0..<rounds {
            let anchor = fsyncRate(directory: stateDir, seconds: 1)
            let tasks = load(port: port, requests: taskRequests(requests), concurrency: concurrency)
            peakRSS = max(peakRSS, rss(d.pid))
            let pings = load(port: port, requests: pingRequests(requests), concurrency: concurrency)
            peakRSS = max(peakRSS, rss(d.pid))
            fsyncRates.append(anchor)
            taskRates.append(tasks.rate); pingRates.append(pings.rate)
            ratios.append(tasks.rate / anchor)
            taskP50.append(Bench.percentile(tasks.latencies, 0.5)); taskP99.append(Bench.percentile(tasks.latencies, 0.99))
            pingP50.append(Bench.percentile(pings.latencies, 0.5)); pingP99.append(Bench.percentile(pings.latencies, 0.99))
            for (k, v) in tasks.statuses { statuses[k, default: 0] += v }
            for (k, v) in pings.statuses { statuses[k, default: 0] += v }
        }

        print("webhook ingestion: real `serve` process (store: \(store)), \(concurrency) keep-alive connections, "
              + "\(requests) requests per variant, \(rounds) rounds (medians)")
        print(Bench.pad("", 44) + Bench.pad("per second", 12, left: true) + Bench.pad("vs fsync", 10, left: true)
              + Bench.pad("p50", 12, left: true) + Bench.pad("p99", 12, left: true))
        func rate(_ x: Double) -> String { Bench.pad(String(format: "%.0f", x), 12, left: true) }
        print(Bench.pad("raw fsync (4 KiB write + fdatasync, state dir)", 44) + rate(Bench.median(fsyncRates))
              + Bench.pad("1.00x", 10, left: true))
        print(Bench.pad("task-creating deliveries (durable 202)", 44) + rate(Bench.median(taskRates))
              + Bench.pad(String(format: "%.2fx", Bench.median(ratios)), 10, left: true)
              + Bench.ms(Bench.median(taskP50)) + "  " + Bench.ms(Bench.median(taskP99)))
        print(Bench.pad("ping", 44) + rate(Bench.median(pingRates)) + Bench.pad("", 10)
              + Bench.ms(Bench.median(pingP50)) + "  " + Bench.ms(Bench.median(pingP99)))
        print("per round, deliveries / fsync: " + ratios.map { String(format: "%.2f", $0) }.joined(separator: " ")
              + "; fsync/s: " + fsyncRates.map { String(format: "%.0f", $0) }.joined(separator: " "))
        print(Bench.pad("responses", 44) + statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
        print(Bench.pad("daemon RSS idle", 44) + String(format: "%8.1f MiB", Double(idleRSS) / 1024))
        print(Bench.pad("daemon RSS peak under load", 44) + String(format: "%8.1f MiB", Double(peakRSS) / 1024))
    }

    /// Sequential 4 KiB writes, each followed by `fdatasync`, for `seconds`, in a file of
    /// the directory (made 4 MiB long first and written round, as SQLite reuses its WAL,
    /// so no sync has to change the file's size). Syncs per second.
    static func fsyncRate(directory: String, seconds: Double) -> Double {
        let path = directory + "/fsync-anchor"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return .nan }
        defer { close(fd); unlink(path) }
        let block = [UInt8](repeating: 0x5a, count: 4096)
        let blocks = 1024
        for i in 0..<blocks { _ = block.withUnsafeBytes { pwrite(fd, $0.baseAddress, 4096, off_t(i * 4096)) } }
        fsync(fd)
        var n = 0
        let start = ContinuousClock.now
        while (ContinuousClock.now - start).seconds < seconds {
            _ = block.withUnsafeBytes { pwrite(fd, $0.baseAddress, 4096, off_t((n % blocks) * 4096)) }
            fdatasync(fd)
            n += 1
        }
        return Double(n) / (ContinuousClock.now - start).seconds
    }

    struct LoadResult {
        var rate: Double
        var latencies: [Double]
        var statuses: [Int: Int]
    }

    /// Sends `requests` over `concurrency` keep-alive connections (each takes the next
    /// unsent one), one request in flight per connection.
    static func load(port: Int, requests: [[UInt8]], concurrency: Int) -> LoadResult {
        final class Shared: @unchecked Sendable {
            let lock = NSLock()
            var next = 0
            var latencies: [Double] = []
            var statuses: [Int: Int] = [:]
            let requests: [[UInt8]]
            init(_ r: [[UInt8]]) { requests = r }
            func take() -> Int? {
                lock.lock(); defer { lock.unlock() }
                guard next < requests.count else { return nil }
                next += 1
                return next - 1
            }
        }
        let shared = Shared(requests)
        let group = DispatchGroup()
        let start = ContinuousClock.now
        for _ in 0..<concurrency {
            group.enter()
            Thread {
                defer { group.leave() }
                var mine: [Double] = []
                var st: [Int: Int] = [:]
                defer {
                    shared.lock.lock()
                    shared.latencies += mine
                    for (k, v) in st { shared.statuses[k, default: 0] += v }
                    shared.lock.unlock()
                }
                var fd = connect(port: port)
                var reader = ResponseReader()
                while let i = shared.take() {
                    let t0 = ContinuousClock.now
                    var status = -1
                    if fd >= 0, writeAll(fd, shared.requests[i]) { status = reader.readStatus(fd) }
                    mine.append((ContinuousClock.now - t0).seconds)
                    st[status, default: 0] += 1
                    if status < 0 || reader.closeAfter {
                        if fd >= 0 { close(fd) }
                        fd = connect(port: port)
                        reader = ResponseReader()
                    }
                }
                if fd >= 0 { close(fd) }
            }.start()
        }
        group.wait()
        let elapsed = (ContinuousClock.now - start).seconds
        return LoadResult(rate: Double(requests.count) / elapsed, latencies: shared.latencies, statuses: shared.statuses)
    }

    static func connect(port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 { close(fd); return -1 }
        return fd
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = send(fd, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
                if n <= 0 { if n < 0 && errno == EINTR { continue }; return false }
                off += n
            }
            return true
        }
    }

    /// Reads one response (head and `Content-Length` body) off a connection.
    struct ResponseReader {
        var buffer: [UInt8] = []
        var closeAfter = false

        mutating func readStatus(_ fd: Int32) -> Int {
            var chunk = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                if let end = headEnd() {
                    let head = String(decoding: buffer[0..<end], as: UTF8.self).lowercased()
                    let lines = head.split(separator: "\r\n")
                    guard let first = lines.first, first.count >= 12, let status = Int(first.dropFirst(9).prefix(3)) else { return -1 }
                    var length = 0
                    for l in lines.dropFirst() {
                        if l.hasPrefix("content-length:") { length = Int(l.dropFirst(15).trimmingCharacters(in: .whitespaces)) ?? 0 }
                        if l.hasPrefix("connection:") && l.contains("close") { closeAfter = true }
                    }
                    while buffer.count < end + 4 + length {
                        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                        if n <= 0 { return -1 }
                        buffer += chunk[0..<n]
                    }
                    buffer.removeFirst(end + 4 + length)
                    return status
                }
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return -1 }
                buffer += chunk[0..<n]
            }
        }

        private func headEnd() -> Int? {
            guard buffer.count >= 4 else { return nil }
            for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
                return i
            }
            return nil
        }
    }

    /// Signed `issues.assigned` deliveries, one task each (a distinct issue number each).
    static func taskRequests(_ d: Daemon, issues: Range<Int>) -> [[UInt8]] {
        issues.map { issue in
            request(port: d.port, event: "issues", delivery: "bench-\(issue)-\(UUID().uuidString)",
                    body: payload(issue: issue), secret: d.secret)
        }
    }

    /// Signed `ping` deliveries.
    static func pingRequests(_ d: Daemon, count: Int) -> [[UInt8]] {
        (0..<count).map { i in
            request(port: d.port, event: "ping", delivery: "ping-\(i)-\(UUID().uuidString)",
                    body: #"{"zen":"Keep it logically awesome.","hook_id":\#(i)}"#, secret: d.secret)
        }
    }

    static func request(port: Int, event: String, delivery: String, body: String, secret: [UInt8]) -> [UInt8] {
        let data = Data(body.utf8)
        let head = "POST /webhook HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nX-GitHub-Event: \(event)\r\n"
            + "X-GitHub-Delivery: \(delivery)\r\nX-Hub-Signature-256: \(WebhookSignature.sign(body: data, secret: secret))\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(data.count)\r\n\r\n"
        return Array(head.utf8) + Array(data)
    }

    /// Resident set size in KiB.
    static func rss(_ pid: pid_t) -> Int {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" })[1]) ?? 0
    }

    static func payload(issue: Int) -> String {
        #"""
        {"action":"assigned","issue":{"number":\#(issue),"title":"Fix OAuth token refresh","body":"The refresh path ignores clock skew.",
         "user":{"login":"octocat","type":"User"},"assignee":{"login":"cody","type":"Bot"}},
         "assignee":{"login":"cody","type":"Bot"},
         "repository":{"name":"widget","full_name":"acme/widget","owner":{"login":"acme"},
          "clone_url":"https://github.com/acme/widget.git","default_branch":"main"},
         "installation":{"id":4242},"sender":{"login":"octocat","type":"User"}}
        """#
    }
}
