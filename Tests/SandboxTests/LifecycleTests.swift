import XCTest
import Foundation
@testable import Sandbox

/// Exit classification, teardown, limits and output capping.
final class LifecycleTests: XCTestCase {
    typealias S = SandboxTestSupport

    func testExitCodeIsReported() {
        XCTAssertEqual(S.run("exit 3").report.exitClass, .exited(code: 3))
        XCTAssertEqual(S.run("exit 3").report.shellStatus, 3)
    }

    func testDeathBySignalIsReported() {
        let r = S.run("kill -SEGV $$")
        XCTAssertEqual(r.report.exitClass, .signaled(signal: SIGSEGV, core: false), "core must be off (RLIMIT_CORE 0)")
        XCTAssertEqual(r.report.shellStatus, 128 + SIGSEGV)
    }

    func testMissingCommandIsSpawnFailedENOENT() {
        let r = Sandbox.run(SandboxSpec(command: ["no-such-command-\(UUID().uuidString.prefix(6))"]))
        XCTAssertEqual(r.report.exitClass, .spawnFailed(errno: ENOENT))
        XCTAssertEqual(r.report.shellStatus, 127)
    }

    func testNonExecutableCommandIsSpawnFailedEACCES() {
        let r = Sandbox.run(SandboxSpec(command: ["/etc/passwd"]))
        XCTAssertEqual(r.report.exitClass, .spawnFailed(errno: EACCES), "a 0644 file is not executable")
        XCTAssertEqual(r.report.shellStatus, 126)
    }

    func testMissingBindSourceIsSetupFailedNamingTheStage() {
        let r = S.run("true") { $0.binds = [Bind(source: "/nonexistent-\(UUID().uuidString)", destination: "/x")] }
        guard case .setupFailed(let stage, let e, let detail) = r.report.exitClass else {
            return XCTFail("expected setupFailed, got \(r.report.exitClass)")
        }
        XCTAssertEqual(stage, .bind, "the failed stage should be the bind: \(detail)")
        XCTAssertTrue(detail.hasPrefix("bind /nonexistent-"), "the detail should name the bind's source: \(detail)")
        XCTAssertEqual(e, ENOENT)
        XCTAssertEqual(r.report.shellStatus, 125)
    }

    func testTimeoutTearsDownTermIgnoringDoubleForkedSetsidChild() {
        let marker = "300.\(UInt32.random(in: 100_000...999_999))"
        // The child ignores SIGTERM, double-forks and setsid's; sleep's argument carries the marker.
        let script = """
        trap '' TERM
        ( setsid sh -c "trap '' TERM; sleep \(marker)" & ) &
        sh -c "trap '' TERM; sleep \(marker)"
        """
        let start = ContinuousClock.now
        let r = S.run(script) { $0.timeout = .milliseconds(700); $0.grace = .milliseconds(500) }
        XCTAssertEqual(r.report.exitClass, .timedOut)
        XCTAssertEqual(r.report.shellStatus, 124)
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(30), "teardown did not finish")
        XCTAssertEqual(S.hostProcesses(containing: marker), [], "a sandbox process survived teardown on the host")
    }

    func testTeardownReleasesTheSandboxMountNamespace() throws {
        let h = try Sandbox.launch(S.spec("trap '' TERM; sleep 300") { $0.grace = .milliseconds(200) })
        var ns = ""
        XCTAssertTrue(S.eventually { ns = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(h.hostPID)/ns/mnt")) ?? ""; return !ns.isEmpty })
        h.cancel()
        let r = h.wait()
        XCTAssertEqual(r.report.exitClass, .cancelled, "\(r.report)")
        // Nothing on the host may still be in that mount namespace: then it (and every mount in it) is gone.
        let holders = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { pid in
            Int(pid) != nil && (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/mnt")) == ns
        }
        XCTAssertEqual(holders, [], "processes still hold the sandbox's mount namespace \(ns)")
    }

    func testFinishCleanupDropsTheLastReferenceToTheMountNamespace() throws {
        // The handle keeps the namespace open so its teardown is not on the result's path;
        // after finishCleanup nothing, not even a descriptor of ours, may keep its mounts alive.
        let h = try Sandbox.launch(S.spec("sleep 0.2"))
        let ns = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(h.hostPID)/ns/mnt")) ?? ""
        _ = h.wait()
        Sandbox.finishCleanup()
        guard !ns.isEmpty else { throw XCTSkip("the sandbox ended before its namespace could be read") }
        let ours = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).filter {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == ns
        }
        XCTAssertEqual(ours, [], "descriptors still hold the finished sandbox's mount namespace \(ns)")
    }

    func testCancelIsReportedAsCancelledAndKillsEverything() throws {
        let marker = "300.\(UInt32.random(in: 100_000...999_999))"
        let h = try Sandbox.launch(S.spec("trap '' TERM; sleep \(marker)") { $0.grace = .milliseconds(300) })
        XCTAssertTrue(S.eventually { !S.hostProcesses(containing: marker).isEmpty }, "the probe never started")
        h.cancel()
        let r = h.wait()
        XCTAssertEqual(r.report.exitClass, .cancelled)
        XCTAssertEqual(S.hostProcesses(containing: marker), [])
    }

    func testInitForwardsSignalsToTheCommand() throws {
        let dir = try S.scratchDirectory("signal")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o777)
        let h = try Sandbox.launch(S.spec("trap 'echo got-term; exit 0' TERM; touch /out/ready; while :; do sleep 0.05; done") {
            $0.binds = [Bind(source: dir, destination: "/out", writable: true)]
        })
        // The trap is installed once /out/ready exists.
        XCTAssertTrue(S.eventually { FileManager.default.fileExists(atPath: dir + "/ready") }, "the command never got ready")
        h.signal(SIGTERM)
        let r = h.wait()
        XCTAssertTrue(r.out.contains("got-term"), "SIGTERM sent to the sandbox did not reach the command: \(r.out)")
        XCTAssertEqual(r.report.exitClass, .exited(code: 0))
    }

    func testInitReapsOrphanedZombies() {
        // An orphan re-parented to init exits; init must reap it (no state Z left).
        let r = S.run("( sleep 0.1 & ) ; sleep 1; z=0; for f in /proc/[0-9]*/stat; do read p c st rest < $f; [ \"$st\" = Z ] && z=$((z+1)); done; echo zombies=$z")
        XCTAssertEqual(r.out, "zombies=0\n", "init left zombies behind: \(r.out) \(r.err)")
    }

    func testStdoutIsCappedWithMarker() {
        let r = S.run("head -c 100000 /dev/zero | tr '\\0' a") { $0.stdout = .capture(limit: 1000) }
        XCTAssertEqual(r.report.stdoutBytes, 100_000, "all output must be counted")
        XCTAssertTrue(r.report.stdoutTruncated)
        XCTAssertTrue(r.out.hasPrefix(String(repeating: "a", count: 1000)))
        XCTAssertTrue(r.out.contains("output truncated after 1000 bytes"), "the cut must be marked")
        XCTAssertLessThan(r.stdout.count, 1200, "kept output must stay near the cap")
    }

    func testStderrIsCapturedSeparately() {
        let r = S.run("echo out; echo err >&2")
        XCTAssertEqual(r.out, "out\n")
        XCTAssertEqual(r.err, "err\n")
    }

    func testForkBombIsStoppedByPidsLimit() {
        // Bounded: at most 200 forks, each child sleeps and exits; counts the forks that succeeded.
        let py = "import os,time\nn=0\nfor i in range(200):\n  try:\n    pid=os.fork()\n  except OSError:\n    break\n  if pid==0:\n    time.sleep(20); os._exit(0)\n  n+=1\nprint(n)"
        let r = S.run("python3 -c '\(py)'") { $0.limits.pids = 20 }
        let count = Int(r.out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 999
        XCTAssertLessThan(count, 20, "the pids limit did not stop the fork loop: \(count) forks succeeded (\(r.err))")
    }

    func testMemoryHogIsReportedOOMKilled() {
        let r = S.run("python3 -c \"x = ' ' * (512 << 20); print(len(x))\"") { $0.limits.memoryBytes = 64 << 20 }
        XCTAssertEqual(r.report.exitClass, .oomKilled, "stdout: \(r.out) stderr: \(r.err)")
        XCTAssertNotNil(r.report.peakMemoryBytes)
    }

    func testConcurrentSandboxesGetDistinctHostUIDs() throws {
        try XCTSkipUnless(S.isRoot, "distinct host uids are a root-mode property")
        let a = try Sandbox.launch(S.spec("sleep 30"))
        let b = try Sandbox.launch(S.spec("sleep 30"))
        defer { a.cancel(); b.cancel(); _ = a.wait(); _ = b.wait() }
        XCTAssertNotEqual(a.hostUID, b.hostUID, "two concurrent sandboxes share a host uid")
        XCTAssertNotEqual(a.hostUID, 0)
        // The kernel agrees once init has taken its identity (right after it is released).
        for h in [a, b] {
            var uidLine = ""
            let ok = S.eventually(timeout: .seconds(10)) {
                let status = (try? String(contentsOfFile: "/proc/\(h.hostPID)/status", encoding: .utf8)) ?? ""
                uidLine = String(status.split(separator: "\n").first { $0.hasPrefix("Uid:") } ?? "")
                return uidLine.contains("\t\(h.hostUID)\t")
            }
            XCTAssertTrue(ok, "init does not run as its host uid: \(uidLine)")
        }
    }

    func testReportCountsCPUTimeOfTheWorkloadsChildren() {
        // The busy loop runs in a forked subshell: its CPU time must reach the report (taken
        // from init's rusage, which includes every descendant reaped in the sandbox).
        // 0.1 s of CPU, however fast the machine (the VM suite emulates its CPU).
        let r = S.run(#"( python3 -c 'import time; t = time.process_time(); all(iter(lambda: time.process_time() - t < 0.1, False))' ) & wait"#)
        XCTAssertEqual(r.report.exitClass, .exited(code: 0), "\(r.report)")
        XCTAssertGreaterThan(r.report.cpuTime, 0.02, "CPU time of a busy child is missing from the report")
    }

    func testInitCarriesNoCopyOfTheDaemonsOtherLibraries() throws {
        // The in-process launch path (a launcher process may have been started by an earlier test).
        Sandbox.useLauncherProcess(false)
        defer { Sandbox.useLauncherProcess(true) }
        // Init is a copy of this process; only libc and the loader are marked for copying
        // (MADV_DONTFORK on the rest keeps clone and exit cheap).
        // /proc files report size 0: read them to the end, not by their stat size.
        func procFile(_ path: String) -> String {
            String(decoding: FileHandle(forReadingAtPath: path)?.readDataToEndOfFile() ?? Data(), as: UTF8.self)
        }
        let ours = procFile("/proc/self/maps")
        let libraries = Set(ours.split(separator: "\n").compactMap { line -> String? in
            guard let slash = line.firstIndex(of: "/") else { return nil }
            let name = String(line[slash...].split(separator: "/").last ?? "")
            return name.contains(".so") && !name.hasPrefix("libc.so") && !name.hasPrefix("ld-linux") ? name : nil
        })
        try XCTSkipIf(libraries.isEmpty, "no shared library besides libc here (a static build)")
        let h = try Sandbox.launch(S.spec("sleep 5"))
        defer { h.cancel(); _ = h.wait() }
        let maps = procFile("/proc/\(h.hostPID)/maps")
        let copied = libraries.filter { maps.contains("/" + $0) }
        XCTAssertEqual(copied.sorted(), [], "init got copies of libraries it never uses")
        XCTAssertTrue(maps.contains("libc.so"), "init lost libc: \(maps.prefix(400))")
    }

    func testALibraryLoadedAfterTheFirstLaunchIsNotCopiedIntoInit() throws {
        // The in-process launch path (a launcher process may have been started by an earlier test).
        Sandbox.useLauncherProcess(false)
        defer { Sandbox.useLauncherProcess(true) }
        // NSS modules and the like are loaded by the daemon long after its first sandbox.
        S.run("true")
        let late = "libnss_hesiod.so.2"
        guard let handle = dlopen(late, RTLD_NOW) else { throw XCTSkip("\(late) cannot be loaded here") }
        defer { dlclose(handle) }
        let h = try Sandbox.launch(S.spec("sleep 5"))
        defer { h.cancel(); _ = h.wait() }
        let maps = String(decoding: FileHandle(forReadingAtPath: "/proc/\(h.hostPID)/maps")?.readDataToEndOfFile() ?? Data(), as: UTF8.self)
        XCTAssertFalse(maps.contains(late), "a library loaded after the first launch was copied into init")
    }

    func testReportMeasuresWallTime() {
        let r = S.run("true")
        XCTAssertGreaterThan(r.report.wallTime, 0)
        XCTAssertLessThan(r.report.wallTime, 30)
    }
}
