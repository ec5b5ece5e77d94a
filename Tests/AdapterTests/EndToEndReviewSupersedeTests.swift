import XCTest
import Foundation
@testable import Adapter
@testable import AdapterTesting
@testable import HTTP
import Supervisor

/// A newer push while a review runs, through the webhook path of a real daemon: the
/// running review of the older commit is torn down, its Check Run concludes `neutral`
/// "superseded by <sha>", and only the newer commit's review is posted.
final class EndToEndReviewSupersedeTests: XCTestCase {
    struct Scenario {
        let world: EndToEndTests.World
        let old: String
        let new: String
        let oldTask: TaskDetail?
    }

    private func supersedeRunningReview() throws -> Scenario {
        let w = try EndToEndTests.World(mode: "review-slow-first", familiars: EndToEndReviewTests.familiars)
        let old = try w.pushPullRequest7(parent: w.mainSHA, message: "slow")
        let opened = try w.deliverPullRequestOpened(number: 7, head: old)
        let oldID = try XCTUnwrap(opened.json["task_id"] as? String, opened.text ?? "")
        XCTAssertTrue(eventually(timeout: 60) { (try? w.daemon.store.task(id: oldID))?.attempts.first?.state == .running },
                      "the review of the older commit did not start\n\(w.log)")

        let new = try w.pushPullRequest7(parent: old, message: "fast")
        let pushed = try w.deliverPullRequest(action: "synchronize", number: 7, head: new)
        XCTAssertEqual(pushed.status, 202, pushed.text ?? "")
        let newID = try XCTUnwrap(pushed.json["task_id"] as? String, pushed.text ?? "")
        // Both ends published: the newer review posted, both Check Runs completed.
        _ = eventually(timeout: 120, interval: 0.1) {
            (try? w.daemon.store.task(id: newID))?.record.state == .completed
                && w.fake.reviews.contains { $0.commitID == new }
                && w.fake.checkRuns.filter { $0.status == "completed" }.count == 2
        }
        return Scenario(world: w, old: old, new: new, oldTask: try? w.daemon.store.task(id: oldID))
    }

    func testTheRunningReviewOfTheOlderCommitIsTornDown() throws {
        let s = try supersedeRunningReview()
        XCTAssertEqual(s.oldTask?.record.state, .cancelled, "\(String(describing: s.oldTask))\n\(s.world.log)")
        XCTAssertEqual(s.oldTask?.attempts.first?.classification, .cancelled, "its attempt was torn down, not left to finish")
    }

    func testTheOlderCommitsCheckRunConcludesNeutralSupersededByTheNewerCommit() throws {
        let s = try supersedeRunningReview()
        let run = try XCTUnwrap(s.world.fake.checkRuns.first { $0.headSHA == s.old }, "a Check Run on the older commit\n\(s.world.log)")
        XCTAssertEqual([run.status, run.conclusion ?? "-"], ["completed", "neutral"], "\(s.world.log)")
        XCTAssertTrue((run.outputSummary ?? "").contains("superseded by \(s.new)"), run.outputSummary ?? "no summary")
    }

    func testNoReviewIsPostedForTheOlderCommit() throws {
        let s = try supersedeRunningReview()
        XCTAssertEqual(s.world.fake.reviews.map(\.commitID), [s.new], "only the newer commit's review is posted\n\(s.world.log)")
    }
}
