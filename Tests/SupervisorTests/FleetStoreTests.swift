import XCTest
import Foundation
import Synchronization
import Sandbox
@testable import Supervisor
import StoreTesting

/// Hosts of a fleet sharing one PostgreSQL store (a real server, `PostgresTestServer`):
/// claims, leases, fencing, notifications and the outbox across hosts. Each "host" is a
/// store of its own on the same database, with its own host id.
final class FleetStoreTests: XCTestCase {
    private var fixture: StoreFixture!
    private let clock = TestClock()

    override func setUpWithError() throws {
        fixture = try StoreFixture(engine: .postgres, directory: try Fixtures.tempDir(self))
    }

    private func host(_ id: String, lease: TimeInterval = 15) throws -> TaskStore {
        try fixture.open(clock: clock.function, hostID: id, lease: lease)
    }

    private func completed(_ store: TaskStore, _ id: String, _ attempt: Int) throws -> TaskTransition {
        try store.recordAttempt(taskID: id, attempt: attempt,
                                AttemptEnd(report: ExitReport(exitClass: .exited(code: 0)),
                                           outcome: AttemptOutcome(attemptClass: .completed, disposition: .success,
                                                                   reason: "done")),
                                retry: RetryPolicy())
    }

    /// Host a claims task "t"; its lease runs out; host b takes the attempt over.
    private func takenOver() throws -> (a: TaskStore, b: TaskStore) {
        let a = try host("a"), b = try host("b")
        try a.insert(Fixtures.fixIssue("t"))
        _ = try a.claimNext(globalLimit: 1, perInstallationLimit: 1)
        clock.advance(16)
        _ = try b.recoverExpiredLeases(maxCrashInterruptions: 3)
        return (a, b)
    }

    func testTwoHostsClaimingAtOnceNeverClaimTheSameTask() throws {
        let a = try host("a"), b = try host("b")
        try a.insert((0..<40).map { Fixtures.fixIssue("t\($0)", installation: Int64($0 % 8)) })
        let claimed = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let store = i == 0 ? a : b
            while let c = try? store.claimNext(globalLimit: 100, perInstallationLimit: 100) {
                claimed.withLock { $0.append(c.spec.id) }
            }
        }
        let ids = claimed.withLock { $0 }
        XCTAssertEqual(ids.count, 40, "every task is claimed once: \(ids.count) claims")
        XCTAssertEqual(Set(ids).count, ids.count, "a task was claimed by both hosts")
    }

    func testPerInstallationLimitHoldsAcrossTheFleet() throws {
        let hosts = try (0..<3).map { try host("h\($0)") }
        try hosts[0].insert((0..<12).map { Fixtures.fixIssue("t\($0)", installation: 5) })
        DispatchQueue.concurrentPerform(iterations: 3) { i in
            for _ in 0..<10 { _ = try? hosts[i].claimNext(globalLimit: 10, perInstallationLimit: 2) }
        }
        XCTAssertEqual(try hosts[0].counts()[.running], 2, "installation 5 may run 2 tasks fleet-wide")
    }

    func testFleetLimitCountsEveryHostsAttempts() throws {
        let a = try host("a"), b = try host("b")
        a.fleetLimit = 1; b.fleetLimit = 1
        try a.insert([Fixtures.fixIssue("t1", installation: 1), Fixtures.fixIssue("t2", installation: 2)])
        XCTAssertNotNil(try a.claimNext(globalLimit: 5, perInstallationLimit: 5))
        XCTAssertNil(try b.claimNext(globalLimit: 5, perInstallationLimit: 5), "the fleet already runs its one attempt")
    }

    func testHostLimitCountsOnlyThatHostsAttempts() throws {
        let a = try host("a"), b = try host("b")
        try a.insert([Fixtures.fixIssue("t1", installation: 1), Fixtures.fixIssue("t2", installation: 2)])
        XCTAssertNotNil(try a.claimNext(globalLimit: 1, perInstallationLimit: 5))
        XCTAssertNotNil(try b.claimNext(globalLimit: 1, perInstallationLimit: 5), "host a's attempt filled host a only")
    }

    func testInstallationsTakeTurnsAcrossHosts() throws {
        let a = try host("a"), b = try host("b")
        try a.insert([Fixtures.fixIssue("x1", installation: 1), Fixtures.fixIssue("x2", installation: 1),
                      Fixtures.fixIssue("y1", installation: 2)])
        let first = try a.claimNext(globalLimit: 5, perInstallationLimit: 5)?.spec.id
        let second = try b.claimNext(globalLimit: 5, perInstallationLimit: 5)?.spec.id
        XCTAssertEqual([first, second], ["x1", "y1"], "installation 2 gets its turn before installation 1's second task")
    }

    func testAnExpiredLeaseIsTakenOverAsACrash() throws {
        let a = try host("a"), b = try host("b")
        try a.insert(Fixtures.fixIssue("t"))
        _ = try a.claimNext(globalLimit: 1, perInstallationLimit: 1)
        clock.advance(16)
        let taken = try b.recoverExpiredLeases(maxCrashInterruptions: 3)
        XCTAssertEqual(taken.map(\.taskID), ["t"], "host b takes over host a's attempt once its lease ran out")
        XCTAssertEqual(try b.task(id: "t")?.attempts.first?.interruptedBy, .crash)
    }

    func testARenewedLeaseIsNotTakenOver() throws {
        let a = try host("a"), b = try host("b")
        try a.insert(Fixtures.fixIssue("t"))
        _ = try a.claimNext(globalLimit: 1, perInstallationLimit: 1)
        clock.advance(10)
        XCTAssertEqual(try a.renewLeases().held, [AttemptKey(taskID: "t", number: 1)])
        clock.advance(10)
        XCTAssertEqual(try b.recoverExpiredLeases(maxCrashInterruptions: 3), [], "the lease was renewed 10 s ago")
    }

    func testALateFinishFromTheHostThatLostItsLeaseIsRefused() throws {
        let (a, b) = try takenOver()
        XCTAssertEqual(try b.claimNext(globalLimit: 1, perInstallationLimit: 1)?.attempt, 2)
        XCTAssertThrowsError(try completed(a, "t", 1)) { error in
            XCTAssertEqual(error as? StoreError, .leaseLost(taskID: "t", attempt: 1))
        }
    }

    func testTheTakeoverHostsOutcomeIsTheTasksOutcome() throws {
        let (a, b) = try takenOver()
        _ = try b.claimNext(globalLimit: 1, perInstallationLimit: 1)
        XCTAssertEqual(try completed(b, "t", 2), .completed(.success))
        _ = try? completed(a, "t", 1)
        let d = try XCTUnwrap(try a.task(id: "t"))
        XCTAssertEqual(d.attempts.map(\.state), [.interrupted, .finished], "attempt 1 stays interrupted, attempt 2 decided")
        XCTAssertEqual(d.record.state, .completed)
    }

    func testHeartbeatReportsWhatTheHostNoLongerHolds() throws {
        let (a, b) = try takenOver()
        XCTAssertEqual(try a.renewLeases().held, [], "host a's attempt was taken over")
    }

    func testHeartbeatReportsACancelRequestedOnAnotherHost() throws {
        let a = try host("a"), b = try host("b")
        try a.insert(Fixtures.fixIssue("t"))
        _ = try a.claimNext(globalLimit: 1, perInstallationLimit: 1)
        XCTAssertEqual(try b.cancel(taskID: "t"), .running(attempt: 1))
        XCTAssertEqual(try a.renewLeases().cancelRequested, ["t"])
    }

    func testAStartRecoversOnlyThatHostsOwnAttempts() throws {
        let a = try host("a"), b = try host("b")
        try a.insert([Fixtures.fixIssue("ta", installation: 1), Fixtures.fixIssue("tb", installation: 2)])
        XCTAssertEqual(try a.claimNext(globalLimit: 1, perInstallationLimit: 1)?.spec.id, "ta")
        XCTAssertEqual(try b.claimNext(globalLimit: 1, perInstallationLimit: 1)?.spec.id, "tb")
        let restarted = try host("a")
        XCTAssertEqual(try restarted.recoverInterrupted(maxCrashInterruptions: 3).map(\.taskID), ["ta"])
        XCTAssertEqual(try b.task(id: "tb")?.record.state, .running, "host b's attempt is b's")
    }

    func testACancelOnOneHostIsNotifiedToTheOthers() throws {
        let a = try host("a"), b = try host("b")
        try a.insert(Fixtures.fixIssue("t"))
        _ = try a.claimNext(globalLimit: 1, perInstallationLimit: 1)
        let listening = expectation(description: "host a listens")
        let heard = expectation(description: "host a hears the cancel")
        let once = Mutex(false)
        let subscription = try a.subscribe { channel, payload in
            // Its first wake-up says it is listening (and covers anything missed before).
            if channel == StoreChannel.queue, once.withLock({ let first = !$0; $0 = true; return first }) { listening.fulfill() }
            if channel == StoreChannel.cancel && payload == "t" { heard.fulfill() }
        }
        defer { subscription?.cancel() }
        wait(for: [listening], timeout: 5)
        _ = try b.cancel(taskID: "t")
        wait(for: [heard], timeout: 1)
    }

    func testAPublicationOneHostTookIsNotTakenByAnother() throws {
        let a = try host("a"), b = try host("b")
        try a.insert(Fixtures.fixIssue("t"))
        XCTAssertNotNil(try a.takePublication())
        XCTAssertNil(try b.takePublication(), "host a is delivering the task's only publication")
    }

    func testANewerEventWaitsUntilTheOlderOneIsDelivered() throws {
        let a = try host("a"), b = try host("b")
        try a.insert(Fixtures.fixIssue("t"))
        let queued = try XCTUnwrap(try a.takePublication())
        _ = try b.claimNext(globalLimit: 1, perInstallationLimit: 1)   // replaces it with `started`
        XCTAssertNil(try b.takePublication(), "the task's events go out from one host at a time, in order")
        try a.publicationDelivered(seq: queued.seq, taskID: "t")
        XCTAssertEqual(try b.takePublication()?.event.name, "started")
    }

    func testAnUnfinishedDeliveryIsTakenOverWhenItsClaimRunsOut() throws {
        let a = try host("a"), b = try host("b")
        try a.insert(Fixtures.fixIssue("t"))
        XCTAssertNotNil(try a.takePublication(claim: 30))
        clock.advance(31)
        XCTAssertNotNil(try b.takePublication(), "host a died while delivering: host b delivers")
    }

    func testTheSameDeliveryAtTwoHostsCreatesOneTask() throws {
        let a = try host("a"), b = try host("b")
        let results = Mutex<[DeliveryInsertResult]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let store = i == 0 ? a : b
            if let r = try? store.recordDelivery(deliveryID: "d-1", event: "issues", payloadSHA256: String(repeating: "a", count: 64),
                                                 outcome: .queued(taskID: "t-\(i)"), task: Fixtures.fixIssue("t-\(i)")) {
                results.withLock { $0.append(r) }
            }
        }
        XCTAssertEqual(try a.counts()[.queued], 1, "one task for one delivery id")
        XCTAssertEqual(results.withLock { $0.filter { $0 == .duplicate }.count }, 1, "the other host saw a duplicate")
    }

    func testARestartedHostTakesBackThePublicationsItWasDelivering() throws {
        let a = try host("a")
        try a.insert(Fixtures.fixIssue("t"))
        XCTAssertNotNil(try a.takePublication())
        let restarted = try host("a")
        try restarted.releaseOwnPublicationClaims()
        XCTAssertNotNil(try restarted.takePublication(), "host a was killed while delivering: its claim is its own again")
    }

    func testAHeartbeatRenewsTheClaimOfAPublicationBeingDelivered() throws {
        let a = try host("a"), b = try host("b")
        try a.insert(Fixtures.fixIssue("t"))
        XCTAssertNotNil(try a.takePublication())
        clock.advance(10)
        _ = try a.renewLeases()
        clock.advance(10)
        XCTAssertNil(try b.takePublication(), "host a is alive and still delivering it")
    }
}
