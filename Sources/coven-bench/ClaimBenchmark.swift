import Foundation
import Sandbox
import Supervisor

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
    static func run(queued: [Int], installations: Int, claims: Int, rounds: Int) {
        var stores: [(n: Int, store: TaskStore, dir: String)] = []
        defer { for s in stores { try? FileManager.default.removeItem(atPath: s.dir) } }
        var next = 0
        func spec(_ i: Int) -> TaskSpec {
            TaskSpec(id: "t_\(i)", installationID: Int64(i % installations),
                     repo: RepoRef(owner: "acme", name: "widgets", cloneURL: "https://github.com/acme/widgets.git",
                                   defaultBranch: "main"),
                     trigger: .issueAssigned, kind: .fixIssue(issueNumber: i, title: "Issue \(i)", body: "Body."),
                     familiar: FamiliarRef(id: "cody", displayName: "Cody"))
        }
        do {
            for n in queued {
                let dir = NSTemporaryDirectory() + "coven-bench-claim-\(UUID().uuidString.prefix(8))"
                let store = try TaskStore(stateDirectory: dir)
                stores.append((n, store, dir))
                var batch: [TaskSpec] = []
                for _ in 0..<n {
                    batch.append(spec(next)); next += 1
                    if batch.count == 1000 { try store.insert(batch); batch.removeAll() }
                }
                if !batch.isEmpty { try store.insert(batch) }
            }
        } catch {
            print("claim benchmark: filling the stores failed: \(error)")
            return
        }
        let done = AttemptEnd(report: nil, outcome: AttemptOutcome(attemptClass: .completed, disposition: .success,
                                                                   reason: "benchmark"))
        let retry = RetryPolicy(maxRetries: 0)
        var nextTask = next
        /// One claim and its finish; the seconds each took.
        func cycle(_ store: TaskStore) throws -> (claim: Double, finish: Double) {
            var claimed: (spec: TaskSpec, attempt: Int)?
            var failure: (any Error)?
            let c = Bench.time {
                do { claimed = try store.claimNext(globalLimit: 1_000_000, perInstallationLimit: 1_000_000) } catch { failure = error }
            }
            if let failure { throw failure }
            guard let claimed else { throw BenchFailure("nothing to claim") }
            let f = Bench.time {
                do { try store.recordAttempt(taskID: claimed.spec.id, attempt: claimed.attempt, done, retry: retry) } catch { failure = error }
            }
            if let failure { throw failure }
            try store.insert(spec(nextTask)); nextTask += 1
            return (c, f)
        }

        var claimTimes = Array(repeating: [Double](), count: stores.count)
        var totals = Array(repeating: [Double](), count: stores.count)
        let perBlock = max(1, claims / max(1, rounds))
        do {
            for s in stores { for _ in 0..<20 { _ = try cycle(s.store) } }  // warm-up
            for _ in 0..<rounds {
                for (i, s) in stores.enumerated() {
                    for _ in 0..<perBlock {
                        let t = try cycle(s.store)
                        claimTimes[i].append(t.claim)
                        totals[i].append(t.claim + t.finish)
                    }
                }
            }
        } catch {
            print("claim benchmark failed: \(error)")
            return
        }
        print("claim plus finish, \(installations) installations, \(perBlock * rounds) cycles per queue length, interleaved in \(rounds) blocks")
        print(Bench.pad("queued", 24) + Bench.pad("claim median", 14, left: true) + Bench.pad("claim+finish median", 22, left: true)
              + Bench.pad("p99", 12, left: true))
        for (i, s) in stores.enumerated() {
            print(Bench.pad("\(s.n)", 24) + "  " + Bench.ms(Bench.median(claimTimes[i])) + "       "
                  + Bench.ms(Bench.median(totals[i])) + " " + Bench.ms(Bench.percentile(totals[i], 0.99)))
        }
        if stores.count > 1, let first = totals.first, let last = totals.last {
            print(String(format: "claim+finish, longest queue / shortest: %.2fx (claim alone %.2fx)",
                         Bench.median(last) / Bench.median(first),
                         Bench.median(claimTimes[claimTimes.count - 1]) / Bench.median(claimTimes[0])))
        }
        if let longest = stores.last { deliveriesBesideClaims(longest.store, longest.n, rounds: rounds, cycle: cycle) }
    }

    /// `recordDelivery` latencies on `store`, alone and with a thread claiming and finishing
    /// tasks as fast as it can, alternating, `rounds` times.
    private static func deliveriesBesideClaims(_ store: TaskStore, _ n: Int, rounds: Int,
                                               cycle: @escaping (TaskStore) throws -> (claim: Double, finish: Double)) {
        let hash = String(repeating: "ab", count: 32)
        var seq = 0
        func deliveries(_ count: Int) -> [Double] {
            (0..<count).map { _ in
                seq += 1
                let id = "bench-delivery-\(seq)"
                return Bench.time {
                    _ = try? store.recordDelivery(deliveryID: id, event: "issues.labeled", payloadSHA256: hash,
                                                  outcome: .ignored(reason: "benchmark"), task: nil)
                }
            }
        }
        final class Flag: @unchecked Sendable { let lock = NSLock(); var stop = false; var cycles = 0 }
        var alone: [Double] = [], beside: [Double] = [], cyclesPerSecond: [Double] = []
        for _ in 0..<rounds {
            alone += deliveries(100)
            let flag = Flag()
            let claimer = DispatchSemaphore(value: 0)
            nonisolated(unsafe) let run = cycle
            Thread {
                while true {
                    flag.lock.lock(); let stop = flag.stop; flag.lock.unlock()
                    if stop { break }
                    _ = try? run(store)
                    flag.lock.lock(); flag.cycles += 1; flag.lock.unlock()
                }
                claimer.signal()
            }.start()
            let start = ContinuousClock.now
            beside += deliveries(100)
            let elapsed = (ContinuousClock.now - start).seconds
            flag.lock.lock(); flag.stop = true; let cycles = flag.cycles; flag.lock.unlock()
            claimer.wait()
            cyclesPerSecond.append(Double(cycles) / elapsed)
        }
        print("recordDelivery with \(n) queued, alone and beside a thread claiming and finishing without pause "
              + String(format: "(%.0f claim+finish cycles/s)", Bench.median(cyclesPerSecond)))
        print(Bench.pad("", 24) + Bench.pad("median", 14, left: true) + Bench.pad("p99", 14, left: true))
        print(Bench.pad("alone", 24) + "  " + Bench.ms(Bench.median(alone)) + "   " + Bench.ms(Bench.percentile(alone, 0.99)))
        print(Bench.pad("beside claims", 24) + "  " + Bench.ms(Bench.median(beside)) + "   " + Bench.ms(Bench.percentile(beside, 0.99)))
        print(String(format: "beside claims / alone: %.2fx median, %.2fx p99", Bench.median(beside) / Bench.median(alone),
                     Bench.percentile(beside, 0.99) / Bench.percentile(alone, 0.99)))
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
