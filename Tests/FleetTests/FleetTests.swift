import XCTest
import Foundation
import Synchronization
@testable import Adapter
@testable import AdapterTesting
@testable import HTTP
import Supervisor
import PostgresStore
import StoreTesting

/// Fleet mode end to end: three real `serve` daemons on one PostgreSQL queue, 300 signed
/// webhook deliveries spread over them, one host SIGKILLed twice and restarted; then what
/// the database and the fake GitHub hold: every task final, finished once, published once,
/// per-installation concurrency held fleet-wide, and a cancel on one host stopping a task
/// running on another.
final class FleetTests: XCTestCase {
    static let taskCount = 300
    static let installationIDs: [Int64] = [5001, 5002, 5003, 5004, 5005]
    static let maxConcurrent = 2
    static let finalStates = ["completed", "failed", "cancelled"]

    private var fleet: Fleet?

    override func tearDown() {
        let keep = (testRun?.failureCount ?? 0) > 0 || ProcessInfo.processInfo.environment["COVEN_FLEET_KEEP_LOGS"] != nil
        if let kept = fleet?.shutdown(keepLogs: keep) {
            print("fleet: the hosts' logs are kept in \(kept)")
        }
        fleet = nil
        super.tearDown()
    }

    /// Records, every ~100 ms, the most tasks running at once per installation.
    final class ConcurrencySampler: @unchecked Sendable {
        private let conninfo: String
        private let lock = NSLock()
        private var maxima: [Int64: Int] = [:]
        private var samples = 0
        private var failures = 0
        private var done = false
        private var thread: Thread?
        private let finished = DispatchSemaphore(value: 0)

        init(conninfo: String) { self.conninfo = conninfo }

        func start() {
            let t = Thread { [self] in run() }
            t.name = "fleet-sampler"
            thread = t
            t.start()
        }

        private func run() {
            var conn: PostgresConnection?
            while !(lock.withLock { done }) {
                do {
                    if conn == nil { conn = try PostgresConnection(conninfo: conninfo, applicationName: "fleet-sampler") }
                    let rows = try conn!.query(
                        "SELECT installation_id, COUNT(*) AS n FROM tasks WHERE state = 'running' GROUP BY installation_id", [])
                    lock.withLock {
                        samples += 1
                        for r in rows {
                            guard let id = r.int("installation_id"), let n = r.int("n") else { continue }
                            maxima[id] = max(maxima[id] ?? 0, Int(n))
                        }
                    }
                } catch {
                    conn = nil
                    lock.withLock { failures += 1 }
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
            finished.signal()
        }

        /// Stops the sampling and waits for its last query (again: a no-op).
        func stop() {
            let first = lock.withLock { () -> Bool in defer { done = true }; return !done }
            if first && thread != nil { finished.wait() }
        }

        var result: (maxima: [Int64: Int], samples: Int, failures: Int) {
            lock.withLock { (maxima, samples, failures) }
        }
    }

    // MARK: - 300 tasks on three hosts, one killed twice

    func testThreeHostsRunThreeHundredTasksOnceEachThroughTwoKills() throws {
        let began = Date()
        let f = try Fleet(hostIDs: ["host-a", "host-b", "host-c"], installations: Self.installationIDs,
                          maxConcurrent: Self.maxConcurrent, concurrency: 4, lease: "3s")
        fleet = f
        for h in f.hosts { try h.start() }
        let victim = f.hosts[2]
        let sampler = ConcurrencySampler(conninfo: f.conninfo)
        sampler.start()
        defer { sampler.stop() }
        let runStart = Date()

        // Deliveries, round-robin over the hosts (the next one when a host is down), from a
        // thread of their own so the kills below happen while they arrive too.
        let delivered = Mutex<[String?]>([])
        let deliveriesDone = DispatchSemaphore(value: 0)
        let deliverer = Thread {
            for n in 0..<Self.taskCount {
                let installation = Self.installationIDs[n % Self.installationIDs.count]
                let issue = n / Self.installationIDs.count + 1
                let id = f.deliverToAnyHost(first: n % f.hosts.count, installation: installation, issue: issue,
                                            title: "Fleet task \(n)")
                delivered.withLock { $0.append(id) }
                Thread.sleep(forTimeInterval: 0.02)
            }
            deliveriesDone.signal()
        }
        deliverer.start()

        // Two SIGKILLs of host-c at random moments, each while it runs an attempt: the first
        // restarted at once (it recovers its own attempts at start), the second kept down
        // longer than the lease (the other hosts take its attempts over).
        var kills: [(at: TimeInterval, running: Int, down: TimeInterval)] = []
        for (k, down) in [Double.random(in: 0.2...1.0), Double.random(in: 4.5...6.0)].enumerated() {
            Thread.sleep(forTimeInterval: Double.random(in: 2...6))
            _ = poll(timeout: 20, interval: 0.05) {
                f.count("SELECT COUNT(*) AS n FROM attempts WHERE host_id = ? AND state = 'running'", [victim.id]) > 0
            }
            let running = f.count("SELECT COUNT(*) AS n FROM attempts WHERE host_id = ? AND state = 'running'", [victim.id])
            victim.kill9()
            kills.append((Date().timeIntervalSince(runStart), running, down))
            Thread.sleep(forTimeInterval: down)
            XCTAssertNoThrow(try victim.start(), "\(victim.id) did not come back after kill \(k + 1)")
        }

        XCTAssertEqual(deliveriesDone.wait(timeout: .now() + 120), .success, "the deliveries did not finish")
        let ids = delivered.withLock { $0 }
        XCTAssertEqual(ids.compactMap { $0 }.count, Self.taskCount,
                       "every delivery must queue a task (\(ids.filter { $0 == nil }.count) were not)\n\(f.logTails())")
        XCTAssertEqual(f.count("SELECT COUNT(*) AS n FROM tasks"), Self.taskCount, "the store holds one task per delivery")

        // All final, and every publication out (the outbox empty, every Check Run completed).
        let allFinal = poll(timeout: 240, interval: 0.25) {
            f.count("SELECT COUNT(*) AS n FROM tasks WHERE state NOT IN ('completed','failed','cancelled')") == 0
        }
        let finalAt = Date().timeIntervalSince(runStart)
        let notFinal = (try? f.query("SELECT id, state FROM tasks WHERE state NOT IN ('completed','failed','cancelled')")) ?? []
        XCTAssertTrue(allFinal, "\(notFinal.count) tasks never reached a final state: "
                      + notFinal.prefix(10).map { "\($0.string("id") ?? "?")=\($0.string("state") ?? "?")" }.joined(separator: ", ")
                      + "\n\(f.logTails())")
        let published = poll(timeout: 120, interval: 0.25) {
            f.count("SELECT COUNT(*) AS n FROM publications") == 0
                && f.fake.checkRuns.filter { $0.status == "completed" }.count >= Self.taskCount
        }
        let publishedAt = Date().timeIntervalSince(runStart)
        sampler.stop()

        // Each task: exactly one finished attempt, the one its final state came from.
        let states = try f.query("SELECT state, COUNT(*) AS n FROM tasks GROUP BY state ORDER BY state")
            .map { "\($0.string("state") ?? "?")=\($0.int("n") ?? 0)" }
        // (A finished attempt classified retry_safe, e.g. a failed clone, is a retry, not a second run.)
        let completedTwice = try f.query("""
            SELECT task_id, COUNT(*) AS n FROM attempts WHERE state = 'finished' AND classification = 'completed'
            GROUP BY task_id HAVING COUNT(*) > 1
            """)
        XCTAssertTrue(completedTwice.isEmpty, "tasks completed by more than one attempt (run to completion twice): "
                      + completedTwice.prefix(10).map { "\($0.string("task_id") ?? "?")×\($0.int("n") ?? 0)" }.joined(separator: ", "))
        let retried = try f.query("""
            SELECT task_id, number, host_id, note FROM attempts WHERE state = 'finished' AND classification <> 'completed'
            ORDER BY task_id, number
            """).map { "\($0.string("task_id") ?? "?")#\($0.int("number") ?? 0)@\($0.string("host_id") ?? "?"): \(($0.string("note") ?? "-").prefix(120))" }
        let withoutFinish = try f.query("""
            SELECT t.id AS id, t.state AS state FROM tasks t WHERE t.state = 'completed'
              AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.task_id = t.id AND a.state = 'finished' AND a.classification = 'completed')
            """)
        XCTAssertTrue(withoutFinish.isEmpty, "completed tasks without a completed attempt: \(withoutFinish.count)")
        let attemptsMismatch = try f.query("""
            SELECT t.id AS id FROM tasks t WHERE t.attempts <> (SELECT COUNT(*) FROM attempts a WHERE a.task_id = t.id)
            """)
        XCTAssertTrue(attemptsMismatch.isEmpty,
                      "tasks whose attempt counter disagrees with their attempts rows: \(attemptsMismatch.count)")
        let notCompleted = try f.query("SELECT id, state, final_reason FROM tasks WHERE state <> 'completed' LIMIT 10")
        XCTAssertTrue(notCompleted.isEmpty, "every task's runtime succeeds, so every task should complete: "
                      + notCompleted.map { "\($0.string("id") ?? "?") \($0.string("state") ?? "?"): \($0.string("final_reason") ?? "-")" }
                        .joined(separator: "; "))

        // Published once: one Check Run per task (external_id = task id), completed.
        let runs = f.fake.checkRuns
        XCTAssertTrue(published, "the publications did not all go out: \(f.count("SELECT COUNT(*) AS n FROM publications")) pending, "
                      + "\(runs.filter { $0.status == "completed" }.count) of \(runs.count) Check Runs completed\n\(f.logTails())")
        let byTask = Dictionary(grouping: runs, by: { $0.externalID ?? "-" })
        let taskIDs = Set(try f.query("SELECT id FROM tasks").compactMap { $0.string("id") })
        let duplicated = byTask.filter { $0.value.count > 1 }
        XCTAssertTrue(duplicated.isEmpty, "tasks with more than one Check Run (published twice): \(duplicated.count), e.g. "
                      + duplicated.prefix(5).map { "\($0.key): \($0.value.map(\.id))" }.joined(separator: "; "))
        let missing = taskIDs.subtracting(byTask.keys)
        XCTAssertTrue(missing.isEmpty, "tasks without a Check Run: \(missing.count), e.g. \(missing.prefix(5))")
        XCTAssertEqual(Set(byTask.keys).subtracting(taskIDs), [], "Check Runs of no task")
        let unconcluded = runs.filter { $0.status != "completed" || $0.conclusion == nil }
        XCTAssertTrue(unconcluded.isEmpty, "Check Runs never concluded: \(unconcluded.count), e.g. "
                      + unconcluded.prefix(5).map { "\($0.externalID ?? "?"): \($0.statusHistory)" }.joined(separator: "; "))
        let conclusions = Dictionary(grouping: runs, by: { $0.conclusion ?? "nil" }).mapValues(\.count)
        XCTAssertEqual(conclusions, ["success": Self.taskCount], "every Check Run concluded success")
        // A completed run may be re-sent the same conclusion (an idempotent republication),
        // never completed again with another one, and never reopened after it completed.
        let reopened = runs.filter { r in
            guard let first = r.statusHistory.firstIndex(of: "completed") else { return false }
            return r.statusHistory[first...].contains { $0 != "completed" }
        }
        XCTAssertTrue(reopened.isEmpty, "Check Runs reopened after they completed: "
                      + reopened.prefix(5).map { "\($0.externalID ?? "?"): \($0.statusHistory)" }.joined(separator: "; "))
        let recompleted = runs.filter { $0.statusHistory.filter { $0 == "completed" }.count > 1 }.count

        // Per-installation concurrency held fleet-wide, in every sample.
        let sampled = sampler.result
        XCTAssertGreaterThan(sampled.samples, 50, "the sampler barely ran (\(sampled.failures) failed queries)")
        for id in Self.installationIDs {
            XCTAssertLessThanOrEqual(sampled.maxima[id] ?? 0, Self.maxConcurrent,
                                     "installation \(id) ran more than max_concurrent \(Self.maxConcurrent) tasks at once")
        }

        // The numbers.
        let takeovers = f.count("SELECT COUNT(*) AS n FROM attempts WHERE state = 'interrupted' AND note LIKE '%lease%'")
        let crashRecovered = f.count("""
            SELECT COUNT(*) AS n FROM attempts WHERE interrupted_by = 'crash' AND note NOT LIKE '%lease%'
            """)
        let attempts = f.count("SELECT COUNT(*) AS n FROM attempts")
        let perHost = try f.query("SELECT host_id, COUNT(*) AS n FROM attempts GROUP BY host_id ORDER BY host_id")
            .map { "\($0.string("host_id") ?? "?")=\($0.int("n") ?? 0)" }
        let refused = f.hosts.map { $0.logs.components(separatedBy: "attempt_finish_refused").count - 1 }.reduce(0, +)
        print("""
            fleet: \(Self.taskCount) tasks, \(f.hosts.count) hosts, \(Self.installationIDs.count) installations × max_concurrent \(Self.maxConcurrent), lease 3s
            fleet: all final after \(String(format: "%.1f", finalAt)) s, all published after \(String(format: "%.1f", publishedAt)) s (setup \(String(format: "%.1f", runStart.timeIntervalSince(began))) s)
            fleet: task states \(states.joined(separator: " ")); \(attempts) attempts (\(perHost.joined(separator: " ")))
            fleet: kills of \(victim.id): \(kills.map { String(format: "at %.1f s with %d running, down %.1f s", $0.at, $0.running, $0.down) }.joined(separator: "; "))
            fleet: lease takeovers \(takeovers), crash recoveries at restart \(crashRecovered), late finishes refused \(refused)
            fleet: finished attempts that did not complete (retried or cancelled): \(retried.isEmpty ? "none" : retried.joined(separator: " | "))
            fleet: max running per installation \(Self.installationIDs.map { "\($0)=\(sampled.maxima[$0] ?? 0)" }.joined(separator: " ")) over \(sampled.samples) samples (\(sampled.failures) failed)
            fleet: \(runs.count) Check Runs, \(recompleted) re-sent their completed conclusion; \(f.fake.calls.count) GitHub API calls
            """)
        XCTAssertGreaterThan(kills.map(\.running).reduce(0, +), 0, "the kills never hit a running attempt (nothing was recovered)")

        // A cancel through one host's task API stops a task another host runs.
        try cancelAcrossHosts(f)
        print("fleet: whole test \(String(format: "%.1f", Date().timeIntervalSince(began))) s")
    }

    private func cancelAcrossHosts(_ f: Fleet) throws {
        let id = try XCTUnwrap(f.deliverToAnyHost(first: 0, installation: Self.installationIDs[0], issue: 9000,
                                                  title: "Fleet long task coven-mode-long"), "the long task was not queued")
        var runner: String?
        XCTAssertTrue(poll(timeout: 60, interval: 0.05) { runner = f.runningHost(of: id); return runner != nil },
                      "the long task never started\n\(f.logTails())")
        guard let runner else { return }
        // Its sandbox is up (the attempt could still be in its set-up otherwise).
        XCTAssertTrue(poll(timeout: 30, interval: 0.05) {
            f.hosts.first { $0.id == runner }!.logs.contains("\"attempt_started\"") 
        })
        let other = try XCTUnwrap(f.hosts.first { $0.id != runner })
        let sent = Date()
        let r = try f.cancel(id, via: other)
        XCTAssertTrue([200, 202].contains(r.status), "cancel via \(other.id): \(r.status) \(r.text ?? "")")
        let cancelled = poll(timeout: 10, interval: 0.05) { f.state(of: id) == "cancelled" }
        let took = Date().timeIntervalSince(sent)
        print("fleet: a cancel sent to \(other.id) ended the task running on \(runner) after \(String(format: "%.2f", took)) s")
        XCTAssertTrue(cancelled, "the task running on \(runner) was not cancelled via \(other.id): state \(f.state(of: id) ?? "?")\n\(f.logTails())")
        XCTAssertLessThan(took, 3, "the cancel via \(other.id) took \(took) s to stop the task on \(runner)")
        let attempt = try f.query("SELECT state, classification, host_id FROM attempts WHERE task_id = ? ORDER BY number", [id])
        XCTAssertEqual(attempt.map { $0.string("host_id") }, [runner], "one attempt, on \(runner)")
        XCTAssertEqual(attempt.first?.string("classification"), "cancelled", "the attempt was torn down as cancelled")
    }

    // MARK: - A partition: a stopped host's late finish is refused

    func testAStoppedHostsLateFinishIsRefusedAndTheTakeOverWins() throws {
        let f = try Fleet(hostIDs: ["host-x", "host-y"], installations: [6001], maxConcurrent: 2, concurrency: 2,
                          lease: "3s", maxRetries: 0)
        fleet = f
        for h in f.hosts { try h.start() }
        let id = try XCTUnwrap(f.deliverToAnyHost(first: 0, installation: 6001, issue: 1, title: "Partition coven-mode-slow"))
        var xID: String?
        XCTAssertTrue(poll(timeout: 60, interval: 0.05) { xID = f.runningHost(of: id); return xID != nil },
                      "the task never started\n\(f.logTails())")
        let x = try XCTUnwrap(f.hosts.first { $0.id == xID }), y = try XCTUnwrap(f.hosts.first { $0.id != xID })
        // Stopped once its sandbox runs (the runtime then takes 8 s, the lease is 3 s).
        XCTAssertTrue(poll(timeout: 30, interval: 0.05) { x.logs.contains("\"attempt_started\"") })
        x.signal(SIGSTOP)
        let stoppedAt = Date()
        defer { x.signal(SIGCONT) }

        // Y takes it over once X's lease runs out: attempt 1 interrupted, attempt 2 on Y.
        XCTAssertTrue(poll(timeout: 15, interval: 0.05) { f.runningHost(of: id) == y.id },
                      "\(y.id) never took the task over from stopped \(x.id)\n\(f.logTails())")
        let takenAfter = Date().timeIntervalSince(stoppedAt)
        let first = try f.query("SELECT state, interrupted_by, note, host_id FROM attempts WHERE task_id = ? AND number = 1", [id]).first
        XCTAssertEqual(first?.string("state"), "interrupted", "attempt 1 (on \(x.id)) was interrupted by the takeover")
        XCTAssertEqual(first?.string("host_id"), x.id)
        // Stopped past twice the lease in all, then continued: its sandbox finishes (or is
        // torn down when its heartbeat learns the lease is gone) and its finish is refused.
        let rest = 6 - Date().timeIntervalSince(stoppedAt)
        if rest > 0 { Thread.sleep(forTimeInterval: rest) }
        x.signal(SIGCONT)
        XCTAssertTrue(poll(timeout: 30, interval: 0.1) { x.logs.contains("attempt_finish_refused") },
                      "\(x.id) never logged attempt_finish_refused for its late finish:\n\(x.tail())")

        XCTAssertTrue(poll(timeout: 60, interval: 0.1) { Self.finalStates.contains(f.state(of: id) ?? "") },
                      "the task never ended: \(f.state(of: id) ?? "?")\n\(f.logTails())")
        let attempts = try f.query("SELECT number, state, host_id, classification, result FROM attempts WHERE task_id = ? ORDER BY number", [id])
        XCTAssertEqual(attempts.map { $0.int("number") }, [1, 2], "two attempts: \(x.id)'s and \(y.id)'s")
        XCTAssertEqual(attempts.map { $0.string("host_id") }, [x.id, y.id])
        XCTAssertEqual(attempts.map { $0.string("state") }, ["interrupted", "finished"],
                       "attempt 1 stays interrupted (its late finish refused), attempt 2 finished")
        let task = try XCTUnwrap(f.query("SELECT state, attempts, result FROM tasks WHERE id = ?", [id]).first)
        XCTAssertEqual(task.string("state"), "completed", "the task's outcome is \(y.id)'s attempt's")
        XCTAssertEqual(task.int("attempts"), 2)
        XCTAssertTrue(task.string("result")?.contains("Done by attempt 2") ?? false,
                      "the task's result is attempt 2's: \(task.string("result") ?? "nil")")

        XCTAssertTrue(poll(timeout: 60, interval: 0.1) {
            f.count("SELECT COUNT(*) AS n FROM publications") == 0 && f.fake.checkRuns.contains { $0.status == "completed" }
        }, "the task's end was never published\n\(f.logTails())")
        let runs = f.fake.checkRuns.filter { $0.externalID == id }
        XCTAssertEqual(runs.count, 1, "one Check Run for the task")
        XCTAssertEqual(runs.first?.conclusion, "success")
        XCTAssertEqual(runs.first?.statusHistory.filter { $0 == "completed" }.count, 1,
                       "concluded once: \(runs.first?.statusHistory ?? [])")
        print("partition: \(y.id) took the task over \(String(format: "%.1f", takenAfter)) s after \(x.id) stopped; "
              + "\(x.id)'s late finish refused; Check Run \(runs.first?.statusHistory ?? [])")
    }
}
