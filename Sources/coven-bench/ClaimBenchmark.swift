import Foundation
import Supervisor

/// `coven-bench claim`: how long `TaskStore.claimNext` holds the store's lock with a
/// short queue and with a long one (the case of GitHub webhooks piling up behind busy
/// workers). Each claimed task goes straight back to the queue, so the length stays put.
enum ClaimBenchmark {
    static func run(queued: [Int], installations: Int, claims: Int) {
        print("\(Bench.pad("claimNext, \(installations) installations", 40)) \(Bench.pad("median", 11, left: true)) \(Bench.pad("p99", 11, left: true))")
        var medians: [Double] = []
        for n in queued {
            let dir = NSTemporaryDirectory() + "coven-bench-claim-\(UUID().uuidString.prefix(8))"
            defer { try? FileManager.default.removeItem(atPath: dir) }
            do {
                let store = try TaskStore(stateDirectory: dir)
                var batch: [TaskSpec] = []
                for i in 0..<n {
                    batch.append(TaskSpec(id: "t_\(i)", installationID: Int64(i % installations),
                                          repo: RepoRef(owner: "acme", name: "widgets", cloneURL: "https://github.com/acme/widgets.git",
                                                        defaultBranch: "main"),
                                          trigger: .issueAssigned, kind: .fixIssue(issueNumber: i, title: "Issue \(i)", body: "Body."),
                                          familiar: FamiliarRef(id: "cody", displayName: "Cody")))
                    if batch.count == 1000 { try store.insert(batch); batch.removeAll() }
                }
                try store.insert(batch)
                var times: [Double] = []
                for _ in 0..<claims {
                    var claimed: (spec: TaskSpec, attempt: Int)?
                    var failure: Error?
                    times.append(Bench.time {
                        do { claimed = try store.claimNext(globalLimit: 1_000_000, perInstallationLimit: 1_000_000) } catch { failure = error }
                    })
                    if let failure { print("claim failed: \(failure)"); return }
                    guard let c = claimed else { print("nothing to claim"); return }
                    try store.recordShutdownInterruption(taskID: c.spec.id, attempt: c.attempt, report: nil, stdout: .empty, stderr: .empty)
                }
                medians.append(Bench.median(times))
                print("\(Bench.pad("\(n) queued", 40)) \(Bench.ms(Bench.median(times))) \(Bench.ms(Bench.percentile(times, 0.99)))")
            } catch {
                print("claim benchmark with \(n) queued failed: \(error)")
                return
            }
        }
        if let first = medians.first, let last = medians.last, first > 0 {
            print(String(format: "longest queue / shortest: %.2fx", last / first))
        }
    }
}
