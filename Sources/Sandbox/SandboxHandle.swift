import Foundation
import CSandbox

/// A running sandbox. One monitor thread per sandbox polls the init's pidfd, the
/// output pipes, the set-up pipe and a wake-up pipe; it enforces the deadline
/// (SIGTERM to every process, then after the grace SIGKILL through the cgroup and
/// the pid-namespace init) and builds the exit report. (`Sandbox.run`, which waits
/// anyway, monitors on its own thread instead of starting one.)
public final class SandboxHandle: @unchecked Sendable {
    /// Host pid of the sandbox's init (pid 1 inside).
    public let hostPID: pid_t
    /// The host uid/gid the command runs as.
    public let hostUID: uid_t
    public let hostGID: gid_t
    /// Time from `launch` called to the sandbox released.
    public let launchLatency: Duration
    /// Proxy mode: the sandbox's egress proxy (live counters and log).
    public var egress: EgressProxy? { egressEndpoint?.proxy }

    private let child: cs_child
    private let spec: SandboxSpec
    private let cgroup: SandboxCgroup?
    private let stdoutPipe: OutputPipe
    private let stderrPipe: OutputPipe
    private let pool: (HostIdentityPool, UInt32)?
    private let egressEndpoint: EgressEndpoint?
    private let warnings: [String]
    private let unenforced: [UnenforcedLimit]
    private let started: ContinuousClock.Instant
    private let wakeRead: Int32
    private let wakeWrite: Int32
    /// Guards `wakeWrite` against `cancel` after the monitor closed it: a stale handle's
    /// write would land on whatever reused the fd number (another sandbox's wake pipe,
    /// a socket). True once closed.
    private let wakeClosed = NSLock()
    private var wakeIsClosed = false
    /// A signalfd whose signals are passed on to the sandbox (-1: none).
    private let forwardFD: Int32
    /// Where the workload sends its seccomp listener (-1: the filter reports no denials).
    private let denialSocket: Int32

    /// Where the monitor loop runs.
    enum Monitor { case ownThread, callingThread }

    private let done = NSCondition()
    private var result: SandboxResult?

    /// True when the sandbox was created directly inside its (v2) cgroup.
    var bornInCgroup: Bool { child.cloned_into_cgroup != 0 }

    /// How a v2 sandbox got into its cgroup (`CS_CGROUP_ENTRY_*`).
    var cgroupEntry: Int32 { child.cgroup_entry }

    init(child: cs_child, spec: SandboxSpec, cgroup: SandboxCgroup?, stdout: OutputPipe, stderr: OutputPipe,
         hostUID: uid_t, hostGID: gid_t, pool: (HostIdentityPool, UInt32)?, egress: EgressEndpoint?, warnings: [String],
         unenforced: [UnenforcedLimit] = [], started: ContinuousClock.Instant, launchLatency: Duration, monitor: Monitor = .ownThread,
         forwardSignalsFrom forwardFD: Int32 = -1, denialSocket: Int32 = -1) {
        self.child = child
        self.hostPID = child.pid
        self.spec = spec
        self.cgroup = cgroup
        self.stdoutPipe = stdout
        self.stderrPipe = stderr
        self.hostUID = hostUID
        self.hostGID = hostGID
        self.pool = pool
        self.egressEndpoint = egress
        self.warnings = warnings
        self.unenforced = unenforced
        self.forwardFD = forwardFD
        self.denialSocket = denialSocket
        self.started = started
        self.launchLatency = launchLatency
        var fds: [Int32] = [-1, -1]
        cs_pipe(&fds, 1)
        wakeRead = fds[0]; wakeWrite = fds[1]
        if monitor == .ownThread {
            let thread = Thread { [self] in self.monitor() }
            thread.name = "sandbox-\(child.pid)"
            thread.start()
        }
    }

    /// Runs the monitor loop here until the sandbox is gone (handles made with
    /// `.callingThread`). Other threads may still `wait`, `cancel` and `signal`.
    func monitorOnCallingThread() { monitor() }

    /// Blocks until the sandbox is gone and returns its result.
    public func wait() -> SandboxResult {
        done.lock()
        while result == nil { done.wait() }
        let r = result!
        done.unlock()
        return r
    }

    /// The result if the sandbox has ended, without blocking.
    public var finished: SandboxResult? {
        done.lock(); defer { done.unlock() }
        return result
    }

    /// Tears the sandbox down (SIGTERM, grace, SIGKILL); its report says `cancelled`
    /// unless it had already ended or timed out.
    public func cancel() { wake(UInt8(ascii: "C")) }

    /// Sends a signal to every process in the sandbox (through its init).
    public func signal(_ sig: Int32) {
        if child.pidfd >= 0 { _ = cs_pidfd_send_signal(child.pidfd, sig) } else { kill(child.pid, sig) }
    }

    private func wake(_ c: UInt8) {
        var b = c
        wakeClosed.lock()
        defer { wakeClosed.unlock() }
        guard !wakeIsClosed else { return }   // the sandbox is gone: nothing to wake
        _ = write(wakeWrite, &b, 1)
    }

    private func killHard() {
        cgroup?.killAll()
        signal(SIGKILL)
    }

    // MARK: - Monitor

    private func monitor() {
        let clock = ContinuousClock()
        let deadline = spec.timeout.map { started + $0 }
        var timedOut = false
        var cancelled = false
        var killAt: ContinuousClock.Instant?
        var setupRecord: cs_error_record?
        var setupOpen = child.setup_fd >= 0
        var outOpen = [true, true]
        var exited = false
        var forwarded = 0
        var denialSocketOpen = denialSocket >= 0
        var listener: Int32 = -1
        var denied: [Int32: UInt64] = [:]
        var buf = [UInt8](repeating: 0, count: 65536)
        // Kernels without memory.peak: the peak is the highest memory.current seen.
        let sampling = cgroup?.needsPeakSampling ?? false

        func beginTeardown() {
            if killAt == nil {
                signal(SIGTERM)
                killAt = clock.now + spec.grace
            }
        }

        while !exited || outOpen[0] || outOpen[1] {
            var fds: [pollfd] = []
            var roles: [Int] = []
            if !exited && child.pidfd >= 0 { fds.append(pollfd(fd: child.pidfd, events: Int16(POLLIN), revents: 0)); roles.append(0) }
            if setupOpen { fds.append(pollfd(fd: child.setup_fd, events: Int16(POLLIN), revents: 0)); roles.append(1) }
            if outOpen[0] { fds.append(pollfd(fd: stdoutPipe.readFD, events: Int16(POLLIN), revents: 0)); roles.append(2) }
            if outOpen[1] { fds.append(pollfd(fd: stderrPipe.readFD, events: Int16(POLLIN), revents: 0)); roles.append(3) }
            if !exited { fds.append(pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)); roles.append(4) }
            if !exited && forwardFD >= 0 { fds.append(pollfd(fd: forwardFD, events: Int16(POLLIN), revents: 0)); roles.append(5) }
            // Forwarded output the consumer has not taken yet: written when it can be.
            if let fd = stdoutPipe.collector.waitingFD { fds.append(pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)); roles.append(6) }
            if let fd = stderrPipe.collector.waitingFD { fds.append(pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)); roles.append(7) }
            // Seccomp denials: first the listener arrives, then its notifications, each answered at once.
            if denialSocketOpen { fds.append(pollfd(fd: denialSocket, events: Int16(POLLIN), revents: 0)); roles.append(8) }
            if listener >= 0 { fds.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0)); roles.append(9) }

            var timeoutMS: Int32 = -1
            let now = clock.now
            if !exited {
                if !timedOut && !cancelled, let d = deadline { timeoutMS = Self.ms(until: d, from: now) }
                if let k = killAt { timeoutMS = Self.minTimeout(timeoutMS, Self.ms(until: k, from: now)) }
                if child.pidfd < 0 { timeoutMS = Self.minTimeout(timeoutMS, 50) }
                if sampling { timeoutMS = Self.minTimeout(timeoutMS, 100) }
            } else {
                // Init is gone, so is every process of the sandbox: drain what is left, bounded.
                timeoutMS = 2000
            }
            let n = poll(&fds, nfds_t(fds.count), timeoutMS)
            if sampling && !exited { cgroup?.samplePeak() }
            if n < 0 && errno != EINTR { break }
            if n == 0 && exited { break }

            for (i, p) in fds.enumerated() where p.revents != 0 {
                switch roles[i] {
                case 0:
                    exited = true
                case 1:
                    var rec = cs_error_record()
                    let r = withUnsafeMutableBytes(of: &rec) { read(child.setup_fd, $0.baseAddress, $0.count) }
                    if r == MemoryLayout<cs_error_record>.size { setupRecord = rec }
                    if r <= 0 || r == MemoryLayout<cs_error_record>.size { setupOpen = false; close(child.setup_fd) }
                case 2, 3:
                    let pipe = roles[i] == 2 ? stdoutPipe : stderrPipe
                    let r = buf.withUnsafeMutableBytes { read(pipe.readFD, $0.baseAddress, $0.count) }
                    if r > 0 {
                        buf.withUnsafeBytes { pipe.collector.append(UnsafeRawBufferPointer(rebasing: $0[0..<r])) }
                    } else if r == 0 || (errno != EINTR && errno != EAGAIN) {
                        outOpen[roles[i] - 2] = false
                    }
                case 4:
                    var b: UInt8 = 0
                    while read(wakeRead, &b, 1) == 1 {
                        if b == UInt8(ascii: "C") && !timedOut && !cancelled {
                            cancelled = true
                            beginTeardown()
                        }
                    }
                case 8:
                    let fd = cs_receive_listener(denialSocket)
                    if fd >= 0 { listener = fd }
                    if fd >= 0 || errno != EAGAIN { denialSocketOpen = false }
                case 9:
                    if p.revents & Int16(POLLIN) != 0 {
                        let nr = cs_answer_denial(listener)
                        if nr >= 0 { denied[nr, default: 0] += 1 } else if nr == -2 { close(listener); listener = -1 }
                    } else {
                        // Every process that could be refused is gone.
                        close(listener)
                        listener = -1
                    }
                case 6, 7:
                    (roles[i] == 6 ? stdoutPipe : stderrPipe).collector.flushSome()
                case 5:
                    // Passed on, as `timeout` does; a second one means "now": tear down.
                    while case let sig = cs_read_signal(forwardFD), sig > 0 {
                        forwarded += 1
                        if forwarded == 1 { signal(sig) } else if !timedOut && !cancelled { cancelled = true; beginTeardown() }
                    }
                default: break
                }
            }
            if child.pidfd < 0 && !exited {
                var st: Int32 = 0
                if cs_wait(child.pid, &st, &reapedCPU, 1) == child.pid { exited = true; reapedStatus = st; reaped = true }
            }
            if !exited {
                let now = clock.now
                if let d = deadline, !timedOut, !cancelled, now >= d {
                    timedOut = true          // recorded before any signal is sent
                    beginTeardown()
                }
                if let k = killAt, now >= k { killHard(); killAt = now + .seconds(3600) }
            }
        }
        if setupOpen { close(child.setup_fd) }
        if listener >= 0 { close(listener) }
        if denialSocket >= 0 { close(denialSocket) }
        deniedSyscalls = SeccompSyscallNames.named(denied)
        finish(timedOut: timedOut, cancelled: cancelled, setupRecord: setupRecord)
    }

    private var deniedSyscalls: [String: UInt64] = [:]
    private var reaped = false
    private var reapedStatus: Int32 = 0
    private var reapedCPU: Double = 0

    private func finish(timedOut: Bool, cancelled: Bool, setupRecord: cs_error_record?) {
        var cpu: Double = 0
        var initStatus: Int32 = 0
        if !reaped { _ = cs_wait(child.pid, &initStatus, &cpu, 0) } else { cpu = reapedCPU }
        if child.pidfd >= 0 { close(child.pidfd) }

        // The command's own wait status, written by init when it saw it exit.
        var status: Int32?
        var v: Int32 = 0
        if withUnsafeMutableBytes(of: &v, { read(child.status_fd, $0.baseAddress, 4) }) == 4 { status = v }
        close(child.status_fd)

        let oomAfter = cgroup?.oomKillCount() ?? 0
        let peak = cgroup?.peakMemoryBytes()
        if let cgCPU = cgroup?.cpuTimeSeconds() { cpu = cgCPU }
        // Init is reaped, so its pid namespace is gone; the cgroup check is the belt to those braces.
        if let cg = cgroup, !cg.isEmpty { cg.killAll() }
        if let (pool, id) = pool { pool.release(id) }
        // Every process of the sandbox is gone, so are its connections: the log is final.
        egressEndpoint?.stop()
        let egressReport = egressEndpoint?.proxy.report()

        let exitClass: ExitClass
        if let rec = setupRecord {
            let stage = SetupStage.from(code: rec.stage)
            if stage == .exec {
                exitClass = .spawnFailed(errno: rec.err)
            } else {
                let path = rec.detailText
                exitClass = .setupFailed(stage: stage, errno: rec.err,
                                         detail: "\(stage.name)\(path.isEmpty ? "" : " " + path)\(rec.err != 0 ? ": " + String(cString: strerror(rec.err)) : "")")
            }
        } else if timedOut {
            exitClass = .timedOut
        } else if oomAfter > 0 {   // the cgroup is made fresh for each sandbox (Cgroups.create), so it starts at 0
            exitClass = .oomKilled
        } else if let st = status, Self.signaled(st), Self.termSig(st) == SIGSYS {
            exitClass = .seccompViolation
        } else if cancelled {
            exitClass = .cancelled
        } else if let st = status {
            if Self.signaled(st) {
                exitClass = .signaled(signal: Self.termSig(st), core: (st & 0x80) != 0)
            } else {
                exitClass = .exited(code: (st >> 8) & 0xff)
            }
        } else {
            // Init ended without telling us the command's status: it was killed from outside.
            let sig = Self.signaled(initStatus) ? Self.termSig(initStatus) : SIGKILL
            exitClass = .signaled(signal: sig, core: false)
        }

        let wall = (ContinuousClock.now - started).seconds
        let outC = stdoutPipe.collector, errC = stderrPipe.collector
        let report = ExitReport(exitClass: exitClass, wallTime: wall, cpuTime: cpu, peakMemoryBytes: peak,
                                stdoutBytes: outC.total, stderrBytes: errC.total,
                                stdoutTruncated: outC.truncated, stderrTruncated: errC.truncated,
                                rawWaitStatus: status, warnings: warnings, unenforcedLimits: unenforced,
                                deniedSyscalls: deniedSyscalls)
        // Output the consumer has not read yet: now that the sandbox is gone and measured,
        // this may wait for it as long as it takes.
        outC.flushAll()
        errC.flushAll()
        var outData = outC.buffer, errData = errC.buffer
        if outC.truncated, case .capture = outC.sink { outData.append(OutputCollector.marker(after: outC.limit)) }
        if errC.truncated, case .capture = errC.sink { errData.append(OutputCollector.marker(after: errC.limit)) }
        stdoutPipe.closeAll()
        stderrPipe.closeAll()
        wakeClosed.lock()
        wakeIsClosed = true
        close(wakeRead)
        close(wakeWrite)
        wakeClosed.unlock()

        // Releasing the mount namespace (unmounting everything the sandbox saw: init's exit
        // left it to our reference) and removing cgroup directories (kernfs) are slow and
        // nobody waits for them. Queued before the result is published, so a waiter that then
        // calls `Sandbox.finishCleanup()` (a short-lived process about to exit) is sure to
        // wait for them too.
        let mountNamespace = child.mntns_fd
        let cg = cgroup
        if mountNamespace >= 0 || cg != nil {
            Self.reaper.async {
                if mountNamespace >= 0 { close(mountNamespace) }
                cg?.destroy()
            }
        }
        done.lock()
        result = SandboxResult(report: report, stdout: outData, stderr: errData, egress: egressReport)
        done.broadcast()
        done.unlock()
    }

    /// Releases mount namespaces and removes cgroups of finished sandboxes off the latency path, in order.
    /// A process that exits normally (exit(), or returning from main) waits for it first, so
    /// no sandbox cgroup outlives it even without a `Sandbox.finishCleanup()` call.
    static let reaper: DispatchQueue = {
        let queue = DispatchQueue(label: "coven.sandbox.reaper")
        atexit { Sandbox.finishCleanup() }
        return queue
    }()

    static func signaled(_ st: Int32) -> Bool { (st & 0x7f) != 0 && (st & 0x7f) != 0x7f }
    static func termSig(_ st: Int32) -> Int32 { st & 0x7f }

    static func ms(until t: ContinuousClock.Instant, from now: ContinuousClock.Instant) -> Int32 {
        let d = t - now
        if d <= .zero { return 0 }
        return Int32(min(d.seconds * 1000 + 1, 86_400_000))
    }

    static func minTimeout(_ a: Int32, _ b: Int32) -> Int32 { a < 0 ? b : min(a, b) }
}

