import XCTest
import Foundation
@testable import Supervisor
import Sandbox
import Adapter
@testable import HTTP

/// Cancel, tenant limits and crash recovery of the task loop.
final class SupervisorLifecycleTests: XCTestCase {
    var fx: AttemptLoopFixture!

    override func setUpWithError() throws { fx = try AttemptLoopFixture() }
    override func tearDown() { fx = nil }

    /// Host pids whose command line mentions this fixture's runtime (i.e. run inside its sandboxes).
    func runtimeProcesses() -> [pid_t] {
        let marker = "/opt/fake/runtime.sh"
        var found: [pid_t] = []
        for e in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(e), let data = FileManager.default.contents(atPath: "/proc/\(e)/cmdline") else { continue }
            let cmd = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            if cmd.contains(marker) && cmd.contains("--headless") { found.append(pid) }
        }
        return found
    }

    func eventually(_ timeout: Duration = .seconds(30), _ cond: () -> Bool) -> Bool {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end { if cond() { return true }; usleep(20_000) }
        return cond()
    }

    func testCancellingARunningTaskTearsDownItsSandbox() throws {
        let store = try TaskStore(path: fx.dir + "/state/cancel.db")
        let sup = try fx.supervisor(store: store, mode: "sleep")
        let t = fx.task()
        try sup.submit(t)
        try sup.start()
        defer { sup.shutdown() }
        XCTAssertTrue(eventually { !runtimeProcesses().isEmpty }, "the runtime never started")
        let r = try sup.cancel(taskID: t.id)
        guard case .running = r else { return XCTFail("a running task is cancelled by tearing down its sandbox, got \(r)") }
        let d = try XCTUnwrap(sup.waitForFinalState(taskID: t.id, timeout: .seconds(60)))
        XCTAssertEqual(d.record.state, .cancelled)
        XCTAssertEqual(d.attempts.last?.classification, .cancelled)
        XCTAssertTrue(eventually(.seconds(10)) { runtimeProcesses().isEmpty }, "sandbox processes survived the cancel")
    }

    func testShutdownTeardownIsLoggedAsInterruptedNotCancelled() throws {
        let store = try TaskStore(path: fx.dir + "/state/shutdown-log.db")
        let sup = try fx.supervisor(store: store, mode: "sleep")
        try sup.submit(fx.task())
        try sup.start()
        XCTAssertTrue(eventually { !runtimeProcesses().isEmpty }, "the runtime never started")
        sup.shutdown(deadline: Date())
        let finished = fx.log.text.split(separator: "\n").filter { $0.hasPrefix("attempt_finished ") }
        XCTAssertEqual(finished.count, 1, "one attempt_finished line for the torn-down attempt:\n\(fx.log.text)")
        XCTAssertTrue(finished.first?.contains("class=interrupted") == true,
                      "a shutdown teardown is logged as interrupted: \(finished)")
    }

    func testStartRemovesAttemptDirectoriesOfAKilledSupervisor() throws {
        let sup = try fx.supervisor(store: try TaskStore(path: fx.dir + "/state/sweep-attempts.db"), mode: "ok")
        let stale = fx.dir + "/state/attempts/t-2-def/out"
        try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: stale + "/result.json", contents: Data("{}".utf8))
        try sup.start()
        defer { sup.shutdown() }
        XCTAssertFalse(FileManager.default.fileExists(atPath: fx.dir + "/state/attempts/t-2-def"),
                       "start() left a killed supervisor's attempt directory")
        XCTAssertTrue(FileManager.default.fileExists(atPath: fx.dir + "/state/attempts/.bin"), "the shared askpass copy stays")
    }

    func testStartRemovesEgressSocketDirectoriesOfAKilledSupervisor() throws {
        let sup = try fx.supervisor(store: try TaskStore(path: fx.dir + "/state/sweep.db"), mode: "ok")
        // What a supervisor killed mid-attempt leaves: its attempt directory, with the proxy's socket directory in it.
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let stale = fx.dir + "/state/attempts/t-1-abc/coven-egress-\(gone.processIdentifier)-abc"
        try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: true)
        try sup.start()
        defer { sup.shutdown() }
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale), "start() left a dead supervisor's egress socket directory")
    }

    func testCancellingAQueuedTaskIsImmediate() throws {
        let store = try TaskStore(path: fx.dir + "/state/cancel-queued.db")
        let sup = try fx.supervisor(store: store, mode: "ok")
        let t = fx.task()
        try sup.submit(t)   // not started: stays queued
        XCTAssertEqual(try sup.cancel(taskID: t.id), .cancelled)
        XCTAssertEqual(try store.task(id: t.id)?.record.state, .cancelled)
        XCTAssertEqual(try store.task(id: t.id)?.attempts.count, 0, "a cancelled queued task never runs")
    }

    func testPerInstallationLimitHoldsUnderABurstAndTenantsTakeTurns() throws {
        let store = try TaskStore(path: fx.dir + "/state/fair.db")
        var settings = SupervisorSettings(globalConcurrency: 3, perInstallationConcurrency: 1)
        settings.pollInterval = .milliseconds(20)
        let sup = try fx.supervisor(store: store, mode: "short", settings: settings)
        let burst = (0..<4).map { _ in fx.task(installation: 1) }
        let other = fx.task(installation: 2)
        for t in burst { try sup.submit(t) }
        try sup.submit(other)
        let installation = Dictionary(uniqueKeysWithValues: (burst + [other]).map { ($0.id, $0.installationID!) })
        try sup.start()
        defer { sup.shutdown() }
        var maxTenant1 = 0
        var overlapped = false
        let end = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < end {
            // The store's view, which the claim's limit governs: the in-memory set keeps a
            // finished attempt a moment after its record, while the next one may start.
            let running = try (burst + [other]).filter { try store.task(id: $0.id)?.record.state == .running }
                .compactMap { installation[$0.id] }
            maxTenant1 = max(maxTenant1, running.filter { $0 == 1 }.count)
            if running.contains(1) && running.contains(2) { overlapped = true }
            let finished = try (burst + [other]).allSatisfy { try store.task(id: $0.id)?.record.state == .completed }
            if finished { break }
            usleep(10_000)
        }
        XCTAssertLessThanOrEqual(maxTenant1, 1, "installation 1 ran more attempts at once than its limit")
        XCTAssertTrue(overlapped, "installation 2 waited behind installation 1's burst instead of taking its turn")
        for t in burst + [other] {
            XCTAssertEqual(try store.task(id: t.id)?.record.state, .completed, "task \(t.id) did not complete")
        }
    }

    func testCrashedDaemonsTaskIsRequeuedAndCompletesWithNoSandboxLeft() throws {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let cli = URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("coven-supervisor").path
        let stateDir = fx.dir + "/crash-state"
        let taskFile = fx.dir + "/task.json"
        let tokenFile = fx.dir + "/token"
        try fx.token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let t = fx.task()
        try JSONEncoder().encode(t).write(to: URL(fileURLWithPath: taskFile))

        func runTask(_ mode: String) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: cli)
            p.arguments = ["run-task", "--task", taskFile, "--state-dir", stateDir, "--git-token-file", tokenFile,
                           "--backoff", "100ms", "--ro-bind", fx.runtimeDir + ":/opt/fake"]
                + fx.egressArguments + ["--runtime", "/opt/fake/runtime.sh", mode]
            p.standardOutput = Pipe()
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }

        let first = try runTask("sleep")
        XCTAssertTrue(eventually { !runtimeProcesses().isEmpty }, "the first daemon's attempt never started")
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        XCTAssertTrue(eventually(.seconds(10)) { runtimeProcesses().isEmpty },
                      "sandbox processes outlived the killed daemon: \(runtimeProcesses())")

        let second = try runTask("ok")
        let out = (second.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile()
        second.waitUntilExit()
        XCTAssertEqual(second.terminationStatus, 0, "the resumed task should complete: \(String(decoding: out, as: UTF8.self))")
        let record = try JSONSerialization.jsonObject(with: out) as? [String: Any]
        let attempts = record?["attempts"] as? [[String: Any]] ?? []
        XCTAssertEqual(attempts.first?["state"] as? String, "interrupted", "the killed attempt must be marked interrupted")
        XCTAssertEqual(attempts.count, 2, "one interrupted attempt, then one that completed")
        XCTAssertEqual(record?["state"] as? String, "completed")
    }
}
