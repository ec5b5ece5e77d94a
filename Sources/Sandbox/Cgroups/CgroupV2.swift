import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What the kernel's cgroup v2 offers beyond the controllers, probed on the sandboxes' parent
/// (never assumed from a version number: Debian 12's 6.1 is the oldest kernel we support, and
/// distributions backport).
struct CgroupV2Features: Equatable, Sendable {
    /// The memory controller is passed on to sandboxes (the memory.* files exist only then).
    var memory: Bool
    /// cgroup.kill (5.14): the kernel kills the whole subtree.
    var kill: Bool
    /// cgroup.freeze (5.2).
    var freeze: Bool
    /// memory.peak (5.19); else peak memory is sampled from memory.current.
    var peak: Bool
    /// memory.oom.group (4.19): an OOM kill takes the whole sandbox.
    var oomGroup: Bool
    /// memory.swap.max: swap is accounted (and set to 0 for sandboxes).
    var swap: Bool

    static let none = CgroupV2Features(memory: false, kill: false, freeze: false, peak: false, oomGroup: false, swap: false)

    /// Probed on the sandboxes' parent `dir`, whose parent passes it `memory` or not.
    static func probe(_ dir: String, memory: Bool) -> CgroupV2Features {
        CgroupV2Features(memory: memory,
                         kill: CgroupFS.exists(dir + "/cgroup.kill"),
                         freeze: CgroupFS.exists(dir + "/cgroup.freeze"),
                         peak: memory && CgroupFS.exists(dir + "/memory.peak"),
                         oomGroup: memory && CgroupFS.exists(dir + "/memory.oom.group"),
                         swap: memory && CgroupFS.exists(dir + "/memory.swap.max"))
    }

    /// One line per missing feature: what degrades, and why.
    var notes: [String] {
        var out: [String] = []
        if !kill {
            out.append(freeze ? "no cgroup.kill (kernel < 5.14): teardown freezes with cgroup.freeze, then kills"
                              : "no cgroup.kill or cgroup.freeze: teardown loops SIGKILL until the cgroup is empty")
        }
        guard memory else { return out }   // the memory controller's own absence is reported on its own
        if !peak { out.append("no memory.peak (kernel < 5.19): peak memory is sampled from memory.current every 100 ms") }
        if !oomGroup { out.append("no memory.oom.group: an OOM kill takes one process, not the whole sandbox") }
        if !swap { out.append("no memory.swap.max (swap accounting off): a sandbox's pages may be swapped beyond memory.max") }
        return out
    }
}

/// cgroup v2: one directory in the unified hierarchy.
final class CgroupV2: CgroupBackend {
    let dir: String
    let features: CgroupV2Features
    /// The highest memory.current seen, where there is no memory.peak.
    private let sampledPeak = Mutex<UInt64>(0)

    var version: CgroupVersion { .v2 }
    var directories: [String] { [dir] }

    init(dir: String, features: CgroupV2Features) {
        self.dir = dir
        self.features = features
    }

    /// Makes `<parent>/<name>` (the parent's controllers already enabled by the placement) and
    /// applies `limits`. A requested limit the parent does not pass on is an error naming the
    /// file (nothing is created then).
    static func create(parent: String, name: String, limits: ResourceLimits, features: CgroupV2Features) throws -> CgroupV2 {
        let controlFile = parent + "/cgroup.subtree_control"
        let enabled = CgroupFS.words(CgroupFS.readIfPresent(controlFile))
        let leaf = parent + "/" + name
        for (controller, requested, file) in [("memory", limits.memoryBytes != nil, "memory.max"),
                                              ("pids", limits.pids != nil, "pids.max"),
                                              ("cpu", limits.cpus != nil, "cpu.max")]
        where requested && !enabled.contains(controller) {
            throw CgroupError("cgroup: cannot set \(leaf)/\(file): \(controlFile) does not pass on the \(controller) controller "
                              + "(enabled: \(enabled.isEmpty ? "none" : CgroupV2Placement.ordered(enabled).joined(separator: " ")))",
                              path: controlFile, errno: ENOENT)
        }
        try CgroupFS.makeFreshDirectory(leaf)
        let cgroup = CgroupV2(dir: leaf, features: features)
        do {
            try cgroup.apply(limits)
        } catch {
            CgroupFS.removeTree(leaf, timeout: 0.5)
            throw error
        }
        return cgroup
    }

    func apply(_ limits: ResourceLimits) throws {
        if let bytes = limits.memoryBytes {
            try CgroupFS.write("\(bytes)", to: dir + "/memory.max")
            // No silent swapping past the limit.
            if features.swap { try CgroupFS.write("0", to: dir + "/memory.swap.max") }
            // An OOM kill takes the whole sandbox: half a build tree is worse than none.
            if features.oomGroup { try CgroupFS.write("1", to: dir + "/memory.oom.group") }
        }
        if let pids = limits.pids {
            try CgroupFS.write("\(pids)", to: dir + "/pids.max")
        }
        if let quota = limits.cpuQuotaMicros {
            try CgroupFS.write("\(quota) \(ResourceLimits.cpuPeriodMicros)", to: dir + "/cpu.max")
        }
    }

    /// Non-zero when the OOM killer struck since the cgroup was made: oom_kill (each process
    /// killed) plus oom_group_kill (a memory.oom.group kill of the whole cgroup, 6.0+), so a
    /// group kill may count twice; callers only compare with 0. The cgroup is made fresh for
    /// each sandbox, so its counters start at 0 and the values are the deltas.
    func oomKillCount() -> UInt64 {
        let events = dir + "/memory.events"
        return (CgroupFS.keyedValue("oom_kill", in: events) ?? 0) + (CgroupFS.keyedValue("oom_group_kill", in: events) ?? 0)
    }

    func peakMemoryBytes() -> UInt64? {
        if features.peak { return CgroupFS.readUInt(dir + "/memory.peak") }
        samplePeak()
        let peak = sampledPeak.withLock { $0 }
        return peak > 0 ? peak : nil
    }

    var needsPeakSampling: Bool { features.memory && !features.peak }

    func samplePeak() {
        guard needsPeakSampling, let now = CgroupFS.readUInt(dir + "/memory.current") else { return }
        sampledPeak.withLock { $0 = max($0, now) }
    }

    func cpuTimeSeconds() -> Double? {
        CgroupFS.keyedValue("usage_usec", in: dir + "/cpu.stat").map { Double($0) / 1e6 }
    }

    /// cgroup.kill kills the whole subtree in the kernel, forks included. Without it: freeze
    /// with cgroup.freeze, kill, thaw. Neither: SIGKILL in a loop until empty.
    func killAll() {
        let deadline = CgroupFS.monotonicSeconds() + 5.0
        var round = 0
        while !members().isEmpty && round < 20 && CgroupFS.monotonicSeconds() < deadline {
            round += 1
            if features.kill, (try? CgroupFS.write("1", to: dir + "/cgroup.kill")) != nil {
                CgroupFS.poll(timeout: 1.0) { members().isEmpty }
                continue
            }
            if features.freeze, (try? CgroupFS.write("1", to: dir + "/cgroup.freeze")) != nil {
                let frozen = CgroupFS.poll(timeout: 1.0) { CgroupFS.keyedValue("frozen", in: dir + "/cgroup.events") == 1 }
                for pid in members() {
                    if frozen { _ = kill(pid, SIGKILL) } else { CgroupFS.killIfMember(pid, of: [dir]) }
                }
                try? CgroupFS.write("0", to: dir + "/cgroup.freeze")
            } else {
                for pid in members() { CgroupFS.killIfMember(pid, of: [dir]) }
            }
            CgroupFS.poll(timeout: 0.5) { members().isEmpty }
        }
    }

    private func members() -> [pid_t] { CgroupFS.processes(inTree: dir) }
}
