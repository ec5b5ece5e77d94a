import XCTest
import Foundation
import Sandbox
import Synchronization
@testable import Supervisor
import StoreTesting

final class TaskStoreTests: XCTestCase {
    private var dir = ""
    private let clock = TestClock()

    override func setUpWithError() throws {
        dir = try Fixtures.tempDir(self)
    }

    private func openStore() throws -> TaskStore {
        try StoreFixture.store(in: dir, clock: clock.function)
    }

    private func task(_ id: String, installation: Int64? = 1) -> TaskSpec { Fixtures.fixIssue(id, installation: installation) }

    private func finish(_ store: TaskStore, _ id: String, _ attempt: Int, _ cls: AttemptClass = .completed) throws {
        try store.finishAttempt(taskID: id, attempt: attempt, report: ExitReport(exitClass: .exited(code: 0)),
                                classification: cls, note: nil, stdout: .empty, stderr: .empty)
    }

    private func state(_ store: TaskStore, _ id: String) throws -> TaskState? { try store.task(id: id)?.record.state }

    // MARK: durability and files

    func testInsertSurvivesReopen() throws {
        var store: TaskStore? = try openStore()
        try store!.insert(Fixtures.reviewComment("t1"))
        store = nil
        let reopened = try openStore()
        XCTAssertEqual(try reopened.task(id: "t1")?.record.spec, Fixtures.reviewComment("t1"), "the task must be read back unchanged")
        XCTAssertEqual(try state(reopened, "t1"), .queued)
    }

    func testSecondStoreOnSameFileSeesCommittedData() throws {
        let a = try openStore()
        let b = try openStore()
        try a.insert(task("t1"))
        XCTAssertEqual(try b.task(id: "t1")?.record.state, .queued, "a second connection must see the committed insert")
    }

    func testDatabaseFileIsPrivate() throws {
        try XCTSkipUnless(StoreFixture.isSQLite, "SQLite only: its file, its query plan, its migrations")
        let store = try openStore()
        try store.insert(task("t1"))
        for suffix in ["", "-wal"] {
            var st = stat()
            XCTAssertEqual(stat(store.path! + suffix, &st), 0, "\(suffix) missing")
            XCTAssertEqual(st.st_mode & 0o777, 0o600, "coven.db\(suffix) must be 0600")
        }
        XCTAssertEqual((store.path! as NSString).lastPathComponent, "coven.db")
    }

    func testSchemaVersionIsRecorded() throws {
        XCTAssertEqual(try openStore().storedSchemaVersion(), TaskStore.schemaVersion)
    }

    func testNewerSchemaIsRefused() throws {
        try XCTSkipUnless(StoreFixture.isSQLite, "SQLite only: its file, its query plan, its migrations")
        _ = try openStore()
        let raw = try SQLiteDatabase(path: dir + "/coven.db")
        try raw.exec("PRAGMA user_version = 99")
        XCTAssertThrowsError(try openStore()) { error in
            XCTAssertEqual(error as? StoreError, .schemaTooNew(found: 99, supported: TaskStore.schemaVersion))
        }
    }

    func testDuplicateTaskIDIsRefused() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        XCTAssertThrowsError(try store.insert(task("t1"))) { XCTAssertEqual($0 as? StoreError, .duplicateTask("t1")) }
    }

    func testIsHealthy() throws {
        XCTAssertTrue(try openStore().isHealthy())
    }

    // MARK: deliveries

    private let hash = String(repeating: "ab", count: 32)

    func testDeliveryCreatesItsTask() throws {
        let store = try openStore()
        let r = try store.recordDelivery(deliveryID: "d1", event: "issues", payloadSHA256: hash,
                                         outcome: .queued(taskID: "t1"), task: task("t1"))
        XCTAssertEqual(r, .inserted)
        XCTAssertEqual(try state(store, "t1"), .queued)
        XCTAssertEqual(try store.delivery(id: "d1")?.outcome, .queued(taskID: "t1"))
        XCTAssertEqual(try store.delivery(id: "d1")?.payloadSHA256, hash)
    }

    func testDuplicateDeliveryCreatesNothing() throws {
        let store = try openStore()
        try store.recordDelivery(deliveryID: "d1", event: "issues", payloadSHA256: hash, outcome: .queued(taskID: "t1"), task: task("t1"))
        let again = try store.recordDelivery(deliveryID: "d1", event: "issues", payloadSHA256: hash,
                                             outcome: .queued(taskID: "t2"), task: task("t2"))
        XCTAssertEqual(again, .duplicate)
        XCTAssertNil(try store.task(id: "t2"), "a redelivery must not create a task")
        XCTAssertEqual(try store.counts()[.queued], 1)
    }

    func testIgnoredDeliveryIsRecordedWithoutTask() throws {
        let store = try openStore()
        try store.recordDelivery(deliveryID: "d2", event: "ping", payloadSHA256: hash, outcome: .ignored(reason: "ping"), task: nil)
        XCTAssertEqual(try store.delivery(id: "d2")?.outcome, .ignored(reason: "ping"))
        XCTAssertEqual(try store.list().count, 0)
    }

    func testDeliveryRollsBackWhenTaskInsertFails() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        // The same id for another issue (the same issue would be coalesced into t1).
        var clash = task("t1")
        clash.kind = .fixIssue(issueNumber: 43, title: "Another", body: "")
        XCTAssertThrowsError(try store.recordDelivery(deliveryID: "d3", event: "issues", payloadSHA256: hash,
                                                      outcome: .queued(taskID: "t1"), task: clash))
        XCTAssertNil(try store.delivery(id: "d3"), "delivery and task are one transaction")
    }

    func testDeliveryRejectsNonHashPayload() throws {
        XCTAssertThrowsError(try openStore().recordDelivery(deliveryID: "d4", event: "issues", payloadSHA256: "{\"body\":1}",
                                                            outcome: .ignored(reason: "x"), task: nil))
    }

    // MARK: claiming

    func testClaimMarksRunningAndInsertsAttempt() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        let claim = try store.claimNext(globalLimit: 4, perInstallationLimit: 2)
        XCTAssertEqual(claim?.spec.id, "t1")
        XCTAssertEqual(claim?.attempt, 1)
        let detail = try store.task(id: "t1")
        XCTAssertEqual(detail?.record.state, .running)
        XCTAssertEqual(detail?.attempts.map(\.state), [.running])
        XCTAssertEqual(detail?.attempts.first?.startedAt, clock.now)
    }

    func testEmptyQueueClaimsNothing() throws {
        XCTAssertNil(try openStore().claimNext(globalLimit: 4, perInstallationLimit: 2))
    }

    func testTwoThreadsClaimingOneTaskOnlyOneWins() throws {
        // Two connections (as two processes would have), ten rounds of one task each.
        let a = try openStore(), b = try openStore()
        for round in 0..<10 {
            try a.insert(task("t\(round)"))
            let winners = Mutex(0)
            let failures = Mutex([String]())
            DispatchQueue.concurrentPerform(iterations: 2) { i in
                do {
                    if try (i == 0 ? a : b).claimNext(globalLimit: 100, perInstallationLimit: 100) != nil {
                        winners.withLock { $0 += 1 }
                    }
                } catch { failures.withLock { $0.append(String(describing: error)) } }
            }
            XCTAssertEqual(failures.withLock { $0 }, [], "claiming must not fail under contention")
            XCTAssertEqual(winners.withLock { $0 }, 1, "round \(round): exactly one claimer must get the task")
        }
        XCTAssertEqual(try a.attemptCounts()["running"], 10, "one attempt row per task")
    }

    func testGlobalLimit() throws {
        let store = try openStore()
        for i in 0..<3 { try store.insert(task("t\(i)", installation: Int64(i))) }
        XCTAssertNotNil(try store.claimNext(globalLimit: 2, perInstallationLimit: 5))
        XCTAssertNotNil(try store.claimNext(globalLimit: 2, perInstallationLimit: 5))
        XCTAssertNil(try store.claimNext(globalLimit: 2, perInstallationLimit: 5), "a third task must wait for a free slot")
    }

    func testPerInstallationLimit() throws {
        let store = try openStore()
        for i in 0..<3 { try store.insert(task("a\(i)", installation: 1)) }
        try store.insert(task("b0", installation: 2))
        let first = try store.claimNext(globalLimit: 10, perInstallationLimit: 1)
        let second = try store.claimNext(globalLimit: 10, perInstallationLimit: 1)
        XCTAssertEqual(Set([first?.spec.id, second?.spec.id]), ["a0", "b0"])
        XCTAssertNil(try store.claimNext(globalLimit: 10, perInstallationLimit: 1),
                     "installation 1 already runs one task; its others must wait")
    }

    func testFairnessAcrossInstallations() throws {
        let store = try openStore()
        for i in 0..<5 { try store.insert(task("a\(i)", installation: 1)); clock.advance(1) }
        try store.insert(task("b0", installation: 2))
        var claimed: [String] = []
        for _ in 0..<2 {
            guard let c = try store.claimNext(globalLimit: 1, perInstallationLimit: 1) else { break }
            claimed.append(c.spec.id)
            try finish(store, c.spec.id, c.attempt)
            try store.complete(taskID: c.spec.id, disposition: .success, result: Fixtures.result())
        }
        XCTAssertTrue(claimed.contains("b0"), "B's task must be claimed within the first two claims, got \(claimed)")
    }

    func testRoundRobinThenFIFOWithinInstallation() throws {
        let store = try openStore()
        for i in 0..<3 { try store.insert(task("a\(i)", installation: 1)) }
        for i in 0..<3 { try store.insert(task("b\(i)", installation: 2)) }
        var order: [String] = []
        while let c = try store.claimNext(globalLimit: 1, perInstallationLimit: 1) {
            order.append(c.spec.id)
            try finish(store, c.spec.id, c.attempt)
            try store.complete(taskID: c.spec.id, disposition: .success, result: nil)
        }
        XCTAssertEqual(order, ["a0", "b0", "a1", "b1", "a2", "b2"])
    }

    func testLocalModeTasksAreClaimable() throws {
        let store = try openStore()
        try store.insert(task("local", installation: nil))
        XCTAssertEqual(try store.claimNext(globalLimit: 1, perInstallationLimit: 1)?.spec.id, "local")
    }

    func testBackoffNotBeforeIsRespected() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        let c = try XCTUnwrap(try store.claimNext(globalLimit: 1, perInstallationLimit: 1))
        try finish(store, "t1", c.attempt, .retrySafe)
        XCTAssertEqual(try store.requeue(taskID: "t1", notBefore: clock.now.addingTimeInterval(30)), .queued)
        XCTAssertNil(try store.claimNext(globalLimit: 1, perInstallationLimit: 1), "claimed before its backoff passed")
        clock.advance(31)
        XCTAssertEqual(try store.claimNext(globalLimit: 1, perInstallationLimit: 1)?.attempt, 2)
    }

    func testInsertWithNotBeforeDelaysFirstClaim() throws {
        let store = try openStore()
        try store.insert(task("t1"), notBefore: clock.now.addingTimeInterval(10))
        XCTAssertNil(try store.claimNext(globalLimit: 1, perInstallationLimit: 1))
    }

    // MARK: finishing

    func testFinishAttemptStoresReportAndRedactedOutput() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        _ = try store.claimNext(globalLimit: 1, perInstallationLimit: 1)
        let out = Redactor(secrets: ["hunter2"]).redact(Data("password hunter2\n".utf8))
        let report = ExitReport(exitClass: .exited(code: 1), wallTime: 3.5)
        try store.finishAttempt(taskID: "t1", attempt: 1, report: report, classification: .completed,
                                note: "mismatch \(FakeToken.make("ghs_", 24))", stdout: out, stderr: .empty,
                                egressLog: #"[{"host":"github.com","allowed":true}]"#)
        let a = try XCTUnwrap(try store.task(id: "t1")?.attempts.first)
        XCTAssertEqual(a.state, .finished)
        XCTAssertEqual(a.exitReport, report)
        XCTAssertEqual(a.classification, .completed)
        XCTAssertEqual(a.stdout.text, "password [REDACTED]\n")
        XCTAssertEqual(a.note, "mismatch [REDACTED]", "notes must be redacted of token shapes")
        XCTAssertEqual(a.egressLog, #"[{"host":"github.com","allowed":true}]"#)
    }

    func testFinishingTwiceIsRefused() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        _ = try store.claimNext(globalLimit: 1, perInstallationLimit: 1)
        try finish(store, "t1", 1)
        XCTAssertThrowsError(try finish(store, "t1", 1)) {
            XCTAssertEqual($0 as? StoreError, .attemptNotRunning(taskID: "t1", attempt: 1))
        }
    }

    func testCompleteBeforeFinishAttemptIsRefused() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        _ = try store.claimNext(globalLimit: 1, perInstallationLimit: 1)
        XCTAssertThrowsError(try store.complete(taskID: "t1", disposition: .success, result: nil),
                             "a task with an attempt in flight must not complete")
    }

    func testCompleteStoresDispositionAndResult() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        _ = try store.claimNext(globalLimit: 1, perInstallationLimit: 1)
        try finish(store, "t1", 1)
        try store.complete(taskID: "t1", disposition: .neutral, result: Fixtures.result(.partial), note: "n")
        let r = try XCTUnwrap(try store.task(id: "t1")?.record)
        XCTAssertEqual(r.state, .completed)
        XCTAssertEqual(r.disposition, .neutral)
        XCTAssertEqual(r.result, Fixtures.result(.partial))
        XCTAssertEqual(r.finalReason, "n")
    }

    func testFailStoresReason() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        _ = try store.claimNext(globalLimit: 1, perInstallationLimit: 1)
        try finish(store, "t1", 1, .failed)
        try store.fail(taskID: "t1", reason: "runtime not found")
        let r = try XCTUnwrap(try store.task(id: "t1")?.record)
        XCTAssertEqual(r.state, .failed)
        XCTAssertEqual(r.disposition, .failure)
        XCTAssertEqual(r.finalReason, "runtime not found")
    }

    // MARK: cancel

    func testCancelQueuedCancelsAtOnce() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        XCTAssertEqual(try store.cancel(taskID: "t1"), .cancelled)
        XCTAssertEqual(try state(store, "t1"), .cancelled)
        XCTAssertNil(try store.claimNext(globalLimit: 1, perInstallationLimit: 1), "a cancelled task must not be claimed")
    }

    func testCancelRunningReturnsRunningUntilAttemptFinishes() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        _ = try store.claimNext(globalLimit: 1, perInstallationLimit: 1)
        XCTAssertEqual(try store.cancel(taskID: "t1"), .running(attempt: 1))
        XCTAssertEqual(try state(store, "t1"), .running, "the caller tears down first")
        XCTAssertTrue(try store.isCancelRequested(taskID: "t1"))
        try store.finishAttempt(taskID: "t1", attempt: 1, report: ExitReport(exitClass: .cancelled),
                                classification: .cancelled, note: nil, stdout: .empty, stderr: .empty)
        XCTAssertEqual(try store.cancel(taskID: "t1"), .cancelled)
        XCTAssertEqual(try store.task(id: "t1")?.record.disposition, .cancelled)
    }

    func testRequeueAfterCancelRequestCancels() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        _ = try store.claimNext(globalLimit: 1, perInstallationLimit: 1)
        _ = try store.cancel(taskID: "t1")
        try finish(store, "t1", 1, .retrySafe)
        XCTAssertEqual(try store.requeue(taskID: "t1", notBefore: clock.now), .cancelled)
    }

    func testCancelFinishedTaskChangesNothing() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        _ = try store.cancel(taskID: "t1")
        XCTAssertEqual(try store.cancel(taskID: "t1"), .alreadyFinished(.cancelled))
    }

    func testCancelUnknownTaskThrows() throws {
        XCTAssertThrowsError(try openStore().cancel(taskID: "nope")) { XCTAssertEqual($0 as? StoreError, .taskNotFound("nope")) }
    }

    // MARK: recovery

    func testRecoverInterruptedRequeuesAndMarksAttempt() throws {
        var store: TaskStore? = try openStore()
        try store!.insert(task("t1"))
        _ = try store!.claimNext(globalLimit: 1, perInstallationLimit: 1)
        store = nil // the daemon dies
        let restarted = try openStore()
        let recovered = try restarted.recoverInterrupted(maxCrashInterruptions: 3)
        XCTAssertEqual(recovered, [RecoveredTask(taskID: "t1", interruptedAttempt: 1, state: .queued)])
        let detail = try XCTUnwrap(try restarted.task(id: "t1"))
        XCTAssertEqual(detail.record.state, .queued)
        XCTAssertEqual(detail.attempts.map(\.state), [.interrupted])
        XCTAssertEqual(detail.attempts.first?.classification, .interrupted)
    }

    func testCrashInterruptionsCountAgainstTheCrashBudget() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        var states: [TaskState] = []
        for _ in 0..<3 {
            guard try store.claimNext(globalLimit: 1, perInstallationLimit: 1) != nil else { break }
            states.append(contentsOf: try store.recoverInterrupted(maxCrashInterruptions: 3).map(\.state))
        }
        XCTAssertEqual(states, [.queued, .queued, .failed], "the third crash must end the task")
        let r = try XCTUnwrap(try store.task(id: "t1")?.record)
        XCTAssertTrue(r.finalReason?.hasPrefix("interrupted too often") ?? false, "reason: \(r.finalReason ?? "nil")")
        XCTAssertEqual(r.attemptCount, 3)
    }

    func testRecoverLeavesQueuedTasksAlone() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        XCTAssertEqual(try store.recoverInterrupted(maxCrashInterruptions: 3), [])
        XCTAssertEqual(try state(store, "t1"), .queued)
    }

    // MARK: queries

    func testCounts() throws {
        let store = try openStore()
        for i in 0..<4 { try store.insert(task("t\(i)", installation: Int64(i))) }
        _ = try store.claimNext(globalLimit: 5, perInstallationLimit: 1)
        _ = try store.cancel(taskID: "t3")
        XCTAssertEqual(try store.counts(), [.queued: 2, .running: 1, .completed: 0, .failed: 0, .cancelled: 1])
    }

    func testAttemptCountsByClassification() throws {
        let store = try openStore()
        for i in 0..<3 { try store.insert(task("t\(i)", installation: Int64(i))) }
        for _ in 0..<3 { _ = try store.claimNext(globalLimit: 5, perInstallationLimit: 1) }
        try finish(store, "t0", 1, .completed)
        try finish(store, "t1", 1, .retrySafe)
        XCTAssertEqual(try store.attemptCounts(), ["completed": 1, "retry_safe": 1, "running": 1])
    }

    func testListFiltersByStateNewestFirst() throws {
        let store = try openStore()
        for i in 0..<3 { try store.insert(task("t\(i)", installation: Int64(i))) }
        _ = try store.cancel(taskID: "t1")
        XCTAssertEqual(try store.list(state: .queued).map(\.id), ["t2", "t0"])
        XCTAssertEqual(try store.list(limit: 1).map(\.id), ["t2"])
    }

    func testTokenShapesInAResultAreRedactedWhenStored() throws {
        let shaped = "ghs_" + String(repeating: "Q", count: 36)
        var result = Fixtures.result()
        result.summary = "pushed with \(shaped)"
        result.commits[0].message = "fix (token \(shaped))"
        let store = try openStore()
        try store.insert(task("t1"))
        _ = try store.claimNext(globalLimit: 1, perInstallationLimit: 1)
        try store.recordAttempt(taskID: "t1", attempt: 1, AttemptEnd(
            report: ExitReport(exitClass: .exited(code: 0)),
            outcome: AttemptOutcome(attemptClass: .completed, disposition: .success, result: result, reason: "ok")),
            retry: RetryPolicy(maxRetries: 0))
        let d = try XCTUnwrap(try store.task(id: "t1"))
        XCTAssertEqual(d.record.result?.summary, "pushed with [REDACTED]", "the task's result is redacted")
        XCTAssertEqual(d.attempts.first?.result?.commits.first?.message, "fix (token [REDACTED])", "so is the attempt's")
        for f in try FileManager.default.contentsOfDirectory(atPath: dir) where f.hasPrefix("coven") {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + f))
            XCTAssertNil(bytes.range(of: Data(shaped.utf8)), "the token shape is in the store file \(f)")
        }
    }
}
