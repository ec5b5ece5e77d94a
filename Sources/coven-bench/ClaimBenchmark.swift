import Foundation
import Sandbox
import Supervisor
import PostgresStore
import StoreTesting   // the PostgreSQL test server (test support; the bench binary never ships)

/// `coven-bench claim`: what the dispatcher's store calls cost with a short queue and a
/// long one (GitHub webhooks piling up behind busy workers), and what they cost the
/// webhooks arriving meanwhile.
/// - claim plus finish: `TaskStore.claimNext`, then `recordAttempt` of a completed
///   attempt (each a commit, fsynced); a new task is queued after each (untimed), so the
///   queue keeps its length. The stores are measured interleaved, a block of cycles each
///   in turn, so the machine's noise hits them alike.
/// - deliveries beside claims: `recordDelivery` latency on the longest queue, alone and
///   while another thread claims and finishes tasks without pause.
enum ClaimBenchmark {
    enum Engine: String { case sqlite, postgres }

    static func spec(_ i: Int, installations: Int) -> TaskSpec {
        TaskSpec(id: "t_\(i)", installationID: Int64(i % installations),
                 repo: RepoRef(owner: "acme", name: "widgets", cloneURL: "https://github.com/acme/widgets.git",
                               defaultBranch: "main"),
                 trigger: .issueAssigned, kind: .fixIssue(issueNumber: i, title: "Issue \(i)", body: "Body."),
                 familiar: FamiliarRef(id: "cody", displayName: "Cody"))
    }

    static func run(queued: [Int], installations: Int, claims: Int, rounds: Int, engine: Engine = .sqlite,
                    explain: Bool = false) {
        var stores: [(n: Int, store: TaskStore, dir: String)] = []
        defer { for s in stores { try? FileManager.default.removeItem(atPath: s.dir) } }
        var next = 0
        func spec(_ i: Int) -> TaskSpec { ClaimBenchmark.spec(i, installations: installations) }
        let server: PostgresTestServer?
        do { server = engine == .postgres ? try FleetServer.start() : nil } catch {
            print("claim benchmark: no PostgreSQL test server: \(error)")
            return
        }
        defer { server?.stop() }
        do {
            for n in queued {
                let dir = NSTemporaryDirectory() + "coven-bench-claim-\(UUID().uuidString.prefix(8))"
                let store: TaskStore
                if let server {
                    store = TaskStore(backend: try PostgresBackend(conninfo: try server.createDatabase("claim_\(n)"),
                                                                   hostID: "bench-host"))
                } else {
                    store = try TaskStore(stateDirectory: dir)
                }
                stores.append((n, store, dir))
                var batch: [TaskSpec] = []
                for _ in 0..<n {
                    batch.append(spec(next)); next += 1
                    if batch.count == 1000 { try store.insert(batch); batch.removeAll() }
                }
                if !batch.isEmpty { try store.insert(batch) }
                // Fresh statistics, as autovacuum's analyze would have them after a bulk load.
                if let server { try server.psql("ANALYZE", db: "claim_\(n)") }
            }
        } catch {
            print("claim benchmark: filling the stores failed: \(error)")
            return
        }
        let done = AttemptEnd(report: nil, outcome: AttemptOutcome(attemptClass: .completed, disposition: .success,
                                                                   reason: "benchmark"))
        let retry = RetryPolicy(maxRetries: 0)
        var nextTask = next
        /// One claim and its finish: the wall seconds each took, and the CPU seconds of both
        /// (the work that could grow with the queue, without the disk's noisy fsyncs).
        func cycle(_ store: TaskStore) throws -> (claim: Double, finish: Double, cpu: Double) {
            var claimed: (spec: TaskSpec, attempt: Int)?
            var failure: (any Error)?
            var c = 0.0, f = 0.0
            let cpu = Bench.cpuTime {
                c = Bench.time {
                    do { claimed = try store.claimNext(globalLimit: 1_000_000, perInstallationLimit: 1_000_000) } catch { failure = error }
                }
                guard failure == nil, let claimed else { return }
                f = Bench.time {
                    do { try store.recordAttempt(taskID: claimed.spec.id, attempt: claimed.attempt, done, retry: retry) } catch { failure = error }
                }
            }
            if let failure { throw failure }
            if claimed == nil { throw BenchFailure("nothing to claim") }
            try store.insert(spec(nextTask)); nextTask += 1
            return (c, f, cpu)
        }

        var claimTimes = Array(repeating: [Double](), count: stores.count)
        var totals = Array(repeating: [Double](), count: stores.count)
        var cpus = Array(repeating: [Double](), count: stores.count)
        let perBlock = max(1, claims / max(1, rounds))
        do {
            for s in stores { for _ in 0..<20 { _ = try cycle(s.store) } }  // warm-up
            for _ in 0..<rounds {
                for (i, s) in stores.enumerated() {
                    for _ in 0..<perBlock {
                        let t = try cycle(s.store)
                        claimTimes[i].append(t.claim)
                        totals[i].append(t.claim + t.finish)
                        cpus[i].append(t.cpu)
                    }
                }
            }
        } catch {
            print("claim benchmark failed: \(error)")
            return
        }
        print("claim plus finish on \(engine == .postgres ? "PostgreSQL (one host, fsync on)" : "SQLite"), \(installations) installations, \(perBlock * rounds) cycles per queue length, interleaved in \(rounds) blocks")
        print(Bench.pad("queued", 12) + Bench.pad("claim", 12, left: true) + Bench.pad("claim+finish", 14, left: true)
              + Bench.pad("p99", 12, left: true) + Bench.pad("CPU of both", 14, left: true) + "   (medians; wall time includes 2 fsyncs)")
        for (i, s) in stores.enumerated() {
            print(Bench.pad("\(s.n)", 12) + Bench.ms(Bench.median(claimTimes[i])) + "   " + Bench.ms(Bench.median(totals[i]))
                  + Bench.ms(Bench.percentile(totals[i], 0.99)) + "   " + Bench.ms(Bench.median(cpus[i])))
        }
        if stores.count > 1 {
            let last = stores.count - 1
            print(String(format: "longest queue / shortest: claim+finish %.2fx wall, %.2fx CPU (claim alone %.2fx wall)",
                         Bench.median(totals[last]) / Bench.median(totals[0]), Bench.median(cpus[last]) / Bench.median(cpus[0]),
                         Bench.median(claimTimes[last]) / Bench.median(claimTimes[0])))
        }
        if let longest = stores.last { deliveriesBesideClaims(longest.store, longest.n, rounds: rounds, cycle: cycle) }
        if explain, let server, let longest = stores.last { explainClaim(server, db: "claim_\(longest.n)") }
    }

    /// The plans of `PostgresClaim`'s two searches on the longest queue, as the server ran
    /// them (`EXPLAIN (ANALYZE, BUFFERS)`, installation 0, this moment for `now`).
    private static func explainClaim(_ server: PostgresTestServer, db: String) {
        // A literal, as the store binds `now` as a parameter (a volatile function would plan differently).
        let now = String(format: "%.3f", Date().timeIntervalSince1970)
        let queries = [
            ("installations by turn", """
             SELECT r.installation_key AS ikey FROM installation_turns r
             WHERE EXISTS (SELECT 1 FROM tasks t WHERE t.installation_key = r.installation_key
                           AND t.state = 'queued' AND t.not_before <= \(now))
             ORDER BY r.last_claim, r.installation_key LIMIT 64
             """),
            ("running tasks of an installation", "SELECT COUNT(*) FROM tasks WHERE installation_key = 0 AND state = 'running'"),
            ("first claimable task of an installation", """
             SELECT t.id, t.spec, t.attempts, t.installation_id FROM tasks t
             WHERE t.installation_key = 0 AND t.state = 'queued' AND t.not_before <= \(now)
               AND (t.after_task IS NULL OR NOT EXISTS (
                    SELECT 1 FROM tasks prev WHERE prev.id = t.after_task AND prev.state IN ('queued','running')))
             ORDER BY t.seq LIMIT 1 FOR UPDATE OF t SKIP LOCKED
             """),
        ]
        for (what, sql) in queries {
            print("EXPLAIN (ANALYZE, BUFFERS), \(what), \(db):")
            print((try? server.psql("EXPLAIN (ANALYZE, BUFFERS) " + sql, db: db)) ?? "(failed)")
        }
    }

    /// `recordDelivery` latencies on `store`: alone, beside a thread recording other
    /// deliveries without pause, and beside a thread claiming and finishing tasks without
    /// pause; the three in turn, `rounds` times. A claim that held the writer longer than
    /// a delivery does would show as the third slower than the second.
    private static func deliveriesBesideClaims(_ store: TaskStore, _ n: Int, rounds: Int,
                                               cycle: @escaping (TaskStore) throws -> (claim: Double, finish: Double, cpu: Double)) {
        let hash = String(repeating: "ab", count: 32)
        final class Counter: @unchecked Sendable {
            let lock = NSLock(); var value = 0
            func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
        }
        let ids = Counter()
        @Sendable func deliver() {
            _ = try? store.recordDelivery(deliveryID: "bench-delivery-\(ids.next())", event: "issues.labeled",
                                          payloadSHA256: hash, outcome: .ignored(reason: "benchmark"), task: nil)
        }
        final class Background: @unchecked Sendable {
            let lock = NSLock(); var stop = false; var count = 0
            let done = DispatchSemaphore(value: 0)
            var stopped: Bool { lock.lock(); defer { lock.unlock() }; return stop }
            func tick() { lock.lock(); count += 1; lock.unlock() }
        }
        /// Latencies of 100 deliveries with `work` looping on another thread meanwhile;
        /// `work`'s loops per second.
        func measure(beside work: (@Sendable () -> Void)?) -> ([Double], Double) {
            let bg = Background()
            if let work {
                Thread {
                    while !bg.stopped { work(); bg.tick() }
                    bg.done.signal()
                }.start()
            }
            let start = ContinuousClock.now
            let times = (0..<100).map { _ in Bench.time { deliver() } }
            let elapsed = (ContinuousClock.now - start).seconds
            bg.lock.lock(); bg.stop = true; let count = bg.count; bg.lock.unlock()
            if work != nil { bg.done.wait() }
            return (times, Double(count) / elapsed)
        }
        nonisolated(unsafe) let claimAndFinish = cycle
        var alone: [Double] = [], besideDeliveries: [Double] = [], besideClaims: [Double] = []
        var deliveryRate: [Double] = [], claimRate: [Double] = []
        for _ in 0..<rounds {
            alone += measure(beside: nil).0
            let d = measure(beside: { deliver() })
            besideDeliveries += d.0; deliveryRate.append(d.1)
            let c = measure(beside: { _ = try? claimAndFinish(store) })
            besideClaims += c.0; claimRate.append(c.1)
        }
        print("recordDelivery with \(n) queued (medians of \(rounds) rounds of 100)")
        print(Bench.pad("", 44) + Bench.pad("median", 12, left: true) + Bench.pad("p99", 12, left: true))
        print(Bench.pad("alone", 44) + Bench.ms(Bench.median(alone)) + "  " + Bench.ms(Bench.percentile(alone, 0.99)))
        print(Bench.pad(String(format: "beside deliveries without pause (%.0f/s)", Bench.median(deliveryRate)), 44)
              + Bench.ms(Bench.median(besideDeliveries)) + "  " + Bench.ms(Bench.percentile(besideDeliveries, 0.99)))
        print(Bench.pad(String(format: "beside claim+finish without pause (%.0f/s)", Bench.median(claimRate)), 44)
              + Bench.ms(Bench.median(besideClaims)) + "  " + Bench.ms(Bench.percentile(besideClaims, 0.99)))
        print(String(format: "beside claims / beside deliveries: %.2fx median, %.2fx p99",
                     Bench.median(besideClaims) / Bench.median(besideDeliveries),
                     Bench.percentile(besideClaims, 0.99) / Bench.percentile(besideDeliveries, 0.99)))
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
