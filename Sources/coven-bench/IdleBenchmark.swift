import Foundation
import Sandbox

/// What sandboxes that do nothing cost the supervisor: N sandboxes sleeping, the
/// supervisor process's own CPU time over a window (its monitor threads and anything
/// they wake for; the sandboxes' processes are not ours), and its resident memory per
/// sandbox. The anchor is the same process with no sandbox, over the same window.
enum IdleBenchmark {
    static func run(sandboxes: Int, seconds: Double, runs: Int) {
        var spec = SandboxSpec(command: ["/bin/sleep", "3600"], stdout: .discard, stderr: .discard)
        spec.network = .none
        // Warm the launch path (seccomp cache, uid pool, netns pool) before measuring.
        if let h = try? Sandbox.launch(spec) { h.cancel(); _ = h.wait() }

        var idleCPU: [Double] = [], busyCPU: [Double] = [], perSandboxKiB: [Double] = []
        for _ in 0..<runs {
            idleCPU.append(cpuOverWindow(seconds))
            let before = selfRSS()
            var handles: [SandboxHandle] = []
            for _ in 0..<sandboxes {
                guard let h = try? Sandbox.launch(spec) else { print("launch failed"); break }
                handles.append(h)
            }
            usleep(500_000)  // let launches settle: only the sleeping is measured
            perSandboxKiB.append(Double(selfRSS() - before) / Double(max(1, handles.count)))
            busyCPU.append(cpuOverWindow(seconds))
            for h in handles { h.cancel() }
            for h in handles { _ = h.wait() }
        }
        let idle = Bench.median(idleCPU), busy = Bench.median(busyCPU)
        print("idle sandboxes: \(sandboxes) × `sleep`, supervisor CPU over \(seconds) s windows, median of \(runs)")
        print(Bench.pad("supervisor CPU, no sandbox", 40) + String(format: "%8.3f%% of a core", idle / seconds * 100))
        print(Bench.pad("supervisor CPU, \(sandboxes) sleeping", 40) + String(format: "%8.3f%% of a core", busy / seconds * 100))
        print(Bench.pad("  goal", 40) + "   < 2% of a core")
        print(Bench.pad("supervisor RSS per sandbox", 40) + String(format: "%8.1f KiB", Bench.median(perSandboxKiB)))
    }

    /// This process's user + system CPU seconds spent during `seconds` of wall time.
    static func cpuOverWindow(_ seconds: Double) -> Double {
        let start = processCPU()
        usleep(UInt32(seconds * 1_000_000))
        return processCPU() - start
    }

    static func processCPU() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1_000_000
    }

    /// Resident set size in KiB.
    static func selfRSS() -> Int {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" })[1]) ?? 0
    }
}
