import XCTest
import Foundation
import Sandbox
@testable import Supervisor
import StoreTesting

/// `TaskStore.retry`: which tasks may be queued again, and what a retried task keeps
/// (its attempts) and starts afresh (its budgets, its outcome).
final class TaskStoreRetryTests: XCTestCase {
    private var dir = ""
    private let clock = TestClock()

    override func setUpWithError() throws { dir = try Fixtures.tempDir(self) }

    private func openStore() throws -> TaskStore { try StoreFixture.store(in: dir, clock: clock.function) }
    private let noRetries = RetryPolicy(maxRetries: 0)

    private func end(_ cls: AttemptClass) -> AttemptEnd {
        AttemptEnd(report: ExitReport(exitClass: .exited(code: cls == .completed ? 0 : 2)),
                   outcome: AttemptOutcome(attemptClass: cls, disposition: cls == .completed ? .success : .failure,
                                           result: cls == .completed ? Fixtures.result() : nil, reason: "reason of \(cls.rawValue)"))
    }

    @discardableResult
    private func claim(_ store: TaskStore) throws -> (spec: TaskSpec, attempt: Int) {
        try XCTUnwrap(try store.claimNext(globalLimit: 10, perInstallationLimit: 10), "nothing to claim")
    }

    /// A task that ran one attempt ending `cls` under `retry`.
    private func finished(_ store: TaskStore, _ id: String, _ cls: AttemptClass, retry: RetryPolicy) throws {
        try store.insert(Fixtures.fixIssue(id))
        let c = try claim(store)
        try store.recordAttempt(taskID: id, attempt: c.attempt, end(cls), retry: retry)
    }

    func testEveryFinishedStateIsQueuedAgain() throws {
        // (class of the only attempt, the task's state it leads to)
        let cases: [(AttemptClass, TaskState)] = [(.completed, .completed), (.failed, .failed), (.cancelled, .cancelled)]
        let store = try openStore()
        for (cls, state) in cases {
            try finished(store, "t-\(state.rawValue)", cls, retry: noRetries)
        }
        for (_, state) in cases {
            let id = "t-\(state.rawValue)"
            XCTAssertEqual(try store.task(id: id)?.record.state, state, "set-up: the task should be \(state)")
            XCTAssertEqual(try store.retry(taskID: id), .queued, "a \(state) task must be retried")
            XCTAssertEqual(try store.task(id: id)?.record.state, .queued, "a retried \(state) task is queued")
        }
    }

    func testQueuedAndRunningTasksAreLeftAlone() throws {
        let store = try openStore()
        try store.insert(Fixtures.fixIssue("queued"))
        XCTAssertEqual(try store.retry(taskID: "queued"), .notFinished(.queued))
        try claim(store)
        XCTAssertEqual(try store.retry(taskID: "queued"), .notFinished(.running), "the task is running now")
        XCTAssertEqual(try store.task(id: "queued")?.attempts.first?.state, .running, "its attempt goes on untouched")
    }

    func testUnknownTaskIsNotFound() throws {
        XCTAssertThrowsError(try openStore().retry(taskID: "nope")) { error in
            XCTAssertEqual(error as? StoreError, .taskNotFound("nope"))
        }
    }

    func testEarlierAttemptsAreKeptAndNumberingGoesOn() throws {
        let store = try openStore()
        try finished(store, "t1", .failed, retry: noRetries)
        try store.retry(taskID: "t1")
        let c = try claim(store)
        XCTAssertEqual(c.attempt, 2, "the next attempt is numbered after the kept one")
        let attempts = try XCTUnwrap(try store.task(id: "t1")).attempts
        XCTAssertEqual(attempts.map(\.number), [1, 2])
        XCTAssertEqual(attempts.first?.classification, .failed, "the earlier attempt keeps its verdict")
    }

    func testTheOutcomeIsClearedAndTheQueuedPublicationIsPending() throws {
        let store = try openStore()
        try finished(store, "t1", .completed, retry: noRetries)
        while let p = try store.nextPublication() { try store.publicationDelivered(seq: p.seq) }
        try store.retry(taskID: "t1")
        let r = try XCTUnwrap(try store.task(id: "t1")).record
        XCTAssertNil(r.disposition, "a queued task has no disposition")
        XCTAssertNil(r.result, "nor the result of its earlier run")
        XCTAssertNil(r.finalReason)
        guard case .queued(let spec, _, _)? = try store.nextPublication()?.event else {
            return XCTFail("the retry must queue the task's queued publication")
        }
        XCTAssertEqual(spec.id, "t1")
    }

    func testRetryBudgetStartsAfresh() throws {
        let store = try openStore()
        let oneRetry = RetryPolicy(maxRetries: 1, baseDelay: 0, jitter: 0)
        try store.insert(Fixtures.fixIssue("t1"))
        for _ in 0..<2 {
            let c = try claim(store)
            try store.recordAttempt(taskID: "t1", attempt: c.attempt, end(.retrySafe), retry: oneRetry)
        }
        XCTAssertEqual(try store.task(id: "t1")?.record.state, .failed, "set-up: the budget of two attempts is spent")
        try store.retry(taskID: "t1")
        let c = try claim(store)
        let transition = try store.recordAttempt(taskID: "t1", attempt: c.attempt, end(.retrySafe), retry: oneRetry)
        guard case .requeued = transition else {
            return XCTFail("after a retry the first retry-safe attempt must be retried again, got \(transition)")
        }
    }

    func testCrashBudgetStartsAfresh() throws {
        let store = try openStore()
        try store.insert(Fixtures.fixIssue("t1"))
        try claim(store)
        try store.recoverInterrupted(maxCrashInterruptions: 1)
        XCTAssertEqual(try store.task(id: "t1")?.record.state, .failed, "set-up: one crash fails it")
        try store.retry(taskID: "t1")
        try claim(store)
        let recovered = try store.recoverInterrupted(maxCrashInterruptions: 2)
        XCTAssertEqual(recovered.first?.state, .queued, "the crash before the retry must not count against it")
    }
}
