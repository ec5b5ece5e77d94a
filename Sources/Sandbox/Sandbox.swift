import Foundation
import CSandbox

/// Launches sandboxes. `launch` returns a handle to wait on, signal or tear down;
/// `run` launches and waits, turning launch errors into a `setupFailed` report.
public enum Sandbox {
    /// Launches one sandbox. Throws `SandboxError` when it cannot be set up at all
    /// (invalid spec, seccomp profile, cgroup, clone); set-up failures inside the
    /// new namespaces are reported by the handle as `setupFailed(stage, errno)`.
    public static func launch(_ spec: SandboxSpec, identities: HostIdentityPool = .shared) throws -> SandboxHandle {
        try launch(spec, identities: identities, cgroups: .host)
    }

    /// Where a sandbox's cgroup comes from: what the host supports, and how one is made.
    struct CgroupSource {
        var support: CgroupSupport
        var make: (_ name: String, _ limits: ResourceLimits) throws -> SandboxCgroup

        /// This host's cgroups. No cpuacct directory: a sandbox's CPU time is its init's
        /// rusage, which counts every process of its pid namespace.
        static var host: CgroupSource {
            CgroupSource(support: Cgroups.prepare()) { name, limits in
                try Cgroups.create(name: name, limits: limits, cpuAccounting: false)
            }
        }
    }

    /// `launch` with the cgroup made by `cgroups` (tests use it to exercise the v2 path
    /// on a v1 host's hybrid unified hierarchy).
    static func launch(_ spec: SandboxSpec, identities: HostIdentityPool,
                       monitor: SandboxHandle.Monitor = .ownThread, forwardSignalsFrom: Int32 = -1,
                       cgroups: CgroupSource) throws -> SandboxHandle {
        let started = ContinuousClock.now
        guard let first = spec.command.first, !first.isEmpty else { throw SandboxError.invalidSpec("no command given") }
        guard spec.workingDirectory.hasPrefix("/") else {
            throw SandboxError.invalidSpec("working directory '\(spec.workingDirectory)' must be an absolute path")
        }
        var warnings: [String] = []

        // 1. Seccomp: compiled here, in the parent; the child only loads the bytes.
        var program = spec.seccompProgram
        if program == nil, let profile = spec.seccompProfile {
            do {
                program = try SeccompCache.program(nameOrPath: profile)
            } catch {
                throw SandboxError(stage: .seccompProfile, errno: EINVAL, message: "\(error)")
            }
        }
        warnings += program?.warnings ?? []

        // 2. Identity: as root, a host uid of its own; rootless, the caller's ids.
        var hostUID = getuid(), hostGID = getgid()
        var pooled: UInt32?
        switch spec.identity {
        case .automatic:
            if geteuid() == 0 {
                let id: UInt32
                do { id = try identities.acquire() } catch {
                    throw SandboxError(stage: .identity, errno: error.code, message: error.description)
                }
                pooled = id; hostUID = id; hostGID = id
            }
        case .host(let uid, let gid):
            hostUID = uid; hostGID = gid
        }
        var cleanup = LaunchCleanup(pool: identities, pooledID: pooled)
        defer { cleanup.run() }

        // 2a. Proxy mode: this sandbox's own egress proxy, on a socket only its host uid may use.
        var mountSpec = spec
        var egress: EgressProxy?
        if spec.network == .proxy {
            let e = try startEgressProxy(spec, hostUID: hostUID, hostGID: hostGID)
            egress = e.proxy
            cleanup.egress = e
            mountSpec.binds.append(Bind(source: e.directory, destination: SandboxSpec.egressSocketDirectory))
        }

        // 3. Cgroup with the limits (before the child runs: it is born in it, or joins before
        // it is released). As root every limit is enforced or the launch fails; rootless, a
        // limit the host cannot enforce is dropped and reported, with the reason.
        var cgroup: SandboxCgroup?
        var limits = spec.limits
        var unenforced: [UnenforcedLimit] = []
        let rootless = geteuid() != 0
        if rootless {
            unenforced = cgroups.support.unenforced(limits)
            limits = cgroups.support.enforceable(limits)
        }
        if !rootless || cgroups.support.limitsAvailable {
            do {
                cgroup = try cgroups.make(Cgroups.sandboxCgroupName(hostUID: hostUID), limits)
                cleanup.cgroup = cgroup
            } catch {
                let e = error as? CgroupError
                if !rootless {
                    throw SandboxError(stage: .cgroup, errno: e?.errnoCode ?? 0, message: "\(error)",
                                       hint: e?.hint ?? cgroups.support.fix)
                }
                unenforced += limits.requested.map { UnenforcedLimit(limit: $0, reason: "\(error)") }
            }
        }

        // 4. Output pipes (close-on-exec on our side; the child dup2s them to 1 and 2).
        let out = try OutputPipe(sink: spec.stdout)
        let err = try OutputPipe(sink: spec.stderr)
        cleanup.pipes = [out, err]

        // 4a. Seccomp denials: the workload sends its filter's listener over this socket pair.
        var denials: [Int32] = [-1, -1]
        if let program, program.reportsDenials {
            guard cs_denial_socketpair(&denials) == 0 else {
                throw SandboxError(stage: .seccomp, errno: errno, message: "seccomp: socketpair for the denial listener: \(String(cString: strerror(errno)))")
            }
            cleanup.fds = denials
        }

        // 5. The plan, in C memory that outlives the clone.
        let arena = CArena()
        var plan = cs_plan()
        var flags = CS_NEWUSER | CS_NEWNS | CS_NEWPID | CS_NEWIPC | CS_NEWUTS
        let ownNetwork = spec.network == .none || spec.network == .proxy
        if ownNetwork { flags |= CS_NEWNET }
        plan.clone_flags = Int32(flags)
        plan.unshare_cgroup = 1
        plan.net_loopback = ownNetwork ? 1 : 0
        if egress != nil {
            plan.egress_socket = arena.string(SandboxSpec.egressSocketInside)
            plan.egress_port = Int32(SandboxSpec.egressPort)
        }
        plan.inner_uid = SandboxSpec.innerUID
        plan.inner_gid = SandboxSpec.innerGID
        plan.host_uid = hostUID
        plan.host_gid = hostGID
        plan.root_tmpfs_options = arena.string("mode=0755,size=4194304")
        let entries = MountPlan.entries(for: mountSpec)
        plan.mounts = UnsafePointer(arena.mounts(entries))
        plan.nmounts = Int32(entries.count)
        plan.hostname = arena.string(spec.hostname)
        plan.cwd = arena.string(spec.workingDirectory)
        plan.argv = UnsafePointer(arena.stringArray(spec.command))
        let env = spec.effectiveEnvironment
        plan.envp = UnsafePointer(arena.stringArray(env.keys.sorted().map { "\($0)=\(env[$0]!)" }))
        plan.path_search = arena.string(env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
        if let program, program.instructionCount > 0 {
            plan.seccomp_filter = arena.bytes(program.filter)
            plan.seccomp_len = UInt16(program.instructionCount)
        }
        plan.denial_fd = denials[1]
        plan.rlimit_core = 0
        plan.rlimit_nofile = Int64(spec.maxOpenFiles)
        plan.rlimit_fsize = Int64(clamping: spec.maxFileSize ?? spec.defaultMaxFileSize)
        plan.stdout_fd = out.writeFD
        plan.stderr_fd = err.writeFD
        // v1: init moves itself through pre-opened `tasks` fds (no global lock); v2: we write its pid.
        var joinFDs: [Int32] = []
        defer { for fd in joinFDs { close(fd) } }
        var procs = cgroup?.procsFiles ?? []
        if let files = cgroup?.selfJoinFiles, !files.isEmpty, files.count <= 8 {
            for f in files {
                let fd = open(f, O_WRONLY | O_CLOEXEC)
                guard fd >= 0 else {
                    throw SandboxError(stage: .cgroup, errno: errno, message: "cgroup: open \(f): \(String(cString: strerror(errno)))")
                }
                joinFDs.append(fd)
            }
            procs = []
        }
        plan.cgroup_procs = UnsafePointer(arena.constStringArray(procs))
        plan.ncgroup_procs = Int32(procs.count)
        plan.cgroup_join_fds = UnsafePointer(arena.ints(joinFDs))
        plan.ncgroup_join_fds = Int32(joinFDs.count)
        // v2: born inside the cgroup (clone3 CLONE_INTO_CGROUP); the pid write stays as the fallback.
        plan.cgroup_dir_fd = -1
        if let dir = cgroup?.cloneIntoDirectory {
            plan.cgroup_dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        }
        defer { if plan.cgroup_dir_fd >= 0 { close(plan.cgroup_dir_fd) } }

        // 6. Clone.
        var child = cs_child()
        var failure = cs_error_record()
        if cs_launch(&plan, &child, &failure) != 0 {
            let stage = SetupStage.from(code: failure.stage)
            let detail = failure.detailText
            throw SandboxError(stage: stage, errno: failure.err,
                               message: "sandbox launch: \(stage.name)\(detail.isEmpty ? "" : " (\(detail))"): \(String(cString: strerror(failure.err)))")
        }
        out.closeWriteEnd()
        err.closeWriteEnd()
        if denials[1] >= 0 { close(denials[1]) }
        cleanup.disarm()
        let launchLatency = ContinuousClock.now - started
        return SandboxHandle(child: child, spec: spec, cgroup: cgroup, stdout: out, stderr: err,
                             hostUID: hostUID, hostGID: hostGID, pool: pooled.map { (identities, $0) },
                             egress: cleanup.egress, warnings: warnings, unenforced: unenforced,
                             started: started, launchLatency: launchLatency, monitor: monitor,
                             forwardSignalsFrom: forwardSignalsFrom, denialSocket: denials[0])
    }

    /// Makes a fresh 0711 directory for the sandbox's proxy socket and starts the proxy
    /// there (socket owned by the sandbox's host uid, 0600, peer uid checked).
    static func startEgressProxy(_ spec: SandboxSpec, hostUID: uid_t, hostGID: gid_t) throws -> EgressEndpoint {
        var parent = spec.egressSocketParent ?? NSTemporaryDirectory()
        while parent.count > 1 && parent.hasSuffix("/") { parent.removeLast() }
        let dir = parent + "/" + EgressSocketSweep.directoryName()
        guard mkdir(dir, 0o711) == 0 else {
            throw SandboxError(stage: .egressProxy, errno: errno, message: "egress proxy: mkdir \(dir): \(String(cString: strerror(errno)))")
        }
        chmod(dir, 0o711)
        do {
            let proxy = try EgressProxy(policy: spec.egress, socketPath: dir + "/proxy.sock",
                                        socketOwner: geteuid() == 0 ? (hostUID, hostGID) : nil, peerUID: hostUID)
            return EgressEndpoint(proxy: proxy, directory: dir)
        } catch {
            rmdir(dir)
            let e = error as? EgressPolicyError
            throw SandboxError(stage: .egressProxy, errno: EINVAL, message: e.map { "egress policy: \($0)" } ?? "egress proxy: \(error)")
        }
    }

    /// Keeps `count` network namespaces made ahead of time, so a launch that needs its own
    /// (network none or proxy) skips their creation, the most expensive part of the clone.
    /// Root only; meant for long-lived processes (the daemon). 0 turns it off.
    public static func keepNetworkNamespacesReady(_ count: Int) {
        cs_set_netns_pool(Int32(clamping: count))
    }

    /// Starts the launcher process (`coven-sandbox-zygote`, CSandbox/zygote.c): from then
    /// on sandboxes are cloned from its small address space instead of this process's (no
    /// copy of a daemon-sized address space per launch, no copy-on-write faults after it);
    /// they are still this process's children. Idempotent. For long-lived processes (the
    /// daemon); launches stay in-process while it is not running.
    public static func startLauncherProcess(path: String = defaultLauncherProcessPath()) throws(SandboxError) {
        guard access(path, X_OK) == 0 else {
            throw SandboxError(stage: .launcher, errno: errno, message: "launcher process \(path): \(String(cString: strerror(errno)))")
        }
        let rc = path.withCString { cs_zygote_start($0) }
        guard rc == 0 else {
            throw SandboxError(stage: .launcher, errno: errno, message: "launcher process \(path) did not start: \(String(cString: strerror(errno)))")
        }
    }

    /// `coven-sandbox-zygote` next to the running executable (or the test runner), or
    /// $COVEN_SANDBOX_ZYGOTE.
    public static func defaultLauncherProcessPath() -> String {
        if let env = ProcessInfo.processInfo.environment["COVEN_SANDBOX_ZYGOTE"], !env.isEmpty { return env }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("coven-sandbox-zygote").path
    }

    /// True while launches go through the launcher process.
    public static var launchesThroughLauncherProcess: Bool { cs_zygote_active() != 0 }

    /// Sends launches to the launcher process (the default once started) or keeps them in
    /// this process: for benchmarks that compare the two.
    public static func useLauncherProcess(_ on: Bool) { cs_zygote_enable(on ? 1 : 0) }

    /// Blocks SIGTERM, SIGINT, SIGHUP and SIGQUIT for this thread and the threads it starts
    /// from now on, and returns a signalfd that receives them, for `run(forwardSignalsFrom:)`.
    /// Call first thing in a foreground command, before any thread exists. -1 on failure.
    public static func forwardedSignals() -> Int32 { cs_forwarded_signals_fd() }

    /// True when a pre-made network namespace is waiting (see `keepNetworkNamespacesReady`).
    public static var networkNamespaceReady: Bool { cs_netns_pool_ready() > 0 }

    /// Waits until finished sandboxes' mount namespaces are released and their cgroups
    /// removed (both happen in the background so results return sooner). Call before a
    /// short-lived process exits.
    public static func finishCleanup() {
        SandboxHandle.reaper.sync {}
    }

    /// Launches and waits. Launch errors become a `setupFailed` report. Signals read from
    /// `forwardSignalsFrom` (a signalfd, see `cs_forwarded_signals_fd`) are passed on to the
    /// sandbox; a second one tears it down (a foreground command's Ctrl-C, a `kill`).
    public static func run(_ spec: SandboxSpec, identities: HostIdentityPool = .shared,
                           forwardSignalsFrom: Int32 = -1) -> SandboxResult {
        do {
            // The caller waits anyway, so it monitors too: no thread to start and hand off to.
            let handle = try launch(spec, identities: identities, monitor: .callingThread,
                                    forwardSignalsFrom: forwardSignalsFrom, cgroups: .host)
            handle.monitorOnCallingThread()
            return handle.wait()
        } catch let e as SandboxError {
            return SandboxResult(report: ExitReport(exitClass: .setupFailed(stage: e.stage, errno: e.errno, detail: e.message),
                                                    warnings: e.hint.map { [$0] } ?? []),
                                 stdout: Data(), stderr: Data())
        } catch {
            return SandboxResult(report: ExitReport(exitClass: .setupFailed(stage: .launcher, errno: 0, detail: "\(error)")),
                                 stdout: Data(), stderr: Data())
        }
    }
}

/// What a finished sandbox leaves: its exit report and captured output.
public struct SandboxResult: Sendable {
    public var report: ExitReport
    public var stdout: Data
    public var stderr: Data
    /// Proxy mode: every egress decision of the sandbox.
    public var egress: EgressReport? = nil
}

/// A proxy-mode sandbox's proxy and the host directory its socket lives in.
struct EgressEndpoint {
    let proxy: EgressProxy
    let directory: String

    /// Closes the proxy (its log is final after) and removes the directory.
    func stop() {
        proxy.close()
        unlink(directory + "/proxy.sock")
        rmdir(directory)
    }
}

/// A pipe for one output stream.
final class OutputPipe {
    let readFD: Int32
    private(set) var writeFD: Int32
    let collector: OutputCollector

    init(sink: OutputSink) throws {
        var fds: [Int32] = [0, 0]
        guard cs_pipe(&fds, 0) == 0 else {
            throw SandboxError(stage: .output, errno: errno, message: "pipe: \(String(cString: strerror(errno)))")
        }
        readFD = fds[0]; writeFD = fds[1]
        collector = try OutputCollector(sink: sink)
    }

    func closeWriteEnd() {
        if writeFD >= 0 { close(writeFD); writeFD = -1 }
    }

    func closeAll() {
        closeWriteEnd()
        close(readFD)
        collector.close()
    }
}

/// Undoes a half-done launch unless disarmed.
struct LaunchCleanup {
    let pool: HostIdentityPool
    let pooledID: UInt32?
    var cgroup: SandboxCgroup?
    var pipes: [OutputPipe] = []
    var egress: EgressEndpoint?
    /// Descriptors to close (the denial socket pair).
    var fds: [Int32] = []
    private var armed = true

    init(pool: HostIdentityPool, pooledID: UInt32?) { self.pool = pool; self.pooledID = pooledID }

    mutating func disarm() { armed = false }

    func run() {
        guard armed else { return }
        for p in pipes { p.closeAll() }
        for fd in fds where fd >= 0 { close(fd) }
        egress?.stop()
        cgroup?.destroy()
        if let id = pooledID { pool.release(id) }
    }
}
