import Foundation
import HTTP
import Synchronization
import Sandbox
import Supervisor

/// A Prometheus histogram with fixed buckets (upper bounds in seconds).
public final class Histogram: Sendable {
    public let buckets: [Double]
    private struct State { var counts: [UInt64]; var sum: Double = 0; var count: UInt64 = 0 }
    private let state: Mutex<State>

    public init(buckets: [Double]) {
        self.buckets = buckets.sorted()
        state = Mutex(State(counts: Array(repeating: 0, count: buckets.count)))
    }

    public func observe(_ value: Double) {
        guard value.isFinite, value >= 0 else { return }
        state.withLock { s in
            for (i, b) in buckets.enumerated() where value <= b { s.counts[i] += 1 }
            s.sum += value
            s.count += 1
        }
    }

    public var count: UInt64 { state.withLock { $0.count } }

    /// The observations so far: per bucket (cumulative, as exposed), their sum and count.
    public var snapshot: (cumulative: [UInt64], sum: Double, count: UInt64) {
        state.withLock { ($0.counts, $0.sum, $0.count) }
    }

    /// An upper estimate of the `q` quantile (0…1): the bound of the first bucket holding
    /// it; nil without observations, +infinity past the last bucket.
    public func quantileUpperBound(_ q: Double) -> Double? {
        let s = snapshot
        guard s.count > 0 else { return nil }
        let rank = max(1, UInt64((Double(s.count) * min(max(q, 0), 1)).rounded(.up)))
        for (i, c) in s.cumulative.enumerated() where c >= rank { return buckets[i] }
        return .infinity
    }

    /// The exposition lines (`_bucket` cumulative, `_sum`, `_count`).
    func render(name: String) -> [String] {
        let s = state.withLock { $0 }
        var lines: [String] = []
        for (i, b) in buckets.enumerated() {
            lines.append("\(name)_bucket{le=\"\(DaemonMetrics.number(b))\"} \(s.counts[i])")
        }
        lines.append("\(name)_bucket{le=\"+Inf\"} \(s.count)")
        lines.append("\(name)_sum \(DaemonMetrics.number(s.sum))")
        lines.append("\(name)_count \(s.count)")
        return lines
    }
}

/// The daemon's metrics, served at `GET /metrics` in the Prometheus text format 0.0.4.
///
/// - `coven_tasks{state}` (gauge): tasks in each state, read from the store
/// - `coven_seccomp_denials_total{syscall}` (counter): syscalls refused with EPERM by the
///   attempts' seccomp profiles, from their exit reports
/// - `coven_attempts_total{class}` (counter): attempts by classification, from the store
///   (so it survives restarts); attempts in flight count as `running`
/// - `coven_webhook_responses_total{status}` (counter): answers given on `/webhook`
/// - `coven_sandbox_launch_seconds` (histogram): launch latency of attempt sandboxes
/// - `coven_attempt_duration_seconds` (histogram): wall time of attempts (exit report)
/// - `coven_store_up` (gauge): 1 when the store answers
/// - `coven_publications_pending` (gauge): events in the publication outbox (at most one
///   per task); it grows while GitHub is unreachable
/// - the listener (`HTTPServerStatistics`): `coven_http_connections_open` and
///   `coven_http_request_memory_bytes` (gauges), `coven_http_refused_total{reason}`
///   (`connection_limit`, `client_limit`, `memory_budget`) and
///   `coven_http_idle_evictions_total` (counters)
/// - egress (`proxy` network mode), summed over every attempt's proxy since the start
///   (`EgressMetrics`): `coven_egress_connections_total{outcome}`,
///   `coven_egress_denied_total{rule}`, `coven_egress_bytes_total{direction}`,
///   `coven_egress_byte_cap_closes_total`, `coven_egress_idle_timeouts_total`
///   (counters); `coven_egress_tunnels_open`, `coven_egress_proxies_active` (gauges)
/// - today's (UTC) usage per installation, from the store (`installationUsage`):
///   `coven_installation_{tasks,attempts,wall_seconds,cpu_seconds,peak_memory_bytes,egress_bytes}_today{installation}`
///   (gauges: they start again from 0 at midnight UTC)
/// - fleet mode (a shared store): every sample above gets `host="<host id>"` as its first
///   label, and two series are added: `coven_fleet_attempts_running{host}` (gauge: running
///   attempts of each host sharing the store, from the database; this host always listed)
///   and `coven_host_info{host,store="postgres"}` (always 1). A SQLite store: unchanged.
public final class DaemonMetrics: Sendable {
    public let sandboxLaunch = Histogram(buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])
    public let attemptDuration = Histogram(buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600])
    private let webhookResponses = Mutex<[Int: UInt64]>([:])
    /// Syscalls attempts' seccomp profiles refused with EPERM, by name, since the start.
    private let seccompDenials = Mutex<[String: UInt64]>([:])
    /// The process-wide egress counters and the number of proxies running.
    private let egress: @Sendable () -> (counters: EgressCounters, activeProxies: Int)

    public init(egress: @escaping @Sendable () -> (counters: EgressCounters, activeProxies: Int) = {
        (EgressMetrics.snapshot(), EgressMetrics.activeProxies)
    }) {
        self.egress = egress
    }

    private let http = Mutex<(@Sendable () -> HTTPServerStatistics?)?>(nil)

    /// Where the listener's figures come from (the daemon's `HTTPServer`).
    public func observeHTTP(_ statistics: @escaping @Sendable () -> HTTPServerStatistics?) {
        http.withLock { $0 = statistics }
    }

    public func countWebhookResponse(status: Int) {
        webhookResponses.withLock { $0[status, default: 0] += 1 }
    }

    public func webhookResponseCount(status: Int) -> UInt64 { webhookResponses.withLock { $0[status] ?? 0 } }

    /// The supervisor hook that feeds the two histograms.
    public var attemptObserver: AttemptObserver {
        AttemptObserver(
            sandboxLaunched: { [sandboxLaunch] _, _, latency in sandboxLaunch.observe(latency.seconds) },
            attemptFinished: { [attemptDuration, self] _, _, _, report in
                guard let report else { return }
                attemptDuration.observe(report.wallTime)
                self.countDenials(report.deniedSyscalls)
            })
    }

    private func countDenials(_ denied: [String: UInt64]) {
        if denied.isEmpty { return }
        seccompDenials.withLock { for (name, n) in denied { $0[name, default: 0] += n } }
    }

    /// The whole exposition text. Store figures are left out (and `coven_store_up` is 0)
    /// when the store does not answer.
    public func render(store: TaskStore?) -> String {
        var out: [String] = []
        func header(_ name: String, _ type: String, _ help: String) {
            out.append("# HELP \(name) \(help)")
            out.append("# TYPE \(name) \(type)")
        }
        let counts = try? store?.counts()
        let attempts = try? store?.attemptCounts()

        header("coven_store_up", "gauge", "Whether the task store answered this scrape (1) or not (0).")
        out.append("coven_store_up \(counts != nil && attempts != nil ? 1 : 0)")

        header("coven_tasks", "gauge", "Tasks in the store by state.")
        if let counts {
            for state in TaskState.allCases { out.append("coven_tasks{state=\"\(state.rawValue)\"} \(counts[state] ?? 0)") }
        }

        header("coven_publications_pending", "gauge", "Lifecycle events waiting in the publication outbox.")
        if let pending = try? store?.pendingPublicationCount() { out.append("coven_publications_pending \(pending)") }

        header("coven_attempts_total", "counter", "Attempts by classification (running: still in flight).")
        if let attempts {
            var classes = Set(AttemptClass.allCases.map(\.rawValue))
            classes.insert("running")
            classes.formUnion(attempts.keys)
            for c in classes.sorted() { out.append("coven_attempts_total{class=\"\(Self.escape(c))\"} \(attempts[c] ?? 0)") }
        }

        header("coven_webhook_responses_total", "counter", "Responses to webhook deliveries by HTTP status.")
        for (status, n) in webhookResponses.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            out.append("coven_webhook_responses_total{status=\"\(status)\"} \(n)")
        }

        header("coven_seccomp_denials_total", "counter", "Syscalls attempts' seccomp profiles refused with EPERM, by syscall.")
        for (name, n) in seccompDenials.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            out.append("coven_seccomp_denials_total{syscall=\"\(Self.escape(name))\"} \(n)")
        }

        header("coven_sandbox_launch_seconds", "histogram", "Time from launch request to the sandbox running its command.")
        out += sandboxLaunch.render(name: "coven_sandbox_launch_seconds")
        header("coven_attempt_duration_seconds", "histogram", "Wall time of attempts, launch to teardown.")
        out += attemptDuration.render(name: "coven_attempt_duration_seconds")

        if let h = http.withLock({ $0 })?() {
            header("coven_http_connections_open", "gauge", "Connections open on the listener.")
            out.append("coven_http_connections_open \(h.openConnections)")
            header("coven_http_refused_total", "counter", "Requests and connections refused with 503 by the listener's limits.")
            for (reason, n) in [("connection_limit", h.refusedConnectionLimit), ("client_limit", h.refusedClientLimit),
                                ("memory_budget", h.refusedMemoryBudget)] {
                out.append("coven_http_refused_total{reason=\"\(reason)\"} \(n)")
            }
            header("coven_http_idle_evictions_total", "counter", "Idle connections closed to make room for new ones.")
            out.append("coven_http_idle_evictions_total \(h.idleEvictions)")
            header("coven_http_request_memory_bytes", "gauge", "Bytes of request bodies held in memory now (budget: http.request_memory_budget).")
            out.append("coven_http_request_memory_bytes \(h.requestMemoryInUse)")
        }

        let (e, proxies) = egress()
        header("coven_egress_connections_total", "counter", "Connections through attempts' egress proxies by outcome.")
        for (outcome, n) in [("allowed", e.connectionsAllowed), ("denied", e.connectionsDenied),
                             ("invalid", e.connectionsInvalid), ("failed", e.connectionsFailed)] {
            out.append("coven_egress_connections_total{outcome=\"\(outcome)\"} \(n)")
        }
        header("coven_egress_denied_total", "counter", "Egress connections denied, by the rule that denied them.")
        for (rule, n) in [("host", e.deniedHost), ("port", e.deniedPort), ("address", e.deniedAddress),
                          ("byte_cap", e.deniedByteCap), ("connection_limit", e.deniedConnectionLimit), ("peer", e.deniedPeer)] {
            out.append("coven_egress_denied_total{rule=\"\(rule)\"} \(n)")
        }
        header("coven_egress_bytes_total", "counter", "Bytes moved through egress proxies (up: to destinations, down: from them).")
        out.append("coven_egress_bytes_total{direction=\"up\"} \(e.bytesUp)")
        out.append("coven_egress_bytes_total{direction=\"down\"} \(e.bytesDown)")
        header("coven_egress_byte_cap_closes_total", "counter", "Egress tunnels closed because an attempt reached its byte cap.")
        out.append("coven_egress_byte_cap_closes_total \(e.byteCapCloses)")
        header("coven_egress_idle_timeouts_total", "counter", "Egress tunnels closed for being idle.")
        out.append("coven_egress_idle_timeouts_total \(e.idleTimeouts)")
        header("coven_egress_tunnels_open", "gauge", "Egress tunnels open now.")
        out.append("coven_egress_tunnels_open \(e.tunnelsOpen)")
        header("coven_egress_proxies_active", "gauge", "Egress proxies running now (attempts in proxy network mode).")
        out.append("coven_egress_proxies_active \(proxies)")
        out += Self.installationUsage(store: store)
        if let store, store.isShared {
            // Every host of a fleet serves its own /metrics: its samples say whose they are.
            out = out.map { Self.labelled($0, host: store.hostID) } + Self.fleet(store: store)
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// A sample line with `host` as its first label; comment lines as they are.
    static func labelled(_ line: String, host: String) -> String {
        guard !line.hasPrefix("#"), let end = line.firstIndex(where: { $0 == "{" || $0 == " " }) else { return line }
        let label = "host=\"\(escape(host))\""
        if line[end] == "{" {
            return line[..<end] + "{" + label + "," + line[line.index(after: end)...]
        }
        return line[..<end] + "{" + label + "}" + line[end...]
    }

    /// The fleet as the shared store sees it (already labelled by host).
    static func fleet(store: TaskStore) -> [String] {
        var out = ["# HELP coven_host_info The host serving these metrics and its store.",
                   "# TYPE coven_host_info gauge",
                   "coven_host_info{host=\"\(escape(store.hostID))\",store=\"postgres\"} 1"]
        guard var running = try? store.runningAttemptsByHost() else { return out }
        running[store.hostID, default: 0] += 0
        out += ["# HELP coven_fleet_attempts_running Running attempts of every host sharing the store, by host.",
                "# TYPE coven_fleet_attempts_running gauge"]
        for (host, n) in running.sorted(by: { $0.key < $1.key }) {
            out.append("coven_fleet_attempts_running{host=\"\(escape(host))\"} \(n)")
        }
        return out
    }

    /// Today's usage of each installation that has some (the store keeps every day; the
    /// task API serves the history).
    static func installationUsage(store: TaskStore?) -> [String] {
        guard let rows = try? store?.usage(on: nil) else { return [] }
        var out: [String] = []
        let series: [(String, String, (InstallationUsage) -> String)] = [
            ("tasks", "Tasks accepted today (UTC), per installation.", { String($0.tasks) }),
            ("attempts", "Attempts started today (UTC), per installation.", { String($0.attempts) }),
            ("wall_seconds", "Attempt wall-clock seconds today (UTC), per installation.", { number($0.wallSeconds) }),
            ("cpu_seconds", "Attempt CPU seconds today (UTC), per installation.", { number($0.cpuSeconds) }),
            ("peak_memory_bytes", "The largest attempt peak memory today (UTC), per installation.", { String($0.peakMemoryBytes) }),
            ("egress_bytes", "Egress bytes of attempts today (UTC), per installation.", { String($0.egressBytes) }),
        ]
        for (name, help, value) in series {
            let metric = "coven_installation_\(name)_today"
            out.append("# HELP \(metric) \(help)")
            out.append("# TYPE \(metric) gauge")
            for u in rows { out.append("\(metric){installation=\"\(u.installationID)\"} \(value(u))") }
        }
        return out
    }

    /// Prometheus float formatting: integers without a fraction.
    static func number(_ d: Double) -> String {
        if d == d.rounded() && abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    /// The content type of the text format.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}
