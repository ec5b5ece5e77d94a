import Foundation
import Sandbox

// coven-bench: side-by-side benchmarks, medians and ratios in one run.
//   coven-bench launch [--iterations N] [--cli PATH]
//   coven-bench egress [--iterations N] [--megabytes M] [--runs R] [--tunnels T]
//   coven-bench webhook [--requests N] [--concurrency C] [--rounds R] [--cli PATH] [--store sqlite|postgres]
//   coven-bench claim [--queued N,M] [--installations I] [--claims C] [--rounds R] [--engine sqlite|postgres [--explain]]
//   coven-bench fleet [--tasks N] [--threads T] [--installations I] [--deliveries D] [--writers W] [--rounds R] [--pool P] [--only claim|ingest]
//   coven-bench idle [--sandboxes N] [--seconds S] [--runs R]
//   coven-bench memory [--settle S] [--burst S] [--after S] [--concurrency C] [--cli PATH]

let args = Array(CommandLine.arguments.dropFirst())
let what = args.first ?? "launch"

@MainActor func option(_ name: String, _ def: String) -> String {
    if let i = args.firstIndex(of: name), i + 1 < args.count { return args[i + 1] }
    return def
}

switch what {
case "launch":
    LaunchBenchmark.run(iterations: Int(option("--iterations", "200")) ?? 200,
                        cli: option("--cli", Bench.sibling("coven-supervisor")))
case "egress":
    EgressBenchmark.run(iterations: Int(option("--iterations", "300")) ?? 300,
                        megabytes: Int(option("--megabytes", "256")) ?? 256,
                        runs: Int(option("--runs", "5")) ?? 5,
                        tunnels: Int(option("--tunnels", "200")) ?? 200)
case "phases":
    LaunchBenchmark.phases(iterations: Int(option("--iterations", "100")) ?? 100)
case "webhook":
    WebhookBenchmark.run(cli: option("--cli", Bench.sibling("coven-supervisor")),
                         requests: Int(option("--requests", "3000")) ?? 3000,
                         concurrency: Int(option("--concurrency", "64")) ?? 64,
                         rounds: Int(option("--rounds", "5")) ?? 5,
                         store: option("--store", "sqlite"))
case "memory":
    MemoryBenchmark.run(cli: option("--cli", Bench.sibling("coven-supervisor")),
                        concurrency: Int(option("--concurrency", "64")) ?? 64,
                        settle: Double(option("--settle", "10")) ?? 10,
                        burst: Double(option("--burst", "20")) ?? 20,
                        after: Double(option("--after", "60")) ?? 60)
case "claim":
    ClaimBenchmark.run(queued: option("--queued", "1000,100000").split(separator: ",").compactMap { Int($0) },
                       installations: Int(option("--installations", "20")) ?? 20,
                       claims: Int(option("--claims", "500")) ?? 500,
                       rounds: Int(option("--rounds", "5")) ?? 5,
                       engine: ClaimBenchmark.Engine(rawValue: option("--engine", "sqlite")) ?? .sqlite,
                       explain: args.contains("--explain"))
case "fleet":
    FleetBenchmark.run(tasks: Int(option("--tasks", "1000")) ?? 1000,
                       threads: Int(option("--threads", "4")) ?? 4,
                       installations: Int(option("--installations", "32")) ?? 32,
                       deliveries: Int(option("--deliveries", "3000")) ?? 3000,
                       writers: Int(option("--writers", "64")) ?? 64,
                       rounds: Int(option("--rounds", "3")) ?? 3,
                       pool: Int(option("--pool", "8")) ?? 8,
                       only: args.contains("--only") ? option("--only", "") : nil)
case "idle":
    IdleBenchmark.run(sandboxes: Int(option("--sandboxes", "100")) ?? 100,
                      seconds: Double(option("--seconds", "5")) ?? 5,
                      runs: Int(option("--runs", "3")) ?? 3)
default:
    FileHandle.standardError.write(Data("usage: coven-bench launch|phases|webhook|egress|claim|fleet|idle [--iterations N] [--requests N] [--concurrency N] [--megabytes M] [--runs R] [--tunnels T] [--cli PATH]\n".utf8))
    exit(2)
}
