import XCTest
import Foundation
import Sandbox
@testable import Supervisor
import StoreTesting

/// Repeated triggers (issue #10, item 16): a delivery for an issue or PR that already has
/// a queued or running task of the same kind joins it; one with new instructions is
/// queued after it; and the decision is the store's, in one transaction.
final class TaskStoreCoalescingTests: XCTestCase {
    private var dir = ""
    private let clock = TestClock()
    private let hash = String(repeating: "cd", count: 32)

    override func setUpWithError() throws { dir = try Fixtures.tempDir(self) }

    private func openStore() throws -> TaskStore { try StoreFixture.store(in: dir, clock: clock.function) }

    /// The same work asked for again, as GitHub delivers it: a re-label, the same mention,
    /// the same review comment (a fresh task id each time, as the router draws one).
    private static let repeats: [(name: String, make: @Sendable (String) -> TaskSpec)] = [
        ("re-labelled issue", { id in
            var t = Fixtures.fixIssue(id)
            t.kind = .fixIssue(issueNumber: 42, title: "Fix OAuth token refresh (edited)", body: "Edited since.")
            return t
        }),
        ("second identical mention", { Fixtures.mention($0) }),
        ("second identical review comment", { Fixtures.reviewComment($0) }),
    ]

    /// The same target with new instructions (a new comment body).
    private static let newInstructions: [(name: String, first: TaskSpec, second: TaskSpec)] = {
        var mention = Fixtures.mention("t2")
        mention.kind = .respondToMention(issueNumber: 9, commentBody: "@cody and what about the tests?")
        var review = Fixtures.reviewComment("t2")
        review.kind = .addressReviewComment(prNumber: 7, commentBody: "Also add a test.", diffHunk: nil, path: nil, line: nil)
        return [("new mention", Fixtures.mention("t1"), mention), ("new review comment", Fixtures.reviewComment("t1"), review)]
    }()

    @discardableResult
    private func deliver(_ store: TaskStore, _ delivery: String, _ task: TaskSpec) throws -> DeliveryInsertResult {
        try store.recordDelivery(deliveryID: delivery, event: "test", payloadSHA256: hash, outcome: .queued(taskID: task.id),
                                 task: task)
    }

    private func claimAll(_ store: TaskStore) throws -> [String] {
        var ids: [String] = []
        while let c = try store.claimNext(globalLimit: 10, perInstallationLimit: 10) { ids.append(c.spec.id) }
        return ids
    }

    // MARK: coalesced

    func testRepeatedTriggerJoinsTheQueuedTask() throws {
        for r in Self.repeats {
            dir = try Fixtures.tempDir(self)
            let store = try openStore()
            try deliver(store, "d1", r.make("t1"))
            XCTAssertEqual(try deliver(store, "d2", r.make("t2")), .coalesced(taskID: "t1"), r.name)
            XCTAssertEqual(try store.list().map(\.id), ["t1"], "\(r.name): no second task may be created")
        }
    }

    func testRepeatedTriggerJoinsTheRunningTask() throws {
        for r in Self.repeats {
            dir = try Fixtures.tempDir(self)
            let store = try openStore()
            try deliver(store, "d1", r.make("t1"))
            XCTAssertEqual(try claimAll(store), ["t1"])
            XCTAssertEqual(try deliver(store, "d2", r.make("t2")), .coalesced(taskID: "t1"), r.name)
            XCTAssertEqual(try store.list().map(\.id), ["t1"], "\(r.name): no second task may be created")
        }
    }

    func testCoalescedDeliveryIsRecordedAgainstTheTaskItJoined() throws {
        let store = try openStore()
        try deliver(store, "d1", Fixtures.fixIssue("t1"))
        try deliver(store, "d2", Fixtures.fixIssue("t2"))
        XCTAssertEqual(try store.delivery(id: "d2")?.outcome, .coalesced(taskID: "t1"))
    }

    func testCoalescedTriggerRepublishesTheTaskStatusWithTheCount() throws {
        let store = try openStore()
        let first = Fixtures.fixIssue("t1")
        try deliver(store, "d1", first)
        _ = try claimAll(store)
        for p in try store.pendingPublications() { try store.publicationDelivered(seq: p.seq) }
        try deliver(store, "d2", Fixtures.fixIssue("t2"))
        XCTAssertEqual(try store.pendingPublications().map(\.event), [.started(first, attempt: 1, coalesced: 1)],
                       "the running task's status comment must be published again, saying a trigger joined it")
    }

    // MARK: not coalesced

    func testTriggerWithNewInstructionsIsQueuedAfterTheLiveTask() throws {
        for c in Self.newInstructions {
            dir = try Fixtures.tempDir(self)
            let store = try openStore()
            try deliver(store, "d1", c.first)
            XCTAssertEqual(try deliver(store, "d2", c.second), .queuedAfter(taskID: "t1"), c.name)
            XCTAssertEqual(try store.task(id: "t2")?.record.queuedAfter, "t1", c.name)
        }
    }

    func testTaskQueuedAfterAnotherIsNotClaimedWhileThatOneRuns() throws {
        let c = Self.newInstructions[0]
        let store = try openStore()
        try deliver(store, "d1", c.first)
        try deliver(store, "d2", c.second)
        XCTAssertEqual(try claimAll(store), ["t1"], "t2 must wait for t1 even with free slots")
    }

    func testTaskQueuedAfterAnotherIsClaimedOnceThatOneEnded() throws {
        let c = Self.newInstructions[0]
        let store = try openStore()
        try deliver(store, "d1", c.first)
        try deliver(store, "d2", c.second)
        _ = try claimAll(store)
        try store.finishAttempt(taskID: "t1", attempt: 1, report: ExitReport(exitClass: .exited(code: 0)),
                                classification: .completed, note: nil, stdout: .empty, stderr: .empty)
        try store.complete(taskID: "t1", disposition: .success, result: nil)
        XCTAssertEqual(try claimAll(store), ["t2"])
    }

    func testTriggersForOtherWorkAreNotCoalesced() throws {
        var otherIssue = Fixtures.fixIssue("t2")
        otherIssue.kind = .fixIssue(issueNumber: 43, title: "Other", body: "")
        var otherFamiliar = Fixtures.fixIssue("t2")
        otherFamiliar.familiar = FamiliarRef(id: "wren", displayName: "Wren")
        var otherRepo = Fixtures.fixIssue("t2")
        otherRepo.repo.name = "coven-docs"
        var otherKind = Fixtures.mention("t2")
        otherKind.kind = .respondToMention(issueNumber: 42, commentBody: "@cody hi")
        for (name, second) in [("another issue", otherIssue), ("another familiar", otherFamiliar),
                               ("another repository", otherRepo), ("another kind on the same issue", otherKind)] {
            dir = try Fixtures.tempDir(self)
            let store = try openStore()
            try deliver(store, "d1", Fixtures.fixIssue("t1"))
            XCTAssertEqual(try deliver(store, "d2", second), .inserted, name)
        }
    }

    func testRepositoryNamesAreComparedWithoutCase() throws {
        let store = try openStore()
        try deliver(store, "d1", Fixtures.fixIssue("t1"))
        var shouted = Fixtures.fixIssue("t2")
        shouted.repo.owner = shouted.repo.owner.uppercased()
        XCTAssertEqual(try deliver(store, "d2", shouted), .coalesced(taskID: "t1"))
    }

    func testFinishedTaskTakesNoTrigger() throws {
        let store = try openStore()
        try deliver(store, "d1", Fixtures.fixIssue("t1"))
        XCTAssertEqual(try store.cancel(taskID: "t1"), .cancelled)
        XCTAssertEqual(try deliver(store, "d2", Fixtures.fixIssue("t2")), .inserted)
    }

    func testTaskBeingCancelledTakesNoTrigger() throws {
        let store = try openStore()
        try deliver(store, "d1", Fixtures.fixIssue("t1"))
        _ = try claimAll(store)
        XCTAssertEqual(try store.cancel(taskID: "t1"), .running(attempt: 1))
        XCTAssertEqual(try deliver(store, "d2", Fixtures.fixIssue("t2")), .queuedAfter(taskID: "t1"),
                       "a trigger must not vanish into a task that is being cancelled")
    }

    // MARK: schema version 2

    func testVersion2DeliveriesSurviveTheMigration() throws {
        try XCTSkipUnless(StoreFixture.isSQLite, "SQLite only: its file, its query plan, its migrations")
        let raw = try SQLiteDatabase(path: dir + "/" + TaskStore.fileName)
        try raw.exec("PRAGMA journal_mode = WAL")
        for step in SQLiteBackend.migrations where step.version <= 2 { try raw.exec(step.sql) }
        try raw.exec("PRAGMA user_version = 2")
        try raw.run("""
            INSERT INTO deliveries (delivery_id, event, payload_sha256, received_at, outcome, task_id, ignored_reason)
            VALUES ('v2-delivery', 'issues.opened', ?, 1, 'ignored', NULL, 'not handled')
            """, [hash])
        XCTAssertEqual(try openStore().delivery(id: "v2-delivery")?.outcome, .ignored(reason: "not handled"))
    }

    // MARK: atomic

    func testConcurrentDeliveriesForTheSameIssueCreateOneTask() throws {
        // Two stores on one file (two connections, two mutexes): only the database's
        // transaction can keep them from both creating a task.
        let stores = [try openStore(), try openStore()]
        let errors = ErrorList()
        let hash = self.hash
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            do {
                try stores[i % 2].recordDelivery(deliveryID: "d\(i)", event: "issues.labeled", payloadSHA256: hash,
                                                 outcome: .queued(taskID: "t\(i)"), task: Fixtures.fixIssue("t\(i)"))
            } catch { errors.append("\(error)") }
        }
        XCTAssertEqual(errors.all, [])
        XCTAssertEqual(try stores[0].list().count, 1, "16 concurrent triggers for one issue must make exactly one task")
    }
}

private final class ErrorList: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func append(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}
