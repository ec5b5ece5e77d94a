import CSeccomp
import Foundation
import Sandbox
import XCTest

/// Compilation to BPF. Besides the pseudo code (seccomp_export_pfc), the exported BPF is
/// run through `BPFInterpreter` below, a classic-BPF interpreter over `seccomp_data`, to
/// check what the kernel would decide for given syscalls, without loading any filter.
final class SeccompCompilerTests: XCTestCase {

    /// What an EPERM rule compiles to: a user notification, which the supervisor answers
    /// with EPERM and counts (SeccompAction.reportingDenials).
    static let EPERM: UInt32 = 0x7fc0_0000
    static let ENOSYS: UInt32 = 0x0005_0026
    static let ALLOW: UInt32 = 0x7fff_0000
    static let KILL_PROCESS: UInt32 = 0x8000_0000

    static let compiledDefault: Result<SeccompProgram, any Error> = Result {
        try SeccompProfile.load(nameOrPath: "default", searchDirectories: []).compile()
    }

    func defaultProgram() throws -> SeccompProgram {
        try Self.compiledDefault.get()
    }

    func compile(_ json: String, file: StaticString = #filePath, line: UInt = #line) throws -> SeccompProgram {
        try SeccompProfile.parse(Data(json.utf8), source: "/x.json").compile()
    }

    func compileError(_ json: String) -> String {
        do {
            _ = try compile(json)
            return ""
        } catch {
            return "\(error)"
        }
    }

    /// The native number of `name` (fails the test if libseccomp does not know it).
    func nr(_ name: String, file: StaticString = #filePath, line: UInt = #line) -> Int32 {
        let n = seccomp_syscall_resolve_name(name)
        XCTAssertGreaterThanOrEqual(n, 0, "\(name) is not a native syscall here", file: file, line: line)
        return n
    }

    /// What `program` decides for syscall `name` with `args` on the native architecture.
    func verdict(_ program: SeccompProgram, _ name: String, _ args: [UInt64] = [],
                 file: StaticString = #filePath, line: UInt = #line) -> UInt32 {
        BPFInterpreter.run(program.filter, nr: nr(name, file: file, line: line),
                           arch: SeccompArchitecture.native.token, args: args)
    }

    static func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

    // MARK: our default profile

    func testDefaultProfileCompilesWithoutWarnings() throws {
        let p = try defaultProgram()
        XCTAssertEqual(p.warnings, [], "our own profile should name only syscalls this libseccomp knows")
    }

    func testDefaultProgramIsWholeInstructionsWithinTheKernelLimit() throws {
        let p = try defaultProgram()
        XCTAssertEqual(p.filter.count % 8, 0)
        XCTAssertGreaterThan(p.instructionCount, 100)
        XCTAssertLessThanOrEqual(p.instructionCount, 4096, "BPF_MAXINSNS")
    }

    func testDefaultDeniesWhatAnAgentNeverNeeds() throws {
        let p = try defaultProgram()
        let denied = ["keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "kexec_load",
                      "kexec_file_load", "init_module", "finit_module", "delete_module", "mount", "umount2",
                      "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick",
                      "mount_setattr", "unshare", "setns", "open_by_handle_at", "name_to_handle_at",
                      "io_uring_setup", "io_uring_enter", "io_uring_register", "reboot", "swapon", "swapoff",
                      "acct", "quotactl", "quotactl_fd", "lookup_dcookie", "syslog", "vhangup", "setgroups", "chroot"]
        let wrong = denied.filter { verdict(p, $0) != Self.EPERM }
        XCTAssertEqual(wrong, [], "these should get EPERM from the default profile")
    }

    func testDefaultAllowsEverydaySyscalls() throws {
        let p = try defaultProgram()
        let allowed = ["read", "write", "openat", "close", "execve", "mmap", "futex", "rt_sigaction", "pipe2", "wait4",
                       "getdents64", "statx", "rseq", "clock_gettime", "connect", "epoll_pwait", "fork", "vfork",
                       "ptrace", "arch_prctl", "prctl", "seccomp", "memfd_create", "getrandom", "faccessat2"]
        let wrong = allowed.filter { verdict(p, $0) != Self.ALLOW }
        XCTAssertEqual(wrong, [], "these should be allowed by the default profile")
    }

    func testDefaultClone3GetsENOSYS() throws {
        XCTAssertEqual(Self.hex(verdict(try defaultProgram(), "clone3")), Self.hex(Self.ENOSYS),
                       "clone3 must fail with ENOSYS so glibc falls back to clone")
    }

    func testDefaultCloneWithoutNamespaceFlagsIsAllowed() throws {
        let p = try defaultProgram()
        let fork: UInt64 = 17  // SIGCHLD
        let thread: UInt64 = 0x003d_0f00  // glibc pthread_create's flags
        XCTAssertEqual(verdict(p, "clone", [fork]), Self.ALLOW, "fork-style clone")
        XCTAssertEqual(verdict(p, "clone", [thread]), Self.ALLOW, "pthread-style clone")
    }

    func testDefaultCloneWithAnyNamespaceFlagIsDenied() throws {
        let p = try defaultProgram()
        let flags: [(String, UInt64)] = [("NEWNS", 0x0002_0000), ("NEWCGROUP", 0x0200_0000), ("NEWUTS", 0x0400_0000),
                                         ("NEWIPC", 0x0800_0000), ("NEWUSER", 0x1000_0000), ("NEWPID", 0x2000_0000),
                                         ("NEWNET", 0x4000_0000), ("NEWTIME", 0x0000_0080)]
        let wrong = flags.filter { verdict(p, "clone", [$0.1 | 17]) != Self.EPERM }.map(\.0)
        XCTAssertEqual(wrong, [], "clone with these CLONE_* flags should get EPERM")
    }

    func testDefaultCloneNamespaceFlagWithHighBitsSetIsStillDenied() throws {
        XCTAssertEqual(verdict(try defaultProgram(), "clone", [0xffff_ffff_0000_0000 | 0x1000_0000 | 17]), Self.EPERM)
    }

    func testDefaultIoctlTIOCSTIAndTIOCLINUXAreDenied() throws {
        let p = try defaultProgram()
        XCTAssertEqual(verdict(p, "ioctl", [0, 0x5412]), Self.EPERM, "TIOCSTI")
        XCTAssertEqual(verdict(p, "ioctl", [0, 0x541C]), Self.EPERM, "TIOCLINUX")
    }

    func testDefaultIoctlDenialCannotBeDodgedWithHighBits() throws {
        let p = try defaultProgram()
        for high: UInt64 in [1 << 32, 0xffff_ffff_0000_0000, 0x8000_0000_0000_0000] {
            XCTAssertEqual(verdict(p, "ioctl", [0, high | 0x5412]), Self.EPERM, "TIOCSTI | \(String(high, radix: 16))")
            XCTAssertEqual(verdict(p, "ioctl", [0, high | 0x541C]), Self.EPERM, "TIOCLINUX | \(String(high, radix: 16))")
        }
    }

    func testDefaultIoctlAllowsEverythingElse() throws {
        let p = try defaultProgram()
        var wrong: [String] = []
        // The whole terminal ioctl range, and a few others (FIONREAD, TCGETS2, FS_IOC_GETFLAGS).
        let cmds: [UInt64] = Array(0x5400...0x54ff) + [0x541B, 0x802c_542a, 0x8008_6601, 0, 0xffff_ffff, 0x1_0000_5401]
        for cmd in cmds where cmd & 0xffff_ffff != 0x5412 && cmd & 0xffff_ffff != 0x541C {
            if verdict(p, "ioctl", [3, cmd]) != Self.ALLOW { wrong.append(String(cmd, radix: 16)) }
        }
        XCTAssertEqual(wrong, [], "these ioctl commands should be allowed")
    }

    func testDefaultSocketDeniesAFVSOCK() throws {
        let p = try defaultProgram()
        XCTAssertEqual(verdict(p, "socket", [40, 1, 0]), Self.EPERM, "AF_VSOCK")
        XCTAssertEqual(verdict(p, "socket", [(1 << 32) | 40, 1, 0]), Self.EPERM, "AF_VSOCK with high bits set")
    }

    func testDefaultSocketAllowsOtherFamilies() throws {
        let p = try defaultProgram()
        let wrong = (UInt64(0)...64).filter { $0 != 40 && verdict(p, "socket", [$0, 1, 0]) != Self.ALLOW }
        XCTAssertEqual(wrong, [], "socket families other than AF_VSOCK should be allowed")
    }

    func testDefaultPersonalityAllowsOnlySafeValues() throws {
        let p = try defaultProgram()
        XCTAssertEqual(verdict(p, "personality", [0]), Self.ALLOW, "PER_LINUX")
        XCTAssertEqual(verdict(p, "personality", [0xffff_ffff]), Self.ALLOW, "query")
        XCTAssertEqual(verdict(p, "personality", [0x0040_0000]), Self.EPERM, "READ_IMPLIES_EXEC")
    }

    func testEPERMRefusalsAreUserNotificationsAndOtherErrnosStayInTheKernel() throws {
        let p = try compile(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO"}, {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}"#)
        XCTAssertEqual(verdict(p, "keyctl"), Self.EPERM, "an EPERM refusal is answered (and counted) by the supervisor")
        XCTAssertEqual(verdict(p, "clone3"), 0x0005_0026, "ENOSYS (libc meets it on every thread it starts) stays in the kernel")
        XCTAssertTrue(p.reportsDenials, "a program with a user-notification rule needs a listener")
    }

    func testAProgramWithoutEPERMRulesNeedsNoListener() throws {
        let p = try compile(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}"#)
        XCTAssertFalse(p.reportsDenials)
    }

    func testPseudoCodeShowsTheKeyRules() throws {
        let pfc = try defaultProgram().pseudoCode
        for expected in ["action ERRNO(38);", "action 0x7fc00000;", "# invalid architecture action\naction KILL_PROCESS;",
                         "if ($a0.lo32 & 0x7e020080 == 0)", "if ($a1.hi32 & 0x00000000 == 0)",
                         "if ($a1.lo32 & 0x00000010 == 0)"] {
            XCTAssertTrue(pfc.contains(expected), "pseudo code lacks \(expected.debugDescription):\n\(pfc.prefix(3000))")
        }
    }

    func testPseudoCodeHasOnlyTheNativeArchitecture() throws {
        let pfc = try defaultProgram().pseudoCode
        let archLines = pfc.split(separator: "\n").filter { $0.hasPrefix("if ($arch ==") }
        XCTAssertEqual(archLines, ["if ($arch == \(SeccompArchitecture.native.token))"])
    }

    // MARK: secondary ABIs

    func testForeignArchitectureIsKilled() throws {
        let p = try defaultProgram()
        let i386: UInt32 = 0x4000_0003
        let other = SeccompArchitecture.native.token == i386 ? 0xC000_003E : i386
        XCTAssertEqual(Self.hex(BPFInterpreter.run(p.filter, nr: 20, arch: other, args: [])), Self.hex(Self.KILL_PROCESS),
                       "a syscall from another ABI (int 0x80 on x86_64) must hit BADARCH = KILL_PROCESS")
    }

    func testX32SyscallsAreKilled() throws {
        #if arch(x86_64)
        let p = try defaultProgram()
        let x32Bit: Int32 = 0x4000_0000
        for name in ["getpid", "read", "keyctl"] {
            XCTAssertEqual(Self.hex(BPFInterpreter.run(p.filter, nr: x32Bit | nr(name), arch: 0xC000_003E, args: [])),
                           Self.hex(Self.KILL_PROCESS), "x32 \(name) arrives as AUDIT_ARCH_X86_64 with bit 30 set and must be killed")
        }
        #else
        throw XCTSkip("x32 exists only on x86_64")
        #endif
    }

    // MARK: warnings and errors

    func testUnknownSyscallIsSkippedWithAWarning() throws {
        let p = try compile(#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"names": ["write", "frobnicate"], "action": "SCMP_ACT_ALLOW"}]}"#)
        XCTAssertEqual(p.warnings, ["seccomp: unknown syscall 'frobnicate' in syscalls[1] skipped"])
    }

    func testOtherNamesOfASkippedEntryStillApply() throws {
        let p = try compile(#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["write", "frobnicate"], "action": "SCMP_ACT_ALLOW"}]}"#)
        XCTAssertEqual(verdict(p, "write"), Self.ALLOW)
    }

    func testConditionalExceptionToAnUnconditionalRuleIsAnError() {
        let msg = compileError(#"""
        {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
          {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW"},
          {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
           "args": [{"index": 1, "value": 4294967295, "valueTwo": 21522, "op": "SCMP_CMP_MASKED_EQ"}]}
        ]}
        """#)
        XCTAssertTrue(msg.hasPrefix(#"profile /x.json: syscalls[1] (names: ["ioctl"]): a conditional SCMP_ACT_ERRNO(13) rule for 'ioctl' conflicts with syscalls[0]"#),
                      "libseccomp would silently drop the exception; got: \(msg)")
    }

    func testExceptionWithTheDefaultActionNextToAnUnconditionalAllowIsAnError() {
        // The naive "allow ioctl except TIOCSTI" with EPERM as the default: libseccomp would
        // refuse the EPERM rule and a plain "allow ioctl" would remain.
        let msg = compileError(#"""
        {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
          {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW"},
          {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO",
           "args": [{"index": 1, "value": 4294967295, "valueTwo": 21522, "op": "SCMP_CMP_MASKED_EQ"}]}
        ]}
        """#)
        XCTAssertTrue(msg.hasPrefix(#"profile /x.json: syscalls[1] (names: ["ioctl"]): a conditional SCMP_ACT_ERRNO(1) rule for 'ioctl' conflicts with syscalls[0]"#),
                      "the exception would be silently lost; got: \(msg)")
    }

    func testTwoUnconditionalRulesWithDifferentActionsAreAnError() {
        let msg = compileError(#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["syslog"], "action": "SCMP_ACT_ALLOW"}, {"names": ["syslog"], "action": "SCMP_ACT_KILL_PROCESS"}]}"#)
        XCTAssertTrue(msg.hasPrefix(#"profile /x.json: syscalls[1] (names: ["syslog"]): an unconditional SCMP_ACT_KILL_PROCESS rule"#), "got: \(msg)")
    }

    func testTheSameRuleTwiceIsHarmless() throws {
        let p = try compile(#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}"#)
        XCTAssertEqual(verdict(p, "read"), Self.ALLOW)
    }

    func testARuleWithTheDefaultActionIsDropped() throws {
        let p = try compile(#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO"}, {"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}"#)
        XCTAssertEqual(verdict(p, "keyctl"), Self.EPERM, "libseccomp refuses such a rule (EACCES); it must be skipped, not fail")
    }

    func testEveryActionCompiles() throws {
        let p = try compile(#"""
        {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
          {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5},
          {"names": ["getppid"], "action": "SCMP_ACT_KILL"},
          {"names": ["kexec_load"], "action": "SCMP_ACT_KILL_PROCESS"},
          {"names": ["reboot"], "action": "SCMP_ACT_TRAP"},
          {"names": ["acct"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
          {"names": ["syslog"], "action": "SCMP_ACT_LOG"}
        ]}
        """#)
        let got = ["getpid", "getppid", "kexec_load", "reboot", "acct", "syslog", "read"].map { Self.hex(verdict(p, $0)) }
        XCTAssertEqual(got, ["0x50005", "0x0", "0x80000000", "0x30000", "0x7ff00007", "0x7ffc0000", "0x7fff0000"])
    }

    func testEveryOpCompilesToItsComparison() throws {
        let p = try compile(#"""
        {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
          {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 10, "op": "SCMP_CMP_NE"}]},
          {"names": ["write"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 10, "op": "SCMP_CMP_LT"}]},
          {"names": ["pread64"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 10, "op": "SCMP_CMP_LE"}]},
          {"names": ["pwrite64"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 10, "op": "SCMP_CMP_EQ"}]},
          {"names": ["readv"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 10, "op": "SCMP_CMP_GE"}]},
          {"names": ["writev"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 10, "op": "SCMP_CMP_GT"}]},
          {"names": ["lseek"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 12, "valueTwo": 4, "op": "SCMP_CMP_MASKED_EQ"}]}
        ]}
        """#)
        let ops = ["read": "NE", "write": "LT", "pread64": "LE", "pwrite64": "EQ", "readv": "GE", "writev": "GT", "lseek": "MASKED_EQ(12, 4)"]
        for (name, op) in ops.sorted(by: { $0.key < $1.key }) {
            let pattern = (UInt64(0)...20).map { verdict(p, name, [0, 0, $0]) == Self.ALLOW ? "1" : "0" }.joined()
            let expected = (UInt64(0)...20).map { v -> Bool in
                switch op {
                case "NE": return v != 10
                case "LT": return v < 10
                case "LE": return v <= 10
                case "EQ": return v == 10
                case "GE": return v >= 10
                case "GT": return v > 10
                default: return v & 12 == 4
                }
            }.map { $0 ? "1" : "0" }.joined()
            XCTAssertEqual(pattern, expected, "\(name) with SCMP_CMP_\(op) on arg 2 for values 0...20")
        }
    }

    func testIncludesCapsRuleIsLeftOutOfTheFilter() throws {
        let p = try compile(#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}"#)
        XCTAssertEqual(verdict(p, "mount"), Self.EPERM, "a sandbox has no CAP_SYS_ADMIN")
    }

    func testCompileForAHostWithCapabilitiesKeepsTheRule() throws {
        let profile = try SeccompProfile.parse(Data(#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}"#.utf8), source: "/x.json")
        var host = SeccompHost.current
        host.capabilities = ["CAP_SYS_ADMIN"]
        XCTAssertEqual(verdict(try profile.compile(for: host), "mount"), Self.ALLOW)
    }

    func testCompileForAForeignArchitectureIsRefused() throws {
        let profile = try SeccompProfile.parse(Data(#"{"defaultAction": "SCMP_ACT_ERRNO"}"#.utf8), source: "/x.json")
        var host = SeccompHost.current
        host.architecture = SeccompArchitecture.named(SeccompArchitecture.native.name == "SCMP_ARCH_S390X" ? "amd64" : "s390x")!
        XCTAssertThrowsError(try profile.compile(for: host))
    }

    func testArchitecturesWithoutTheNativeOneWarn() throws {
        let foreign = SeccompArchitecture.native.name == "SCMP_ARCH_S390X" ? "SCMP_ARCH_PPC64LE" : "SCMP_ARCH_S390X"
        let p = try compile(#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["\#(foreign)"]}"#)
        XCTAssertEqual(p.warnings.count, 1, "got: \(p.warnings)")
    }

    func testSmallDockerStyleProfileCompiles() throws {
        let p = try compile(SeccompProfileTests.smallDockerStyleProfile)
        XCTAssertEqual(p.warnings.count, 1, "only the errnoRet 12345 warning expected; got: \(p.warnings)")
    }

    func testErrnoAboveMaxErrnoIsClampedWithAWarning() throws {
        let p = try compile(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "syslog", "action": "SCMP_ACT_ERRNO", "errnoRet": 12345}]}"#)
        XCTAssertEqual(Self.hex(verdict(p, "syslog")), "0x50ffe", "libseccomp refuses errno values above 4094")
        XCTAssertEqual(p.warnings, [#"seccomp: syscalls[0] (names: ["syslog"]): SCMP_ACT_ERRNO(12345) compiled as SCMP_ACT_ERRNO(4094) (libseccomp accepts errno values up to 4094; the kernel would return 4095)"#])
    }

    func testDockerReferenceProfilesCompile() throws {
        let dir = SeccompProfileTests.sharedFixtures
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
            throw XCTSkip("\(dir) is not present")
        }
        for f in files.filter({ $0.hasSuffix(".json") }).sorted() {
            do {
                let p = try SeccompProfile.load(nameOrPath: "\(dir)/\(f)").compile()
                XCTAssertGreaterThan(p.instructionCount, 2, "\(f) compiled to almost nothing")
            } catch {
                XCTFail("Docker's \(f) should compile: \(error)")
            }
        }
    }

    func testDockerDefaultProfileDeniesKeyctlAndAllowsRead() throws {
        let path = SeccompProfileTests.sharedFixtures + "/default.json"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) is not present") }
        let p = try SeccompProfile.load(nameOrPath: path).compile()
        XCTAssertEqual([verdict(p, "keyctl"), verdict(p, "read")], [Self.EPERM, Self.ALLOW])
    }
}

/// A classic BPF interpreter over `struct seccomp_data` (little-endian), enough for what
/// libseccomp emits and more: loads (absolute, immediate, scratch memory), stores, ALU,
/// jumps and returns.
enum BPFInterpreter {
    static func run(_ filter: [UInt8], nr: Int32, arch: UInt32, args: [UInt64], ip: UInt64 = 0) -> UInt32 {
        var data = [UInt8](repeating: 0, count: 64)
        func put32(_ v: UInt32, at o: Int) { for i in 0..<4 { data[o + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) } }
        func put64(_ v: UInt64, at o: Int) { for i in 0..<8 { data[o + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) } }
        put32(UInt32(bitPattern: nr), at: 0)
        put32(arch, at: 4)
        put64(ip, at: 8)
        for (i, a) in args.prefix(6).enumerated() { put64(a, at: 16 + 8 * i) }

        var a: UInt32 = 0, x: UInt32 = 0
        var mem = [UInt32](repeating: 0, count: 16)
        var pc = 0
        let count = filter.count / 8
        var steps = 0
        while pc < count, steps < 100_000 {
            steps += 1
            let o = pc * 8
            let code = UInt16(filter[o]) | UInt16(filter[o + 1]) << 8
            let jt = Int(filter[o + 2]), jf = Int(filter[o + 3])
            let k = (0..<4).reduce(UInt32(0)) { $0 | UInt32(filter[o + 4 + $1]) << (8 * $1) }
            pc += 1
            func load(_ off: UInt32) -> UInt32 {
                let i = Int(off)
                guard i + 4 <= data.count else { return 0 }
                return (0..<4).reduce(UInt32(0)) { $0 | UInt32(data[i + $1]) << (8 * $1) }
            }
            let src = (code & 0x08) != 0 ? x : k
            switch code & 0x07 {
            case 0x00:  // LD
                switch code & 0xe0 {
                case 0x00: a = k
                case 0x20: a = load(k)
                case 0x60: a = mem[Int(k) & 15]
                case 0x80: a = 64
                default: return 0xdead_0001
                }
            case 0x01:  // LDX
                switch code & 0xe0 {
                case 0x00: x = k
                case 0x60: x = mem[Int(k) & 15]
                case 0x80: x = 64
                default: return 0xdead_0002
                }
            case 0x02: mem[Int(k) & 15] = a
            case 0x03: mem[Int(k) & 15] = x
            case 0x04:  // ALU
                switch code & 0xf0 {
                case 0x00: a = a &+ src
                case 0x10: a = a &- src
                case 0x20: a = a &* src
                case 0x30: a = src == 0 ? 0 : a / src
                case 0x40: a |= src
                case 0x50: a &= src
                case 0x60: a = src >= 32 ? 0 : a << src
                case 0x70: a = src >= 32 ? 0 : a >> src
                case 0x80: a = 0 &- a
                case 0x90: a = src == 0 ? 0 : a % src
                case 0xa0: a ^= src
                default: return 0xdead_0004
                }
            case 0x05:  // JMP
                let taken: Bool
                switch code & 0xf0 {
                case 0x00: pc += Int(k); continue
                case 0x10: taken = a == src
                case 0x20: taken = a > src
                case 0x30: taken = a >= src
                case 0x40: taken = (a & src) != 0
                default: return 0xdead_0005
                }
                pc += taken ? jt : jf
            case 0x06:  // RET
                return (code & 0x18) == 0x10 ? a : k
            case 0x07:  // MISC
                if code & 0xf8 == 0x80 { a = x } else { x = a }
            default:
                return 0xdead_0007
            }
        }
        return 0xdead_0000  // ran off the end: the kernel would reject such a program
    }
}
