import XCTest
import Foundation
@testable import Sandbox

/// Sandboxes cloned by the launcher process (coven-sandbox-zygote) behave as those cloned
/// in-process: they are this process's children, report their status, failures and CPU
/// time, and launches carry on in-process when the launcher process is gone.
final class LauncherProcessTests: XCTestCase {
    typealias S = SandboxTestSupport

    override func setUpWithError() throws {
        try Sandbox.startLauncherProcess()
        Sandbox.useLauncherProcess(true)
        XCTAssertTrue(Sandbox.launchesThroughLauncherProcess, "the launcher process did not start")
    }

    /// The launcher process: a child of this process running coven-sandbox-zygote.
    private func launcherPIDs() -> [pid_t] {
        let me = getpid()
        return S.hostProcesses(containing: "coven-sandbox-zygote").filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 2 && pid_t(fields[1]) == me
        }
    }

    func testCommandOutputAndStatusComeBack() {
        let r = S.run("echo through; exit 3")
        XCTAssertEqual(r.out, "through\n", "stdout of a sandbox launched by the launcher process: \(r.err)")
        XCTAssertEqual(r.report.exitClass, .exited(code: 3))
    }

    /// A v2 plan: a cgroup directory fd, no v1 `tasks` fds (their pointer must not travel
    /// as an address of this process). Run on this host's hybrid unified hierarchy.
    func testV2SandboxIsBornInItsCgroupThroughTheLauncherProcess() throws {
        let host = try CgroupTests.hybridV2Host()
        var spec = SandboxSpec(command: ["/bin/sleep", "30"])
        spec.limits = ResourceLimits()          // the hybrid hierarchy has no controllers
        spec.grace = .milliseconds(200)
        var made: SandboxCgroup?
        let source = Sandbox.CgroupSource(support: host.support) { name, limits in
            let cg = SandboxCgroup(name: name, backend: try CgroupV2.create(parent: host.v2Parent!, name: name, limits: limits,
                                                                            features: host.v2Features))
            made = cg
            return cg
        }
        let h = try Sandbox.launch(spec, identities: .shared, cgroups: source)
        defer { h.cancel(); _ = h.wait() }
        XCTAssertTrue(h.bornInCgroup, "the launcher process did not clone the sandbox into its v2 cgroup")
        XCTAssertTrue(made?.pids().contains(h.hostPID) ?? false, "the sandbox's init is not in its v2 cgroup")
    }

    func testSandboxIsAChildOfThisProcess() throws {
        let h = try Sandbox.launch(S.spec("sleep 5"))
        defer { h.cancel(); _ = h.wait() }
        let stat = try String(contentsOfFile: "/proc/\(h.hostPID)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        XCTAssertEqual(pid_t(fields[1]), getpid(), "the sandbox's init is not this process's child (CLONE_PARENT)")
    }

    func testSetupFailureNamesItsStage() {
        let r = S.run("true") { $0.binds = [Bind(source: "/nonexistent-\(UUID().uuidString)", destination: "/x")] }
        guard case .setupFailed(let stage, let e, let detail) = r.report.exitClass else {
            return XCTFail("a missing bind source did not fail the set-up: \(r.report.exitClass)")
        }
        XCTAssertEqual(stage, .bind, "the failure names the wrong stage: \(detail)")
        XCTAssertEqual(e, ENOENT)
    }

    func testMissingCommandIsSpawnFailed() {
        XCTAssertEqual(Sandbox.run(SandboxSpec(command: ["/nonexistent/coven-probe"])).report.exitClass, .spawnFailed(errno: ENOENT))
    }

    func testCPUTimeOfTheSandboxIsCounted() {
        // rusage comes from reaping init, which only its parent can: this process.
        let r = S.run("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
        XCTAssertEqual(r.report.exitClass, .exited(code: 0))
        XCTAssertGreaterThan(r.report.cpuTime, 0, "no CPU time reported for a sandbox that burned some")
    }

    func testLaunchesCarryOnWhenTheLauncherProcessIsGone() throws {
        let pids = launcherPIDs()
        XCTAssertEqual(pids.count, 1, "expected one launcher process, found \(pids)")
        for pid in pids { kill(pid, SIGKILL) }
        let r = S.run("echo after")
        XCTAssertEqual(r.out, "after\n", "no sandbox after the launcher process died: \(r.report.exitClass)")
        XCTAssertFalse(Sandbox.launchesThroughLauncherProcess, "launches still go to a dead launcher process")
        try Sandbox.startLauncherProcess()
        XCTAssertTrue(Sandbox.launchesThroughLauncherProcess, "the launcher process did not start again")
        XCTAssertEqual(S.run("echo again").out, "again\n")
    }

    func testInitMapsNoSharedLibraryAtAll() throws {
        // A copy of the static launcher process, not of this one with its dozens of libraries.
        let h = try Sandbox.launch(S.spec("sleep 5"))
        defer { h.cancel(); _ = h.wait() }
        let maps = String(decoding: FileHandle(forReadingAtPath: "/proc/\(h.hostPID)/maps")?.readDataToEndOfFile() ?? Data(), as: UTF8.self)
        XCTAssertTrue(maps.contains("coven-sandbox-zygote"), "init is not a copy of the launcher process: \(maps.prefix(400))")
        XCTAssertFalse(maps.contains(".so"), "init maps shared libraries: \(maps)")
    }
}
