import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// cgroup v2: one directory in the unified hierarchy.
struct CgroupV2: CgroupBackend {
    let dir: String

    var version: CgroupVersion { .v2 }
    var directories: [String] { [dir] }

    /// The controllers a sandbox cgroup gets when the parent offers them.
    static let controllers = ["cpu", "memory", "pids"]

    /// Makes the sandbox cgroup under the cgroup2 mount `root` (e.g. "/sys/fs/cgroup", or the
    /// hybrid "/sys/fs/cgroup/unified" in tests), below this process's own v2 cgroup.
    static func create(root: String, name: String, limits: ResourceLimits) throws -> CgroupV2 {
        let selfCgroup = CgroupHost.parseProcCgroup(CgroupFS.readIfPresent("/proc/self/cgroup") ?? "")
        let path = CgroupHost.unifiedPath(selfCgroup) ?? "/"
        return try create(base: CgroupHost.v2Base(mount: root, path: path), name: name, limits: limits)
    }

    /// Makes `<base>/coven/<name>`, enabling cpu/memory/pids (those offered) in the subtree_control
    /// of `base` and `base/coven`, and applies `limits`. A requested limit whose controller `base`
    /// does not offer is an error naming the file (nothing is created then).
    static func create(base: String, name: String, limits: ResourceLimits) throws -> CgroupV2 {
        let offeredFile = base + "/cgroup.controllers"
        let offered = Set(try CgroupFS.read(offeredFile).split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        let parent = base + "/coven"
        let leaf = parent + "/" + name
        for (controller, requested, file) in [("memory", limits.memoryBytes != nil, "memory.max"),
                                              ("pids", limits.pids != nil, "pids.max"),
                                              ("cpu", limits.cpus != nil, "cpu.max")]
        where requested && !offered.contains(controller) {
            throw CgroupError("cgroup: cannot set \(leaf)/\(file): the \(controller) controller is not offered by "
                              + "\(offeredFile) (offered: \(offered.isEmpty ? "none" : offered.sorted().joined(separator: " ")))",
                              path: offeredFile, errno: ENOENT)
        }
        let wanted = controllers.filter { offered.contains($0) }
        var required = Set<String>()
        if limits.memoryBytes != nil { required.insert("memory") }
        if limits.pids != nil { required.insert("pids") }
        if limits.cpus != nil { required.insert("cpu") }
        try enable(wanted, in: base, required: required, mayMoveSelf: true)
        try CgroupFS.makeDirectory(parent)
        try enable(wanted, in: parent, required: required, mayMoveSelf: false)
        try CgroupFS.makeFreshDirectory(leaf)
        let cgroup = CgroupV2(dir: leaf)
        do {
            try cgroup.apply(limits)
        } catch {
            CgroupFS.removeTree(leaf, timeout: 0.5)
            throw error
        }
        return cgroup
    }

    /// Enables `controllers` for the children of `dir`, one at a time so that one controller
    /// the kernel refuses (e.g. cpu while realtime tasks exist) does not cost the others. A
    /// failure is an error only for a controller in `required` (one a requested limit needs);
    /// the others merely leave their accounting unavailable.
    /// The "no internal processes" rule makes enabling fail with EBUSY in a non-root cgroup that
    /// holds processes; when `mayMoveSelf`, this process then moves into the `coven-supervisor`
    /// leaf of `dir` (once) and tries again.
    static func enable(_ controllers: [String], in dir: String, required: Set<String>, mayMoveSelf: Bool) throws {
        let file = dir + "/cgroup.subtree_control"
        let enabled = Set((CgroupFS.readIfPresent(file) ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        var moved = false
        for controller in controllers where !enabled.contains(controller) {
            do {
                try CgroupFS.write("+" + controller, to: file)
            } catch let error as CgroupError where error.errnoCode == EBUSY && mayMoveSelf && !moved {
                moved = true
                do {
                    let own = dir + "/" + CgroupHost.daemonLeaf
                    try CgroupFS.makeDirectory(own)
                    try CgroupFS.write("\(getpid())", to: own + "/cgroup.procs")
                    try CgroupFS.write("+" + controller, to: file, hint: "\(dir) still holds other processes, and a cgroup "
                                       + "that passes controllers to its children cannot hold processes (run the daemon in a "
                                       + "delegated cgroup of its own, e.g. systemd Delegate=yes)")
                } catch where required.contains(controller) {
                    throw error
                } catch {}
            } catch where required.contains(controller) {
                throw error
            } catch {}
        }
    }

    func apply(_ limits: ResourceLimits) throws {
        if let bytes = limits.memoryBytes {
            try CgroupFS.write("\(bytes)", to: dir + "/memory.max")
            let swap = dir + "/memory.swap.max"
            if CgroupFS.exists(swap) {  // absent when swap accounting is off
                try CgroupFS.write("0", to: swap)
            }
        }
        if let pids = limits.pids {
            try CgroupFS.write("\(pids)", to: dir + "/pids.max")
        }
        if let quota = limits.cpuQuotaMicros {
            try CgroupFS.write("\(quota) \(ResourceLimits.cpuPeriodMicros)", to: dir + "/cpu.max")
        }
    }

    func oomKillCount() -> UInt64 {
        CgroupFS.keyedValue("oom_kill", in: dir + "/memory.events") ?? 0
    }

    func peakMemoryBytes() -> UInt64? {
        CgroupFS.readUInt(dir + "/memory.peak")  // Linux 5.19+
    }

    func cpuTimeSeconds() -> Double? {
        CgroupFS.keyedValue("usage_usec", in: dir + "/cpu.stat").map { Double($0) / 1e6 }
    }

    /// cgroup.kill (Linux 5.14+) kills the whole subtree in the kernel, forks included. Older
    /// kernels: freeze with cgroup.freeze, kill, thaw. Neither: SIGKILL in a loop until empty.
    func killAll() {
        let deadline = CgroupFS.monotonicSeconds() + 5.0
        var round = 0
        while !members().isEmpty && round < 20 && CgroupFS.monotonicSeconds() < deadline {
            round += 1
            if (try? CgroupFS.write("1", to: dir + "/cgroup.kill")) != nil {
                CgroupFS.poll(timeout: 1.0) { members().isEmpty }
                continue
            }
            if (try? CgroupFS.write("1", to: dir + "/cgroup.freeze")) != nil {
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
