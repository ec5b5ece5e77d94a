import XCTest
import Foundation
import Sandbox
@testable import Supervisor
import StoreTesting

/// The store under faults: what a crash or a shutdown leaves, the retry and crash
/// budgets, the publication outbox, the claim's cost, and a database of the previous
/// schema version.
final class TaskStoreFaultTests: XCTestCase {
    private var dir = ""
    private let clock = TestClock()

    override func setUpWithError() throws { dir = try Fixtures.tempDir(self) }

    private func openStore() throws -> TaskStore { try StoreFixture.store(in: dir, clock: clock.function) }
    private func task(_ id: String, installation: Int64? = 1) -> TaskSpec { Fixtures.fixIssue(id, installation: installation) }
    private let noRetries = RetryPolicy(maxRetries: 0)

    private func end(_ cls: AttemptClass, result: ResultEnvelope? = nil) -> AttemptEnd {
        AttemptEnd(report: ExitReport(exitClass: .exited(code: cls == .completed ? 0 : 2)),
                   outcome: AttemptOutcome(attemptClass: cls, disposition: cls == .completed ? .success : .failure,
                                           result: result, reason: "reason of \(cls.rawValue)"))
    }

    @discardableResult
    private func claim(_ store: TaskStore) throws -> (spec: TaskSpec, attempt: Int) {
        try XCTUnwrap(try store.claimNext(globalLimit: 10, perInstallationLimit: 10), "nothing to claim")
    }

    // MARK: one transaction per attempt

    func testRecordingACompletedAttemptCompletesTheTaskAndKeepsTheResultOnTheAttempt() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        try claim(store)
        let transition = try store.recordAttempt(taskID: "t1", attempt: 1, end(.completed, result: Fixtures.result()), retry: noRetries)
        XCTAssertEqual(transition, .completed(.success))
        let d = try XCTUnwrap(try store.task(id: "t1"))
        XCTAssertEqual(d.record.state, .completed, "the task moved on in the same call")
        XCTAssertEqual(d.attempts.first?.result, Fixtures.result(), "the attempt keeps its result")
    }

    func testRecoveryFinishesARunningTaskFromItsFinishedAttempt() throws {
        // What a supervisor that recorded attempt and transition apart left when killed in between.
        var store: TaskStore? = try openStore()
        try store!.insert(task("t1"))
        try claim(store!)
        try store!.finishAttempt(taskID: "t1", attempt: 1, report: ExitReport(exitClass: .exited(code: 0)),
                                 classification: .completed, note: nil, stdout: .empty, stderr: .empty,
                                 disposition: .success, result: Fixtures.result())
        store = nil
        let restarted = try openStore()
        XCTAssertEqual(try restarted.recoverInterrupted(maxCrashInterruptions: 3, retry: noRetries).map(\.state), [.completed])
        let d = try XCTUnwrap(try restarted.task(id: "t1"))
        XCTAssertEqual(d.record.result, Fixtures.result(), "the task is finished from the attempt's stored result")
        XCTAssertEqual(d.attempts.count, 1, "and is not run again")
    }

    // MARK: budgets

    func testShutdownInterruptionsNeverUseUpTheBudgets() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        for n in 1...5 {
            XCTAssertEqual(try claim(store).attempt, n)
            XCTAssertEqual(try store.recordShutdownInterruption(taskID: "t1", attempt: n, report: nil, stdout: .empty, stderr: .empty),
                           .requeued(notBefore: clock.now))
            XCTAssertEqual(try store.recoverInterrupted(maxCrashInterruptions: 1, retry: noRetries), [], "nothing was left running")
        }
        XCTAssertEqual(try store.task(id: "t1")?.record.state, .queued, "five deploys in a row must not fail a task")
    }

    func testShutdownInterruptionIsRecordedAsSuch() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        try claim(store)
        try store.recordShutdownInterruption(taskID: "t1", attempt: 1, report: ExitReport(exitClass: .cancelled),
                                             stdout: .empty, stderr: .empty)
        let a = try XCTUnwrap(try store.task(id: "t1")?.attempts.first)
        XCTAssertEqual([a.state.rawValue, a.interruptedBy?.rawValue], ["interrupted", "shutdown"])
    }

    func testShutdownInterruptionOfATaskWithACancelRequestCancelsIt() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        try claim(store)
        _ = try store.cancel(taskID: "t1")
        XCTAssertEqual(try store.recordShutdownInterruption(taskID: "t1", attempt: 1, report: nil, stdout: .empty, stderr: .empty),
                       .cancelled)
    }

    func testRetryBudgetCountsOnlyFinishedAttempts() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        try claim(store)
        _ = try store.recoverInterrupted(maxCrashInterruptions: 3)   // attempt 1: the daemon died
        XCTAssertEqual(try claim(store).attempt, 2)
        let transition = try store.recordAttempt(taskID: "t1", attempt: 2, end(.retrySafe), retry: RetryPolicy(maxRetries: 1, jitter: 0))
        guard case .requeued = transition else {
            return XCTFail("attempt 2 is the first counted one; one retry is left, got \(transition)")
        }
    }

    func testExhaustedRetryBudgetFailsNamingTheCountedAttempts() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        try claim(store)
        let transition = try store.recordAttempt(taskID: "t1", attempt: 1, end(.retrySafe), retry: noRetries)
        XCTAssertEqual(transition, .failed(reason: "gave up after 1 attempts: reason of retry_safe"))
    }

    func testCrashesDoNotUseUpTheRetryBudget() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        for _ in 0..<2 {
            try claim(store)
            _ = try store.recoverInterrupted(maxCrashInterruptions: 3, retry: noRetries)
        }
        XCTAssertEqual(try store.task(id: "t1")?.record.state, .queued,
                       "two crashes with no retries configured: the task still gets its one attempt")
    }

    // MARK: the publication outbox

    private func pendingEvents(_ store: TaskStore) throws -> [String] {
        try store.pendingPublications().map { "\($0.event.task.id):\($0.event.name)" }
    }

    func testATaskHasAtMostOnePendingPublication() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        try claim(store)
        try store.recordAttempt(taskID: "t1", attempt: 1, end(.completed, result: Fixtures.result()), retry: noRetries)
        XCTAssertEqual(try pendingEvents(store), ["t1:finished"], "queued and started were superseded by finished")
    }

    func testFinishedPublicationCarriesTheStoredOutcome() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        try claim(store)
        try store.recordAttempt(taskID: "t1", attempt: 1, end(.completed, result: Fixtures.result()), retry: noRetries)
        XCTAssertEqual(try store.nextPublication()?.event,
                       .finished(task("t1"), TaskOutcome(state: .completed, disposition: .success, result: Fixtures.result())))
    }

    func testFinishedPublicationSaysWhetherTheLastAttemptTimedOut() throws {
        // The last attempt's exit decides: a timeout is published as one, any other failure is not.
        for (exit, timedOut) in [(ExitClass.timedOut, true), (.exited(code: 2), false), (.oomKilled, false)] {
            let store = try openStore()
            let id = "t-\(exit.name)"
            try store.insert(task(id))
            try claim(store)
            try store.recordAttempt(taskID: id, attempt: 1, AttemptEnd(
                report: ExitReport(exitClass: exit),
                outcome: AttemptOutcome(attemptClass: .retrySafe, disposition: .failure, reason: "it ended")), retry: noRetries)
            let p = try XCTUnwrap(try store.pendingPublications().first { $0.event.task.id == id })
            guard case .finished(_, let outcome) = p.event else { return XCTFail("\(id): not a finished event: \(p.event)") }
            XCTAssertEqual(outcome.state, .failed, "\(id): no retries, so the task failed")
            XCTAssertEqual(outcome.timedOut, timedOut, "\(id): a last attempt that ended \(exit.name) → timedOut \(timedOut)")
        }
    }

    func testPendingPublicationsSurviveAReopen() throws {
        var store: TaskStore? = try openStore()
        try store!.insert(task("t1"))
        store = nil
        XCTAssertEqual(try pendingEvents(try openStore()), ["t1:queued"])
    }

    func testDeliveringAnEventKeepsTheNewerOneThatReplacedIt() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        let queued = try XCTUnwrap(try store.nextPublication())
        try claim(store)   // replaces `queued` with `started` while `queued` is being delivered
        try store.publicationDelivered(seq: queued.seq)
        XCTAssertEqual(try pendingEvents(store), ["t1:started"])
    }

    func testDeferredPublicationWaitsForItsBackoff() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        let p = try XCTUnwrap(try store.nextPublication())
        try store.publicationDeferred(seq: p.seq, until: clock.now.addingTimeInterval(60), error: "GitHub: HTTP 503")
        XCTAssertNil(try store.nextPublication(), "due before its backoff")
        XCTAssertEqual(try store.nextPublication(now: clock.now.addingTimeInterval(61))?.tries, 1)
    }

    func testMakingPublicationsDueEndsTheBackoff() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        let p = try XCTUnwrap(try store.nextPublication())
        try store.publicationDeferred(seq: p.seq, until: clock.now.addingTimeInterval(600), error: "unreachable")
        try store.makePublicationsDue()
        XCTAssertEqual(try store.nextPublication()?.seq, p.seq)
    }

    func testCancellingAQueuedTaskQueuesItsFinishedPublication() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        _ = try store.cancel(taskID: "t1")
        XCTAssertEqual(try pendingEvents(store), ["t1:finished"])
    }

    func testRecoveryThatFailsATaskQueuesItsFinishedPublication() throws {
        let store = try openStore()
        try store.insert(task("t1"))
        try claim(store)
        _ = try store.recoverInterrupted(maxCrashInterruptions: 1)
        XCTAssertEqual(try pendingEvents(store), ["t1:finished"])
    }

    // MARK: the claim

    func testClaimSeeksPerInstallationInsteadOfWalkingTheQueue() throws {
        try XCTSkipUnless(StoreFixture.isSQLite, "SQLite only: its file, its query plan, its migrations")
        let store = try openStore()
        for i in 0..<30 { try store.insert(task("t\(i)", installation: Int64(i % 3))) }
        let plan = try store.sqlite.claimQueryPlan()
        let tableSteps = plan.filter { $0.hasPrefix("SCAN ") || $0.hasPrefix("SEARCH ") }
        XCTAssertFalse(tableSteps.isEmpty, "no plan: \(plan)")
        for step in tableSteps {
            let table = step.split(separator: " ")[1]
            guard table != "r" && table != "installation_turns" else { continue }
            // A task queued after another checks that one by its id: one lookup, no scan.
            // The configured limits: a walk of the JSON parameter (one entry per configured
            // installation), not of a table.
            if table == "l" {
                XCTAssertTrue(step.hasPrefix("SCAN l VIRTUAL TABLE"), "limits must come from the parameter: '\(step)'")
                continue
            }
            // Today's usage of the installation: one seek by its key.
            if table == "u" {
                XCTAssertTrue(step.hasPrefix("SEARCH ") && step.contains("(installation_id=? AND day=?)"),
                              "usage must be looked up by installation and day: '\(step)'")
                continue
            }
            if table == "prev" {
                XCTAssertTrue(step.hasPrefix("SEARCH ") && step.contains("(id=?)"), "the predecessor must be looked up by id: '\(step)'")
                continue
            }
            XCTAssertTrue(step.hasPrefix("SEARCH ") && step.contains("INDEX tasks_claim (installation_key=? AND state=?)"),
                          "every visit to tasks must be a seek within one installation, got '\(step)' in \(plan)")
        }
    }

    // MARK: schema version 1

    /// A database as schema version 1 left it: a queued task of an installation never
    /// claimed (v1 had no turn row for it), a task interrupted once, and a task left
    /// running with its attempt finished (killed between the two transactions).
    private func makeVersion1Database() throws {
        let raw = try SQLiteDatabase(path: dir + "/" + TaskStore.fileName)
        try raw.exec("PRAGMA journal_mode = WAL")
        try raw.exec(SQLiteBackend.migrations[0].sql)
        try raw.exec("PRAGMA user_version = 1")
        let enc = JSONEncoder()
        func spec(_ id: String, _ installation: Int64) throws -> String {
            String(decoding: try enc.encode(task(id, installation: installation)), as: UTF8.self)
        }
        try raw.run("INSERT INTO tasks (id, spec, state, installation_id, created_at, updated_at, not_before, attempts) VALUES (?, ?, 'queued', 7, 1, 1, 1, 0)",
                    ["v1-queued", try spec("v1-queued", 7)])
        try raw.run("INSERT INTO tasks (id, spec, state, installation_id, created_at, updated_at, not_before, attempts) VALUES (?, ?, 'queued', 8, 1, 1, 5000000000, 1)",
                    ["v1-interrupted", try spec("v1-interrupted", 8)])
        try raw.run("INSERT INTO attempts (task_id, number, state, started_at, classification) VALUES ('v1-interrupted', 1, 'interrupted', 1, 'interrupted')")
        try raw.run("INSERT INTO tasks (id, spec, state, installation_id, created_at, updated_at, not_before, attempts) VALUES (?, ?, 'running', 9, 1, 1, 5000000000, 1)",
                    ["v1-finished", try spec("v1-finished", 9)])
        try raw.run("INSERT INTO attempts (task_id, number, state, started_at, ended_at, classification) VALUES ('v1-finished', 1, 'finished', 1, 2, 'completed')")
        try raw.run("INSERT INTO installation_turns (installation_key, last_claim) VALUES (8, 1), (9, 2)")
    }

    func testVersion1DatabaseIsMigratedToTheCurrentVersion() throws {
        try XCTSkipUnless(StoreFixture.isSQLite, "SQLite only: its file, its query plan, its migrations")
        try makeVersion1Database()
        let store = try openStore()
        XCTAssertEqual(try store.storedSchemaVersion(), TaskStore.schemaVersion)
        XCTAssertEqual(Set(try store.list().map(\.id)), ["v1-queued", "v1-interrupted", "v1-finished"], "no task lost")
    }

    func testMigratedQueuedTaskOfANeverClaimedInstallationIsClaimable() throws {
        try XCTSkipUnless(StoreFixture.isSQLite, "SQLite only: its file, its query plan, its migrations")
        try makeVersion1Database()
        XCTAssertEqual(try openStore().claimNext(globalLimit: 10, perInstallationLimit: 1)?.spec.id, "v1-queued")
    }

    func testMigratedInterruptedAttemptCountsAsACrash() throws {
        try XCTSkipUnless(StoreFixture.isSQLite, "SQLite only: its file, its query plan, its migrations")
        try makeVersion1Database()
        XCTAssertEqual(try openStore().task(id: "v1-interrupted")?.attempts.first?.interruptedBy, .crash)
    }

    func testMigratedCompletedAttemptWithoutAResultIsRetriedAtRecovery() throws {
        try XCTSkipUnless(StoreFixture.isSQLite, "SQLite only: its file, its query plan, its migrations")
        try makeVersion1Database()
        let store = try openStore()
        let recovered = try store.recoverInterrupted(maxCrashInterruptions: 3, retry: RetryPolicy(maxRetries: 2))
        XCTAssertEqual(recovered.map(\.state), [.queued], "version 1 kept no result to finish it from")
    }
}
