import Foundation
import Sandbox

/// Median launch-to-exit latency of /bin/true: bare, bwrap, our CLI, and the
/// in-process Sandbox API, interleaved round by round so noise hits all alike.
enum LaunchBenchmark {
    static func run(iterations: Int, cli: String) {
        var variants: [(String, () -> Void)] = [
            ("bare /bin/true", { Bench.spawnWait(["/bin/true"]) }),
        ]
        if let bwrap = Bench.which("bwrap") {
            variants.append(("bwrap --unshare-all", {
                Bench.spawnWait([bwrap, "--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc",
                                 "--dev", "/dev", "--tmpfs", "/tmp", "/bin/true"])
            }))
        } else {
            print("note: bwrap not installed; ratios are omitted (make deps installs bubblewrap)")
        }
        if FileManager.default.isExecutableFile(atPath: cli) {
            variants.append(("coven-supervisor sandbox exec", { Bench.spawnWait([cli, "sandbox", "exec", "--", "/bin/true"]) }))
        }
        // The in-process path as the daemon uses it: the profile compiled once, then N launches.
        var spec = SandboxSpec(command: ["/bin/true"], stdout: .discard, stderr: .discard)
        do {
            spec.seccompProgram = try SeccompProfile.load(nameOrPath: "default").compile()
        } catch {
            print("seccomp profile failed to compile: \(error)"); exit(1)
        }
        let inProcess = {
            let r = Sandbox.run(spec)
            if case .exited(0) = r.report.exitClass {} else { print("in-process launch failed: \(r.report.exitClass)") }
        }
        // Cold: every launch creates its network namespace. (The pool below refills only after
        // 50 ms of quiet, which the ~15 ms since its last launch never are.)
        // Each in-process variant says where the clone happens: in this process, or in the
        // launcher process (coven-sandbox-zygote), as the daemon launches.
        var ready: [String: () -> Void] = [:]
        let cold = "Sandbox API (in-process)"
        ready[cold] = { Sandbox.useLauncherProcess(false) }
        variants.append((cold, inProcess))
        // With a pre-made network namespace ready. Before each round's launch the pool is given
        // its quiet time to refill, untimed and with nothing else running, so its background
        // work never lands in any variant's measurement. (Setting the target where the clone
        // happens leaves the other pool empty, so the cold variant stays cold.)
        let launcherProcess = (try? Sandbox.startLauncherProcess()) != nil
        if !launcherProcess { print("note: the launcher process (coven-sandbox-zygote) did not start; its row is omitted") }
        if geteuid() == 0 {
            let pooled = "Sandbox API (in-process, pool)"
            ready[pooled] = {
                Sandbox.useLauncherProcess(false)
                Sandbox.keepNetworkNamespacesReady(1)
                while !Sandbox.networkNamespaceReady { usleep(2_000) }
            }
            variants.append((pooled, inProcess))
            if launcherProcess {
                let zygote = "Sandbox API (launcher process, pool)"
                ready[zygote] = {
                    Sandbox.useLauncherProcess(true)
                    Sandbox.keepNetworkNamespacesReady(1)
                    while !Sandbox.networkNamespaceReady { usleep(2_000) }
                }
                variants.append((zygote, inProcess))
            }
        } else if launcherProcess {
            let zygote = "Sandbox API (launcher process)"
            ready[zygote] = { Sandbox.useLauncherProcess(true) }
            variants.append((zygote, inProcess))
        }

        // Warm-up, then interleaved rounds.
        for (name, body) in variants { for _ in 0..<5 { ready[name]?(); body() } }
        var samples = Array(repeating: [Double](), count: variants.count)
        for _ in 0..<iterations {
            for (i, v) in variants.enumerated() {
                ready[v.0]?()
                samples[i].append(Bench.time(v.1))
            }
        }

        let bwrapMedian = variants.firstIndex { $0.0.hasPrefix("bwrap") }.map { Bench.median(samples[$0]) }
        print("launch-to-exit latency of /bin/true, \(iterations) interleaved rounds, \(ProcessInfo.processInfo.activeProcessorCount) cores")
        print(Bench.pad("variant", 38) + Bench.pad("median", 12, left: true) + Bench.pad("p90", 12, left: true) + Bench.pad("vs bwrap", 10, left: true))
        for (i, v) in variants.enumerated() {
            let med = Bench.median(samples[i])
            let ratio = bwrapMedian.map { String(format: "%8.2fx", med / $0) } ?? "       -"
            print(Bench.pad(v.0, 38) + Bench.pad(Bench.ms(med), 12, left: true)
                  + Bench.pad(Bench.ms(Bench.percentile(samples[i], 0.9)), 12, left: true) + Bench.pad(ratio, 10, left: true))
        }
        if let bwrap = Bench.which("bwrap"), FileManager.default.isExecutableFile(atPath: cli) {
            print()
            cpu(iterations: max(iterations / 2, 20), bwrap: bwrap, cli: cli)
        }
    }

    /// CPU time (user + system, the process and what it reaped) of bwrap and of `sandbox exec`,
    /// interleaved; medians and the ratio.
    static func cpu(iterations: Int, bwrap: String, cli: String) {
        let bw = [bwrap, "--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "/bin/true"]
        let ours = [cli, "sandbox", "exec", "--", "/bin/true"]
        var a: [Double] = [], b: [Double] = []
        for _ in 0..<iterations {
            a.append(Bench.spawnWaitCPU(bw).cpu)
            b.append(Bench.spawnWaitCPU(ours).cpu)
        }
        print("CPU time per run (user + system, with what it reaped), \(iterations) interleaved rounds")
        print(Bench.pad("bwrap --unshare-all", 38) + Bench.pad(Bench.ms(Bench.median(a)), 12, left: true) + Bench.pad("1.00x", 22, left: true))
        print(Bench.pad("coven-supervisor sandbox exec", 38) + Bench.pad(Bench.ms(Bench.median(b)), 12, left: true)
              + Bench.pad(String(format: "%.2fx", Bench.median(b) / Bench.median(a)), 22, left: true))
    }

    /// Where a launch spends its time: cgroup create/destroy, launch, wait.
    static func phases(iterations: Int) {
        var spec = SandboxSpec(command: ["/bin/true"], stdout: .discard, stderr: .discard)
        spec.seccompProgram = try? SeccompProfile.load(nameOrPath: "default").compile()
        if ProcessInfo.processInfo.environment["BENCH_NET_HOST"] != nil { spec.network = .host }
        if ProcessInfo.processInfo.environment["BENCH_NO_ETC"] != nil { spec.systemFiles = .rootfs("/nonexistent") ; spec.binds = [Bind(source: "/usr", destination: "/usr"), Bind(source: "/lib64", destination: "/lib64")] }
        if ProcessInfo.processInfo.environment["BENCH_NO_CG"] != nil { spec.limits = ResourceLimits() }
        if ProcessInfo.processInfo.environment["BENCH_NO_SECCOMP"] != nil { spec.seccompProgram = nil; spec.seccompProfile = nil }
        var compile: [Double] = []
        for _ in 0..<20 { compile.append(Bench.time { _ = try? SeccompProfile.load(nameOrPath: "default").compile() }) }
        print(Bench.pad("seccomp load+compile", 34) + Bench.ms(Bench.median(compile)))
        var cg: [Double] = [], cgd: [Double] = [], launch: [Double] = [], wait: [Double] = [], kill: [Double] = []
        for i in 0..<iterations {
            if spec.limits.memoryBytes != nil {
                var c: SandboxCgroup?
                cg.append(Bench.time { c = try? Cgroups.create(name: "bench-\(i)", limits: spec.limits) })
                kill.append(Bench.time { c?.killAll() })
                cgd.append(Bench.time { c?.destroy() })
            }
            var h: SandboxHandle?
            launch.append(Bench.time { h = try? Sandbox.launch(spec) })
            wait.append(Bench.time { _ = h?.wait() })
        }
        let total = zip(launch, wait).map { $0 + $1 }
        print(Bench.pad("launch + wait", 34) + Bench.ms(Bench.median(total)))
        for (n, xs) in [("cgroup create", cg), ("cgroup killAll (empty)", kill), ("cgroup destroy", cgd), ("launch (to handle)", launch), ("wait (to report)", wait)] {
            if !xs.isEmpty { print(Bench.pad(n, 34) + Bench.ms(Bench.median(xs))) }
        }
    }
}
