import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One line of /proc/self/mountinfo (only what cgroup detection needs).
struct MountInfoEntry: Equatable, Sendable {
    var root: String
    var mountPoint: String
    var fsType: String
    var superOptions: [String]
}

/// One line of /proc/self/cgroup: "hierarchy-ID:controller-list:path".
struct ProcCgroupEntry: Equatable, Sendable {
    var hierarchy: Int
    var controllers: [String]
    var path: String
}

/// The host's cgroup situation: the public `CgroupSupport` plus the paths `create` needs.
struct CgroupHost: Sendable {
    var support: CgroupSupport
    /// v2: the directory of the daemon's own cgroup, under which `coven/` is made.
    var v2Base: String?
    /// v1: controller → the daemon's own cgroup directory in that controller's hierarchy
    /// (co-mounted controllers such as cpu,cpuacct map to the same directory).
    var v1Dirs: [String: String] = [:]

    /// The v1 controllers a sandbox cgroup is created in (when mounted).
    static let v1Controllers = ["memory", "pids", "cpu", "cpuacct", "freezer"]
    /// v2: the leaf the daemon moves itself into when its own cgroup must have no processes
    /// (the "no internal processes" rule) so controllers can be enabled for `coven/`.
    static let daemonLeaf = "coven-supervisor"
    static let unifiedMount = "/sys/fs/cgroup"

    // MARK: probing the live system

    /// The last probe, reused by `Cgroups.create` (the hierarchy layout does not change
    /// under a running daemon; a failed create drops it so the next one probes afresh).
    static let cache = Mutex<CgroupHost?>(nil)

    static func cachedProbe() -> CgroupHost {
        if let c = cache.withLock({ $0 }) { return c }
        let fresh = probe()
        cache.withLock { $0 = fresh }
        return fresh
    }

    static func forgetProbe() { cache.withLock { $0 = nil } }

    static func probe() -> CgroupHost {
        let mounts = parseMountInfo(CgroupFS.readIfPresent("/proc/self/mountinfo") ?? "")
        let cgroups = parseProcCgroup(CgroupFS.readIfPresent("/proc/self/cgroup") ?? "")
        let isCgroup2: Bool
        if let type = CgroupFS.filesystemType(unifiedMount) {
            isCgroup2 = type == CgroupFS.cgroup2SuperMagic
        } else {
            isCgroup2 = mounts.contains { $0.mountPoint == unifiedMount && $0.fsType == "cgroup2" }
        }
        return probe(mounts: mounts, cgroups: cgroups, unifiedIsCgroup2: isCgroup2)
    }

    static func probe(mounts: [MountInfoEntry], cgroups: [ProcCgroupEntry], unifiedIsCgroup2: Bool) -> CgroupHost {
        var notes: [String] = []

        // v2: /sys/fs/cgroup is cgroup2 and our cgroup offers memory and pids.
        if unifiedIsCgroup2, let path = unifiedPath(cgroups) {
            let base = v2Base(mount: unifiedMount, path: path)
            let controllers = Set((CgroupFS.readIfPresent(base + "/cgroup.controllers") ?? "")
                .split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
            if controllers.contains("memory") && controllers.contains("pids") && CgroupFS.writable(base) {
                let isRoot = base == unifiedMount
                let kernel = kernelVersion()
                var s = CgroupSupport(version: .v2, memory: true, pids: true)
                s.cpu = controllers.contains("cpu")
                s.cpuAccounting = true  // cpu.stat usage_usec exists in every v2 cgroup
                s.swapLimit = CgroupFS.exists(base + "/memory.swap.max") || CgroupFS.exists(base + "/coven/memory.swap.max")
                s.freezer = CgroupFS.exists(base + "/cgroup.freeze") || (isRoot && kernel >= (5, 2))
                s.kill = CgroupFS.exists(base + "/cgroup.kill") || (isRoot && kernel >= (5, 14))
                notes.append("cgroup v2 at \(unifiedMount); sandboxes go in \(base)/coven/<name>")
                notes.append("controllers offered here: " + controllers.sorted().joined(separator: " "))
                if !s.cpu { notes.append("cpu controller not delegated: cpu limits unavailable") }
                if !s.swapLimit { notes.append("memory.swap.max not visible at \(base): swap is limited only where the kernel offers it") }
                notes.append(s.kill ? "killAll uses cgroup.kill" :
                             s.freezer ? "no cgroup.kill (kernel < 5.14): killAll freezes with cgroup.freeze, then kills"
                                       : "no cgroup.kill or cgroup.freeze: killAll loops SIGKILL until empty")
                if !isRoot && CgroupFS.processes(in: base).contains(where: { $0 != getpid() }) {
                    notes.append("\(base) holds other processes; enabling controllers needs a cgroup without processes (run the daemon with systemd Delegate=yes)")
                }
                s.notes = notes
                return CgroupHost(support: s, v2Base: base)
            }
            notes.append("cgroup v2 at \(unifiedMount), but \(base) offers [" + controllers.sorted().joined(separator: " ")
                         + "]; memory and pids are needed (delegate them, e.g. systemd Delegate=yes)")
        } else if unifiedIsCgroup2 {
            notes.append("cgroup v2 at \(unifiedMount), but /proc/self/cgroup has no 0:: line")
        }

        // v1: memory and pids hierarchies mounted and writable.
        let dirs = resolveV1(mounts: mounts, cgroups: cgroups).filter { v1Controllers.contains($0.key) }
        let memory = dirs["memory"].map { CgroupFS.writable($0) } ?? false
        let pids = dirs["pids"].map { CgroupFS.writable($0) } ?? false
        if memory && pids, let memDir = dirs["memory"] {
            var s = CgroupSupport(version: .v1, memory: true, pids: true)
            s.cpu = dirs["cpu"].map { CgroupFS.exists($0 + "/cpu.cfs_quota_us") && CgroupFS.writable($0) } ?? false
            s.cpuAccounting = dirs["cpuacct"].map { CgroupFS.exists($0 + "/cpuacct.usage") } ?? false
            s.swapLimit = CgroupFS.exists(memDir + "/memory.memsw.limit_in_bytes")
            s.freezer = dirs["freezer"].map { CgroupFS.writable($0) } ?? false
            s.kill = s.freezer
            notes.append("cgroup v1; sandboxes go in <hierarchy>/<own cgroup>/coven/<name>:")
            for c in v1Controllers {
                notes.append("  \(c): " + (dirs[c].map { $0 + "/coven" } ?? "not mounted"))
            }
            if let hybrid = mounts.first(where: { $0.fsType == "cgroup2" }) {
                notes.append("hybrid: cgroup2 also mounted at \(hybrid.mountPoint) (controllers stay on v1; not used)")
            }
            if !s.swapLimit { notes.append("no memory.memsw (swap accounting off): swap is not limited") }
            if !s.cpu { notes.append("no cpu hierarchy: cpu limits unavailable") }
            if !s.cpuAccounting { notes.append("no cpuacct hierarchy: SandboxCgroup.cpuTimeSeconds is nil (sandbox reports use their init's rusage)") }
            notes.append(s.freezer ? "killAll freezes (freezer.state), kills, thaws"
                                   : "no freezer hierarchy: killAll loops SIGKILL until empty")
            s.notes = notes
            return CgroupHost(support: s, v1Dirs: dirs)
        }
        if !dirs.isEmpty || !unifiedIsCgroup2 {
            notes.append("cgroup v1: memory " + (dirs["memory"] == nil ? "not mounted" : memory ? "ok" : "not writable")
                         + ", pids " + (dirs["pids"] == nil ? "not mounted" : pids ? "ok" : "not writable"))
        }
        notes.append("no usable cgroups: sandboxes run without resource limits")
        return CgroupHost(support: CgroupSupport(version: .none, notes: notes))
    }

    // MARK: parsing (pure)

    static func parseMountInfo(_ text: String) -> [MountInfoEntry] {
        var out: [MountInfoEntry] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 10, let sep = f[6...].firstIndex(of: "-"), sep + 3 < f.count else { continue }
            out.append(MountInfoEntry(root: unescape(f[3]), mountPoint: unescape(f[4]), fsType: f[sep + 1],
                                      superOptions: f[sep + 3].split(separator: ",").map(String.init)))
        }
        return out
    }

    static func parseProcCgroup(_ text: String) -> [ProcCgroupEntry] {
        var out: [ProcCgroupEntry] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard f.count == 3, let id = Int(f[0]) else { continue }
            out.append(ProcCgroupEntry(hierarchy: id, controllers: f[1].split(separator: ",").map(String.init),
                                       path: String(f[2])))
        }
        return out
    }

    /// The v2 path of this process ("0::/path").
    static func unifiedPath(_ cgroups: [ProcCgroupEntry]) -> String? {
        cgroups.first { $0.hierarchy == 0 && $0.controllers.isEmpty }?.path
    }

    /// The directory under which `coven/` goes: the daemon's v2 cgroup, or its parent when the
    /// daemon already moved itself into the `coven-supervisor` leaf.
    static func v2Base(mount: String, path: String) -> String {
        var dir = join(mount, path)
        if (dir as NSString).lastPathComponent == daemonLeaf && dir != join(mount, "/") {
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir
    }

    /// controller → the current process's cgroup directory in that controller's v1 hierarchy.
    static func resolveV1(mounts: [MountInfoEntry], cgroups: [ProcCgroupEntry]) -> [String: String] {
        var out: [String: String] = [:]
        for entry in cgroups where entry.hierarchy != 0 {
            let controllers = entry.controllers.filter { !$0.hasPrefix("name=") }
            guard !controllers.isEmpty else { continue }
            let candidates = mounts.filter { m in
                m.fsType == "cgroup" && controllers.allSatisfy { m.superOptions.contains($0) }
            }
            func covers(_ m: MountInfoEntry) -> Bool {
                m.root == "/" || entry.path == m.root || entry.path.hasPrefix(m.root + "/")
            }
            guard let mount = candidates.first(where: { covers($0) && $0.mountPoint.hasPrefix("/sys/fs/cgroup/") })
                    ?? candidates.first(where: covers) ?? candidates.first else { continue }
            let dir = join(mount.mountPoint, relative(entry.path, to: mount.root))
            for c in controllers where out[c] == nil { out[c] = dir }
        }
        return out
    }

    /// `path` seen from a mount whose root is `root`. With a cgroup namespace the path is
    /// already relative to the namespace root, which is then the mount root.
    static func relative(_ path: String, to root: String) -> String {
        if root == "/" { return path }
        if path == root { return "/" }
        if path.hasPrefix(root + "/") { return String(path.dropFirst(root.count)) }
        return path
    }

    static func join(_ mount: String, _ path: String) -> String {
        var m = mount
        while m.count > 1 && m.hasSuffix("/") { m.removeLast() }
        let p = path.hasPrefix("/") ? path : "/" + path
        if p == "/" { return m }
        return m == "/" ? p : m + p
    }

    /// mountinfo escapes space, tab, newline and backslash as \ooo.
    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var bytes: [UInt8] = []
        let u = Array(s.utf8)
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "\\"), i + 3 < u.count {
                let digits = u[(i + 1)...(i + 3)]
                if digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x37 }),
                   let v = UInt8(String(decoding: digits, as: UTF8.self), radix: 8) {
                    bytes.append(v)
                    i += 4
                    continue
                }
            }
            bytes.append(u[i])
            i += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func kernelVersion() -> (Int, Int) {
        let release = CgroupFS.readIfPresent("/proc/sys/kernel/osrelease") ?? ""
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        return parts.count == 2 ? (parts[0], parts[1]) : (0, 0)
    }
}
