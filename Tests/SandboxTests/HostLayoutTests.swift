import XCTest
import Foundation
@testable import Sandbox

/// The host layouts of `make test-vm` (Tests/VM/guest.sh), checked from inside: where this
/// process's sandboxes go, and that the limits, OOM reporting and teardown hold there.
/// Skipped unless COVEN_VM_LAYOUT names the layout the VM started this process in.
final class HostLayoutTests: XCTestCase {
    typealias S = SandboxTestSupport

    enum Layout: String {
        case root, container, session, service
        case rootlessDelegated = "rootless-delegated"
        case rootlessUserManager = "rootless-user-manager"
        case rootlessPlain = "rootless-plain"
    }

    private var layout: Layout!

    override func setUpWithError() throws {
        let name = ProcessInfo.processInfo.environment["COVEN_VM_LAYOUT"] ?? ""
        try XCTSkipIf(name.isEmpty, "runs in make test-vm's layouts (COVEN_VM_LAYOUT)")
        layout = try XCTUnwrap(Layout(rawValue: name), "unknown layout \(name)")
    }

    private var ownCgroup: String {
        CgroupHost.unifiedPath(CgroupHost.parseProcCgroup(CgroupFS.readIfPresent("/proc/self/cgroup") ?? "")) ?? "?"
    }

    /// The v2 directory of a running sandbox, from its init's /proc entry.
    private func cgroupDirectory(of pid: pid_t) throws -> String {
        let path = try XCTUnwrap(CgroupHost.unifiedPath(CgroupHost.parseProcCgroup(CgroupFS.readIfPresent("/proc/\(pid)/cgroup") ?? "")))
        return CgroupHost.join("/sys/fs/cgroup", path)
    }

    private func trimmed(_ s: String?) -> String? { s?.trimmingCharacters(in: .whitespacesAndNewlines) }

    // MARK: where sandboxes go

    func testSandboxesGoWhereTheLayoutAllows() throws {
        let host = CgroupHost.cachedProbe()
        let parent = host.v2Parent ?? "none"
        switch layout! {
        case .service:
            XCTAssertEqual(parent, "/sys/fs/cgroup/system.slice/coven-supervisor.service/sandboxes", "\(host.support.notes)")
        case .root, .session, .container:
            XCTAssertEqual(parent, "/sys/fs/cgroup/coven", "\(host.support.notes)")
        case .rootlessDelegated:
            XCTAssertEqual(parent, "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/coven-test.scope/sandboxes",
                           "\(host.support.notes)")
        case .rootlessUserManager:
            XCTAssertEqual(parent, "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/coven", "\(host.support.notes)")
        case .rootlessPlain:
            XCTAssertEqual(host.support.version, .none, "no cgroup is delegated to this user here: \(host.support.notes)")
        }
    }

    func testThisProcessMovesOnlyWhenItOwnsItsCgroup() {
        _ = Cgroups.prepare()
        switch layout! {
        case .service:
            XCTAssertEqual(ownCgroup, "/system.slice/coven-supervisor.service/supervisor",
                           "alone in its service cgroup, the process moves into its leaf")
        case .session:
            XCTAssertEqual(ownCgroup, "/user.slice/user-0.slice/session-1.scope", "a shared session scope is left as it was")
        case .container:
            XCTAssertEqual(ownCgroup, "/init.scope", "the container's populated root is emptied into init.scope")
        case .root:
            XCTAssertEqual(ownCgroup, "/", "the real root may hold processes: nothing moves")
        case .rootlessDelegated:
            XCTAssertEqual(ownCgroup, "/user.slice/user-1000.slice/user@1000.service/app.slice/coven-test.scope/supervisor",
                           "alone in a delegated scope, the process moves into its leaf")
        case .rootlessUserManager:
            XCTAssertEqual(ownCgroup, "/user.slice/user-1000.slice/user@1000.service/app.slice/terminal.scope",
                           "a populated scope is left as it was; sandboxes go to the delegated user manager's cgroup")
        case .rootlessPlain:
            XCTAssertEqual(ownCgroup, "/user.slice/user-1000.slice/session-2.scope")
        }
    }

    func testControllersAreOnOfferWhereverLimitsCanApply() {
        let cg = Cgroups.prepare()
        if layout == .rootlessPlain {
            XCTAssertEqual(Set(cg.unavailable.keys), Set(LimitKind.allCases), "every limit should be reported unavailable")
            XCTAssertTrue(cg.unavailable.values.allSatisfy { !$0.isEmpty }, "each with its reason: \(cg.unavailable)")
            return
        }
        XCTAssertTrue(cg.memory && cg.pids && cg.cpu, "memory, pids and cpu for sandboxes: \(cg.notes)")
    }

    // MARK: limits, OOM, teardown

    func testLimitsAreWrittenToTheSandboxesCgroup() throws {
        try XCTSkipIf(layout == .rootlessPlain, "nothing to write to without a delegated cgroup")
        var spec = SandboxSpec(command: ["/bin/sleep", "30"])
        spec.limits = ResourceLimits(memoryBytes: 96 << 20, pids: 48, cpus: 0.5)
        spec.grace = .milliseconds(200)
        let h = try Sandbox.launch(spec)
        defer { h.cancel(); _ = h.wait() }
        let dir = try cgroupDirectory(of: h.hostPID)
        XCTAssertTrue((dir as NSString).lastPathComponent.hasPrefix("sbx-"), "init is not in its sandbox cgroup: \(dir)")
        XCTAssertEqual(trimmed(CgroupFS.readIfPresent(dir + "/memory.max")), "\(96 << 20)")
        XCTAssertEqual(trimmed(CgroupFS.readIfPresent(dir + "/memory.swap.max")), "0", "no silent swapping")
        XCTAssertEqual(trimmed(CgroupFS.readIfPresent(dir + "/memory.oom.group")), "1", "an OOM kill takes the whole sandbox")
        XCTAssertEqual(trimmed(CgroupFS.readIfPresent(dir + "/pids.max")), "48")
        XCTAssertEqual(trimmed(CgroupFS.readIfPresent(dir + "/cpu.max")), "50000 100000")
    }

    func testSandboxIsBornInItsCgroup() throws {
        try XCTSkipIf(layout == .rootlessPlain, "no cgroup to be born in")
        var spec = SandboxSpec(command: ["/bin/sleep", "30"])
        spec.grace = .milliseconds(200)
        let h = try Sandbox.launch(spec)
        defer { h.cancel(); _ = h.wait() }
        XCTAssertTrue(h.bornInCgroup, "clone3(CLONE_INTO_CGROUP) should work in this layout (entry \(h.cgroupEntry))")
    }

    func testMemoryHogIsOOMKilledAndItsPeakReported() {
        var spec = SandboxSpec(command: ["/usr/bin/python3", "-c", "b = bytearray(256 << 20)"])
        spec.limits = ResourceLimits(memoryBytes: 48 << 20)
        spec.stdout = .discard
        spec.stderr = .discard
        let r = Sandbox.run(spec)
        if layout == .rootlessPlain {
            XCTAssertEqual(r.report.unenforcedLimits.map(\.limit), [.memory], "the unenforced limit is reported")
            return
        }
        XCTAssertEqual(r.report.exitClass, .oomKilled)
        XCTAssertGreaterThan(r.report.peakMemoryBytes ?? 0, 32 << 20, "peak memory near the limit")
    }

    func testPeakIsSampledWhereTheKernelKeepsNone() throws {
        try XCTSkipIf(layout == .rootlessPlain, "no cgroup")
        let host = CgroupHost.cachedProbe()
        var features = host.v2Features
        features.peak = false   // as on kernels before 5.19
        let source = Sandbox.CgroupSource(support: host.support) { name, limits in
            SandboxCgroup(name: name, backend: try CgroupV2.create(parent: host.v2Parent!, name: name, limits: limits, features: features))
        }
        var spec = SandboxSpec(command: ["/usr/bin/python3", "-c", "import time; b = bytearray(64 << 20); time.sleep(1)"])
        spec.limits = ResourceLimits(memoryBytes: 256 << 20)
        let h = try Sandbox.launch(spec, identities: .shared, cgroups: source)
        let r = h.wait()
        XCTAssertEqual(r.report.exitClass, .exited(code: 0))
        XCTAssertGreaterThan(r.report.peakMemoryBytes ?? 0, 48 << 20, "the sampled memory.current should have seen the 64 MiB")
    }

    func testTeardownLeavesNoCgroupBehind() throws {
        try XCTSkipIf(layout == .rootlessPlain, "no cgroup")
        let parent = try XCTUnwrap(CgroupHost.cachedProbe().v2Parent)
        let before = Set(DirectoryEntries.names(parent) ?? []).filter { $0.hasPrefix("sbx-") }
        let marker = "300.\(UInt32.random(in: 100_000...999_999))"
        var spec = SandboxSpec(command: ["/bin/sh", "-c", "trap '' TERM; setsid sh -c \"trap '' TERM; sleep \(marker)\" & sleep \(marker)"])
        spec.timeout = .seconds(1)
        spec.grace = .milliseconds(500)
        let r = Sandbox.run(spec)
        Sandbox.finishCleanup()
        XCTAssertEqual(r.report.exitClass, .timedOut)
        XCTAssertTrue(S.hostProcesses(containing: marker).isEmpty, "the TERM-ignoring tree outlived the teardown")
        let after = Set(DirectoryEntries.names(parent) ?? []).filter { $0.hasPrefix("sbx-") }
        XCTAssertEqual(after.subtracting(before), [], "the sandbox's cgroup was not removed")
    }

    func testRootlessWithoutDelegationRunsAndSaysWhichLimitsAreNotEnforced() throws {
        try XCTSkipUnless(layout == .rootlessPlain, "only without a delegated cgroup")
        var spec = SandboxSpec(command: ["/bin/true"])
        spec.limits = ResourceLimits(memoryBytes: 64 << 20, pids: 32, cpus: 1)
        let r = Sandbox.run(spec)
        XCTAssertEqual(r.report.exitClass, .exited(code: 0), "the sandbox runs anyway")
        XCTAssertEqual(r.report.unenforcedLimits.map(\.limit), [.memory, .pids, .cpu])
        XCTAssertTrue(r.report.unenforcedLimits.allSatisfy { $0.reason.contains("delegat") },
                      "each reason says what is missing: \(r.report.unenforcedLimits)")
    }
}
