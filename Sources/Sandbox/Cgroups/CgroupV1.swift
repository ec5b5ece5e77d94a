import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// cgroup v1: one directory per hierarchy (memory, pids, cpu, cpuacct, freezer — whichever
/// are mounted; co-mounted controllers share a directory).
struct CgroupV1: CgroupBackend {
    /// controller → this sandbox's directory in that controller's hierarchy.
    let dirs: [String: String]
    let directories: [String]

    var version: CgroupVersion { .v1 }

    init(dirs: [String: String]) {
        self.dirs = dirs
        var seen = Set<String>()
        self.directories = CgroupHost.v1Controllers.compactMap { dirs[$0] }.filter { seen.insert($0).inserted }
    }

    /// Makes `<own cgroup>/coven/<name>` in each hierarchy of `hierarchies` (controller → the
    /// daemon's own cgroup directory there) and applies `limits`. Removes what it made on failure.
    /// memory (OOM count, peak), pids and freezer (teardown) are always made; cpu only for a
    /// cpu limit, cpuacct only for `cpuAccounting` (or when co-mounted with one that is made).
    static func create(hierarchies: [String: String], name: String, limits: ResourceLimits,
                       cpuAccounting: Bool = true) throws -> CgroupV1 {
        for (controller, wanted) in [("memory", limits.memoryBytes != nil), ("pids", limits.pids != nil),
                                     ("cpu", limits.cpus != nil)] where wanted && hierarchies[controller] == nil {
            throw CgroupError("cgroup: cannot apply the \(controller) limit: no v1 \(controller) hierarchy is mounted")
        }
        // Each directory is a mkdir and an rmdir per launch (kernfs): only the needed ones.
        var needed = ["memory", "pids", "freezer"]
        if limits.cpus != nil { needed.append("cpu") }
        if cpuAccounting { needed.append("cpuacct") }
        let neededDirs = needed.compactMap { hierarchies[$0] }
        var leaves: [String: String] = [:]
        for controller in CgroupHost.v1Controllers {
            guard let own = hierarchies[controller], neededDirs.contains(own) else { continue }
            leaves[controller] = own + "/coven/" + name
        }
        let cgroup = CgroupV1(dirs: leaves)
        var made: [String] = []
        do {
            for leaf in cgroup.directories {
                try CgroupFS.makeLeaf(leaf)
                made.append(leaf)
            }
            try cgroup.apply(limits)
        } catch {
            for dir in made { CgroupFS.removeTree(dir, timeout: 0.5) }
            throw error
        }
        return cgroup
    }

    func apply(_ limits: ResourceLimits) throws {
        if let bytes = limits.memoryBytes, let dir = dirs["memory"] {
            // memory first: memsw must never be below memory.limit_in_bytes.
            try CgroupFS.write("\(bytes)", to: dir + "/memory.limit_in_bytes")
            let memsw = dir + "/memory.memsw.limit_in_bytes"
            if CgroupFS.exists(memsw) {
                try CgroupFS.write("\(bytes)", to: memsw)
            }
            // Best effort: keep the sandbox's pages out of swap (not writable on every kernel).
            try? CgroupFS.write("0", to: dir + "/memory.swappiness")
        }
        if let pids = limits.pids, let dir = dirs["pids"] {
            try CgroupFS.write("\(pids)", to: dir + "/pids.max")
        }
        if let quota = limits.cpuQuotaMicros, let dir = dirs["cpu"] {
            try CgroupFS.write("\(ResourceLimits.cpuPeriodMicros)", to: dir + "/cpu.cfs_period_us")
            try CgroupFS.write("\(quota)", to: dir + "/cpu.cfs_quota_us")
        }
        // The OOM killer stays enabled (memory.oom_control untouched): a hog is killed and counted.
    }

    func oomKillCount() -> UInt64 {
        guard let dir = dirs["memory"] else { return 0 }
        return CgroupFS.keyedValue("oom_kill", in: dir + "/memory.oom_control") ?? 0
    }

    func peakMemoryBytes() -> UInt64? {
        guard let dir = dirs["memory"] else { return nil }
        return CgroupFS.readUInt(dir + "/memory.max_usage_in_bytes")
    }

    func cpuTimeSeconds() -> Double? {
        guard let dir = dirs["cpuacct"], let ns = CgroupFS.readUInt(dir + "/cpuacct.usage") else { return nil }
        return Double(ns) / 1e9
    }

    /// Freeze, SIGKILL every member, thaw; repeat until empty. Frozen tasks cannot fork or exit,
    /// so the pids read while frozen are exactly the members and none can be reused. The kills
    /// take effect on thaw, before any member runs user code again.
    func killAll() {
        let deadline = CgroupFS.monotonicSeconds() + 5.0
        let freezer = dirs["freezer"]
        var round = 0
        while !members().isEmpty && round < 20 && CgroupFS.monotonicSeconds() < deadline {
            round += 1
            if let fz = freezer, (try? CgroupFS.write("FROZEN", to: fz + "/freezer.state")) != nil {
                // Bounded: a task stuck in an uninterruptible sleep can hold the state at FREEZING;
                // then kill anyway (the loop repeats until the cgroup is empty).
                let isFrozen = CgroupFS.poll(timeout: 1.0) {
                    CgroupFS.readIfPresent(fz + "/freezer.state")?.hasPrefix("FROZEN") ?? true
                }
                let inFreezer = Set(CgroupFS.processes(inTree: fz))
                for pid in inFreezer {
                    if isFrozen { _ = kill(pid, SIGKILL) } else { CgroupFS.killIfMember(pid, of: directories) }
                }
                // Members missing from the freezer hierarchy (a partial attach) are not frozen.
                for pid in members() where !inFreezer.contains(pid) { CgroupFS.killIfMember(pid, of: directories) }
                try? CgroupFS.write("THAWED", to: fz + "/freezer.state")
            } else {
                for pid in members() { CgroupFS.killIfMember(pid, of: directories) }
            }
            CgroupFS.poll(timeout: 0.5) { members().isEmpty }
        }
    }

    private func members() -> [pid_t] {
        var all = Set<pid_t>()
        for dir in directories { all.formUnion(CgroupFS.processes(inTree: dir)) }
        return Array(all)
    }
}
