import CSeccomp
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How profiles are compiled, as far as the compiled bytes are concerned.
public enum SeccompCompiler {
    /// Part of every `SeccompCache` key: bump it whenever a change here changes the program
    /// compiled from the same profile (libseccomp attributes, rule order, host assumptions),
    /// or programs compiled by the previous build keep being loaded from the cache.
    /// "tree" = SCMP_FLTATR_CTL_OPTIMIZE 2, no capabilities; "notify-eperm" = EPERM rules
    /// compiled as user notifications (`SeccompAction.reportingDenials`).
    public static let revision = "no-caps,tree,notify-eperm"
}

/// A compiled seccomp filter, ready for the child to load.
public struct SeccompProgram: Sendable {
    /// The raw `struct sock_filter` array (8 bytes each, native byte order), ready for
    /// `seccomp(SECCOMP_SET_MODE_FILTER, 0, &(struct sock_fprog){ n, filter })`.
    public let filter: [UInt8]
    public var instructionCount: Int { filter.count / 8 }

    /// True when some rule returns SECCOMP_RET_USER_NOTIF, so the sandbox needs a listener:
    /// a `ret #k` (BPF_RET|BPF_K) whose action bits are USER_NOTIF.
    public var reportsDenials: Bool {
        var i = 0
        while i + 8 <= filter.count {
            let code = UInt16(filter[i]) | UInt16(filter[i + 1]) << 8
            let k = UInt32(filter[i + 4]) | UInt32(filter[i + 5]) << 8 | UInt32(filter[i + 6]) << 16 | UInt32(filter[i + 7]) << 24
            if code == 0x06 && k & 0xffff_0000 == SeccompAction.notify.rawValue { return true }
            i += 8
        }
        return false
    }
    /// Non-fatal findings, e.g. "seccomp: unknown syscall 'foo' in syscalls[12] skipped".
    public let warnings: [String]
    /// libseccomp's pseudo filter code (`seccomp_export_pfc`) of the same filter: a
    /// readable listing for humans and tests, never loaded.
    public let pseudoCode: String

    public init(filter: [UInt8], warnings: [String], pseudoCode: String) {
        self.filter = filter
        self.warnings = warnings
        self.pseudoCode = pseudoCode
    }
}

/// The kernel refuses classic BPF programs longer than this (BPF_MAXINSNS).
let bpfMaxInstructions = 4096

/// The largest errno libseccomp 2.5 accepts in SCMP_ACT_ERRNO: it refuses 4095 (MAX_ERRNO)
/// and above with EINVAL (checked on 2.5.4), while the kernel clamps larger values to 4095.
let maxLibseccompErrno: UInt16 = 4094

extension SeccompAction {
    /// EPERM refusals become user notifications: the supervisor answers EPERM all the same,
    /// and so learns which syscalls were refused (an agent whose build fails with EPERM can
    /// then be told). Other errnos stay in the kernel: ENOSYS for clone3, say, which libc
    /// meets on every thread it starts, would cost a round trip each time.
    var reportingDenials: SeccompAction {
        if case .errno(let e) = self, e == UInt16(EPERM) { return .notify }
        return self
    }

    /// The nearest action libseccomp accepts: SCMP_ACT_ERRNO above 4094 (Docker's example
    /// profile uses 12345, which the kernel would clamp to 4095 = MAX_ERRNO) becomes
    /// ERRNO(4094). Neither is a real errno; the call fails either way.
    var clampedForLibseccomp: SeccompAction {
        if case .errno(let e) = self, e > maxLibseccompErrno { return .errno(maxLibseccompErrno) }
        return self
    }
}

extension SeccompProfile {
    /// Compiles the profile for this machine: native architecture, running kernel, no
    /// capabilities (`SeccompHost.current`). Runs in the parent; the child only loads the
    /// bytes.
    public func compile() throws -> SeccompProgram {
        try compile(for: .current)
    }

    /// Compiles the profile with `includes` / `excludes` evaluated against `host` (kernel
    /// version and capabilities). The filter is always for the native architecture, so
    /// `host.architecture` must be it.
    public func compile(for host: SeccompHost) throws -> SeccompProgram {
        let prefix = "profile \(source)"
        let native = SeccompArchitecture.native
        guard host.architecture.token == native.token else {
            throw SeccompError("\(prefix): cannot compile for \(host.architecture) on a \(native) machine (filters are built for the native architecture only)")
        }
        var warnings: [String] = []
        let defaultAction = self.defaultAction.clampedForLibseccomp
        if defaultAction != self.defaultAction {
            warnings.append("seccomp: \(prefix): defaultErrnoRet \(self.defaultAction) compiled as \(defaultAction) (libseccomp accepts errno values up to \(maxLibseccompErrno); the kernel would return 4095)")
        }

        // ARCHITECTURES. The filter holds exactly one architecture: the native one (what
        // seccomp_init gives us). The profile's `architectures` / `archMap` (e.g. Docker's
        // x86_64 + x86 + x32) are validated but deliberately NOT added, whatever they say:
        //
        // On x86_64 a process can enter the kernel through two secondary ABIs:
        //  - i386, with `int 0x80` (or sysenter from compat code): seccomp_data.arch is
        //    AUDIT_ARCH_I386 and the syscall numbers are i386's. Not being in the filter,
        //    it hits SCMP_FLTATR_ACT_BADARCH, which we set to KILL_PROCESS.
        //  - x32: seccomp_data.arch is AUDIT_ARCH_X86_64 (same as native!) and the number
        //    has __X32_SYSCALL_BIT (0x40000000) set, so the arch check alone would let it
        //    through to the x86_64 rules. libseccomp 2.5 handles this itself: when x32 is
        //    not in the filter, the x86_64 section starts with
        //        if (nr >= 0x40000000 && nr != -1) -> BADARCH action
        //    (seen in the exported BPF: `jge #0x40000000` then `jeq #0xffffffff` falling
        //    to the bad-arch `ret`), so x32 calls are killed too. Verified on this
        //    machine: a child with an x86_64-only filter that calls syscall(0x40000000 |
        //    __NR_getpid) or does `int $0x80` dies of SIGSYS, while native getpid works;
        //    and SeccompCompilerTests re-checks the exported BPF for both cases.
        // Adding x86/x32 instead would mean filtering them "by the same rules", but rules
        // are resolved per ABI by name and differ in subtle ways (e.g. socketcall/ipc
        // multiplexers on i386 would bypass our socket() rule), so killing them is the
        // safe choice: no agent toolchain needs 32-bit or x32 syscalls.
        let listed = architectures + archMap.flatMap { [$0.architecture] + $0.subArchitectures }
        if !listed.isEmpty && !listed.contains(where: { $0.token == native.token }) {
            warnings.append("seccomp: \(prefix) lists architectures \(listed.map(\.name)) without the native \(native.name); its rules are applied to \(native.name) anyway")
        }

        // RULES: those that apply here, resolved to native syscall numbers.
        struct Entry {
            var rule: SeccompRule
            var name: String
            var nr: Int32
        }
        var entries: [Entry] = []
        for var rule in applicableRules(on: host) {
            if rule.action.clampedForLibseccomp != rule.action {
                warnings.append("seccomp: \(rule.label): \(rule.action) compiled as \(rule.action.clampedForLibseccomp) (libseccomp accepts errno values up to \(maxLibseccompErrno); the kernel would return 4095)")
                rule.action = rule.action.clampedForLibseccomp
            }
            for name in rule.names {
                let nr = seccomp_syscall_resolve_name(name)
                if nr == __NR_SCMP_ERROR {
                    // Docker's behaviour: a name this libseccomp does not know is skipped.
                    warnings.append("seccomp: unknown syscall '\(name)' in syscalls[\(rule.position)] skipped")
                    continue
                }
                // A negative number is a libseccomp pseudo-syscall: a real syscall of
                // another architecture (chown32 on x86_64, ...). libseccomp accepts it and
                // emits a check that can never match a native call; kept for fidelity.
                entries.append(Entry(rule: rule, name: name, nr: nr))
            }
        }
        // CONFLICTS. libseccomp 2.5 silently keeps only one of two rules that disagree on
        // a syscall: a second unconditional rule with another action is ignored, and an
        // unconditional rule wipes out every conditional rule for the syscall, in either
        // order of adding (checked with libseccomp 2.5.4: "allow ioctl" plus "ERRNO ioctl
        // if arg1 == TIOCSTI" compiles to a plain "allow ioctl"). A profile relying on
        // either would get a weaker filter than it says, so both are errors here. This
        // runs before rules with the default action are dropped (below), so that "allow
        // ioctl" plus "EPERM ioctl if ..." with EPERM as the default is caught too.
        var bySyscall: [Int32: [Entry]] = [:]
        for e in entries { bySyscall[e.nr, default: []].append(e) }
        for e in entries {
            guard let group = bySyscall[e.nr], let first = group.first(where: { $0.rule.args.isEmpty }) else { continue }
            if e.rule.position == first.rule.position || e.rule.action.isSame(as: first.rule.action) { continue }
            let what = e.rule.args.isEmpty ? "an unconditional" : "a conditional"
            throw SeccompError("\(prefix): \(e.rule.label): \(what) \(e.rule.action) rule for '\(e.name)' conflicts with \(first.rule.label), which gives '\(first.name)' \(first.rule.action) unconditionally; libseccomp would silently keep only the unconditional rule. Express exceptions as conditional rules only (see profiles/README.md)")
        }

        // A rule with the default action adds nothing more, and libseccomp refuses it
        // (EACCES); runc drops these too.
        entries.removeAll { $0.rule.action.isSame(as: defaultAction) }

        // BUILD.
        // EPERM refusals become user notifications here, after the checks, which speak of
        // the profile's own actions.
        guard let ctx = seccomp_init(defaultAction.reportingDenials.rawValue) else {
            throw SeccompError("\(prefix): seccomp_init(\(defaultAction)) failed")
        }
        defer { seccomp_release(ctx) }
        try check(seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SeccompAction.killProcess.rawValue),
                  "\(prefix): cannot set the bad-architecture action to KILL_PROCESS")
        // The launcher sets no_new_privs itself before loading; this only matters for
        // seccomp_load, which we never call, but say so explicitly.
        try check(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0), "\(prefix): cannot clear SCMP_FLTATR_CTL_NNP")
        // A binary tree of syscall numbers instead of a linear list: every syscall the agent's
        // tools make (git, compilers: millions) is decided in ~log2(n) comparisons, not ~n/2.
        _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)

        for e in entries {
            var cmps = e.rule.args.map { a in
                scmp_arg_cmp(arg: a.index, op: scmp_compare(rawValue: a.op.cValue),
                             datum_a: a.value, datum_b: a.valueTwo)
            }
            let rc = cmps.withUnsafeMutableBufferPointer { buf in
                seccomp_rule_add_array(ctx, e.rule.action.reportingDenials.rawValue, e.nr, UInt32(buf.count), buf.baseAddress)
            }
            if rc == -EEXIST { continue }  // the same rule twice: harmless
            if rc < 0 {
                throw SeccompError("\(prefix): \(e.rule.label): libseccomp rejected the \(e.rule.action) rule for '\(e.name)': \(errnoString(-rc)) (\(rc))")
            }
        }

        let filter = try exportThroughPipe { seccomp_export_bpf(ctx, $0) }
        guard filter.count % 8 == 0, !filter.isEmpty else {
            throw SeccompError("\(prefix): seccomp_export_bpf produced \(filter.count) bytes, not whole instructions")
        }
        guard filter.count / 8 <= bpfMaxInstructions else {
            throw SeccompError("\(prefix): the filter has \(filter.count / 8) instructions; the kernel accepts at most \(bpfMaxInstructions)")
        }
        let pfc = try exportThroughPipe { seccomp_export_pfc(ctx, $0) }
        return SeccompProgram(filter: filter, warnings: warnings, pseudoCode: String(decoding: pfc, as: UTF8.self))
    }
}

private func check(_ rc: Int32, _ what: @autoclosure () -> String) throws {
    if rc < 0 { throw SeccompError("\(what()): \(errnoString(-rc)) (\(rc))") }
}

private func errnoString(_ e: Int32) -> String {
    String(cString: strerror(e))
}

/// Runs `write(fd)` (a libseccomp export) into a socket pair and returns what it wrote. A
/// thread drains the other end meanwhile, so output larger than the socket buffer cannot
/// deadlock. A socket pair rather than memfd_create or pipe2, which Swift's Glibc module
/// does not expose (and pipe + fcntl(FD_CLOEXEC) would race with the launcher forking on
/// another thread); shutdown(SHUT_WR) ends the stream even if a forked child still holds
/// a copy of the descriptor.
private func exportThroughPipe(_ write: (Int32) -> Int32) throws -> [UInt8] {
    var fds: [Int32] = [-1, -1]
    let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
    guard socketpair(AF_UNIX, type, 0, &fds) == 0 else {
        throw SeccompError("seccomp: socketpair failed: \(errnoString(errno))")
    }
    let drain = PipeDrain(fd: fds[0])
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        drain.run()
        done.signal()
    }
    thread.start()
    let rc = write(fds[1])
    shutdown(fds[1], Int32(SHUT_WR))
    close(fds[1])
    done.wait()
    close(fds[0])
    if rc < 0 { throw SeccompError("seccomp: libseccomp export failed: \(errnoString(-rc)) (\(rc))") }
    if drain.error != 0 { throw SeccompError("seccomp: reading the exported filter failed: \(errnoString(drain.error))") }
    return drain.bytes
}

/// Reads a socket to EOF on its own thread. Only touched by that thread until the
/// semaphore in `exportThroughPipe` is signalled, hence @unchecked.
private final class PipeDrain: @unchecked Sendable {
    let fd: Int32
    var bytes: [UInt8] = []
    var error: Int32 = 0

    init(fd: Int32) { self.fd = fd }

    func run() {
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                bytes.append(contentsOf: buf[0..<n])
            } else if n == 0 {
                return
            } else if errno != EINTR {
                error = errno
                return
            }
        }
    }
}
