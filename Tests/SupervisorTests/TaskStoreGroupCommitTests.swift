import XCTest
import Foundation
import Synchronization
@testable import Supervisor

/// Group commit: writes that arrive together share one transaction, each in its own
/// savepoint, and each writer gets its own result once the batch is committed.
/// Batches are made deterministic by holding the committer while writers queue up.
final class TaskStoreGroupCommitTests: XCTestCase {
    private var dir = ""
    private static let hash = String(repeating: "ab", count: 32)
    private typealias Outcome = Result<DeliveryInsertResult, StoreError>

    override func setUpWithError() throws { dir = try Fixtures.tempDir(self) }

    private static func task(_ id: String, issue: Int) -> TaskSpec {
        var t = Fixtures.fixIssue(id)
        t.kind = .fixIssue(issueNumber: issue, title: "Issue \(issue)", body: "Body.")
        return t
    }

    private static func deliver(_ store: TaskStore, _ delivery: String, _ task: TaskSpec) -> Outcome {
        Result {
            try store.recordDelivery(deliveryID: delivery, event: "issues.assigned", payloadSHA256: Self.hash,
                                     outcome: .queued(taskID: task.id), task: task)
        }.mapError { $0 as? StoreError ?? .io("\($0)") }
    }

    /// Queues `writes` in this order while the committer is held, then lets them go as
    /// one batch; returns each write's result, in the same order.
    private func inOneBatch(_ store: TaskStore, _ deliveries: [(delivery: String, task: TaskSpec)]) throws -> [Outcome] {
        let results = Mutex<[Int: Outcome]>([:])
        let group = DispatchGroup()
        store.sqlite.committer.hold()
        for (i, d) in deliveries.enumerated() {
            group.enter()
            Thread { let r = Self.deliver(store, d.delivery, d.task); results.withLock { $0[i] = r }; group.leave() }.start()
            // Arrival order is queue order: wait for this one to queue before the next.
            let queued = waitFor { store.sqlite.committer.queuedWrites == i + 1 }
            XCTAssertTrue(queued, "write \(i) never queued")
        }
        let before = store.sqlite.committer.statistics
        store.sqlite.committer.release()
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success, "the batch never finished")
        let after = store.sqlite.committer.statistics
        XCTAssertEqual(after.batches - before.batches, 1, "the held writes must go in one batch")
        XCTAssertEqual(after.writes - before.writes, deliveries.count, "every held write must be in that batch")
        let all = results.withLock { $0 }
        return try (0..<deliveries.count).map { try XCTUnwrap(all[$0], "write \($0) returned nothing") }
    }

    /// Polls `condition` until it holds (true) or 10 s pass (false).
    private func waitFor(_ condition: () -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: 10)
        while !condition() {
            if Date() > deadline { return false }
            usleep(500)
        }
        return true
    }

    func testDeliveriesQueuedTogetherAreAllCommitted() throws {
        let store = try TaskStore(stateDirectory: dir)
        let results = try inOneBatch(store, (0..<8).map { ("d\($0)", Self.task("t\($0)", issue: $0)) })
        XCTAssertEqual(results, Array(repeating: .success(.inserted), count: 8))
        let reopened = try TaskStore(stateDirectory: dir)
        XCTAssertEqual(Set(try reopened.list().map(\.id)), Set((0..<8).map { "t\($0)" }), "every task of the batch is stored")
    }

    func testAFailingDeliveryInABatchFailsAlone() throws {
        let store = try TaskStore(stateDirectory: dir)
        // The second reuses the first's task id for another issue: its insert fails.
        let results = try inOneBatch(store, [
            ("d1", Self.task("t1", issue: 1)),
            ("d2", Self.task("t1", issue: 2)),
            ("d3", Self.task("t3", issue: 3)),
        ])
        XCTAssertEqual(results, [.success(.inserted), .failure(.duplicateTask("t1")), .success(.inserted)])
    }

    func testAFailingDeliveryInABatchLeavesNoTrace() throws {
        let store = try TaskStore(stateDirectory: dir)
        _ = try inOneBatch(store, [
            ("d1", Self.task("t1", issue: 1)),
            ("d2", Self.task("t1", issue: 2)),
            ("d3", Self.task("t3", issue: 3)),
        ])
        XCTAssertNil(try store.delivery(id: "d2"), "the failed delivery's row must be rolled back with its savepoint")
        XCTAssertNotNil(try store.delivery(id: "d1"))
        XCTAssertNotNil(try store.delivery(id: "d3"))
        XCTAssertEqual(try store.task(id: "t1")?.record.spec.kind.targetNumber, 1, "the first delivery's task stays as it was")
    }

    func testARedeliveryInTheSameBatchIsADuplicate() throws {
        let store = try TaskStore(stateDirectory: dir)
        let results = try inOneBatch(store, [
            ("d1", Self.task("t1", issue: 1)),
            ("d1", Self.task("t2", issue: 1)),
        ])
        XCTAssertEqual(results, [.success(.inserted), .success(.duplicate)])
        XCTAssertEqual(try store.list().map(\.id), ["t1"], "a redelivery creates nothing")
    }

    func testARepeatedTriggerInTheSameBatchJoinsTheFirst() throws {
        let store = try TaskStore(stateDirectory: dir)
        let results = try inOneBatch(store, [
            ("d1", Self.task("t1", issue: 1)),
            ("d2", Self.task("t2", issue: 1)),
            ("d3", Self.task("t3", issue: 1)),
        ])
        XCTAssertEqual(results, [.success(.inserted), .success(.coalesced(taskID: "t1")), .success(.coalesced(taskID: "t1"))])
        XCTAssertEqual(try store.task(id: "t1")?.record.coalescedTriggers, 2)
    }

    func testATriggerAfterAFailedOneInTheSameBatchIsNotCoalescedIntoIt() throws {
        let store = try TaskStore(stateDirectory: dir)
        try store.insert(Self.task("taken", issue: 99))
        // The first fails (its task id is taken), so the second finds no live task to join.
        let results = try inOneBatch(store, [
            ("d1", Self.task("taken", issue: 1)),
            ("d2", Self.task("t2", issue: 1)),
        ])
        XCTAssertEqual(results, [.failure(.duplicateTask("taken")), .success(.inserted)])
    }

    func testConcurrentRepeatsOfOneTriggerCreateOneTask() throws {
        let store = try TaskStore(stateDirectory: dir)
        let group = DispatchGroup()
        let outcomes = Mutex<[DeliveryInsertResult]>([])
        for i in 0..<32 {
            group.enter()
            Thread {
                if case .success(let r) = Self.deliver(store, "d\(i)", Self.task("t\(i)", issue: 7)) { outcomes.withLock { $0.append(r) } }
                group.leave()
            }.start()
        }
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
        let all = outcomes.withLock { $0 }
        XCTAssertEqual(all.count, 32, "every delivery is recorded")
        XCTAssertEqual(all.filter { $0 == .inserted }.count, 1, "one task for the one issue: \(all)")
        XCTAssertEqual(try store.list().count, 1)
    }

    // MARK: - A claim whose candidate changed before its write

    /// Starts a claim on `store` with its committer held, so its candidate is chosen (on
    /// the read connection) but its write waits; runs `meanwhile`; then lets the write go.
    private func claimWithAGap(_ store: TaskStore, meanwhile: () throws -> Void) throws -> String? {
        let claimed = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        store.sqlite.committer.hold()
        Thread {
            let c = try? store.claimNext(globalLimit: 10, perInstallationLimit: 10)
            claimed.withLock { $0 = c?.spec.id }
            done.signal()
        }.start()
        XCTAssertTrue(waitFor { store.sqlite.committer.queuedWrites == 1 }, "the claim never reached its write")
        try meanwhile()
        store.sqlite.committer.release()
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success, "the claim never finished")
        return claimed.withLock { $0 }
    }

    private static func task(_ id: String, installation: Int64, issue: Int) -> TaskSpec {
        var t = task(id, issue: issue)
        t.installationID = installation
        return t
    }

    func testAClaimWhoseCandidateWasTakenMeanwhileTakesTheNextInstallationsTurn() throws {
        let store = try TaskStore(stateDirectory: dir)
        try store.insert([Self.task("a1", installation: 1, issue: 1), Self.task("a2", installation: 1, issue: 2),
                          Self.task("b1", installation: 2, issue: 3)])
        let other = try TaskStore(stateDirectory: dir)   // a second connection, as another process would be
        let claimed = try claimWithAGap(store) {
            XCTAssertEqual(try other.claimNext(globalLimit: 10, perInstallationLimit: 10)?.spec.id, "a1")
        }
        XCTAssertEqual(claimed, "b1", "installation 1 just had its turn: installation 2 goes next")
    }

    func testAClaimWhoseCandidateWasTakenMeanwhileTakesTheNextTaskOfTheQueue() throws {
        let store = try TaskStore(stateDirectory: dir)
        try store.insert([Self.task("a1", installation: 1, issue: 1), Self.task("a2", installation: 1, issue: 2)])
        let other = try TaskStore(stateDirectory: dir)
        let claimed = try claimWithAGap(store) {
            XCTAssertEqual(try other.claimNext(globalLimit: 10, perInstallationLimit: 10)?.spec.id, "a1")
        }
        XCTAssertEqual(claimed, "a2", "the taken task is never claimed twice; the next one is")
    }

    // MARK: - Checkpoints

    func testTheWALIsCheckpointedByTheStoresOwnThreadOnceItGrowsPastTheThreshold() throws {
        let store = try TaskStore(stateDirectory: dir)
        XCTAssertEqual(store.sqlite.checkpointer.checkpoints, 0)
        // One commit of twelve thousand tasks writes well over 1000 pages to the WAL.
        try store.insert((0..<12000).map { Self.task("t\($0)", issue: $0) })
        XCTAssertTrue(waitFor { store.sqlite.checkpointer.checkpoints >= 1 }, "no checkpoint ran")
    }

    func testTasksCommittedBeforeABackgroundCheckpointSurviveAReopen() throws {
        do {
            let store = try TaskStore(stateDirectory: dir)
            try store.insert((0..<12000).map { Self.task("t\($0)", issue: $0) })
            XCTAssertTrue(waitFor { store.sqlite.checkpointer.checkpoints >= 1 }, "no checkpoint ran")
            try store.insert(Self.task("last", issue: 9999))
        }
        let reopened = try TaskStore(stateDirectory: dir)
        XCTAssertEqual(try reopened.counts()[.queued], 12001)
    }
}
