import Foundation
import Supervisor
import PostgresStore
// StoreTesting is test support (a throwaway PostgreSQL server run from Debian's binaries):
// coven-bench links it to have a server to measure against; the bench binary never ships.
import StoreTesting

/// `coven-bench fleet`: the fleet's store (PostgreSQL, one database every host shares)
/// beside SQLite, on a throwaway local server with fsync on (durable commits, as in
/// production), side by side in one run:
/// - claim+finish throughput: `claimNext` then `recordAttempt` of a completed attempt,
///   from `threads` threads per host: SQLite; PostgreSQL one host; PostgreSQL three hosts
///   (three `TaskStore`s with their own host ids and pools on the same database, each with
///   its own threads, all at once). Each round every variant claims and finishes `tasks`
///   tasks (queued beforehand, untimed, over `installations` installations so the
///   per-installation turn locks never serialize it);
/// - durable ingest: `recordDelivery` of task-creating deliveries (what a signed
///   `issues.assigned` stores before its 202) from `writers` threads at once: SQLite;
///   PostgreSQL one host (one store, the daemon's default pool of 8); PostgreSQL spread
///   over three stores (the writers dealt round-robin). Each round starts with the raw
///   fsync anchor of `WebhookBenchmark` in the same file system.
/// Variants take turns within each round, so the machine's noise hits them alike; medians
/// over rounds, ratios per round.
enum FleetBenchmark {
    /// `pool`: each PostgreSQL store's connections (the daemon's `store.pool_size`, default 8);
    /// `only`: "claim" or "ingest" runs that part alone.
    static func run(tasks: Int, threads: Int, installations: Int, deliveries: Int, writers: Int, rounds: Int,
                    pool: Int = 8, only: String? = nil) {
        poolSize = pool
        let server: PostgresTestServer
        do { server = try FleetServer.start() } catch {
            print("fleet benchmark: no PostgreSQL test server: \(error)")
            return
        }
        defer { server.stop() }
        let dir = NSTemporaryDirectory() + "coven-bench-fleet-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            if only != "ingest" { try throughput(server: server, dir: dir + "/claim", tasks: tasks, threads: threads,
                           installations: installations, rounds: rounds) }
            if only == nil { print() }
            if only != "claim" { try ingest(server: server, dir: dir + "/ingest", deliveries: deliveries, writers: writers,
                       installations: installations, rounds: rounds) }
        } catch {
            print("fleet benchmark failed: \(error)")
        }
    }

    /// A host's stores: one for SQLite and PostgreSQL on one host, three for three hosts.
    struct Variant {
        var name: String
        var stores: [TaskStore]
    }

    nonisolated(unsafe) static var poolSize = 8

    static func pgStores(_ server: PostgresTestServer, hosts: Int) throws -> [TaskStore] {
        let conninfo = try server.createDatabase()
        return try (0..<hosts).map { h in
            TaskStore(backend: try PostgresBackend(conninfo: conninfo, hostID: "bench-host-\(h + 1)",
                                                   poolSize: poolSize))
        }
    }

    // MARK: claim+finish throughput

    static func throughput(server: PostgresTestServer, dir: String, tasks: Int, threads: Int, installations: Int,
                           rounds: Int) throws {
        let variants = [
            Variant(name: "SQLite, 1 host", stores: [try TaskStore(stateDirectory: dir)]),
            Variant(name: "PostgreSQL, 1 host", stores: try pgStores(server, hosts: 1)),
            Variant(name: "PostgreSQL, 3 hosts", stores: try pgStores(server, hosts: 3)),
        ]
        let specs = SpecMaker(installations: installations)
        // A standing queue, so no claim near a round's end finds only locked tasks.
        for v in variants { try specs.fill(v.stores[0], count: 1000) }
        var rates = Array(repeating: [Double](), count: variants.count)
        for round in -1..<rounds {   // round -1: warm-up (connections, pages, statements)
            for (i, v) in variants.enumerated() {
                let n = round < 0 ? max(100, tasks / 10) : tasks
                try specs.fill(v.stores[0], count: n)
                let seconds = try claimAndFinish(v.stores, threadsPerStore: threads, count: n)
                if round >= 0 { rates[i].append(Double(n) / seconds) }
            }
        }
        print("claim+finish throughput: \(threads) threads per host, \(tasks) tasks per variant per round, "
              + "\(installations) installations, \(rounds) rounds (medians; each claim and finish a durable commit)")
        print(Bench.pad("", 28) + Bench.pad("tasks/s", 10, left: true) + "   per round")
        for (i, v) in variants.enumerated() {
            print(Bench.pad(v.name + " (\(v.stores.count * threads) threads)", 28)
                  + Bench.pad(String(format: "%.0f", Bench.median(rates[i])), 10, left: true)
                  + "   " + rates[i].map { String(format: "%.0f", $0) }.joined(separator: " "))
        }
        print(String(format: "PostgreSQL 1 host / SQLite: %.2fx; PostgreSQL 3 hosts / 1 host: %.2fx (medians of per-round ratios)",
                     Bench.median(zip(rates[1], rates[0]).map { $0 / $1 }),
                     Bench.median(zip(rates[2], rates[1]).map { $0 / $1 })))
    }

    /// Claims and finishes `count` tasks from `threadsPerStore` threads on each store at
    /// once; the wall seconds from the first claim to the last finish.
    static func claimAndFinish(_ stores: [TaskStore], threadsPerStore: Int, count: Int) throws -> Double {
        let done = AttemptEnd(report: nil, outcome: AttemptOutcome(attemptClass: .completed, disposition: .success,
                                                                   reason: "benchmark"))
        let retry = RetryPolicy(maxRetries: 0)
        let budget = Shared(count)
        let group = DispatchGroup()
        let start = ContinuousClock.now
        for store in stores {
            for _ in 0..<threadsPerStore {
                group.enter()
                Thread {
                    defer { group.leave() }
                    var misses = 0
                    while budget.take() {
                        do {
                            // nil: every candidate was locked by another claimer just then; again.
                            while true {
                                if let c = try store.claimNext(globalLimit: 1_000_000, perInstallationLimit: 1_000_000) {
                                    _ = try store.recordAttempt(taskID: c.spec.id, attempt: c.attempt, done, retry: retry)
                                    break
                                }
                                misses += 1
                                if misses > 10_000 { throw BenchFailure("no task to claim") }
                            }
                        } catch {
                            budget.fail(error)
                            return
                        }
                    }
                }.start()
            }
        }
        group.wait()
        let seconds = (ContinuousClock.now - start).seconds
        if let e = budget.failure { throw e }
        return seconds
    }

    // MARK: durable ingest

    static func ingest(server: PostgresTestServer, dir: String, deliveries: Int, writers: Int, installations: Int,
                       rounds: Int) throws {
        let variants = [
            Variant(name: "SQLite, 1 store", stores: [try TaskStore(stateDirectory: dir)]),
            Variant(name: "PostgreSQL, 1 store", stores: try pgStores(server, hosts: 1)),
            Variant(name: "PostgreSQL, 3 stores", stores: try pgStores(server, hosts: 3)),
        ]
        let specs = SpecMaker(installations: installations)
        var rates = Array(repeating: [Double](), count: variants.count)
        var p99s = Array(repeating: [Double](), count: variants.count)
        var anchors: [Double] = []
        for round in -1..<rounds {
            let anchor = round < 0 ? 0 : WebhookBenchmark.fsyncRate(directory: dir, seconds: 1)
            if round >= 0 { anchors.append(anchor) }
            for (i, v) in variants.enumerated() {
                let r = try recordDeliveries(v.stores, writers: writers, count: round < 0 ? max(200, deliveries / 10) : deliveries,
                                             specs: specs)
                if round >= 0 { rates[i].append(r.rate); p99s[i].append(Bench.percentile(r.latencies, 0.99)) }
            }
        }
        print("durable ingest: recordDelivery of task-creating deliveries (store level, no HTTP), \(writers) writers, "
              + "PostgreSQL pools of \(poolSize), "
              + "\(deliveries) per variant per round, \(rounds) rounds (medians)")
        print(Bench.pad("", 34) + Bench.pad("per second", 12, left: true) + Bench.pad("vs fsync", 10, left: true)
              + Bench.pad("p99", 12, left: true) + "   per round")
        print(Bench.pad("raw fsync (4 KiB write + fdatasync)", 34)
              + Bench.pad(String(format: "%.0f", Bench.median(anchors)), 12, left: true) + Bench.pad("1.00x", 10, left: true)
              + Bench.pad("", 12) + "   " + anchors.map { String(format: "%.0f", $0) }.joined(separator: " "))
        for (i, v) in variants.enumerated() {
            print(Bench.pad(v.name, 34) + Bench.pad(String(format: "%.0f", Bench.median(rates[i])), 12, left: true)
                  + Bench.pad(String(format: "%.2fx", Bench.median(zip(rates[i], anchors).map { $0 / $1 })), 10, left: true)
                  + Bench.ms(Bench.median(p99s[i])) + "   " + rates[i].map { String(format: "%.0f", $0) }.joined(separator: " "))
        }
        print(String(format: "PostgreSQL 1 store / SQLite: %.2fx; PostgreSQL 3 stores / 1 store: %.2fx (medians of per-round ratios)",
                     Bench.median(zip(rates[1], rates[0]).map { $0 / $1 }),
                     Bench.median(zip(rates[2], rates[1]).map { $0 / $1 })))
    }

    /// `count` task-creating deliveries (a distinct issue each, so nothing coalesces),
    /// prepared before the clock starts, from `writers` threads dealt over `stores`.
    static func recordDeliveries(_ stores: [TaskStore], writers: Int, count: Int,
                                 specs: SpecMaker) throws -> (rate: Double, latencies: [Double]) {
        let hash = String(repeating: "ab", count: 32)
        let work = (0..<count).map { _ in specs.next() }
        final class Results: @unchecked Sendable {
            let lock = NSLock(); var latencies: [Double] = []
        }
        let results = Results()
        let budget = Shared(count)
        let group = DispatchGroup()
        let start = ContinuousClock.now
        for w in 0..<writers {
            let store = stores[w % stores.count]
            group.enter()
            Thread {
                defer { group.leave() }
                var mine: [Double] = []
                while let i = budget.takeIndex() {
                    let spec = work[i]
                    let t0 = ContinuousClock.now
                    do {
                        _ = try store.recordDelivery(deliveryID: "bench-\(spec.id)", event: "issues.assigned",
                                                     payloadSHA256: hash, outcome: .queued(taskID: spec.id), task: spec)
                    } catch { budget.fail(error); break }
                    mine.append((ContinuousClock.now - t0).seconds)
                }
                results.lock.lock(); results.latencies += mine; results.lock.unlock()
            }.start()
        }
        group.wait()
        let seconds = (ContinuousClock.now - start).seconds
        if let e = budget.failure { throw e }
        return (Double(count) / seconds, results.latencies)
    }

    // MARK: helpers

    /// Hands out a fixed number of turns to threads; keeps the first failure.
    final class Shared: @unchecked Sendable {
        private let lock = NSLock()
        private var left: Int
        private var handed = 0
        private(set) var failure: (any Error)?
        init(_ n: Int) { left = n }
        func take() -> Bool { takeIndex() != nil }
        func takeIndex() -> Int? {
            lock.lock(); defer { lock.unlock() }
            guard left > 0, failure == nil else { return nil }
            left -= 1; handed += 1
            return handed - 1
        }
        func fail(_ e: any Error) { lock.lock(); if failure == nil { failure = e }; lock.unlock() }
    }

    /// Distinct tasks (an issue each) dealt round-robin over the installations.
    final class SpecMaker: @unchecked Sendable {
        private let lock = NSLock()
        private var n = 0
        let installations: Int
        init(installations: Int) { self.installations = installations }

        func next() -> TaskSpec {
            lock.lock(); n += 1; let i = n; lock.unlock()
            return ClaimBenchmark.spec(i, installations: installations)
        }

        /// Queues `count` tasks in transactions of 1000 (untimed set-up).
        func fill(_ store: TaskStore, count: Int) throws {
            var left = count
            while left > 0 {
                let k = min(1000, left)
                try store.insert((0..<k).map { _ in next() })
                left -= k
            }
        }
    }
}

/// The benchmarks' PostgreSQL server: fsync, synchronous_commit and full_page_writes on
/// (Debian's defaults), as a fleet runs it; its own cluster in a temp dir.
enum FleetServer {
    static func start() throws -> PostgresTestServer {
        let server = PostgresTestServer(options: .init(fast: false))
        try server.start()
        return server
    }
}
