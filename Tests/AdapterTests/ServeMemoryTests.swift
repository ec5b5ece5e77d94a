import XCTest
import Foundation
import Glibc
@testable import Adapter
@testable import HTTP

/// The real `coven-supervisor serve` process under unauthenticated load: request bodies
/// with a well-formed but wrong signature (so every byte has to be read before it can be
/// refused), stalled half-way. Its resident memory (VmRSS) must stay within its idle RSS
/// plus the request memory budget, however many such requests there are.
final class ServeMemoryTests: XCTestCase {
    static let budget = 64 << 20  // the default http.request_memory_budget

    final class GitHubDaemon: @unchecked Sendable {  // rss is read from a sampling thread; nothing else is shared
        let process = Process()
        let dir: String
        let port: UInt16
        var base: String { "http://127.0.0.1:\(port)" }

        init() throws {
            dir = NSTemporaryDirectory() + "coven-serve-mem-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            chmod(dir, 0o711)
            let key = try RSAPrivateKey.generate(bits: 2048)
            FileManager.default.createFile(atPath: dir + "/app.pem", contents: Data(try key.exportPrivateKeyPEM()),
                                           attributes: [.posixPermissions: 0o600])
            FileManager.default.createFile(atPath: dir + "/secret", contents: Data("memory-test-secret".utf8),
                                           attributes: [.posixPermissions: 0o600])
            port = try ServeTests.freePort()
            let config = """
            {"listen": "127.0.0.1:\(port)", "state_dir": "\(dir)/state",
             "github": {"app_id": 1, "private_key_path": "\(dir)/app.pem", "webhook_secret_path": "\(dir)/secret",
                        "api_base_url": "http://127.0.0.1:1"},
             "worker": {"runtime": ["/bin/true"], "concurrency": 1, "max_retries": 0},
             "sandbox": {"network": "none"},
             "familiars": [{"id": "cody", "display_name": "Cody", "bot_username": "cody"}]}
            """
            FileManager.default.createFile(atPath: dir + "/config.json", contents: Data(config.utf8))
            process.executableURL = URL(fileURLWithPath: ServeTests.binary)
            process.arguments = ["serve", "--config", dir + "/config.json"]
            process.standardOutput = FileHandle.nullDevice
            FileManager.default.createFile(atPath: dir + "/stderr", contents: nil)
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/stderr"))
            try process.run()
        }

        var stderr: String { (try? String(contentsOfFile: dir + "/stderr", encoding: .utf8)) ?? "" }

        /// VmRSS in bytes (serve execs the daemon binary: same pid).
        var rss: Int {
            guard let s = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
                  let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
                  let kib = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" })[1]) else { return 0 }
            return kib * 1024
        }

        /// One sample of the listener's figures from /metrics.
        func metric(_ name: String) -> Int? {
            let text = (try? HTTPClient(keepAlive: false).get(base + "/metrics", timeout: 5))?.text ?? ""
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + " ") }) else { return nil }
            return Int(line.split(separator: " ")[1])
        }

        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    /// Peak of `sample` taken every 20 ms while `body` runs.
    func peak(of sample: @escaping @Sendable () -> Int, during body: () throws -> Void) rethrows -> Int {
        final class Peak: @unchecked Sendable {
            let lock = NSLock()
            var value = 0
            var running = true
        }
        let p = Peak()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            while p.lock.withLock({ p.running }) {
                let v = sample()
                p.lock.withLock { p.value = max(p.value, v) }
                usleep(20_000)
            }
            done.signal()
        }
        try body()
        p.lock.withLock { p.running = false }
        done.wait()
        return max(p.value, sample())
    }

    func testStalledUnauthenticatedBodiesStayWithinTheMemoryBudget() throws {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        try XCTSkipIf(limit.rlim_cur < 512, "RLIMIT_NOFILE \(limit.rlim_cur) is too low for 100 clients")
        let d = try GitHubDaemon()
        let up = eventually(timeout: 60, interval: 0.1) {
            d.process.isRunning && (try? HTTPClient(keepAlive: false).get(d.base + "/healthz", timeout: 2))?.status == 200
        }
        XCTAssertTrue(up, "serve did not answer /healthz: \(d.stderr)")
        guard up else { return }
        let idle = d.rss

        // 100 clients (the per-client cap is 64: they come from 100 loopback addresses)
        // announce GitHub's largest body with a wrong signature and send the head only.
        let wrong = "sha256=" + String(repeating: "0", count: 64)
        let clients = try (0..<100).map { i -> RawClient in
            let c = try RawClient(port: d.port, from: "127.0.1.\(i + 1)")
            c.send("POST /webhook HTTP/1.1\r\nHost: coven\r\nContent-Type: application/json\r\nX-GitHub-Event: issues\r\n"
                   + "X-GitHub-Delivery: mem-\(i)\r\nX-Hub-Signature-256: \(wrong)\r\nContent-Length: \(25 << 20)\r\n\r\n")
            return c
        }
        XCTAssertTrue(eventually(timeout: 10) { d.metric("coven_http_connections_open") ?? 0 >= 100 },
                      "the daemon did not take the 100 requests in: \(d.stderr)")
        let connected = d.rss

        // Then 4 MiB of body each, and they stall: 400 MiB would be held without a budget.
        let chunk = [UInt8](repeating: 0x7B, count: 4 << 20)
        let rss = { @Sendable in d.rss }
        let highest = peak(of: rss) {
            for c in clients { _ = HTTPSocket.writeAll(c.fd, chunk, deadline: HTTPSocket.deadline(after: 2)) }
            // Settled: the bytes in flight stop moving.
            var last = -1
            _ = eventually(timeout: 10, interval: 0.2) {
                let now = d.metric("coven_http_request_memory_bytes") ?? -1
                defer { last = now }
                return now == last
            }
        }
        let mib = { (bytes: Int) in String(format: "%.1f MiB", Double(bytes) / 1048576) }
        print("serve RSS: idle \(mib(idle)), with 100 heads \(mib(connected)), peak with 100 stalled bodies \(mib(highest)); "
              + "refused for the budget: \(d.metric("coven_http_refused_total{reason=\"memory_budget\"}") ?? -1)")
        XCTAssertLessThan(highest - idle, Self.budget,
                          "100 stalled unauthenticated requests must stay within the idle RSS plus the memory budget: "
                          + "idle \(mib(idle)), with their heads \(mib(connected)), peak \(mib(highest))")
        withExtendedLifetime(clients) {}
        kill(d.process.processIdentifier, SIGTERM)
        _ = eventually(timeout: 30) { !d.process.isRunning }
    }
}
