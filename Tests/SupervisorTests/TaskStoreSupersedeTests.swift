import XCTest
import Foundation
import Sandbox
@testable import Supervisor
import StoreTesting

/// A review of a newer push supersedes the live reviews of the same PR (schema 5).
final class TaskStoreSupersedeTests: XCTestCase {
    private var dir = ""
    private let hash = String(repeating: "cd", count: 32)
    static let oldSHA = String(repeating: "1", count: 40)
    static let newSHA = String(repeating: "2", count: 40)

    override func setUpWithError() throws { dir = try Fixtures.tempDir(self) }

    private func openStore() throws -> TaskStore { try StoreFixture.store(in: dir) }

    @discardableResult
    private func deliver(_ store: TaskStore, _ delivery: String, _ task: TaskSpec) throws -> DeliveryInsertResult {
        try store.recordDelivery(deliveryID: delivery, event: "pull_request.synchronize", payloadSHA256: hash,
                                 outcome: .queued(taskID: task.id), task: task)
    }

    func testANewerPushCancelsTheQueuedReview() throws {
        let store = try openStore()
        try deliver(store, "d1", Fixtures.review("old", headSHA: Self.oldSHA))
        XCTAssertEqual(try deliver(store, "d2", Fixtures.review("new", headSHA: Self.newSHA)), .superseding(queued: ["old"], running: []))
        XCTAssertEqual(try store.task(id: "old")?.record.state, .cancelled)
    }

    func testTheSupersededReviewKnowsItsSuccessor() throws {
        let store = try openStore()
        try deliver(store, "d1", Fixtures.review("old", headSHA: Self.oldSHA))
        try deliver(store, "d2", Fixtures.review("new", headSHA: Self.newSHA))
        XCTAssertEqual(try store.task(id: "old")?.record.supersededBy, Self.newSHA)
    }

    func testTheSupersededReviewsFinishedPublicationSaysSo() throws {
        let store = try openStore()
        try deliver(store, "d1", Fixtures.review("old", headSHA: Self.oldSHA))
        try deliver(store, "d2", Fixtures.review("new", headSHA: Self.newSHA))
        let finished = try store.pendingPublications().compactMap { p -> TaskOutcome? in
            if case .finished(let t, let o) = p.event, t.id == "old" { return o }
            return nil
        }
        XCTAssertEqual(finished.map(\.supersededBy), [Self.newSHA])
    }

    func testANewerPushAsksToCancelTheRunningReview() throws {
        let store = try openStore()
        try deliver(store, "d1", Fixtures.review("old", headSHA: Self.oldSHA))
        _ = try store.claimNext(globalLimit: 1, perInstallationLimit: 1)
        XCTAssertEqual(try deliver(store, "d2", Fixtures.review("new", headSHA: Self.newSHA)), .superseding(queued: [], running: ["old"]))
        XCTAssertEqual(try store.isCancelRequested(taskID: "old"), true, "the caller tears the running attempt down")
    }

    func testAReviewOfTheSameCommitJoinsTheLiveOne() throws {
        let store = try openStore()
        try deliver(store, "d1", Fixtures.review("old", headSHA: Self.oldSHA))
        XCTAssertEqual(try deliver(store, "d2", Fixtures.review("again", headSHA: Self.oldSHA)), .coalesced(taskID: "old"))
    }

    func testARetriedReviewIsNoLongerSuperseded() throws {
        let store = try openStore()
        try deliver(store, "d1", Fixtures.review("old", headSHA: Self.oldSHA))
        try deliver(store, "d2", Fixtures.review("new", headSHA: Self.newSHA))
        _ = try store.retry(taskID: "old")
        XCTAssertNil(try store.task(id: "old")?.record.supersededBy)
    }
}
