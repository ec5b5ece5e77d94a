import Foundation
import HTTP
import Adapter

/// Webhook ingestion of the real daemon process: signed `issues.assigned` deliveries
/// per second, p50/p99 latency to the durable 202, and the daemon's resident memory
/// idle and under load. The load generator runs here, on loopback.
enum WebhookBenchmark {
    static func run(cli: String, requests: Int, concurrency: Int) {
        let dir = NSTemporaryDirectory() + "coven-bench-webhook-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chmod(dir, 0o711)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let secret = Array("bench-secret-\(UUID().uuidString)".utf8)
        do {
            let key = try RSAPrivateKey.generate(bits: 2048)
            _ = FileManager.default.createFile(atPath: dir + "/app.pem", contents: Data(try key.exportPrivateKeyPEM()),
                                           attributes: [.posixPermissions: 0o600])
        } catch { print("key generation failed: \(error)"); return }
        _ = FileManager.default.createFile(atPath: dir + "/secret", contents: Data(secret), attributes: [.posixPermissions: 0o600])
        let port = 20000 + Int.random(in: 0..<20000)
        // Tasks are accepted durably; the one worker then fails them fast (nothing to clone),
        // with a long backoff so the background stays quiet during the measurement.
        let config = """
        {"listen": "127.0.0.1:\(port)", "state_dir": "\(dir)/state",
         "github": {"app_id": 1, "private_key_path": "\(dir)/app.pem", "webhook_secret_path": "\(dir)/secret",
                    "api_base_url": "http://127.0.0.1:1"},
         "worker": {"runtime": ["/bin/true"], "concurrency": 1, "max_retries": 0, "timeout": "5s", "grace": "1s"},
         "sandbox": {"network": "none"},
         "familiars": [{"id": "cody", "display_name": "Cody", "bot_username": "cody"}]}
        """
        _ = FileManager.default.createFile(atPath: dir + "/config.json", contents: Data(config.utf8))

        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: cli)
        daemon.arguments = ["serve", "--config", dir + "/config.json"]
        daemon.standardOutput = FileHandle.nullDevice
        FileManager.default.createFile(atPath: dir + "/daemon.log", contents: nil)
        daemon.standardError = FileHandle(forWritingAtPath: dir + "/daemon.log")
        do { try daemon.run() } catch { print("cannot start \(cli): \(error)"); return }
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
            return
        }
        usleep(500_000)
        let idleRSS = rss(daemon.processIdentifier)

        let body = Data(payload.utf8)
        let signature = WebhookSignature.sign(body: body, secret: secret)
        @Sendable func send(_ client: HTTPClient, _ n: Int) -> (Double, Int) {
            let headers: HTTPHeaders = ["X-GitHub-Event": "issues", "X-GitHub-Delivery": "bench-\(n)-\(UUID().uuidString)",
                                        "X-Hub-Signature-256": signature, "Content-Type": "application/json"]
            let start = ContinuousClock.now
            let status = (try? client.request("POST", base + "/webhook", headers: headers, body: body, timeout: 30))?.status ?? -1
            return ((ContinuousClock.now - start).seconds, status)
        }
        // Warm-up.
        for i in 0..<50 { _ = send(probe, -i - 1) }

        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var latencies: [Double] = []
            var statuses: [Int: Int] = [:]
        }
        let results = Results()
        var peakRSS = idleRSS
        let perWorker = requests / concurrency
        let start = ContinuousClock.now
        let group = DispatchGroup()
        for w in 0..<concurrency {
            group.enter()
            Thread {
                let client = HTTPClient()
                var mine: [Double] = []
                var st: [Int: Int] = [:]
                for i in 0..<perWorker {
                    let (t, s) = send(client, w * perWorker + i)
                    mine.append(t); st[s, default: 0] += 1
                }
                results.lock.lock(); results.latencies += mine; for (k, v) in st { results.statuses[k, default: 0] += v }; results.lock.unlock()
                group.leave()
            }.start()
        }
        while group.wait(timeout: .now() + 0.1) == .timedOut { peakRSS = max(peakRSS, rss(daemon.processIdentifier)) }
        let elapsed = (ContinuousClock.now - start).seconds
        let latencies = results.latencies, statuses = results.statuses

        print("webhook ingestion: \(latencies.count) signed issues.assigned deliveries, \(concurrency) keep-alive clients, real `serve` process")
        print(Bench.pad("deliveries per second", 34) + String(format: "%10.0f", Double(latencies.count) / elapsed))
        print(Bench.pad("latency to durable answer p50", 34) + Bench.ms(Bench.percentile(latencies, 0.5)))
        print(Bench.pad("latency to durable answer p99", 34) + Bench.ms(Bench.percentile(latencies, 0.99)))
        print(Bench.pad("responses", 34) + statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
        print(Bench.pad("daemon RSS idle", 34) + String(format: "%8.1f MiB", Double(idleRSS) / 1024))
        print(Bench.pad("daemon RSS peak under load", 34) + String(format: "%8.1f MiB", Double(peakRSS) / 1024))
    }

    /// Resident set size in KiB.
    static func rss(_ pid: pid_t) -> Int {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" })[1]) ?? 0
    }

    static let payload = #"""
    {"action":"assigned","issue":{"number":42,"title":"Fix OAuth token refresh","body":"The refresh path ignores clock skew.",
     "user":{"login":"octocat","type":"User"},"assignee":{"login":"cody","type":"Bot"}},
     "assignee":{"login":"cody","type":"Bot"},
     "repository":{"name":"widget","full_name":"acme/widget","owner":{"login":"acme"},
      "clone_url":"https://github.com/acme/widget.git","default_branch":"main"},
     "installation":{"id":4242},"sender":{"login":"octocat","type":"User"}}
    """#
}
