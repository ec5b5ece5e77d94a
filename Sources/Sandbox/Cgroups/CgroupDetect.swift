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
    /// v2: the directory sandbox cgroups are made in (the placement's sandbox parent).
    var v2Parent: String?
    var v2Features: CgroupV2Features = .none
    /// v1: controller → the daemon's own cgroup directory in that controller's hierarchy
    /// (co-mounted controllers such as cpu,cpuacct map to the same directory).
    var v1Dirs: [String: String] = [:]

    /// The v1 controllers a sandbox cgroup is created in (when mounted).
    static let v1Controllers = ["memory", "pids", "cpu", "cpuacct", "freezer"]
    static let unifiedMount = "/sys/fs/cgroup"

    // MARK: probing the live system

    /// The last probe, reused by `Cgroups.create` (the hierarchy layout does not change
    /// under a running daemon; a failed create drops it so the next one probes afresh).
    static let cache = Mutex<CgroupHost?>(nil)

    /// Held while probing: two first launches racing must not both prepare a placement.
    static let probing = Mutex<Void>(())
    /// The v2 placement once one worked: kept for the life of the process, even when a failed
    /// create drops the probe (preparing it again could move this process again: out of a
    /// container's init.scope into init.scope/supervisor, say, and change where sandboxes go).
    static let placement = Mutex<V2Plan?>(nil)

    static func cachedProbe() -> CgroupHost {
        if let c = cache.withLock({ $0 }) { return c }
        return probing.withLock { _ in
            if let c = cache.withLock({ $0 }) { return c }
            let fresh = probe()
            cache.withLock { $0 = fresh }
            return fresh
        }
    }

    static func forgetProbe() { cache.withLock { $0 = nil } }

    /// Probes the live system. On cgroup v2 this also prepares the place sandboxes go (see
    /// CgroupV2Placement), which may move this process into a leaf of its own cgroup.
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
        let ownV2 = unifiedPath(cgroups)

        // Unified hierarchy at /sys/fs/cgroup: v2 is the only choice.
        if unifiedIsCgroup2 {
            guard let own = ownV2 else {
                notes.append("cgroup v2 at \(unifiedMount), but /proc/self/cgroup has no 0:: line")
                return none(notes + ["no usable cgroups: sandboxes run without resource limits"])
            }
            // The mount may show a subtree only (a bind of it, a container without its own
            // cgroup namespace): our path is then relative to that subtree's root, or outside it.
            let root = mounts.last(where: { $0.mountPoint == unifiedMount && $0.fsType == "cgroup2" })?.root ?? "/"
            return v2(mount: unifiedMount, ownPath: visiblePath(own, mountRoot: root), notes: notes)
        }

        // v1 (or hybrid): the hierarchies that actually have the controllers.
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
            s.peakMemory = true
            s.placement = "v1: <hierarchy>/<own cgroup>/coven/<name>"
            notes.append("cgroup v1; sandboxes go in <hierarchy>/<own cgroup>/coven/<name>:")
            for c in v1Controllers {
                notes.append("  \(c): " + (dirs[c].map { $0 + "/coven" } ?? "not mounted"))
            }
            if let hybrid = mounts.first(where: { $0.fsType == "cgroup2" }) {
                notes.append("hybrid: cgroup2 also mounted at \(hybrid.mountPoint); the controllers are on v1, so v1 is used")
            }
            if !s.swapLimit { notes.append("no memory.memsw (swap accounting off): swap is not limited") }
            if !s.cpu {
                notes.append("no cpu hierarchy: cpu limits unavailable")
                s.unavailable[.cpu] = "no v1 cpu hierarchy is mounted"
            }
            if !s.cpuAccounting { notes.append("no cpuacct hierarchy: SandboxCgroup.cpuTimeSeconds is nil (sandbox reports use their init's rusage)") }
            notes.append(s.freezer ? "killAll freezes (freezer.state), kills, thaws"
                                   : "no freezer hierarchy: killAll loops SIGKILL until empty")
            s.notes = notes
            return CgroupHost(support: s, v1Dirs: dirs)
        }
        // A hybrid host whose cgroup2 mount holds the controllers.
        if let hybrid = mounts.first(where: { $0.fsType == "cgroup2" }), let own = ownV2,
           CgroupFS.words(CgroupFS.readIfPresent(hybrid.mountPoint + "/cgroup.controllers")).isSuperset(of: ["memory", "pids"]) {
            notes.append("hybrid: the memory and pids controllers are on the cgroup2 mount at \(hybrid.mountPoint)")
            return v2(mount: hybrid.mountPoint, ownPath: visiblePath(own, mountRoot: hybrid.root), notes: notes)
        }
        if !dirs.isEmpty {
            notes.append("cgroup v1: memory " + (dirs["memory"] == nil ? "not mounted" : memory ? "ok" : "not writable")
                         + ", pids " + (dirs["pids"] == nil ? "not mounted" : pids ? "ok" : "not writable"))
        }
        return none(notes + ["no usable cgroups: sandboxes run without resource limits"])
    }

    private static func none(_ notes: [String]) -> CgroupHost {
        var s = CgroupSupport(version: .none, notes: notes)
        let why = notes.last ?? "no usable cgroups"
        for c in LimitKind.allCases { s.unavailable[c] = why }
        return CgroupHost(support: s)
    }

    /// cgroup v2 at `mount`: choose and prepare the sandboxes' place, then probe what it offers.
    static func v2(mount: String, ownPath: String, notes initial: [String]) -> CgroupHost {
        var notes = initial
        var plan: V2Plan?
        var placementNotes: [String] = []
        if var kept = placement.withLock({ $0 }), kept.sandboxParent.hasPrefix(mount + "/") {
            kept.controllers = CgroupFS.words(CgroupFS.readIfPresent(kept.sandboxParent + "/cgroup.subtree_control"))
                .intersection(CgroupV2Placement.wanted)
            plan = kept
        } else {
            (plan, placementNotes) = CgroupV2Placement.choose(mount: mount, ownPath: ownPath)
            if let plan { placement.withLock { $0 = plan } }
        }
        guard let plan else {
            notes.append("cgroup v2 at \(mount), own cgroup \(ownPath): no place for sandbox cgroups")
            notes += placementNotes
            var host = none(notes)
            host.support.version = .none
            host.support.fix = v2Fix(ownPath: ownPath)
            for c in LimitKind.allCases { host.support.unavailable[c] = "no cgroup v2 subtree this process may use (\(host.support.fix!))" }
            return host
        }
        let features = CgroupV2Features.probe(plan.sandboxParent, memory: plan.controllers.contains("memory"))
        var s = CgroupSupport(version: .v2, memory: plan.controllers.contains("memory"), pids: plan.controllers.contains("pids"))
        s.cpu = plan.controllers.contains("cpu")
        s.cpuAccounting = true  // cpu.stat usage_usec exists in every non-root v2 cgroup
        s.swapLimit = features.swap
        s.freezer = features.freeze
        s.kill = features.kill
        s.peakMemory = features.memory   // memory.peak, or sampled memory.current
        s.placement = plan.summary
        notes.append("cgroup v2 at \(mount); \(plan.summary)")
        notes.append("controllers for sandboxes: " + (plan.controllers.isEmpty ? "none" : CgroupV2Placement.ordered(plan.controllers).joined(separator: " ")))
        for kind in LimitKind.allCases where !plan.controllers.contains(kind.rawValue) {
            let reason = "\(plan.sandboxParent) does not get the \(kind.rawValue) controller from its parent (not delegated to uid \(geteuid()))"
            s.unavailable[kind] = reason
            notes.append(kind.rawValue + " limits unavailable: " + reason)
        }
        notes += features.notes
        notes += placementNotes
        if !s.memory || !s.pids { s.fix = v2Fix(ownPath: ownPath) }
        s.notes = notes
        return CgroupHost(support: s, v2Parent: plan.sandboxParent, v2Features: features)
    }

    /// What makes a v2 host usable, for the layout this process is in.
    static func v2Fix(ownPath: String) -> String {
        if geteuid() != 0 {
            return "run inside a delegated subtree, e.g. systemd-run --user --scope -p Delegate=yes, or as a user service with Delegate=yes"
        }
        return "run under systemd with Delegate=yes (dist/coven-supervisor.service), or mount cgroup2 writable at \(unifiedMount)"
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

    /// Our cgroup `path` as a path under a cgroup2 mount whose root is `mountRoot`, or a path
    /// starting "/.." when the mount does not show it (the placement then sees only the
    /// mount's root).
    static func visiblePath(_ path: String, mountRoot: String) -> String {
        if mountRoot == "/" || path == mountRoot || path.hasPrefix(mountRoot + "/") { return relative(path, to: mountRoot) }
        return "/.." + path
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
    }}
