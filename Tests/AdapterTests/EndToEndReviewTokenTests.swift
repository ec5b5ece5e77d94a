import XCTest
import Foundation
@testable import Adapter
@testable import AdapterTesting
@testable import HTTP
import Supervisor

/// A review only reads: its attempt's installation token is minted with `contents: read`,
/// so a runtime that tries to push during a review is refused by git (as GitHub refuses
/// a read-only token's push).
final class EndToEndReviewTokenTests: XCTestCase {
    struct Scenario {
        let world: EndToEndTests.World
        let detail: TaskDetail?
    }

    private func reviewThatTriesToPush() throws -> Scenario {
        let w = try EndToEndTests.World(mode: "review-push", familiars: EndToEndReviewTests.familiars)
        let head = try w.pushPullRequest7(parent: w.mainSHA, message: "feature work")
        let accepted = try w.deliverPullRequestOpened(number: 7, head: head)
        let id = try XCTUnwrap(accepted.json["task_id"] as? String, accepted.text ?? "")
        let (detail, _) = w.waitForPublishedEnd(taskID: id)
        return Scenario(world: w, detail: detail)
    }

    func testTheReviewAttemptsGitTokenIsContentsRead() throws {
        let s = try reviewThatTriesToPush()
        // The publication token writes checks; the attempt's is the other one.
        let git = s.world.fake.tokensIssued.filter { $0.permissions["checks"] == nil }
        XCTAssertEqual(git.map { $0.permissions["contents"] ?? "-" }, ["read"],
                       "one git token, read-only: \(s.world.fake.tokensIssued)\n\(s.world.log)")
    }

    func testTheReviewAttemptCannotPush() throws {
        let s = try reviewThatTriesToPush()
        XCTAssertEqual(s.detail?.record.result?.summary, "pushed no", "git refused the push\n\(s.world.log)")
        XCTAssertNil(s.world.git.head(of: "acme/widgets", branch: "coven/review-push"), "no branch reached the repository")
    }

    func testTheReviewAttemptStillFetchedThePullRequest() throws {
        let s = try reviewThatTriesToPush()
        XCTAssertEqual(s.detail?.record.state, .completed, "the read-only token cloned and fetched\n\(s.world.log)")
    }
}
