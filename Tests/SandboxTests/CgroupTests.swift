import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import Sandbox

// Real-cgroup tests (root only). They spawn only their own children (/bin/sh, /bin/sleep,
// python3), each gated on stdin until it has been attached to the test's cgroup, so nothing
// outside the test's cgroups is ever signalled. Every cgroup is killAll'ed and destroyed in
// tearDown; timing is checked by polling with bounded deadlines, never by sleeping.
final class CgroupTests: XCTestCase {
    private var cgroups: [SandboxCgroup] = []
    private var children: [GatedChild] = []
    private var scratch: String = ""

    override func setUpWithError() throws {
        scratch = NSTemporaryDirectory() + "coven-cgroup-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() {
        for cg in cgroups {
            cg.killAll()
            cg.destroy()
        }
        for child in children { child.cleanUp() }
        cgroups.removeAll()
        children.removeAll()
        try? FileManager.default.removeItem(atPath: scratch)
    }

    // MARK: helpers

    private func requireRoot() throws {
        try XCTSkipUnless(getuid() == 0, "cgroup tests need root")
    }

    /// Skips unless `Cgroups.create` can work here.
    private func requireCgroups() throws {
        try requireRoot()
        try XCTSkipIf(Cgroups.detect().version == .none, "no usable cgroups on this host")
    }

    private func uniqueName() -> String {
        "sbx-test-\(getpid())-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Cgroups.create with cleanup registered.
    private func makeCgroup(_ limits: ResourceLimits = ResourceLimits()) throws -> SandboxCgroup {
        let cg = try Cgroups.create(name: uniqueName(), limits: limits)
        cgroups.append(cg)
        return cg
    }

    /// Starts `/bin/sh -c script` blocked on stdin, attaches it to `cg`, then lets it go.
    private func runInCgroup(_ cg: SandboxCgroup, _ script: String) throws -> GatedChild {
        let child = try GatedChild(script: script)
        children.append(child)
        try cg.attach(pid: child.pid)
        child.release()
        return child
    }

    /// The directory of `cg` for a v1 controller, or its single v2 directory.
    private func dir(_ cg: SandboxCgroup, _ v1Controller: String) throws -> String {
        if cg.version == .v2 { return cg.directories[0] }
        let v1 = try XCTUnwrap(cg.backend as? CgroupV1, "a v1 cgroup was expected, got \(cg.version)")
        return try XCTUnwrap(v1.dirs[v1Controller], "no \(v1Controller) directory in \(cg.directories)")
    }

    private func read(_ path: String) -> String {
        ((try? CgroupFS.read(path)) ?? "<unreadable>").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func poll(_ timeout: Double, _ condition: () -> Bool) -> Bool {
        CgroupFS.poll(timeout: timeout, condition)
    }

    private static func mountType(_ mountPoint: String) -> String? {
        let mounts = CgroupHost.parseMountInfo((try? CgroupFS.read("/proc/self/mountinfo")) ?? "")
        return mounts.last { $0.mountPoint == mountPoint }?.fsType
    }

    /// True while /proc/<pid> exists and is not a zombie.
    private static func alive(_ pid: pid_t) -> Bool {
        guard let stat = try? CgroupFS.read("/proc/\(pid)/stat"),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)...].prefix(1)
        return state != "Z" && state != "X"
    }

    // MARK: detection

    func testDetectMatchesMountedHierarchy() throws {
        let expected: CgroupVersion
        if Self.mountType("/sys/fs/cgroup") == "cgroup2" {
            expected = .v2
        } else if Self.mountType("/sys/fs/cgroup/memory") == "cgroup" && Self.mountType("/sys/fs/cgroup/pids") == "cgroup" {
            expected = .v1
        } else {
            throw XCTSkip("neither a v2 nor a v1 memory+pids layout at /sys/fs/cgroup")
        }
        let support = Cgroups.detect()
        XCTAssertEqual(support.version, expected, "detect() disagrees with the mounts; notes: \(support.notes)")
    }

    func testDetectReportsMemoryAndPidsUsable() throws {
        try requireCgroups()
        let s = Cgroups.detect()
        XCTAssertTrue(s.memory && s.pids, "detect() says \(s.version) but memory=\(s.memory) pids=\(s.pids); notes: \(s.notes)")
    }

    func testDetectExplainsItself() throws {
        XCTAssertFalse(Cgroups.detect().notes.isEmpty, "detect() gave doctor no notes")
    }

    // MARK: create and limits

    func testCreateAppliesMemoryLimit() throws {
        try requireCgroups()
        let cg = try makeCgroup(ResourceLimits(memoryBytes: 64 << 20))
        let file = try dir(cg, "memory") + (cg.version == .v2 ? "/memory.max" : "/memory.limit_in_bytes")
        XCTAssertEqual(read(file), "\(64 << 20)", "memory limit not applied in \(file)")
    }

    func testCreateLimitsSwapToo() throws {
        try requireCgroups()
        try XCTSkipUnless(Cgroups.detect().swapLimit, "no swap accounting on this host")
        let cg = try makeCgroup(ResourceLimits(memoryBytes: 64 << 20))
        let (file, expected) = cg.version == .v2
            ? (try dir(cg, "memory") + "/memory.swap.max", "0")
            : (try dir(cg, "memory") + "/memory.memsw.limit_in_bytes", "\(64 << 20)")
        XCTAssertEqual(read(file), expected, "swap limit not applied in \(file)")
    }

    func testCreateAppliesPidsLimit() throws {
        try requireCgroups()
        let cg = try makeCgroup(ResourceLimits(pids: 10))
        let file = try dir(cg, "pids") + "/pids.max"
        XCTAssertEqual(read(file), "10", "pids limit not applied in \(file)")
    }

    func testCreateAppliesCpuLimit() throws {
        try requireCgroups()
        try XCTSkipUnless(Cgroups.detect().cpu, "no cpu controller here")
        let cg = try makeCgroup(ResourceLimits(cpus: 1.5))
        let d = try dir(cg, "cpu")
        let got = cg.version == .v2 ? read(d + "/cpu.max")
                                    : read(d + "/cpu.cfs_quota_us") + " " + read(d + "/cpu.cfs_period_us")
        XCTAssertEqual(got, "150000 100000", "cpu quota/period not applied in \(d)")
    }

    func testCreatePutsCgroupUnderOwnCgroupInCovenParent() throws {
        try requireCgroups()
        let cg = try makeCgroup(ResourceLimits(memoryBytes: 64 << 20, pids: 16, cpus: 1))  // every controller in use
        let own = CgroupHost.probe()
        let parents = cg.version == .v2 ? [own.v2Parent!]
                                        : Array(Set(own.v1Dirs.values)).map { $0 + "/coven" }
        let expected = Set(parents.map { $0 + "/" + cg.name })
        XCTAssertEqual(Set(cg.directories), expected, "sandbox cgroups are not in their parent (v1: <own cgroup>/coven/<name>)")
    }

    func testNoCpuCgroupWithoutACpuLimit() throws {
        try requireCgroups()
        let cg = try makeCgroup(ResourceLimits(memoryBytes: 64 << 20))
        guard cg.version == .v1, let cpu = CgroupHost.probe().v1Dirs["cpu"], CgroupHost.probe().v1Dirs["cpuacct"] != cpu else {
            throw XCTSkip("needs a v1 cpu hierarchy mounted apart from cpuacct")
        }
        XCTAssertFalse(cg.directories.contains(cpu + "/coven/" + cg.name), "a cpu cgroup was made with no cpu limit to carry")
    }

    func testProcsFilesExistForEveryHierarchy() throws {
        try requireCgroups()
        let cg = try makeCgroup()
        let missing = cg.procsFiles.filter { !FileManager.default.fileExists(atPath: $0) }
        XCTAssertTrue(!cg.procsFiles.isEmpty && missing.isEmpty, "procsFiles \(cg.procsFiles), missing: \(missing)")
    }

    func testCreateReplacesLeftoverEmptyCgroup() throws {
        try requireCgroups()
        let name = uniqueName()
        let first = try Cgroups.create(name: name, limits: ResourceLimits())
        cgroups.append(first)
        let second = try Cgroups.create(name: name, limits: ResourceLimits(pids: 5))
        cgroups.append(second)
        XCTAssertEqual(read(try dir(second, "pids") + "/pids.max"), "5", "a leftover empty cgroup was not replaced")
    }

    func testCreateRefusesCgroupThatStillHasProcesses() throws {
        try requireCgroups()
        let name = uniqueName()
        let first = try Cgroups.create(name: name, limits: ResourceLimits())
        cgroups.append(first)
        _ = try runInCgroup(first, "exec /bin/sleep 30")
        XCTAssertThrowsError(try Cgroups.create(name: name, limits: ResourceLimits()),
                             "create() reused a cgroup that still has a process in it")
    }

    func testInvalidNameIsRejected() {
        for bad in ["", "..", "a/b", "cgroup.procs", ".hidden", "x y"] {
            XCTAssertThrowsError(try Cgroups.create(name: bad, limits: ResourceLimits()), "name \"\(bad)\" accepted")
        }
    }

    func testInvalidLimitsAreRejected() {
        for bad in [ResourceLimits(memoryBytes: 0), ResourceLimits(pids: 0), ResourceLimits(cpus: 0),
                    ResourceLimits(cpus: .infinity)] {
            XCTAssertThrowsError(try Cgroups.create(name: uniqueName(), limits: bad), "limits \(bad) accepted")
        }
    }

    func testCpuQuotaIsCoresTimesPeriod() {
        XCTAssertEqual(ResourceLimits(cpus: 1.5).cpuQuotaMicros, 150_000, "1.5 cpus must be 150000 µs per 100000 µs")
    }

    // MARK: membership and accounting

    func testAttachedProcessIsListed() throws {
        try requireCgroups()
        let cg = try makeCgroup()
        let child = try runInCgroup(cg, "exec /bin/sleep 30")
        XCTAssertTrue(cg.pids().contains(child.pid), "pids() \(cg.pids()) lacks attached pid \(child.pid)")
    }

    func testPidsLimitMakesForksFail() throws {
        try requireCgroups()
        let cg = try makeCgroup(ResourceLimits(pids: 10))
        // dash gives up ("Cannot fork") at the first failed fork; the sleeps that did start stay.
        let child = try runInCgroup(cg, #"i=0; while [ $i -lt 50 ]; do /bin/sleep 30 & i=$((i+1)); done; wait"#)
        XCTAssertTrue(child.waitForExit(timeout: 20), "the forking shell never stopped")
        let started = cg.pids().count
        XCTAssertTrue(started > 0 && started <= 9,
                      "with pids.max=10 (the shell is one) between 1 and 9 sleeps should start; \(started) of 50 did (shell: \(child.statusDescription))")
    }

    func testMemoryHogIsOOMKilledAndCounted() throws {
        try requireCgroups()
        let python = "/usr/bin/python3"
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: python), "\(python) missing")
        let cg = try makeCgroup(ResourceLimits(memoryBytes: 64 << 20))
        let child = try runInCgroup(cg, "exec \(python) -c 'x = bytearray(400 * 1024 * 1024); print(len(x))'")
        XCTAssertTrue(child.waitForExit(timeout: 60), "a 400 MiB hog in a 64 MiB cgroup is still running")
        XCTAssertTrue(Self.poll(5) { cg.oomKillCount() >= 1 },
                      "oomKillCount() is \(cg.oomKillCount()) after the hog ended (status \(child.statusDescription))")
    }

    func testPeakMemoryIsReported() throws {
        try requireCgroups()
        let cg = try makeCgroup(ResourceLimits(memoryBytes: 256 << 20))
        let child = try runInCgroup(cg, "/usr/bin/head -c 16777216 /dev/zero | /usr/bin/tail >/dev/null")
        XCTAssertTrue(child.waitForExit(timeout: 30), "the allocation step never finished")
        let peak = cg.peakMemoryBytes()
        if cg.version == .v2 && peak == nil { throw XCTSkip("kernel has no memory.peak") }
        XCTAssertGreaterThan(peak ?? 0, 0, "peakMemoryBytes() is \(String(describing: peak)) after using memory")
    }

    func testCpuTimeIsReported() throws {
        try requireCgroups()
        try XCTSkipUnless(Cgroups.detect().cpuAccounting, "no cpu accounting here")
        let cg = try makeCgroup()
        // Busy for 0.05 s of CPU, however fast the machine (the VM suite emulates its CPU).
        let child = try runInCgroup(cg, #"exec python3 -c 'import time; t = time.process_time(); all(iter(lambda: time.process_time() - t < 0.05, False))'"#)
        XCTAssertTrue(child.waitForExit(timeout: 60), "the busy loop never finished")
        XCTAssertGreaterThan(cg.cpuTimeSeconds() ?? 0, 0, "cpuTimeSeconds() is \(String(describing: cg.cpuTimeSeconds())) after a busy loop")
    }

    // MARK: killAll and destroy

    func testKillAllLeavesFreezerThawed() throws {
        try requireCgroups()
        let cg = try makeCgroup()
        guard let v1 = cg.backend as? CgroupV1 else { throw XCTSkip("v1 only (v2 kills with cgroup.kill)") }
        let freezer = try XCTUnwrap(v1.dirs["freezer"], "no freezer hierarchy here")
        _ = try runInCgroup(cg, "exec /bin/sleep 30")
        cg.killAll()
        XCTAssertEqual(read(freezer + "/freezer.state"), "THAWED", "killAll left the cgroup frozen")
    }

    func testKillAllWithoutFreezerStillEmptiesCgroup() throws {
        try requireCgroups()
        let host = CgroupHost.probe()
        try XCTSkipUnless(host.support.version == .v1, "v1 only")
        let name = uniqueName()
        // The same cgroup minus the freezer hierarchy: killAll must fall back to the SIGKILL loop.
        let cg = SandboxCgroup(name: name, backend: try CgroupV1.create(
            hierarchies: host.v1Dirs.filter { $0.key != "freezer" }, name: name, limits: ResourceLimits()))
        cgroups.append(cg)
        _ = try runInCgroup(cg, #"trap '' TERM; ( /usr/bin/setsid /bin/sleep 300 & ); while :; do /bin/sleep 1; done"#)
        XCTAssertTrue(Self.poll(10) { cg.pids().count >= 3 }, "precondition: shell, setsid'd sleep and loop sleep in \(cg.pids())")
        cg.killAll()
        XCTAssertEqual(cg.pids(), [], "the no-freezer killAll loop left processes")
    }

    func testKillAllKillsTermIgnoringProcessAndItsSetsidGrandchild() throws {
        try requireCgroups()
        let cg = try makeCgroup()
        let marker = scratch + "/grandchild"
        let script = """
        trap '' TERM
        ( /usr/bin/setsid /bin/sh -c 'trap "" TERM; echo $$ > \(marker).tmp; mv \(marker).tmp \(marker); while :; do /bin/sleep 1; done' & )
        while :; do /bin/sleep 1; done
        """
        let child = try runInCgroup(cg, script)
        var grandchild: pid_t = 0
        XCTAssertTrue(Self.poll(10) {
            grandchild = pid_t((try? CgroupFS.read(marker))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
            return grandchild > 0
        }, "the double-forked grandchild never reported its pid")
        XCTAssertTrue(cg.pids().contains(grandchild) && cg.pids().contains(child.pid),
                      "precondition: child \(child.pid) and grandchild \(grandchild) should be in \(cg.pids())")

        cg.killAll()

        let left = cg.pids()
        XCTAssertTrue(left.isEmpty && !Self.alive(grandchild),
                      "after killAll: pids() = \(left), grandchild \(grandchild) alive: \(Self.alive(grandchild))")
    }

    func testKillAllOnEmptyCgroupReturns() throws {
        try requireCgroups()
        let cg = try makeCgroup()
        cg.killAll()
        XCTAssertEqual(cg.pids(), [], "an empty cgroup is not empty after killAll")
    }

    func testDestroyRemovesDirectories() throws {
        try requireCgroups()
        let cg = try makeCgroup()
        _ = try runInCgroup(cg, "exec /bin/sleep 30")
        cg.killAll()
        cg.destroy()
        let left = cg.directories.filter { FileManager.default.fileExists(atPath: $0) }
        XCTAssertEqual(left, [], "destroy() left cgroup directories behind")
    }

    func testDestroyTwiceIsHarmless() throws {
        try requireCgroups()
        let cg = try makeCgroup()
        cg.destroy()
        cg.destroy()
        let left = cg.directories.filter { FileManager.default.fileExists(atPath: $0) }
        XCTAssertEqual(left, [], "a second destroy() changed something or the first did not remove everything")
    }

    func testDestroyRemovesSubCgroupsTheSandboxMade() throws {
        try requireCgroups()
        let cg = try makeCgroup()
        for d in cg.directories { XCTAssertEqual(mkdir(d + "/inner", 0o755), 0, "mkdir \(d)/inner") }
        cg.destroy()
        let left = cg.directories.filter { FileManager.default.fileExists(atPath: $0) }
        XCTAssertEqual(left, [], "destroy() could not remove a cgroup with a sub-cgroup in it")
    }

    // MARK: errors

    func testAttachErrorNamesFileAndErrno() throws {
        try requireCgroups()
        let cg = try makeCgroup()
        XCTAssertThrowsError(try cg.attach(pid: 2_147_483_646)) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains(cg.procsFiles[0]) && text.contains("ESRCH"),
                          "attach error does not name the file and errno: \(text)")
        }
    }

    func testWriteErrorNamesFileAndValue() {
        let path = scratch + "/no-such-dir/memory.max"
        XCTAssertThrowsError(try CgroupFS.write("123", to: path)) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains(path) && text.contains("123") && text.contains("ENOENT"),
                          "write error does not name value, file and errno: \(text)")
        }
    }

    // MARK: the v2 code path, on the hybrid /sys/fs/cgroup/unified

    private static let unified = "/sys/fs/cgroup/unified"

    /// The hybrid unified hierarchy as a v2 host: placed by CgroupV2Placement like a real one
    /// (this process sits in its root, so sandboxes go in its top-level coven).
    static func hybridV2Host() throws -> CgroupHost {
        try XCTSkipUnless(mountType(unified) == "cgroup2", "\(unified) is not a cgroup2 mount")
        let own = CgroupHost.unifiedPath(CgroupHost.parseProcCgroup(CgroupFS.readIfPresent("/proc/self/cgroup") ?? "")) ?? "/"
        let host = CgroupHost.v2(mount: unified, ownPath: own, notes: [])
        _ = try XCTUnwrap(host.v2Parent, "no v2 placement on \(unified): \(host.support.notes)")
        return host
    }

    private func makeV2(_ limits: ResourceLimits = ResourceLimits()) throws -> SandboxCgroup {
        try requireRoot()
        let host = try Self.hybridV2Host()
        let name = uniqueName()
        let cg = SandboxCgroup(name: name, backend: try CgroupV2.create(parent: host.v2Parent!, name: name, limits: limits,
                                                                        features: host.v2Features))
        cgroups.append(cg)
        return cg
    }

    func testV2CreateMakesCgroupInItsPlacementsParent() throws {
        let cg = try makeV2()
        let path = cg.directories.first ?? ""
        XCTAssertTrue(cg.version == .v2 && path.hasPrefix(Self.unified + "/") && path.hasSuffix("/coven/" + cg.name)
                      && FileManager.default.fileExists(atPath: path + "/cgroup.procs"),
                      "v2 cgroup is \(cg.version) at \(path)")
    }

    func testV2AttachedProcessIsListed() throws {
        let cg = try makeV2()
        let child = try runInCgroup(cg, "exec /bin/sleep 30")
        XCTAssertEqual(cg.pids(), [child.pid], "v2 pids() does not list exactly the attached process")
    }

    func testV2KillAllEmptiesCgroup() throws {
        let cg = try makeV2()
        _ = try runInCgroup(cg, #"trap '' TERM; ( /usr/bin/setsid /bin/sleep 300 & ); while :; do /bin/sleep 1; done"#)
        XCTAssertTrue(Self.poll(10) { cg.pids().count >= 3 }, "precondition: shell, setsid'd sleep and loop sleep in \(cg.pids())")
        cg.killAll()
        XCTAssertEqual(cg.pids(), [], "v2 killAll (cgroup.kill) left processes")
    }

    func testV2DestroyRemovesDirectory() throws {
        let cg = try makeV2()
        _ = try runInCgroup(cg, "exec /bin/sleep 30")
        cg.killAll()
        cg.destroy()
        cg.destroy()
        XCTAssertFalse(FileManager.default.fileExists(atPath: cg.directories[0]), "v2 destroy() left \(cg.directories[0])")
    }

    /// Documented behaviour: a limit whose controller the parent does not pass on (no controllers
    /// are delegated to the hybrid unified hierarchy) is an error naming the file; nothing is made.
    func testV2LimitWithoutControllerIsErrorNamingFile() throws {
        try requireRoot()
        let host = try Self.hybridV2Host()
        try XCTSkipIf(host.support.memory, "memory is delegated to \(Self.unified) here")
        let name = uniqueName()
        let parent = host.v2Parent!
        XCTAssertThrowsError(try CgroupV2.create(parent: parent, name: name, limits: ResourceLimits(memoryBytes: 64 << 20),
                                                 features: host.v2Features)) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("memory.max") && text.contains("cgroup.subtree_control")
                          && !FileManager.default.fileExists(atPath: parent + "/" + name),
                          "error should name memory.max and cgroup.subtree_control and leave nothing behind: \(text)")
        }
    }

    func testStatfsSeesCgroup2Magic() throws {
        let mount = ["/sys/fs/cgroup", Self.unified].first { Self.mountType($0) == "cgroup2" }
        let path = try XCTUnwrap(mount, "no cgroup2 mount to look at")
        XCTAssertEqual(CgroupFS.filesystemType(path), CgroupFS.cgroup2SuperMagic, "statfs(\(path)).f_type is not CGROUP2_SUPER_MAGIC")
    }

    // MARK: parsing (no root needed)

    // MARK: stale cgroups of dead supervisors

    /// A pid that belonged to a process which has exited (and been reaped) just now.
    private func deadPID() throws -> pid_t {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    private func sandboxCgroup(creator: pid_t) throws -> SandboxCgroup {
        let cg = try Cgroups.create(name: "sbx-300000-\(creator)-\(UInt32.random(in: 0...UInt32.max))", limits: ResourceLimits())
        cgroups.append(cg)
        return cg
    }

    func testSandboxCgroupNamesCarryTheCreatorPID() {
        let name = Cgroups.sandboxCgroupName(hostUID: 300_123)
        XCTAssertEqual(Cgroups.creatorPID(ofSandboxCgroup: name), getpid(), name)
        XCTAssertNil(Cgroups.creatorPID(ofSandboxCgroup: "sbx-test-\(getpid())-ab12cd34"), "a test cgroup is not a sandbox's")
        XCTAssertNil(Cgroups.creatorPID(ofSandboxCgroup: "sbx-300000-12345"), "the old two-field name has no creator")
    }

    func testStaleEmptyCgroupOfADeadCreatorIsRemoved() throws {
        try requireCgroups()
        let stale = try sandboxCgroup(creator: try deadPID())
        let removed = Cgroups.removeStale()
        for dir in stale.directories {
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir), "stale cgroup \(dir) was left (removed: \(removed))")
        }
    }

    func testCgroupOfALiveCreatorIsKept() throws {
        try requireCgroups()
        let live = try sandboxCgroup(creator: getpid())
        Cgroups.removeStale()
        for dir in live.directories {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir), "a live supervisor's cgroup \(dir) was removed")
        }
    }

    func testStaleCgroupStillHoldingAProcessIsKept() throws {
        try requireCgroups()
        let busy = try sandboxCgroup(creator: try deadPID())
        let child = try runInCgroup(busy, "sleep 30")
        Cgroups.removeStale()
        for dir in busy.directories {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir), "a cgroup with a process in it was removed: \(dir)")
        }
        XCTAssertTrue(busy.pids().contains(child.pid), "the process left its cgroup")
        busy.killAll()
    }

    func testCgroupNumbersParseWithSurroundingWhitespace() {
        XCTAssertEqual(CgroupFS.parseUInt("524288\n"), 524288)
        XCTAssertEqual(CgroupFS.parseUInt("  7 \n"), 7)
        XCTAssertEqual(CgroupFS.parseUInt("18446744073709551615"), UInt64.max)
    }

    func testCgroupNumbersRejectWhatIsNotOneNumber() {
        XCTAssertNil(CgroupFS.parseUInt("max\n"), "\"max\" counts as absent")
        XCTAssertNil(CgroupFS.parseUInt(""), "empty file")
        XCTAssertNil(CgroupFS.parseUInt("1 2"), "two numbers")
        XCTAssertNil(CgroupFS.parseUInt("-1"), "negative")
        XCTAssertNil(CgroupFS.parseUInt("18446744073709551616"), "overflow")
    }

    func testMountInfoParsing() {
        let text = """
        36 25 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
        37 25 0:32 /outer /sys/fs/cgroup/cpu\\040x rw,relatime - cgroup cgroup rw,cpu,cpuacct
        38 25 0:33 / /sys/fs/cgroup rw,relatime shared:9 master:2 - cgroup2 cgroup2 rw,nsdelegate
        """
        XCTAssertEqual(CgroupHost.parseMountInfo(text), [
            MountInfoEntry(root: "/", mountPoint: "/sys/fs/cgroup/memory", fsType: "cgroup", superOptions: ["rw", "memory"]),
            MountInfoEntry(root: "/outer", mountPoint: "/sys/fs/cgroup/cpu x", fsType: "cgroup", superOptions: ["rw", "cpu", "cpuacct"]),
            MountInfoEntry(root: "/", mountPoint: "/sys/fs/cgroup", fsType: "cgroup2", superOptions: ["rw", "nsdelegate"]),
        ], "mountinfo lines parsed wrongly")
    }

    func testV1HierarchiesResolveToOwnCgroup() {
        let mounts = CgroupHost.parseMountInfo("""
        1 0 0:1 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
        2 0 0:2 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
        3 0 0:3 /ctr /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
        4 0 0:4 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
        """)
        let cgroups = CgroupHost.parseProcCgroup("""
        4:memory:/process_api/abc
        3:cpu,cpuacct:/
        2:pids:/ctr/job
        1:name=systemd:/
        0::/
        """)
        XCTAssertEqual(CgroupHost.resolveV1(mounts: mounts, cgroups: cgroups), [
            "memory": "/sys/fs/cgroup/memory/process_api/abc",
            "cpu": "/sys/fs/cgroup/cpu,cpuacct",
            "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
            "pids": "/sys/fs/cgroup/pids/job",
        ], "v1 controllers resolved to the wrong directories")
    }

}

/// A `/bin/sh -c script` child that waits on stdin before running `script`, so the test can
/// put it into a cgroup first. Spawned with posix_spawn and reaped with waitpid by the test
/// itself (Foundation's Process ties "is running" to a descriptor that background grandchildren
/// inherit, so it cannot tell when the shell itself has exited).
private final class GatedChild {
    let pid: pid_t
    private var gate: Int32          // write end of the child's stdin; -1 once closed
    private var status: Int32?       // raw wait status once reaped

    init(script: String) throws {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw CgroupError("test: pipe failed, errno \(errno)") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }  // only fd 0 (a dup2) reaches the child
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let args = ["/bin/sh", "-c", "read _gate || exit 97\n" + script]
        let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, "/bin/sh", &actions, nil, argv, environ)
        close(fds[0])
        guard rc == 0 else {
            close(fds[1])
            throw CgroupError("test: posix_spawn /bin/sh failed, errno \(rc)")
        }
        pid = child
        gate = fds[1]
    }

    /// Lets the script run.
    func release() {
        guard gate >= 0 else { return }
        _ = "go\n".withCString { write(gate, $0, 3) }
        close(gate)
        gate = -1
    }

    /// Reaps the shell if it has exited; true once it has.
    private func reap() -> Bool {
        if status != nil { return true }
        var raw: Int32 = 0
        let r = waitpid(pid, &raw, WNOHANG)
        if r == pid || (r < 0 && errno == ECHILD) {
            status = raw
            return true
        }
        return false
    }

    func waitForExit(timeout: Double) -> Bool {
        CgroupFS.poll(timeout: timeout) { reap() }
    }

    var statusDescription: String {
        guard reap(), let raw = status else { return "running" }
        return raw & 0x7f == 0 ? "exit \((raw >> 8) & 0xff)" : "signal \(raw & 0x7f)"
    }

    /// Our own child only: close the gate without releasing it (an unreleased child, e.g. one
    /// whose attach failed, then exits 97 without running its script outside the cgroup),
    /// SIGKILL it if it is still there, and reap it.
    func cleanUp() {
        if gate >= 0 {
            close(gate)
            gate = -1
        }
        if !reap() { kill(pid, SIGKILL) }
        _ = waitForExit(timeout: 5)
    }
}

extension CgroupTests {
    // MARK: a sandbox born inside its v2 cgroup

    func testSandboxIsClonedStraightIntoItsV2Cgroup() throws {
        try XCTSkipUnless(Self.mountType(Self.unified) == "cgroup2", "\(Self.unified) is not a cgroup2 mount")
        var made: SandboxCgroup?
        var spec = SandboxSpec(command: ["/bin/sleep", "30"])
        spec.limits = ResourceLimits()          // the hybrid hierarchy has no controllers
        spec.grace = .milliseconds(200)
        let host = try Self.hybridV2Host()
        let source = Sandbox.CgroupSource(support: host.support) { name, limits in
            let cg = SandboxCgroup(name: name, backend: try CgroupV2.create(parent: host.v2Parent!, name: name, limits: limits,
                                                                            features: host.v2Features))
            made = cg
            return cg
        }
        let h = try Sandbox.launch(spec, identities: .shared, cgroups: source)
        defer { h.cancel(); _ = h.wait() }
        XCTAssertTrue(h.bornInCgroup, "clone3(CLONE_INTO_CGROUP) was not used for a v2 cgroup")
        XCTAssertTrue(made?.pids().contains(h.hostPID) ?? false, "the sandbox's init is not in its v2 cgroup")
    }
}
