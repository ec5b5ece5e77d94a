import Foundation
#if canImport(Glibc)
import Glibc
#endif

// Per-sandbox cgroup resource limits, cgroup v1 and v2 behind one interface.
//
// Layout: every sandbox gets one cgroup named `name` (e.g. "sbx-<id>").
// v1: inside a `coven` parent under the CURRENT process's cgroup in each hierarchy
// (read from /proc/self/cgroup), e.g.
//   /sys/fs/cgroup/memory/process_api/<id>/coven/sbx-42
//   /sys/fs/cgroup/pids/coven/sbx-42
// v2: where CgroupV2Placement puts them, e.g. under systemd with Delegate=yes
//   /sys/fs/cgroup/system.slice/coven-supervisor.service/sandboxes/sbx-42
// (the daemon itself in …/coven-supervisor.service/supervisor), or from a login shell
//   /sys/fs/cgroup/coven/sbx-42
// The parents are shared by concurrent sandboxes (and daemons) and are never removed;
// only the per-sandbox leaves are.

/// The kinds of resource limit a sandbox can have, each enforced by the cgroup controller
/// of the same name.
public enum LimitKind: String, Sendable, Codable, CaseIterable {
    case memory, pids, cpu
}

/// Resource limits for one sandbox. `nil` means "no limit".
public struct ResourceLimits: Sendable, Equatable {
    /// Hard memory limit in bytes. v1: memory.limit_in_bytes (and memory.memsw.limit_in_bytes
    /// when swap accounting exists, so swap cannot be used to escape it); v2: memory.max and
    /// memory.swap.max = 0.
    public var memoryBytes: UInt64?
    /// Maximum number of tasks (pids.max).
    public var pids: Int?
    /// CPU bandwidth in cores, e.g. 1.5 → 150000 µs quota per 100000 µs period.
    public var cpus: Double?

    public init(memoryBytes: UInt64? = nil, pids: Int? = nil, cpus: Double? = nil) {
        self.memoryBytes = memoryBytes
        self.pids = pids
        self.cpus = cpus
    }

    /// The limits that are set.
    public var requested: [LimitKind] {
        (memoryBytes != nil ? [.memory] : []) + (pids != nil ? [.pids] : []) + (cpus != nil ? [.cpu] : [])
    }

    /// The CFS period used for `cpus` (µs).
    public static let cpuPeriodMicros: UInt64 = 100_000

    /// The CFS quota (µs per `cpuPeriodMicros`) for `cpus`, at least the kernel minimum of 1 ms.
    public var cpuQuotaMicros: UInt64? {
        guard let cpus, cpus.isFinite, cpus > 0 else { return nil }
        return max(1_000, UInt64((cpus * Double(Self.cpuPeriodMicros)).rounded()))
    }

    /// Throws when a value can never be applied (zero memory, pids < 1, cpus <= 0 or not finite).
    func validate() throws {
        if let m = memoryBytes, m == 0 {
            throw CgroupError("cgroup: invalid memory limit 0 bytes")
        }
        if let p = pids, p < 1 {
            throw CgroupError("cgroup: invalid pids limit \(p) (must be >= 1)")
        }
        if let c = cpus, !(c.isFinite && c > 0) {
            throw CgroupError("cgroup: invalid cpus limit \(c) (must be a finite number > 0)")
        }
    }
}

public enum CgroupVersion: String, Sendable {
    case v1, v2, none
}

/// What the host offers, as found by `Cgroups.detect()`. Shown by `doctor`.
public struct CgroupSupport: Sendable, Equatable {
    /// Which cgroup interface `Cgroups.create` will use; `.none` means no limits can be applied
    /// (launching still works; the launcher should warn).
    public var version: CgroupVersion
    /// memory limit + OOM counting + peak memory.
    public var memory: Bool
    /// pids.max.
    public var pids: Bool
    /// CPU bandwidth limit (v1 cpu.cfs_quota_us, v2 cpu.max).
    public var cpu: Bool
    /// CPU time accounting (v1 cpuacct.usage, v2 cpu.stat usage_usec).
    public var cpuAccounting: Bool
    /// Swap is limited together with memory (v1 memory.memsw.*, v2 memory.swap.max).
    public var swapLimit: Bool
    /// A freezer is available (v1 freezer hierarchy, v2 cgroup.freeze).
    public var freezer: Bool
    /// `killAll` is race-free: v2 cgroup.kill, or v1 freeze-then-kill. When false it loops
    /// SIGKILL over the members until the cgroup is empty.
    public var kill: Bool
    /// Peak memory is reported (v1 max_usage_in_bytes, v2 memory.peak or sampled memory.current).
    public var peakMemory: Bool = false
    /// Where sandbox cgroups go, in one line ("top level: sandboxes in /sys/fs/cgroup/coven/").
    public var placement: String?
    /// Each limit this host cannot enforce, with the reason.
    public var unavailable: [LimitKind: String] = [:]
    /// What would make the missing limits available, for this layout.
    public var fix: String?
    /// Human-readable findings, one per line, for `doctor`.
    public var notes: [String]

    public init(version: CgroupVersion, memory: Bool = false, pids: Bool = false, cpu: Bool = false,
                cpuAccounting: Bool = false, swapLimit: Bool = false, freezer: Bool = false,
                kill: Bool = false, notes: [String] = []) {
        self.version = version
        self.memory = memory
        self.pids = pids
        self.cpu = cpu
        self.cpuAccounting = cpuAccounting
        self.swapLimit = swapLimit
        self.freezer = freezer
        self.kill = kill
        self.notes = notes
    }

    /// True when `Cgroups.create` can be used at all.
    public var limitsAvailable: Bool { version != .none }

    /// The limits in `limits` that this host cannot apply. `Cgroups.create` throws for these;
    /// a launcher that prefers to run anyway can drop them and say so.
    public func unsupported(_ limits: ResourceLimits) -> [LimitKind] {
        limits.requested.filter { kind in
            guard limitsAvailable else { return true }
            switch kind {
            case .memory: return !memory
            case .pids: return !pids
            case .cpu: return !cpu
            }
        }
    }

    /// The limits of `limits` this host cannot enforce, each with its reason.
    public func unenforced(_ limits: ResourceLimits) -> [UnenforcedLimit] {
        unsupported(limits).map { UnenforcedLimit(limit: $0, reason: unavailable[$0] ?? "not available on this host") }
    }

    /// `limits` without the ones this host cannot enforce.
    public func enforceable(_ limits: ResourceLimits) -> ResourceLimits {
        var l = limits
        let missing = unsupported(limits)
        if missing.contains(.memory) { l.memoryBytes = nil }
        if missing.contains(.pids) { l.pids = nil }
        if missing.contains(.cpu) { l.cpus = nil }
        return l
    }
}

/// A resource limit a sandbox asked for and ran without (rootless, no delegated cgroup).
public struct UnenforcedLimit: Sendable, Equatable, Codable {
    public var limit: LimitKind
    public var reason: String
    public init(limit: LimitKind, reason: String) { self.limit = limit; self.reason = reason }
}

/// A cgroup operation failed. The description names the file and the errno, e.g.
/// "cgroup: write 134217728 to /sys/fs/cgroup/memory/.../memory.limit_in_bytes: EBUSY (Device or resource busy)".
public struct CgroupError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The cgroup file or directory involved, when there is one.
    public let path: String?
    /// The errno, when a system call failed.
    public let errnoCode: Int32?
    /// What to change on the host, when that is the fix.
    public let hint: String?

    init(_ description: String, path: String? = nil, errno: Int32? = nil, hint: String? = nil) {
        self.description = description
        self.path = path
        self.errnoCode = errno
        self.hint = hint
    }
}

public enum Cgroups {
    /// What this host offers: v2 when /sys/fs/cgroup is cgroup2 (statfs magic), with the place
    /// sandboxes go (see CgroupV2Placement); v1 when v1 memory and pids hierarchies are mounted
    /// (or a hybrid's cgroup2 mount, when it holds the controllers); else `.none`. The same
    /// probe `create` uses, made once per process (on v2 it prepares the placement).
    public static func detect() -> CgroupSupport {
        CgroupHost.cachedProbe().support
    }

    /// What `create` will use, probed once per process (on v2 the first call prepares the
    /// place sandboxes go: a daemon calls it at start, before it starts other processes, so
    /// that it can move into a leaf of its own cgroup).
    @discardableResult
    public static func prepare() -> CgroupSupport {
        CgroupHost.cachedProbe().support
    }

    /// Creates the cgroup for one sandbox, named `name` (e.g. "sbx-<id>"), with `limits` applied:
    /// on v1 in every needed hierarchy under `<current cgroup>/coven/`, on v2 in the
    /// placement's sandbox parent.
    ///
    /// Throws a `CgroupError` when no cgroup interface is usable (`detect().version == .none`),
    /// when a requested limit has no controller (see `CgroupSupport.unsupported`), or when a
    /// directory or file cannot be created or written. Nothing is left behind on failure.
    /// A leftover empty cgroup of the same name (e.g. from a crashed run) is replaced; one that
    /// still has processes is an error.
    /// `cpuAccounting: false` skips a v1 cpuacct directory made only for `cpuTimeSeconds`
    /// (sandboxes take their CPU time from their init's rusage instead).
    public static func create(name: String, limits: ResourceLimits, cpuAccounting: Bool = true) throws -> SandboxCgroup {
        try validateName(name)
        try limits.validate()
        let host = CgroupHost.cachedProbe()
        do {
            switch host.support.version {
            case .v2:
                guard let parent = host.v2Parent else { throw CgroupError("cgroup: v2 detected but its path is unknown") }
                return SandboxCgroup(name: name, backend: try CgroupV2.create(parent: parent, name: name, limits: limits,
                                                                              features: host.v2Features))
            case .v1:
                return SandboxCgroup(name: name, backend: try CgroupV1.create(hierarchies: host.v1Dirs, name: name, limits: limits,
                                                                              cpuAccounting: cpuAccounting))
            case .none:
                throw CgroupError("cgroup: no usable cgroup hierarchy (" + host.support.notes.joined(separator: "; ") + ")",
                                  hint: host.support.fix)
            }
        } catch {
            CgroupHost.forgetProbe()
            throw error
        }
    }

    /// Cgroup names must be one plain path component that cannot collide with cgroupfs files.
    static func validateName(_ name: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard !name.isEmpty, name.count <= 200, name != ".", name != "..",
              name.allSatisfy({ allowed.contains($0) }),
              !name.hasPrefix("cgroup."), !name.hasPrefix(".") else {
            throw CgroupError("cgroup: invalid cgroup name \"\(name)\" (use [A-Za-z0-9._-], not starting with '.' or 'cgroup.')")
        }
    }
}

/// What a cgroup version implements beyond the directory bookkeeping shared by all.
protocol CgroupBackend: Sendable {
    var version: CgroupVersion { get }
    /// The sandbox's cgroup directory in each hierarchy (one on v2).
    var directories: [String] { get }
    func oomKillCount() -> UInt64
    func peakMemoryBytes() -> UInt64?
    func cpuTimeSeconds() -> Double?
    func killAll()
    /// True when peak memory is not reported by the kernel and must be sampled.
    var needsPeakSampling: Bool { get }
    func samplePeak()
}

extension CgroupBackend {
    var needsPeakSampling: Bool { false }
    func samplePeak() {}
}

/// One sandbox's cgroup (in every hierarchy it needs). Immutable; safe to use from any thread.
public final class SandboxCgroup: Sendable {
    /// The leaf name, e.g. "sbx-42".
    public let name: String
    let backend: any CgroupBackend

    init(name: String, backend: any CgroupBackend) {
        self.name = name
        self.backend = backend
    }

    public var version: CgroupVersion { backend.version }

    /// The sandbox's cgroup directories, one per hierarchy.
    public var directories: [String] { backend.directories }

    /// Paths of the `cgroup.procs` files to write a pid into, one per hierarchy. The launcher's
    /// C code writes the child's pid into each of these before the child starts running.
    public var procsFiles: [String] { backend.directories.map { $0 + "/cgroup.procs" } }

    /// v2: the cgroup's directory, for creating the sandbox straight inside it
    /// (`clone3` with `CLONE_INTO_CGROUP`); nil on v1.
    public var cloneIntoDirectory: String? {
        version == .v2 ? backend.directories.first : nil
    }

    /// v1: the `tasks` files a process can write "0" to, to move its calling thread (for a
    /// single-threaded child: itself) without the kernel's global threadgroup lock, which a
    /// pid write to `cgroup.procs` takes (an RCU grace period). Empty on v2, where a
    /// thread move needs threaded mode: write `procsFiles` instead.
    public var selfJoinFiles: [String] {
        version == .v1 ? backend.directories.map { $0 + "/tasks" } : []
    }

    /// Moves `pid` (the whole process) into the cgroup in every hierarchy.
    public func attach(pid: pid_t) throws {
        for file in procsFiles {
            try CgroupFS.write("\(pid)", to: file)
        }
    }

    /// Every process in the cgroup (including any sub-cgroups the sandbox made), sorted.
    public func pids() -> [pid_t] {
        var all = Set<pid_t>()
        for dir in backend.directories {
            all.formUnion(CgroupFS.processes(inTree: dir))
        }
        return all.sorted()
    }

    /// True when no process is left in the cgroup (one read of one hierarchy: all
    /// hierarchies hold the same processes).
    public var isEmpty: Bool {
        guard let dir = backend.directories.first else { return true }
        return CgroupFS.processes(in: dir).isEmpty
    }

    /// How many times the kernel OOM killer killed a process in this cgroup
    /// (v1 memory.oom_control / v2 memory.events "oom_kill"). 0 when not measurable.
    public func oomKillCount() -> UInt64 { backend.oomKillCount() }

    /// Peak memory usage in bytes (v1 memory.max_usage_in_bytes, v2 memory.peak, or the highest
    /// memory.current sampled where there is no memory.peak); nil when not measurable.
    public func peakMemoryBytes() -> UInt64? { backend.peakMemoryBytes() }

    /// True when peak memory has to be sampled (`samplePeak`) while the sandbox runs.
    public var needsPeakSampling: Bool { backend.needsPeakSampling }

    /// Records memory.current if it is the highest yet (no-op where the kernel keeps the peak).
    public func samplePeak() { backend.samplePeak() }

    /// CPU time (user+system) used by everything that ran in the cgroup, in seconds
    /// (v1 cpuacct.usage, v2 cpu.stat usage_usec); nil when not measurable.
    public func cpuTimeSeconds() -> Double? { backend.cpuTimeSeconds() }

    /// Kills every process in the cgroup so that nothing escapes between signal and kill:
    /// v2 cgroup.kill; v1 freeze, SIGKILL every member, thaw; without a freezer, SIGKILL in a
    /// loop until empty. Bounded in time (a few seconds at worst); returns when the cgroup is
    /// empty or the bound is reached.
    public func killAll() { backend.killAll() }

    /// Removes the cgroup directories (and any sub-cgroups the sandbox made), retrying briefly
    /// while processes are still exiting. Idempotent. Does not kill: call `killAll()` first.
    /// Directories that are still busy after the retry window are left in place.
    public func destroy() {
        for dir in backend.directories {
            _ = CgroupFS.removeTree(dir, timeout: 2.0)
        }
    }
}
