import XCTest
import Foundation
@testable import Sandbox

/// `coven-supervisor sandbox exec` as a user runs it: exit statuses, report file,
/// rootless operation, and sandboxes dying with their supervisor.
final class CLITests: XCTestCase {
    typealias S = SandboxTestSupport

    static var binary: String {
        // The test runner is the .xctest executable in the products directory, next to the CLI.
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("coven-supervisor").path
    }

    /// Runs the CLI with `args`, optionally under setpriv as another user.
    func cli(_ args: [String], asUser: (uid: Int, gid: Int)? = nil) throws -> SandboxTestSupport.ProcessRun {
        guard let u = asUser else { return try S.runProcess(Self.binary, args) }
        // A copy the other user can reach, wherever this checkout lives.
        let dir = try SandboxTestSupport.scratchDirectory("cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let copy = dir + "/coven-supervisor"
        try FileManager.default.copyItem(atPath: Self.binary, toPath: copy)
        chmod(copy, 0o755)
        return try S.runProcess("/usr/bin/setpriv", ["--reuid", "\(u.uid)", "--regid", "\(u.gid)", "--clear-groups", copy] + args)
    }

    /// Starts the CLI in the background, its output discarded.
    func startCLI(_ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    func testExitStatusFollowsTimeoutEnvChrootConventions() throws {
        XCTAssertEqual(try cli(["sandbox", "exec", "--", "sh", "-c", "exit 7"]).status, 7, "CMD's exit code")
        XCTAssertEqual(try cli(["sandbox", "exec", "--", "sh", "-c", "kill -TERM $$"]).status, 128 + SIGTERM, "128+N for signal N")
        XCTAssertEqual(try cli(["sandbox", "exec", "--timeout", "300ms", "--grace", "200ms", "--", "sleep", "30"]).status, 124, "timeout")
        XCTAssertEqual(try cli(["sandbox", "exec", "--ro-bind", "/nonexistent-src", "--", "true"]).status, 125, "set-up failure")
        XCTAssertEqual(try cli(["sandbox", "exec", "--", "/etc/passwd"]).status, 126, "not executable")
        XCTAssertEqual(try cli(["sandbox", "exec", "--", "no-such-command"]).status, 127, "not found")
    }

    func testOutputPassesThrough() throws {
        let r = try cli(["sandbox", "exec", "--", "sh", "-c", "echo to-out; echo to-err >&2"])
        XCTAssertEqual(r.out, "to-out\n")
        XCTAssertTrue(r.err.contains("to-err\n"), r.err)
    }

    /// The `sbx-*` cgroups that exist now, in every hierarchy sandboxes are made in.
    func sandboxCgroups() throws -> Set<String> {
        let probe = try Cgroups.create(name: "cli-probe-\(getpid())", limits: ResourceLimits())
        let parents = probe.directories.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }
        probe.destroy()
        var names = Set<String>()
        for parent in parents {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix("sbx-") {
                names.insert(parent + "/" + name)
            }
        }
        return names
    }

    func testExitedCommandLeavesNoCgroupBehind() throws {
        try XCTSkipUnless(getuid() == 0 && Cgroups.detect().limitsAvailable, "needs root and cgroups")
        let before = try sandboxCgroups()
        for _ in 0..<3 { XCTAssertEqual(try cli(["sandbox", "exec", "--", "true"]).status, 0) }
        // Left behind = its creator is gone (sbx-<uid>-<creator pid>-<n>): other processes on
        // the host may be running sandboxes of their own meanwhile.
        let leaked = try sandboxCgroups().subtracting(before).filter { path in
            let parts = path.split(separator: "/").last?.split(separator: "-") ?? []
            guard parts.count >= 4, let pid = pid_t(parts[2]) else { return true }
            return kill(pid, 0) != 0 && errno == ESRCH
        }
        XCTAssertTrue(leaked.isEmpty, "sandbox exec exited before removing its cgroups: \(leaked.sorted())")
    }

    func testCgroupsOfAKilledRunAreRemovedByTheNextRun() throws {
        try XCTSkipUnless(getuid() == 0 && Cgroups.detect().limitsAvailable, "needs root and cgroups")
        let before = try sandboxCgroups()
        let marker = "300.\(UInt32.random(in: 100_000...999_999))"
        let p = try startCLI(["sandbox", "exec", "--", "sh", "-c", "sleep \(marker)"])
        // (The CLI's own command line carries the marker too: wait for the cgroup itself.)
        var killedRuns = Set<String>()
        XCTAssertTrue(S.eventually { killedRuns = (try? sandboxCgroups().subtracting(before)) ?? []; return !killedRuns.isEmpty },
                      "the killed run never made its cgroup")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertTrue(S.eventually { S.hostProcesses(containing: marker).isEmpty }, "the killed run's sandbox outlived it")
        XCTAssertFalse(killedRuns.isEmpty, "precondition: the killed run had a cgroup")
        XCTAssertEqual(try cli(["sandbox", "exec", "--", "true"]).status, 0)
        let left = killedRuns.filter { FileManager.default.fileExists(atPath: $0) }
        XCTAssertTrue(left.isEmpty, "the next sandbox exec did not remove the killed run's cgroups: \(left.sorted())")
    }

    func testSigtermIsPassedOnToTheSandboxAndTheRunCleansUp() throws {
        let before = S.isRoot && Cgroups.detect().limitsAvailable ? try sandboxCgroups() : []
        let marker = "300.\(UInt32.random(in: 100_000...999_999))"
        let p = try startCLI(["sandbox", "exec", "--", "sleep", marker])
        XCTAssertTrue(S.eventually { !S.hostProcesses(running: "sleep", containing: marker).isEmpty }, "the sandboxed sleep never started")
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 128 + SIGTERM, "the command died of the SIGTERM it was passed, as under timeout(1)")
        XCTAssertTrue(S.hostProcesses(containing: marker).isEmpty, "sandbox processes outlived the run")
        if S.isRoot && Cgroups.detect().limitsAvailable {
            XCTAssertEqual(try sandboxCgroups().subtracting(before), [], "the interrupted run left its cgroups")
        }
    }

    func testTheDeadlineHoldsWhileNobodyReadsTheOutput() throws {
        let marker = "300.\(UInt32.random(in: 100_000...999_999))"
        let out = Pipe()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        // 5 s: python must start and write within the deadline, also in a loaded, emulated VM.
        p.arguments = ["sandbox", "exec", "--timeout", "5s", "--grace", "1s", "--", "python3", "-c",
                       "import sys, time; sys.stdout.write('x' * (1 << 20)); sys.stdout.flush(); time.sleep(3600)", marker]
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        XCTAssertTrue(S.eventually { !S.hostProcesses(running: "python3", containing: marker).isEmpty }, "the writer never started")
        // Nobody reads the pipe (64 KiB of it fill at once): the deadline (5 s) and the grace (1 s) still hold.
        XCTAssertTrue(S.eventually(timeout: .seconds(20)) { S.hostProcesses(running: "python3", containing: marker).isEmpty },
                      "the sandbox outlived its deadline while its output was not read")
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 124, "a timeout is 124")
        XCTAssertEqual(data.count, 1 << 20, "the output kept while nobody read arrives afterwards")
    }

    func testReportFileDescribesTheRun() throws {
        let dir = try S.scratchDirectory("report")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try cli(["sandbox", "exec", "--report", dir + "/r.json", "--", "sh", "-c", "exit 4"])
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/r.json"))
        let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        XCTAssertEqual(obj?["class"] as? String, "exited")
        XCTAssertEqual(obj?["exit_code"] as? Int, 4)
        XCTAssertNotNil(obj?["wall_time_s"])
    }

    func testUnknownOptionIsAClearUsageError() throws {
        let r = try cli(["sandbox", "exec", "--frobnicate", "--", "true"])
        XCTAssertEqual(r.status, 125)
        XCTAssertTrue(r.err.contains("unknown option '--frobnicate'"), r.err)
    }

    func testBadSizeIsAClearUsageError() throws {
        let r = try cli(["sandbox", "exec", "--memory", "lots", "--", "true"])
        XCTAssertEqual(r.status, 125)
        XCTAssertTrue(r.err.contains("--memory: 'lots' is not a size"), r.err)
    }

    func testBadUidRangeIsAUsageError() throws {
        for bad in ["", "400000", "400000:10", "abc-def", "+400000-400010", "400010-400000", "1000-2000", "400000-4294967295"] {
            let r = try cli(["sandbox", "exec", "--uid-range", bad, "--", "true"])
            XCTAssertEqual(r.status, 125, "--uid-range '\(bad)' was accepted")
            XCTAssertTrue(r.err.contains("--uid-range: "), "no usage message naming --uid-range for '\(bad)': \(r.err)")
        }
    }

    func testRunTaskRefusesABadUidRange() throws {
        let r = try cli(["run-task", "--uid-range", "1000-2000", "--task", "/nonexistent", "--runtime", "true"])
        XCTAssertEqual(r.status, 2, "run-task accepted --uid-range 1000-2000")
        XCTAssertTrue(r.err.contains("--uid-range: "), r.err)
    }

    /// Host uids the tests below lease: far from the default range a daemon on this host would use.
    static let testUIDs: ClosedRange<UInt32> = 3_000_000...3_000_063

    /// The host uid owning `path`.
    func owner(_ path: String) -> uid_t? {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_uid : nil
    }

    /// A scratch directory any host uid may write to, for `--bind`.
    func writableScratch(_ name: String) throws -> String {
        let dir = try S.scratchDirectory(name)
        chmod(dir, 0o777)
        return dir
    }

    func testSandboxRunsAsTheHostUidFromUidRange() throws {
        try XCTSkipUnless(S.isRoot, "host uids are leased only as root")
        let dir = try writableScratch("uid-range")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try cli(["sandbox", "exec", "--uid-range", "3000100-3000100", "--bind", dir + ":/out", "--", "touch", "/out/f"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(owner(dir + "/f"), 3_000_100, "the sandbox did not run as the only uid of --uid-range")
    }

    func testConcurrentSandboxExecRunsGetDifferentHostUids() throws {
        try XCTSkipUnless(S.isRoot, "host uids are leased only as root")
        let dir = try writableScratch("uids")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Each sandbox leaves a file, then waits (bounded) for the other's: both hold their uid at once.
        func start(_ me: String, _ other: String) throws -> (Process, Pipe) {
            let p = Process(), err = Pipe()
            p.executableURL = URL(fileURLWithPath: Self.binary)
            p.arguments = ["sandbox", "exec", "--uid-range", "\(Self.testUIDs.lowerBound)-\(Self.testUIDs.upperBound)",
                           "--timeout", "30s", "--bind", dir + ":/out", "--", "sh", "-c",
                           "touch /out/\(me); i=0; while [ ! -e /out/\(other) ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; [ -e /out/\(other) ]"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = err
            try p.run()
            return (p, err)
        }
        let runs = [try start("a", "b"), try start("b", "a")]
        let errors = runs.map { String(decoding: $0.1.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
        for (p, _) in runs { p.waitUntilExit() }
        XCTAssertEqual(runs.map { $0.0.terminationStatus }, [0, 0], "the two sandboxes did not run side by side: \(errors)")
        let owners = [owner(dir + "/a"), owner(dir + "/b")]
        XCTAssertNotEqual(owners[0], owners[1], "two concurrent sandbox exec runs shared a host uid: \(owners)")
    }

    func testExhaustedUidRangeIsAClearSetupError() throws {
        try XCTSkipUnless(S.isRoot, "host uids are leased only as root")
        // This process holds the range's only uid, through the lock directory every CLI uses.
        let holder = HostIdentityPool(range: 3_000_200..<3_000_201)
        let id = try holder.acquire()
        defer { holder.release(id) }
        let r = try cli(["sandbox", "exec", "--uid-range", "3000200-3000200", "--", "true"])
        XCTAssertEqual(r.status, 125, "a sandbox ran without a free uid")
        XCTAssertTrue(r.err.contains("no free host uid in 3000200-3000200"), "the error does not name the range: \(r.err)")
        XCTAssertTrue(r.err.contains("--uid-range"), "the error does not say how to widen the range: \(r.err)")
    }

    func testProxySandboxExecRemovesEgressDirectoriesOfKilledRuns() throws {
        let tmp = try S.scratchDirectory("egress-tmp")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let stale = tmp + "/coven-egress-\(gone.processIdentifier)-abc123"
        XCTAssertEqual(mkdir(stale, 0o711), 0)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        // Only a proxy run sweeps (the sweep reads all of $TMPDIR; the other modes make no socket directory).
        p.arguments = ["sandbox", "exec", "--network", "proxy", "--", "true"]
        p.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": tmp]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale), "sandbox exec left a dead run's egress socket directory in $TMPDIR")
    }

    func testRootlessSandboxKeepsCoreProperties() throws {
        try XCTSkipUnless(S.isRoot && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                          "needs root to switch to an unprivileged user with setpriv")
        let r = try cli(["sandbox", "exec", "--", "sh", "-c",
                         "id -u; grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status; ls /proc | grep -cE '^[0-9]+$'"],
                        asUser: (65534, 65534))
        XCTAssertEqual(r.status, 0, "rootless sandbox failed: \(r.err)")
        let lines = r.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "1000", "rootless maps the caller to uid 1000")
        XCTAssertTrue(lines.contains("CapEff:\t0000000000000000"), r.out)
        XCTAssertTrue(lines.contains("CapBnd:\t0000000000000000"), r.out)
        XCTAssertTrue(lines.contains("NoNewPrivs:\t1"), r.out)
        XCTAssertLessThanOrEqual(Int(lines.last ?? "") ?? 99, 5, "rootless sandbox sees foreign processes")
    }

    func testSandboxDiesWithItsSupervisor() throws {
        let marker = "300.\(UInt32.random(in: 100_000...999_999))"
        let p = try startCLI(["sandbox", "exec", "--", "sh", "-c", "trap '' TERM; sleep \(marker)"])
        XCTAssertTrue(S.eventually { !S.hostProcesses(containing: marker).isEmpty }, "the sandboxed probe never started")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertTrue(S.eventually { S.hostProcesses(containing: marker).isEmpty },
                      "sandbox processes outlived their supervisor: \(S.hostProcesses(containing: marker))")
    }
}
