import XCTest
import Foundation
import Synchronization
@testable import Supervisor
import StoreTesting

/// The outbox worker against a scripted publisher: delivery and removal, retries,
/// resumption, and that neither drain nor stop waits for a publisher that hangs.
final class PublicationOutboxTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws { dir = try Fixtures.tempDir(self) }

    /// Records every delivery; answers `.retryLater` for the first `failFirst` ones; while
    /// `hang` is set, blocks each delivery until `release()`.
    final class ScriptedPublisher: Publisher, @unchecked Sendable {
        private let state = Mutex<(delivered: [String], failuresLeft: Int, entered: Int)>(([], 0, 0))
        private let gate = DispatchSemaphore(value: 0)
        let hang: Bool

        init(failFirst: Int = 0, hang: Bool = false) {
            self.hang = hang
            state.withLock { $0.failuresLeft = failFirst }
        }

        var delivered: [String] { state.withLock { $0.delivered } }
        /// Deliveries begun (hanging ones included).
        var entered: Int { state.withLock { $0.entered } }
        func release() { for _ in 0..<100 { gate.signal() } }

        func taskQueued(_ task: TaskSpec) async {}
        func attemptStarted(_ task: TaskSpec, attempt: Int) async {}
        func taskFinished(_ task: TaskSpec, outcome: TaskOutcome) async {}

        func publish(_ event: PublicationEvent) async throws(PublicationError) {
            state.withLock { $0.entered += 1 }
            if hang { gate.wait() }
            let fail = state.withLock { s -> Bool in
                s.delivered.append("\(event.task.id):\(event.name)")
                if s.failuresLeft > 0 { s.failuresLeft -= 1; return true }
                return false
            }
            if fail { throw .retryLater(reason: "HTTP 503") }
        }
    }

    private func eventually(_ seconds: Double = 30, _ cond: () throws -> Bool) rethrows -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end { if try cond() { return true }; usleep(20_000) }
        return try cond()
    }

    func testAStoredEventIsDeliveredAndThenRemoved() throws {
        let store = try StoreFixture.store(in: dir)
        let publisher = ScriptedPublisher()
        let outbox = PublicationOutbox(store: store, publisher: publisher)
        outbox.start()
        defer { outbox.stop() }
        try store.insert(Fixtures.fixIssue("t1"))
        outbox.wake()
        XCTAssertTrue(outbox.drain(until: Date().addingTimeInterval(30)), "the outbox did not drain")
        XCTAssertEqual(publisher.delivered, ["t1:queued"])
        XCTAssertEqual(try store.pendingPublicationCount(), 0, "a delivered event leaves the store")
    }

    func testEventsLeftByAPreviousRunAreDeliveredAtStart() throws {
        let previous = try StoreFixture.store(in: dir)
        try previous.insert(Fixtures.fixIssue("t1"))
        try previous.insert(Fixtures.fixIssue("t2"))
        let publisher = ScriptedPublisher()
        let outbox = PublicationOutbox(store: try StoreFixture.store(in: dir), publisher: publisher)
        outbox.start()
        defer { outbox.stop() }
        XCTAssertTrue(outbox.drain(until: Date().addingTimeInterval(30)), "the outbox did not drain")
        XCTAssertEqual(publisher.delivered, ["t1:queued", "t2:queued"])
    }

    func testAnEventThatAsksForARetryIsDeliveredAgain() throws {
        let store = try StoreFixture.store(in: dir)
        try store.insert(Fixtures.fixIssue("t1"))
        let publisher = ScriptedPublisher(failFirst: 1)
        let outbox = PublicationOutbox(store: store, publisher: publisher)
        outbox.start()
        defer { outbox.stop() }
        XCTAssertTrue(try eventually { try store.pendingPublicationCount() == 0 }, "the event was never delivered: \(publisher.delivered)")
        XCTAssertEqual(publisher.delivered, ["t1:queued", "t1:queued"], "one refused delivery, then one that took")
    }

    func testDrainGivesUpAtItsDeadlineWhenThePublisherHangs() throws {
        let store = try StoreFixture.store(in: dir)
        try store.insert(Fixtures.fixIssue("t1"))
        let publisher = ScriptedPublisher(hang: true)
        defer { publisher.release() }
        let outbox = PublicationOutbox(store: store, publisher: publisher)
        outbox.start()
        defer { outbox.stop() }
        let started = Date()
        XCTAssertFalse(outbox.drain(until: started.addingTimeInterval(0.3)), "nothing was delivered: not drained")
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "drain waited past its deadline for a hanging publisher")
    }

    func testAnEventStillBeingDeliveredAtStopStaysInTheStore() throws {
        let store = try StoreFixture.store(in: dir)
        try store.insert(Fixtures.fixIssue("t1"))
        let publisher = ScriptedPublisher(hang: true)
        defer { publisher.release() }
        let outbox = PublicationOutbox(store: store, publisher: publisher)
        outbox.start()
        XCTAssertTrue(eventually { publisher.entered == 1 }, "the delivery never began")
        outbox.stop()
        XCTAssertEqual(try store.pendingPublicationCount(), 1, "an undelivered event must wait for the next start")
    }
}
