import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's resident memory (issue 14, goal 6): the real `serve` process, idle after
/// start-up (`settle` seconds, so its idle trim has run), then a load burst of `burst`
/// seconds (task-creating deliveries and pings in turn, 64 connections), then `after`
/// seconds of quiet. RSS from /proc/<pid>/status: idle, the peak sampled during the burst,
/// and at the end; goals printed beside them.
enum MemoryBenchmark {
    static func run(cli: String, concurrency: Int, settle: Double, burst: Double, after: Double) {
        WebhookBenchmark.withDaemon(cli: cli, concurrency: concurrency) { d in
            sleepSeconds(settle)
            let idle = WebhookBenchmark.rss(d.pid)
            var peak = idle
            var issue = 1_000_000
            var requests = 0
            let start = ContinuousClock.now
            while (ContinuousClock.now - start).seconds < burst {
                let tasks = WebhookBenchmark.taskRequests(d, issues: issue..<(issue + 500))
                issue += 500
                _ = WebhookBenchmark.load(port: d.port, requests: tasks, concurrency: concurrency)
                peak = max(peak, WebhookBenchmark.rss(d.pid))
                _ = WebhookBenchmark.load(port: d.port, requests: WebhookBenchmark.pingRequests(d, count: 2000), concurrency: concurrency)
                peak = max(peak, WebhookBenchmark.rss(d.pid))
                requests += 2500
            }
            let loaded = (ContinuousClock.now - start).seconds
            sleepSeconds(after)
            let end = WebhookBenchmark.rss(d.pid)
            func mib(_ kib: Int) -> String { String(format: "%8.1f MiB", Double(kib) / 1024) }
            print("daemon memory: real `serve` process, idle \(Int(settle)) s after start, then a \(Int(loaded)) s burst "
                  + "(\(requests) deliveries and pings, \(concurrency) connections), then \(Int(after)) s quiet")
            print(Bench.pad("RSS idle", 44) + mib(idle) + "   goal <= 30 MiB: " + (idle <= 30 * 1024 ? "met" : "not met"))
            print(Bench.pad("RSS peak during the burst", 44) + mib(peak))
            print(Bench.pad("RSS \(Int(after)) s after the burst", 44) + mib(end) + "   goal < 40 MiB: " + (end < 40 * 1024 ? "met" : "not met"))
        }
    }

    static func sleepSeconds(_ s: Double) {
        var left = timespec(tv_sec: Int(s), tv_nsec: Int((s - Double(Int(s))) * 1e9))
        var rest = timespec()
        while nanosleep(&left, &rest) != 0 && errno == EINTR { left = rest }
    }
}
