import XCTest
import Foundation
@testable import Sandbox

/// One test per isolation property; each fails if that property is broken.
final class IsolationTests: XCTestCase {
    typealias S = SandboxTestSupport

    override func setUp() {
        super.setUp()
        continueAfterFailure = true
    }

    func testCommandRunsAsUID1000() {
        let r = S.run("id -u; id -g")
        XCTAssertEqual(r.report.exitClass, .exited(code: 0), r.err)
        XCTAssertEqual(r.out, "1000\n1000\n", "the command must run as uid/gid 1000 inside the sandbox")
    }

    func testHostProcessesAreInvisible() {
        let r = S.run("ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' '")
        let pids = r.out.split(separator: " ").compactMap { Int($0) }
        XCTAssertFalse(pids.isEmpty, "expected to see the sandbox's own processes: \(r.out) \(r.err)")
        XCTAssertLessThanOrEqual(pids.count, 5, "the sandbox sees processes beyond its own: \(pids)")
        XCTAssertTrue(pids.contains(1), "the sandbox should have its own pid 1 (its init)")
    }

    func testHostFileOutsideBindsIsUnreadable() throws {
        let dir = try S.scratchDirectory("secret")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let marker = "host-secret-\(UUID().uuidString)"
        try marker.write(toFile: dir + "/secret.txt", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: dir + "/secret.txt")
        let r = S.run("cat \(dir)/secret.txt /root/.bashrc /home/* /var/lib/* 2>/dev/null; ls / | tr '\\n' ' '")
        XCTAssertFalse(r.out.contains(marker), "a host file outside the binds was readable inside the sandbox")
        for hidden in ["root", "var", "srv", "mnt", "media", "opt", "boot"] {
            XCTAssertFalse(r.out.split(separator: " ").contains(Substring(hidden)), "host /\(hidden) is visible inside: \(r.out)")
        }
    }

    func testReadOnlyBindIsUnwritable() throws {
        let dir = try S.scratchDirectory("ro")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = S.run("touch /data/new-file; echo rc=$?") { $0.binds = [Bind(source: dir, destination: "/data")] }
        XCTAssertTrue(r.out.contains("rc=1"), "touch inside a read-only bind should fail: \(r.out) \(r.err)")
        XCTAssertTrue(r.err.contains("Read-only file system"), "expected EROFS, got: \(r.err)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/new-file"), "a read-only bind was written on the host")
    }

    func testWritableBindIsWritable() throws {
        let dir = try S.scratchDirectory("rw")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o777)
        let r = S.run("echo hi > /out/file") { $0.binds = [Bind(source: dir, destination: "/out", writable: true)] }
        XCTAssertEqual(r.report.exitClass, .exited(code: 0), r.err)
        XCTAssertEqual(try? String(contentsOfFile: dir + "/file", encoding: .utf8), "hi\n", "a writable bind did not reach the host")
    }

    func testRootFilesystemIsReadOnly() {
        let r = S.run("mkdir /newdir 2>&1; echo rc=$?")
        XCTAssertTrue(r.out.contains("rc=1"), "the sandbox root must be read-only: \(r.out)")
    }

    func testWritingPastWorkspaceSizeGivesENOSPCWithTheDefaultFileSizeLimit() {
        let r = S.run("dd if=/dev/zero of=/workspace/fill bs=64k count=64 2>&1; echo rc=$?") { $0.workspaceSize = 1 << 20 }
        XCTAssertFalse(r.out.contains("rc=\(128 + SIGXFSZ)"), "dd must not die of SIGXFSZ: \(r.out)")
        XCTAssertTrue(r.out.contains("No space left on device"), "writing 4 MiB into a 1 MiB workspace should hit ENOSPC: \(r.out)")
    }

    func testAFileSizeLimitStillApplies() {
        let r = S.run("dd if=/dev/zero of=/workspace/fill bs=64k count=64 2>&1; echo rc=$?") { $0.maxFileSize = 1 << 20 }
        XCTAssertTrue(r.out.contains("rc=\(128 + SIGXFSZ)"), "an explicit maxFileSize is RLIMIT_FSIZE (SIGXFSZ): \(r.out)")
    }

    func testWorkspaceIsOwnedBySandboxUser() {
        let r = S.run("stat -c '%u %a' /workspace; touch /workspace/x && echo ok")
        XCTAssertEqual(r.out, "1000 755\nok\n", "the workspace must be a tmpfs the command owns: \(r.out) \(r.err)")
    }

    func testHostLoopbackListenerUnreachableWithNetworkNone() throws {
        let listener = try LoopbackListener()
        defer { listener.close() }
        let probe = "python3 -c \"import socket,sys\ntry:\n socket.create_connection(('127.0.0.1', \(listener.port)), timeout=3); print('connected')\nexcept Exception as e: print('refused', e)\""
        let r = S.run(probe)
        XCTAssertTrue(r.out.hasPrefix("refused"), "a host loopback listener was reachable from a network-none sandbox: \(r.out) \(r.err)")
    }

    func testHostNetworkModeReachesHostLoopback() throws {
        // The control for the test above: it proves the probe can succeed.
        let listener = try LoopbackListener()
        defer { listener.close() }
        let probe = "python3 -c \"import socket\nsocket.create_connection(('127.0.0.1', \(listener.port)), timeout=3); print('connected')\""
        let r = S.run(probe) { $0.network = .host }
        XCTAssertEqual(r.out, "connected\n", "network host should reach the host loopback: \(r.err)")
    }

    func testLoopbackIsUpInsideNetworkNone() {
        let r = S.run("python3 -c \"import socket\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); c=socket.create_connection(s.getsockname()); print('ok')\"")
        XCTAssertEqual(r.out, "ok\n", "loopback should be up inside the sandbox: \(r.err)")
    }

    func testDangerousSyscallsFailWithEPERM() {
        // keyctl(250), bpf(321), mount(165), unshare(272) with CLONE_NEWUSER.
        let py = """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        for name, nr, args in [("keyctl", 250, (0, 0, 0, 0)), ("bpf", 321, (0, 0, 0)), ("mount", 165, (0, 0, 0, 0, 0)), ("unshare", 272, (0x10000000,))]:
            r = libc.syscall(nr, *args)
            print(name, r, ctypes.get_errno())
        """
        let r = S.run("python3 -c '\(py)'")
        for name in ["keyctl", "bpf", "mount", "unshare"] {
            XCTAssertTrue(r.out.contains("\(name) -1 1\n"), "\(name) should fail with EPERM inside the sandbox; got: \(r.out) \(r.err)")
        }
    }

    func testX32SyscallsAreKilledAndReportedAsSeccompViolation() {
        // getpid through the x32 ABI (nr | 0x40000000): a secondary ABI the filter must not let through.
        var spec = S.spec("")
        spec.command = ["python3", "-c", "import ctypes; ctypes.CDLL(None).syscall(0x40000000 | 39); print('survived')"]
        let r = Sandbox.run(spec)
        XCTAssertFalse(r.out.contains("survived"), "an x32 syscall got past the seccomp filter")
        XCTAssertEqual(r.report.exitClass, .seccompViolation, "death by SIGSYS is a seccomp violation")
    }

    func testClone3AnswersENOSYSSoLibcFallsBackToClone() {
        let r = S.run("python3 -c 'import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); print(libc.syscall(435, 0, 0), ctypes.get_errno()); print(os.fork() >= 0)'")
        XCTAssertTrue(r.out.hasPrefix("-1 38\n"), "clone3 should fail with ENOSYS: \(r.out) \(r.err)")
    }

    func testRlimitsAreApplied() {
        let r = S.run("ulimit -c; ulimit -n") { $0.maxOpenFiles = 321 }
        XCTAssertEqual(r.out, "0\n321\n", "core dumps off and the open-files limit from the spec")
    }

    func testCapabilitiesEmptyNoNewPrivsAndSeccompFilter() {
        let r = S.run("grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status")
        let fields = Dictionary(uniqueKeysWithValues: r.out.split(separator: "\n").map { line -> (String, String) in
            let parts = line.split(separator: ":", maxSplits: 1)
            return (String(parts[0]), parts[1].trimmingCharacters(in: .whitespaces))
        })
        for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            XCTAssertEqual(fields[cap], "0000000000000000", "\(cap) must be empty")
        }
        XCTAssertEqual(fields["NoNewPrivs"], "1", "no_new_privs must be set")
        XCTAssertEqual(fields["Seccomp"], "2", "a seccomp filter must be loaded (mode 2)")
    }

    func testSetgroupsIsDenied() {
        let r = S.run("cat /proc/self/setgroups; id -G")
        XCTAssertEqual(r.out, "deny\n1000\n", "setgroups must be denied and no supplementary group inherited: \(r.out)")
    }

    func testEnvironmentIsCleared() {
        setenv("COVEN_TEST_HOST_ONLY", "leaked", 1)
        defer { unsetenv("COVEN_TEST_HOST_ONLY") }
        let r = S.run("env") { $0.environment = ["NAMED": "yes"] }
        XCTAssertFalse(r.out.contains("COVEN_TEST_HOST_ONLY"), "the host environment leaked into the sandbox")
        XCTAssertTrue(r.out.contains("NAMED=yes"), "the spec's environment is missing")
        let names = Set(r.out.split(separator: "\n").map { String($0.split(separator: "=")[0]) })
        XCTAssertEqual(names, ["NAMED", "PATH", "HOME", "LANG", "PWD"], "unexpected variables: \(names)")
    }

    func testInheritedDescriptorsAreClosed() {
        let fd = open("/etc/hostname", O_RDONLY)  // deliberately without O_CLOEXEC
        defer { close(fd) }
        let r = S.run("ls /proc/self/fd | tr '\\n' ' '")
        XCTAssertEqual(r.out, "0 1 2 3 ", "only stdio (and ls's own directory fd) may be open: \(r.out)")
    }

    func testNoDescriptorOfAnotherSandboxReachesASandbox() throws {
        // While one sandbox runs we hold its pidfd and its mount namespace; the next
        // sandbox's init is cloned from this same process and must hold neither.
        let first = try Sandbox.launch(S.spec("sleep 5"))
        defer { first.cancel(); _ = first.wait() }
        let second = try Sandbox.launch(S.spec("sleep 5"))
        defer { second.cancel(); _ = second.wait() }
        // Init drops what it inherited before it releases the workload: look once that ran
        // (right after the launch returns, init may not have been scheduled yet).
        let children = "/proc/\(second.hostPID)/task/\(second.hostPID)/children"
        let end = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < end, (try? String(contentsOfFile: children, encoding: .utf8))?.isEmpty ?? true { usleep(5_000) }
        let dir = "/proc/\(second.hostPID)/fd"
        let links = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).compactMap {
            try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/" + $0)
        }
        XCTAssertFalse(links.isEmpty, "could not read \(dir)")
        let leaked = links.filter { $0.hasPrefix("mnt:") || $0.contains("pidfd") }
        XCTAssertEqual(leaked, [], "the second sandbox's init holds namespace or process descriptors: \(links)")
    }

    func testNewSessionWithoutControllingTerminal() {
        // /proc/self/stat: pid (comm) state ppid pgrp session tty_nr ...
        let r = S.run("read -r pid comm st ppid pgrp sid tty rest < /proc/$$/stat; echo $pid $sid $tty")
        let f = r.out.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        XCTAssertEqual(f.count, 3, r.out)
        if f.count == 3 {
            XCTAssertEqual(f[0], f[1], "the command must lead its own session (setsid)")
            XCTAssertEqual(f[2], "0", "the command must have no controlling terminal")
        }
    }

    func testStdinIsDevNull() {
        let r = S.run("cat; echo end")
        XCTAssertEqual(r.out, "end\n", "stdin must be /dev/null")
    }

    func testMinimalDev() {
        let r = S.run("ls /dev | tr '\\n' ' '")
        XCTAssertEqual(r.out, "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero ", "unexpected /dev: \(r.out)")
        let w = S.run("echo x > /dev/null && head -c 4 /dev/urandom | wc -c")
        XCTAssertEqual(w.out, "4\n", "device nodes must work: \(w.err)")
    }

    func testHostnameIsPrivate() {
        let r = S.run("hostname") { $0.hostname = "sbx-test" }
        XCTAssertEqual(r.out, "sbx-test\n")
        XCTAssertNotEqual(ProcessInfo.processInfo.hostName, "sbx-test")
    }

    func testCgroupNamespaceHidesHostHierarchy() {
        let r = S.run("cat /proc/self/cgroup")
        XCTAssertFalse(r.out.contains("process_api"), "the host cgroup path is visible: \(r.out)")
    }
}

/// A TCP listener on 127.0.0.1 for reachability probes.
final class LoopbackListener {
    let fd: Int32
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp in
                bind(fd, sp, len) == 0 && listen(fd, 16) == 0 && getsockname(fd, sp, &len) == 0
            }
        }
        guard ok else { Glibc.close(fd); throw NSError(domain: "listener", code: Int(errno)) }
        port = UInt16(bigEndian: addr.sin_port)
    }

    func close() { Glibc.close(fd) }
}
