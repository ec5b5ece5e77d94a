import XCTest
import Foundation
@testable import Adapter
@testable import AdapterTesting
@testable import HTTP
import Supervisor

/// A review end to end: a signed `pull_request.opened` for a contract-v2 familiar that
/// reviews every PR; the daemon looks the PR and its files up on the fake GitHub, the
/// sandbox pre-clones the base and checks out the PR's head from the real git server,
/// the runtime reports findings, and the fake sees one PR review with an inline comment
/// on the reviewed commit and a completed Check Run.
final class EndToEndReviewTests: XCTestCase {
    static let familiars = #"[{"id": "cody", "display_name": "Cody", "bot_username": "coven-cody[bot]", "contract_version": 2, "review": {"trigger": "always"}}]"#
    static let patch = "@@ -1 +1,2 @@\n # widgets\n+reviewed line"

    struct Scenario {
        let world: EndToEndTests.World
        let head: String
        let detail: TaskDetail?
        let run: FakeGitHubAPI.CheckRun?
    }

    private func runReview() throws -> Scenario {
        let w = try EndToEndTests.World(mode: "review", familiars: Self.familiars)
        let head = try w.pushPullRequest7(parent: w.mainSHA, message: "feature work")
        let accepted = try w.deliverPullRequestOpened(number: 7, head: head)
        XCTAssertEqual(accepted.status, 202, accepted.text ?? "")
        let id = try XCTUnwrap(accepted.json["task_id"] as? String)
        var (detail, run) = w.waitForPublishedEnd(taskID: id)
        // The review is posted before the Check Run completes; the comment edit comes last.
        _ = eventually(timeout: 30) { w.fake.checkRuns.first?.status == "completed" }
        run = w.fake.checkRuns.first
        detail = try? w.daemon.store.task(id: id)
        return Scenario(world: w, head: head, detail: detail, run: run)
    }

    func testAnOpenedPullRequestIsReviewedEndToEnd() throws {
        let s = try runReview()
        XCTAssertEqual(s.detail?.record.state, .completed, "\(String(describing: s.detail))\n\(s.world.log)")

        let review = try XCTUnwrap(s.world.fake.reviews.first, "a review was posted\n\(s.world.log)")
        XCTAssertEqual(s.world.fake.reviews.count, 1, "one review")
        XCTAssertEqual(review.commitID, s.head, "on the reviewed commit")
        XCTAssertEqual(review.state, "COMMENTED")
        XCTAssertTrue(review.body.contains("Far below"), "the finding off the diff is in the body: \(review.body)")
        XCTAssertFalse(review.body.contains("Elsewhere"), "the finding outside the PR's files is withheld")

        let inline = s.world.fake.reviewComments
        XCTAssertEqual(inline.map { "\($0.path):\($0.line):\($0.side)" }, ["README.md:2:RIGHT"], "one inline comment")

        let run = try XCTUnwrap(s.run)
        XCTAssertEqual(run.headSHA, s.head, "the Check Run is on the reviewed commit")
        XCTAssertEqual([run.status, run.conclusion ?? "-"], ["completed", "success"])
        let summary = run.outputSummary ?? ""
        for part in ["**Evidence:** complete", "`make test` | passed", "- read only the diff", "1 outside the pull request's files"] {
            XCTAssertTrue(summary.contains(part), "Check Run summary lacks \(part): \(summary)")
        }
        XCTAssertEqual(run.annotations.map(\.path), ["README.md", "README.md"], "annotations for the published findings")
    }

    func testTheWorkspaceHoldsThePullRequestsHeadWithTheBaseFetched() throws {
        let s = try runReview()
        let summary = s.detail?.record.result?.summary ?? ""
        XCTAssertEqual(summary, "head \(s.head) base \(s.world.mainSHA)", "\(s.world.log)")
    }

    func testTheBriefCarriedThePullRequestsFiles() throws {
        let s = try runReview()
        XCTAssertFalse(s.world.fake.calls("GET", pathSuffix: "/pulls/7/files").isEmpty, "the files were looked up for the brief")
    }
}

extension EndToEndTests.World {
    /// A signed `pull_request.opened` for PR `number` with head `head`.
    func deliverPullRequestOpened(number: Int, head: String, delivery: String = UUID().uuidString) throws -> HTTPClientResponse {
        try deliverPullRequest(action: "opened", number: number, head: head, delivery: delivery)
    }

    /// A signed `pull_request` delivery with `action` for PR `number` at `head`.
    func deliverPullRequest(action: String, number: Int, head: String, delivery: String = UUID().uuidString) throws
        -> HTTPClientResponse
    {
        let body = """
        {"action": "\(action)", "number": \(number),
         "pull_request": {"number": \(number), "title": "Add widgets", "draft": false, "user": {"login": "octocat"},
                          "labels": [], "head": {"ref": "feature", "sha": "\(head)"}, "base": {"ref": "main"}},
         "repository": {"name": "widgets", "owner": {"login": "acme"}, "clone_url": "\(cloneURL)", "default_branch": "main"},
         "installation": {"id": \(EndToEndTests.installation)},
         "sender": {"login": "octocat"}}
        """
        return try deliverSigned(event: "pull_request", delivery: delivery, body: body)
    }

    /// Moves PR #7's head to a new commit on `parent` (the git server's ref and the fake's
    /// pull request, with one changed file), and returns that commit.
    func pushPullRequest7(parent: String, message: String) throws -> String {
        let head = try commit(parent: parent, message: message)
        try updateRef("refs/pull/7/head", to: head)
        fake.setPullRequest("acme/widgets", .init(number: 7, headRef: "feature", headSHA: head, baseRef: "main",
                                                  files: [.init(filename: "README.md", patch: EndToEndReviewTests.patch)]))
        return head
    }
}
