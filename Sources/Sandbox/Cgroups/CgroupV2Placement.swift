import Foundation
#if canImport(Glibc)
import Glibc
#endif

// Where sandbox cgroups go on a cgroup v2 host.
//
// The kernel's rules decide it: controllers can only be enabled for the children of a cgroup
// that holds no processes (the root cgroup excepted), a process can only be moved by someone
// who may write the cgroup.procs of the common ancestor of source and destination, and
// enabling a threaded controller (cpu, pids) in a cgroup that holds processes makes it a
// thread root, after which domain controllers (memory) are refused with EOPNOTSUPP. So we
// never enable anything in a cgroup that holds processes, and we never put sandboxes inside
// the caller's populated cgroup. Three places are considered, in this order:
//
//   own subtree   our own cgroup D holds nothing but us (and our children): a service with
//                 Delegate=yes, a scope of our own, a container's root we run alone in. We move
//                 into D/supervisor, enable the controllers on D, and sandboxes go in
//                 D/sandboxes. Under DelegateSubgroup=supervisor systemd already started us there.
//   top level     we may write the root of the hierarchy we see (root on the host, or root in
//                 a container with its own cgroup namespace): sandboxes go in R/coven, the
//                 way container engines' cgroupfs drivers do. A container's namespace root that
//                 holds processes is first emptied into R/init.scope (as docker-in-docker does);
//                 the host's real root may hold processes.
//   delegated     an ancestor A of D and everything below it is ours (rootless, inside
//                 systemd's user@UID.service): sandboxes go in A/coven.
//
// The first that offers memory and pids wins (cpu is reported when missing, not chased out of
// a unit's own subtree); otherwise the one offering most. None at all: no limits (rootless
// runs anyway, and says so).

/// One cgroup v2 directory, as far as the placement needs it.
struct V2Node: Equatable, Sendable {
    var path: String
    /// cgroup.controllers: what this cgroup may pass on.
    var controllers: Set<String>
    /// cgroup.subtree_control: what it passes on now.
    var subtreeControl: Set<String>
    var processes: [pid_t]
    /// We may make children, move processes and enable controllers here.
    var writable: Bool
    /// The hierarchy's real root (no cgroup.type file): exempt from the no-internal-process rule.
    var isRealRoot: Bool

    static func read(_ path: String) -> V2Node {
        V2Node(path: path,
               controllers: CgroupFS.words(CgroupFS.readIfPresent(path + "/cgroup.controllers")),
               subtreeControl: CgroupFS.words(CgroupFS.readIfPresent(path + "/cgroup.subtree_control")),
               processes: CgroupFS.processes(in: path),
               writable: CgroupFS.writable(path) && CgroupFS.writable(path + "/cgroup.procs")
                   && CgroupFS.writable(path + "/cgroup.subtree_control"),
               isRealRoot: !CgroupFS.exists(path + "/cgroup.type"))
    }
}

/// What the placement decides from: the chain of cgroups from the hierarchy's root (as this
/// process sees it) down to its own.
struct V2Snapshot: Equatable, Sendable {
    var mount: String
    /// From the mount's root (first) to our own cgroup D (last). Just the root when our own
    /// cgroup is not visible under this mount.
    var chain: [V2Node]
    /// We already sit in D/supervisor (a previous move, or systemd's DelegateSubgroup=).
    var inLeaf: Bool
    /// Processes of D that are us or our descendants (moved along with us).
    var ours: Set<pid_t>

    static func read(mount: String, ownPath: String, selfPID: pid_t = getpid()) -> V2Snapshot {
        let root = V2Node.read(mount)
        guard !ownPath.contains("/.."), ownPath.hasPrefix("/") else {
            return V2Snapshot(mount: mount, chain: [root], inLeaf: false, ours: [selfPID])
        }
        var components = ownPath.split(separator: "/").map(String.init)
        var inLeaf = false
        if components.last == CgroupV2Placement.daemonLeaf && components.count > 1 {
            components.removeLast()
            inLeaf = true
        }
        var chain = [root]
        var dir = mount
        for c in components {
            dir += "/" + c
            chain.append(V2Node.read(dir))
        }
        let own = chain.last!.processes
        var ours: Set<pid_t> = [selfPID]
        for pid in own where pid != selfPID && CgroupFS.isDescendant(pid, of: selfPID) { ours.insert(pid) }
        return V2Snapshot(mount: mount, chain: chain, inLeaf: inLeaf, ours: ours)
    }
}

/// One step of preparing a placement.
enum V2Step: Equatable, Sendable {
    case makeDirectory(String)
    /// Move these processes (us, our children) into a directory.
    case move([pid_t], into: String)
    /// Move every process of a cgroup into another (a container's namespace root).
    case evacuate(String, into: String)
    /// Enable controllers for the children of a directory.
    case enable([String], at: String)
}

/// A place for sandbox cgroups, and how to get it ready.
struct V2Plan: Equatable, Sendable {
    enum Kind: String, Sendable { case ownSubtree = "own subtree", topLevel = "top level", delegated = "delegated subtree" }
    var kind: Kind
    /// Sandbox cgroups are made directly under this directory.
    var sandboxParent: String
    var steps: [V2Step]
    /// The controllers sandboxes get there (of memory, pids, cpu).
    var controllers: Set<String>
    /// One line for doctor and the notes.
    var summary: String
}

enum CgroupV2Placement {
    /// The leaf the daemon moves itself into (systemd: DelegateSubgroup=supervisor).
    static let daemonLeaf = "supervisor"
    static let ownSandboxes = "sandboxes"
    /// Not a unit name (no ".slice"): systemd never claims or reconfigures it, as it leaves
    /// container engines' /docker and /kubepods alone.
    static let topLevel = "coven"
    static let evacuationLeaf = "init.scope"
    /// Controllers sandboxes use, domain controller first (see the top of this file).
    static let wanted = ["memory", "pids", "cpu"]
    static let required: Set<String> = ["memory", "pids"]

    /// Every candidate place, in order of preference, plus why the others were ruled out.
    static func candidates(_ s: V2Snapshot) -> (plans: [V2Plan], rejected: [String]) {
        var plans: [V2Plan] = []
        var rejected: [String] = []
        let root = s.chain[0]
        let own = s.chain.count > 1 ? s.chain[s.chain.count - 1] : nil

        // Own subtree.
        if let d = own {
            let strangers = d.processes.filter { !s.ours.contains($0) }
            if !d.writable {
                rejected.append("own cgroup \(d.path) is not writable by uid \(geteuid()) (not delegated)")
            } else if !strangers.isEmpty {
                rejected.append("own cgroup \(d.path) also holds other processes (\(pidList(strangers))): "
                                + "controllers cannot be enabled there, and sandboxes never go into it")
            } else {
                let offered = d.controllers.intersection(wanted)
                var steps: [V2Step] = []
                let leaf = d.path + "/" + daemonLeaf
                if !s.inLeaf || !d.processes.isEmpty {
                    steps.append(.makeDirectory(leaf))
                    steps.append(.move(d.processes.isEmpty ? [] : d.processes.sorted(), into: leaf))
                }
                let parent = d.path + "/" + ownSandboxes
                steps += enableSteps(offered, at: d)
                steps.append(.makeDirectory(parent))
                steps.append(.enable(ordered(offered), at: parent))
                plans.append(V2Plan(kind: .ownSubtree, sandboxParent: parent, steps: steps, controllers: offered,
                                    summary: "own subtree: this process in \(leaf), sandboxes in \(parent)/"))
            }
        }

        // Top level.
        if !root.writable {
            rejected.append("\(root.path) (the hierarchy's root here) is not writable by uid \(geteuid())")
        } else {
            let offered = root.controllers.intersection(wanted)
            var steps: [V2Step] = []
            var note = ""
            let missing = offered.subtracting(root.subtreeControl)
            if !missing.isEmpty && !root.isRealRoot && !root.processes.isEmpty {
                steps.append(.makeDirectory(root.path + "/" + evacuationLeaf))
                steps.append(.evacuate(root.path, into: root.path + "/" + evacuationLeaf))
                note = " (its processes moved to \(root.path)/\(evacuationLeaf) first)"
            }
            let parent = root.path + "/" + topLevel
            steps += enableSteps(offered, at: root)
            steps.append(.makeDirectory(parent))
            steps.append(.enable(ordered(offered), at: parent))
            plans.append(V2Plan(kind: .topLevel, sandboxParent: parent, steps: steps, controllers: offered,
                                summary: "top level: sandboxes in \(parent)/" + note))
        }

        // Delegated ancestor: the highest node such that it and everything below it is ours.
        if s.chain.count > 2 {
            var top = s.chain.count - 1
            while top - 1 >= 1 && s.chain[top - 1].writable && s.chain[top].writable { top -= 1 }
            let a = s.chain[top]
            if a.writable && top < s.chain.count - 1 {
                let strangers = a.processes.filter { !s.ours.contains($0) }
                let offered = a.controllers.intersection(wanted)
                if strangers.isEmpty || offered.isSubset(of: a.subtreeControl) {
                    let parent = a.path + "/" + topLevel
                    var steps = enableSteps(offered, at: a)
                    steps.append(.makeDirectory(parent))
                    steps.append(.enable(ordered(offered), at: parent))
                    plans.append(V2Plan(kind: .delegated, sandboxParent: parent, steps: steps, controllers: offered,
                                        summary: "delegated subtree: sandboxes in \(parent)/"))
                } else {
                    rejected.append("delegated \(a.path) holds processes (\(pidList(strangers))) and does not pass on "
                                    + ordered(offered.subtracting(a.subtreeControl)).joined(separator: " "))
                }
            }
        }
        return (plans, rejected)
    }

    /// The candidates ranked: the first (in order of preference) with memory and pids, then
    /// the one offering most. cpu does not move sandboxes out of their own subtree: there the
    /// unit's own limits and its stop still cover them; a missing cpu controller is reported.
    static func ranked(_ plans: [V2Plan]) -> [V2Plan] {
        func score(_ p: V2Plan) -> Int {
            p.controllers.isSuperset(of: required) ? 100 : p.controllers.count
        }
        return plans.enumerated().sorted { a, b in
            score(a.element) != score(b.element) ? score(a.element) > score(b.element) : a.offset < b.offset
        }.map(\.element)
    }

    /// Reads the live hierarchy, prepares the best place that works and returns it with notes
    /// (what was chosen, why others were not, what failed on the way). nil: nowhere to go.
    static func choose(mount: String, ownPath: String) -> (V2Plan?, [String]) {
        let snapshot = V2Snapshot.read(mount: mount, ownPath: ownPath)
        let (plans, rejected) = candidates(snapshot)
        var notes = rejected.map { "not used: " + $0 }
        for plan in ranked(plans) {
            do {
                try apply(plan)
                // What the sandboxes' parent really passes on, now that it is set up.
                var done = plan
                done.controllers = CgroupFS.words(CgroupFS.readIfPresent(plan.sandboxParent + "/cgroup.subtree_control"))
                    .intersection(wanted)
                return (done, notes)
            } catch {
                notes.append("not used: \(plan.kind.rawValue) at \(plan.sandboxParent): \(error)")
            }
        }
        return (nil, notes)
    }

    static func apply(_ plan: V2Plan) throws {
        for step in plan.steps {
            switch step {
            case .makeDirectory(let dir):
                try CgroupFS.makeDirectory(dir)
            case .move(let pids, let into):
                for pid in pids {
                    do { try CgroupFS.write("\(pid)", to: into + "/cgroup.procs") }
                    catch let e as CgroupError where e.errnoCode == ESRCH { continue }   // exited meanwhile
                }
            case .evacuate(let from, let into):
                // Processes may fork meanwhile: a few rounds, then enabling tells.
                for _ in 0..<5 {
                    // 0: a process outside our pid namespace; it cannot be named, so it stays.
                    let left = CgroupFS.processes(in: from).filter { $0 > 0 }
                    if left.isEmpty { break }
                    for pid in left { try? CgroupFS.write("\(pid)", to: into + "/cgroup.procs") }
                }
            case .enable(let controllers, let dir):
                try enable(controllers, in: dir)
            }
        }
    }

    /// Enables `controllers` for the children of `dir`: one write for all, or one at a time
    /// when that fails, so the error names the controller. memory and pids must succeed; cpu
    /// may be refused (e.g. a realtime task in the way) and is then simply not offered.
    static func enable(_ controllers: [String], in dir: String) throws {
        let file = dir + "/cgroup.subtree_control"
        let missing = controllers.filter { !CgroupFS.words(CgroupFS.readIfPresent(file)).contains($0) }
        if missing.isEmpty { return }
        if (try? CgroupFS.write(missing.map { "+" + $0 }.joined(separator: " "), to: file)) != nil { return }
        for c in missing {
            do {
                try CgroupFS.write("+" + c, to: file)
            } catch let e as CgroupError {
                if required.contains(c) { throw e }
            }
        }
    }

    private static func enableSteps(_ offered: Set<String>, at node: V2Node) -> [V2Step] {
        let missing = ordered(offered.subtracting(node.subtreeControl))
        return missing.isEmpty ? [] : [.enable(missing, at: node.path)]
    }

    static func ordered(_ set: Set<String>) -> [String] { wanted.filter { set.contains($0) } }

    private static func pidList(_ pids: [pid_t]) -> String {
        let shown = pids.sorted().prefix(5).map(String.init).joined(separator: ", ")
        return pids.count > 5 ? "pids \(shown), …" : "pid\(pids.count == 1 ? "" : "s") \(shown)"
    }
}
