import XCTest
import Foundation
@testable import Sandbox

/// Syscalls the seccomp profile refuses with EPERM are answered by the supervisor and
/// counted by name in the exit report; the command sees the same EPERM as before.
final class SeccompDenialTests: XCTestCase {
    typealias S = SandboxTestSupport

    /// Python calling libc directly: `mount` twice and `unshare(CLONE_NEWUSER)` once, all
    /// refused by the default profile; prints the errno names it got.
    static let refused = """
    python3 -c 'import ctypes, errno
    libc = ctypes.CDLL(None, use_errno=True)
    out = []
    for call in (lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None), lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None), lambda: libc.unshare(0x10000000)):
        r = call(); out.append(errno.errorcode.get(ctypes.get_errno(), "0") if r != 0 else "ok")
    print(" ".join(out))'
    """

    func testEachRefusedSyscallIsCountedByName() {
        let r = S.run(Self.refused)
        XCTAssertEqual(r.report.deniedSyscalls, ["mount": 2, "unshare": 1], "\(r.err)")
    }

    func testTheCommandStillSeesEPERM() {
        let r = S.run(Self.refused)
        XCTAssertEqual(r.out, "EPERM EPERM EPERM\n", "a denial answered by the supervisor must look like the profile's EPERM: \(r.err)")
    }

    func testAllowedCallsAndENOSYSRulesAreNotCounted() {
        // Threads: glibc tries clone3 first (ENOSYS by the profile, kept in the kernel) and falls back.
        let r = S.run("python3 -c 'import threading; t = threading.Thread(target=print, args=(\"hi\",)); t.start(); t.join()'; ls / > /dev/null")
        XCTAssertEqual(r.report.exitClass, .exited(code: 0), r.err)
        XCTAssertEqual(r.report.deniedSyscalls, [:], "nothing was refused with EPERM")
    }

    func testTheCommandHoldsNoListenerOfItsOwn() {
        // With the listener a command could answer its own notifications, and allow anything.
        let r = S.run("for f in /proc/self/fd/*; do readlink $f; done")
        XCTAssertFalse(r.out.contains("seccomp"), "the sandboxed command holds a seccomp listener: \(r.out)")
    }

    func testAStormOfDenialsIsAnsweredAndCountedWhole() {
        let r = S.run("python3 -c 'import ctypes\nlibc = ctypes.CDLL(None)\nfor i in range(2000): libc.unshare(0x10000000)'") {
            $0.timeout = .seconds(60)
        }
        XCTAssertEqual(r.report.exitClass, .exited(code: 0), "\(r.err)")
        XCTAssertEqual(r.report.deniedSyscalls["unshare"], 2000)
    }

    func testProcessesForkedByTheCommandAreCountedToo() {
        let r = S.run("(python3 -c 'import ctypes; ctypes.CDLL(None).unshare(0x10000000)') & wait; python3 -c 'import ctypes; ctypes.CDLL(None).unshare(0x10000000)'")
        XCTAssertEqual(r.report.deniedSyscalls["unshare"], 2, "a child's refusal belongs to the same sandbox")
    }

    func testTheReportJSONNamesTheDeniedSyscalls() {
        let r = S.run(Self.refused)
        let o = ExitReportJSON.object(r.report)
        XCTAssertEqual(o["denied_syscalls"] as? [String: UInt64], ["mount": 2, "unshare": 1])
    }
}
