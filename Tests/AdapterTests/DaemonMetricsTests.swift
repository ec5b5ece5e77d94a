import XCTest
import Foundation
@testable import Adapter
@testable import HTTP
import Supervisor
import Sandbox

/// `/metrics` is valid Prometheus text and its counters move; `/healthz` answers.
final class DaemonMetricsTests: XCTestCase {
    struct Sample { var name: String; var labels: String; var value: Double }

    /// Parses the text format strictly enough: every line is a comment (# HELP/# TYPE)
    /// or `name{labels} value`; every sample's family was TYPEd before it.
    func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> [Sample] {
        var typed: [String: String] = [:]
        var samples: [Sample] = []
        XCTAssertTrue(text.hasSuffix("\n"), "the exposition ends with a newline", file: file, line: line)
        for l in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if l.hasPrefix("# TYPE ") {
                let parts = l.split(separator: " ")
                XCTAssertEqual(parts.count, 4, "TYPE line: \(l)", file: file, line: line)
                if parts.count == 4 { typed[String(parts[2])] = String(parts[3]) }
                continue
            }
            if l.hasPrefix("# HELP ") { continue }
            let m = l.wholeMatch(of: /([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)/)
            guard let m, let v = Double(m.3) ?? (m.3 == "+Inf" ? .infinity : nil) else {
                XCTFail("not a sample line: '\(l)'", file: file, line: line); continue
            }
            let name = String(m.1)
            let family = ["_bucket", "_sum", "_count"].reduce(name) { n, s in
                n.hasSuffix(s) && typed[String(n.dropLast(s.count))] == "histogram" ? String(n.dropLast(s.count)) : n
            }
            XCTAssertNotNil(typed[family], "sample \(name) has no # TYPE before it", file: file, line: line)
            samples.append(Sample(name: name, labels: m.2.map(String.init) ?? "", value: v))
        }
        return samples
    }

    func value(_ s: [Sample], _ name: String, _ labels: String = "") -> Double? {
        s.first { $0.name == name && $0.labels == labels }?.value
    }

    func testMetricsTextHasEveryFamilyAndCountersMove() throws {
        let f = try DaemonRouteFixture()
        let before = parse(try f.client.get(f.url("/metrics")).text ?? "")
        XCTAssertEqual(value(before, "coven_tasks", #"{state="queued"}"#), 0)
        XCTAssertEqual(value(before, "coven_store_up"), 1)
        for name in ["coven_sandbox_launch_seconds_count", "coven_attempt_duration_seconds_count"] {
            XCTAssertEqual(value(before, name), 0, "\(name) is exposed from the start")
        }
        XCTAssertNotNil(value(before, "coven_attempts_total", #"{class="completed"}"#), "attempt classes are exposed at zero")
        for (name, labels) in [("coven_egress_connections_total", #"{outcome="allowed"}"#),
                               ("coven_egress_connections_total", #"{outcome="denied"}"#),
                               ("coven_egress_bytes_total", #"{direction="up"}"#), ("coven_egress_bytes_total", #"{direction="down"}"#),
                               ("coven_egress_proxies_active", "")] {
            XCTAssertNotNil(value(before, name, labels), "\(name)\(labels) is exposed from the start")
        }

        _ = try f.deliver(event: "issues", delivery: "d-metrics", body: WebhookFixtures.issuesAssigned(assignee: "coven-cody[bot]"))
        _ = try f.deliver(event: "issues", delivery: "d-bad", body: "{}", signature: .some(nil))
        let after = parse(try f.client.get(f.url("/metrics")).text ?? "")
        XCTAssertEqual(value(after, "coven_tasks", #"{state="queued"}"#), 1, "the queued gauge follows the store")
        XCTAssertEqual(value(after, "coven_webhook_responses_total", #"{status="202"}"#), 1)
        XCTAssertEqual(value(after, "coven_webhook_responses_total", #"{status="401"}"#), 1)
    }

    func testHistogramBucketsAreCumulative() throws {
        let m = DaemonMetrics()
        for v in [0.003, 0.02, 0.02, 0.7, 30] { m.sandboxLaunch.observe(v) }
        let s = parse(m.render(store: nil))
        XCTAssertEqual(value(s, "coven_sandbox_launch_seconds_bucket", #"{le="0.005"}"#), 1)
        XCTAssertEqual(value(s, "coven_sandbox_launch_seconds_bucket", #"{le="0.025"}"#), 3)
        XCTAssertEqual(value(s, "coven_sandbox_launch_seconds_bucket", #"{le="1"}"#), 4)
        XCTAssertEqual(value(s, "coven_sandbox_launch_seconds_bucket", #"{le="+Inf"}"#), 5)
        XCTAssertEqual(value(s, "coven_sandbox_launch_seconds_count"), 5)
        XCTAssertEqual(value(s, "coven_sandbox_launch_seconds_sum") ?? 0, 30.743, accuracy: 1e-9)
        XCTAssertEqual(value(s, "coven_store_up"), 0, "no store: store_up says so")
    }

    func testEgressCountersAreExported() throws {
        var c = EgressCounters()
        c.connectionsAllowed = 7; c.connectionsDenied = 3; c.connectionsInvalid = 1; c.connectionsFailed = 2
        c.deniedHost = 2; c.deniedAddress = 1
        c.bytesUp = 1200; c.bytesDown = 98_765
        c.byteCapCloses = 1; c.idleTimeouts = 4; c.tunnelsOpen = 5
        let counters = c
        let s = parse(DaemonMetrics(egress: { (counters, 2) }).render(store: nil))
        XCTAssertEqual(value(s, "coven_egress_connections_total", #"{outcome="allowed"}"#), 7)
        XCTAssertEqual(value(s, "coven_egress_connections_total", #"{outcome="denied"}"#), 3)
        XCTAssertEqual(value(s, "coven_egress_connections_total", #"{outcome="invalid"}"#), 1)
        XCTAssertEqual(value(s, "coven_egress_connections_total", #"{outcome="failed"}"#), 2)
        XCTAssertEqual(value(s, "coven_egress_denied_total", #"{rule="host"}"#), 2)
        XCTAssertEqual(value(s, "coven_egress_denied_total", #"{rule="address"}"#), 1)
        XCTAssertEqual(value(s, "coven_egress_denied_total", #"{rule="byte_cap"}"#), 0)
        XCTAssertEqual(value(s, "coven_egress_bytes_total", #"{direction="up"}"#), 1200)
        XCTAssertEqual(value(s, "coven_egress_bytes_total", #"{direction="down"}"#), 98_765)
        XCTAssertEqual(value(s, "coven_egress_byte_cap_closes_total"), 1)
        XCTAssertEqual(value(s, "coven_egress_idle_timeouts_total"), 4)
        XCTAssertEqual(value(s, "coven_egress_tunnels_open"), 5)
        XCTAssertEqual(value(s, "coven_egress_proxies_active"), 2)
    }

    func testObserverFeedsTheHistograms() throws {
        let m = DaemonMetrics()
        let task = TaskSpec(id: "t_obs", repo: RepoRef(owner: "a", name: "b", cloneURL: "https://example.invalid/a/b.git", defaultBranch: "main"),
                            trigger: .issueAssigned, kind: .fixIssue(issueNumber: 1, title: "t", body: ""),
                            familiar: FamiliarRef(id: "f", displayName: "F"))
        m.attemptObserver.sandboxLaunched(task, 1, .milliseconds(12))
        m.attemptObserver.attemptFinished(task, 1, AttemptOutcome(attemptClass: .completed, disposition: .success, reason: "ok"),
                                          ExitReport(exitClass: .exited(code: 0), wallTime: 42))
        m.attemptObserver.attemptFinished(task, 2, AttemptOutcome(attemptClass: .retrySafe, disposition: .failure, reason: "token"), nil)
        XCTAssertEqual(m.sandboxLaunch.count, 1)
        XCTAssertEqual(m.attemptDuration.count, 1, "an attempt without a sandbox has no duration to observe")
    }

    func testSeccompDenialsOfFinishedAttemptsAreCountedBySyscall() throws {
        let m = DaemonMetrics()
        let task = TaskSpec(id: "t_sec", repo: RepoRef(owner: "a", name: "b", cloneURL: "https://example.invalid/a/b.git", defaultBranch: "main"),
                            trigger: .issueAssigned, kind: .fixIssue(issueNumber: 1, title: "t", body: ""),
                            familiar: FamiliarRef(id: "f", displayName: "F"))
        let done = AttemptOutcome(attemptClass: .completed, disposition: .success, reason: "ok")
        m.attemptObserver.attemptFinished(task, 1, done, ExitReport(exitClass: .exited(code: 0), deniedSyscalls: ["mount": 2, "keyctl": 1]))
        m.attemptObserver.attemptFinished(task, 2, done, ExitReport(exitClass: .exited(code: 0), deniedSyscalls: ["mount": 1]))
        let s = parse(m.render(store: nil))
        let denials = Dictionary(uniqueKeysWithValues: s.filter { $0.name == "coven_seccomp_denials_total" }.map { ($0.labels, $0.value) })
        XCTAssertEqual(denials, [#"{syscall="keyctl"}"#: 1, #"{syscall="mount"}"#: 3], "denials summed over attempts, by syscall")
    }

    func testListenerFiguresAreExposedOnceAServerIsObserved() throws {
        let metrics = DaemonMetrics()
        let server = HTTPServer(host: "127.0.0.1", port: 0, limits: HTTPServerLimits(shutdownGrace: 1)) { _ in .text(200, "") }
        try server.start()
        defer { server.shutdown() }
        metrics.observeHTTP { [weak server] in server?.statistics }
        _ = try HTTPClient(keepAlive: false).get("http://127.0.0.1:\(server.port)/", timeout: 5)
        let s = parse(metrics.render(store: nil))
        for reason in ["connection_limit", "client_limit", "memory_budget"] {
            XCTAssertEqual(value(s, "coven_http_refused_total", #"{reason="\#(reason)"}"#), 0, "refusals by \(reason) are exposed")
        }
        XCTAssertEqual(value(s, "coven_http_idle_evictions_total"), 0)
        XCTAssertNotNil(value(s, "coven_http_connections_open"), "open connections are exposed")
        XCTAssertNotNil(value(s, "coven_http_request_memory_bytes"), "request memory in use is exposed")
    }
}
