import XCTest
import Foundation
import CSandbox
@testable import Sandbox

/// Network namespaces made ahead of time must isolate exactly like fresh ones.
final class NetnsPoolTests: XCTestCase {
    typealias S = SandboxTestSupport

    override func setUpWithError() throws {
        try XCTSkipUnless(S.isRoot, "the namespace pool is a root-mode feature")
        Sandbox.keepNetworkNamespacesReady(2)
        XCTAssertTrue(S.eventually { cs_netns_pool_ready() >= 2 }, "the pool never filled")
    }

    override func tearDown() {
        Sandbox.keepNetworkNamespacesReady(0)
    }

    func testPooledNamespaceCannotReachHostLoopback() throws {
        let listener = try LoopbackListener()
        defer { listener.close() }
        let r = S.run("python3 -c \"import socket\ntry:\n socket.create_connection(('127.0.0.1', \(listener.port)), timeout=3); print('connected')\nexcept Exception as e: print('refused')\"")
        XCTAssertEqual(r.out, "refused\n", "a pooled namespace reached the host loopback: \(r.err)")
    }

    func testLaunchTakesAPooledNamespace() throws {
        // A pooled namespace is owned by the host's user namespace; a fresh one by the sandbox's.
        let h = try Sandbox.launch(S.spec("sleep 5"))
        defer { h.cancel(); _ = h.wait() }
        let fd = open("/proc/\(h.hostPID)/ns/net", O_RDONLY)
        defer { close(fd) }
        let owner = ioctl(fd, 0xb701)   // NS_GET_USERNS
        XCTAssertGreaterThanOrEqual(owner, 0, "NS_GET_USERNS failed: \(errno)")
        defer { close(owner) }
        var a = stat(), b = stat()
        fstat(owner, &a)
        stat("/proc/self/ns/user", &b)
        XCTAssertEqual(a.st_ino, b.st_ino, "the sandbox's network namespace was not one of the pooled ones")
    }

    func testSandboxesNeverInheritTheRefillsIdlePriority() {
        // The launcher tops the pool up at SCHED_IDLE; the sandboxes it clones must not be.
        for _ in 0..<3 {
            let r = S.run("python3 -c \"import os; print(os.sched_getscheduler(0))\"")
            XCTAssertEqual(r.out, "0\n", "sandbox scheduling policy is not SCHED_OTHER (0): \(r.out) \(r.err)")
        }
    }

    func testPooledNamespaceHasOnlyLoopbackAndItIsUp() {
        let r = S.run("python3 -c \"import socket, os\nprint(sorted(os.listdir('/sys/class/net')) if os.path.isdir('/sys/class/net') else [l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]])\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); socket.create_connection(s.getsockname()); print('up')\"")
        XCTAssertEqual(r.out, "['lo']\nup\n", "expected only an up loopback: \(r.out) \(r.err)")
    }

    func testPooledNamespaceCannotBeReconfiguredFromInside() {
        // SIOCSIFFLAGS on lo needs CAP_NET_ADMIN over the namespace's owner: the host's user namespace.
        let r = S.run("python3 -c \"import socket, fcntl, struct\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ntry:\n fcntl.ioctl(s, 0x8914, struct.pack('16sH', b'lo', 0)); print('changed')\nexcept OSError as e: print('refused', e.errno)\"")
        XCTAssertTrue(r.out.hasPrefix("refused"), "the sandbox could take its loopback down: \(r.out) \(r.err)")
    }

    func testEachSandboxGetsItsOwnNamespace() throws {
        let a = try Sandbox.launch(S.spec("sleep 5"))
        let b = try Sandbox.launch(S.spec("sleep 5"))
        defer { a.cancel(); b.cancel(); _ = a.wait(); _ = b.wait() }
        let host = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")) ?? ""
        let na = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(a.hostPID)/ns/net")) ?? "a?"
        let nb = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(b.hostPID)/ns/net")) ?? "b?"
        XCTAssertNotEqual(na, nb, "two sandboxes share a network namespace")
        XCTAssertNotEqual(na, host, "a sandbox is in the host's network namespace")
        XCTAssertNotEqual(nb, host, "a sandbox is in the host's network namespace")
    }
}
