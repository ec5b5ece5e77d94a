import XCTest
import Foundation
@testable import Adapter
@testable import AdapterTesting
@testable import HTTP
import Supervisor

/// A mention in a comment on a pull request (`issue_comment`, whose payload names only the
/// PR's number) works on the PR's head, end to end: the daemon looks the PR up on (fake)
/// GitHub, the sandbox pre-clones its head from the real git server, and the runtime's
/// commit lands on the PR's branch, or, for a fork, on a new branch of the repository.
final class EndToEndPullRequestTests: XCTestCase {
    /// The PR's head branch; a fork's head has the same name, so a push to the
    /// repository's own `feature` would show.
    static let headBranch = "feature"

    struct Scenario {
        let world: EndToEndTests.World
        let taskID: String
        /// The PR head the task should have started from.
        let headSHA: String
        /// The repository's `feature` branch before the task.
        let featureBefore: String
        let detail: TaskDetail?
    }

    /// Sets up PR #7 (head `feature` in acme/widgets, or in a fork), delivers a comment on
    /// it that mentions the familiar, and waits for the task's published end.
    private func runCommentOnPullRequest(fromFork: Bool) throws -> Scenario {
        let w = try EndToEndTests.World(mode: "pr")
        let feature = try w.commit(parent: w.mainSHA, message: "feature work")
        try w.updateRef("refs/heads/\(Self.headBranch)", to: feature)
        w.fake.setBranch("acme/widgets", Self.headBranch, sha: feature)
        var head = feature
        if fromFork {
            // GitHub serves every PR's head from the base repository at refs/pull/N/head.
            head = try w.commit(parent: w.mainSHA, message: "fork work")
            try w.updateRef("refs/pull/7/head", to: head)
        }
        w.fake.setPullRequest("acme/widgets", .init(number: 7, headRef: Self.headBranch, headSHA: head, baseRef: "main",
                                                    headRepository: fromFork ? "forker/widgets" : nil))
        let accepted = try w.deliverPullRequestComment(number: 7, body: "@coven-cody please address the review")
        XCTAssertEqual(accepted.status, 202, accepted.text ?? "")
        let id = try XCTUnwrap(accepted.json["task_id"] as? String)
        let (detail, _) = w.waitForPublishedEnd(taskID: id)
        XCTAssertEqual(detail?.record.state, .completed, "\(String(describing: detail))\n\(w.log)")
        return Scenario(world: w, taskID: id, headSHA: head, featureBefore: feature, detail: detail)
    }

    func testCommentOnSameRepositoryPullRequestCommitsOntoItsHeadBranch() throws {
        let s = try runCommentOnPullRequest(fromFork: false)
        let pushed = try XCTUnwrap(s.world.git.head(of: "acme/widgets", branch: Self.headBranch))
        XCTAssertNotEqual(pushed, s.featureBefore, "the runtime's commit was pushed to the PR's branch\n\(s.world.log)")
        XCTAssertEqual(try s.world.parent(of: pushed), s.headSHA,
                       "the commit is based on the PR's head, not on main (\(s.world.mainSHA))")
    }

    func testCommentOnSameRepositoryPullRequestOpensNoSecondPullRequest() throws {
        let s = try runCommentOnPullRequest(fromFork: false)
        XCTAssertTrue(s.world.fake.pullRequestsCreated.isEmpty,
                      "commits on the PR's own branch need no new PR: \(s.world.fake.pullRequestsCreated)")
    }

    func testCommentOnForkPullRequestPushesANewBranchBasedOnItsHead() throws {
        let s = try runCommentOnPullRequest(fromFork: true)
        let branch = Checkout.forkBranch(taskID: s.taskID)
        let pushed = try XCTUnwrap(s.world.git.head(of: "acme/widgets", branch: branch),
                                   "a new branch \(branch) was pushed\n\(s.world.log)")
        XCTAssertEqual(try s.world.parent(of: pushed), s.headSHA, "the commit is based on the fork's head")
    }

    func testCommentOnForkPullRequestLeavesTheSameNamedBranchAlone() throws {
        let s = try runCommentOnPullRequest(fromFork: true)
        XCTAssertEqual(s.world.git.head(of: "acme/widgets", branch: Self.headBranch), s.featureBefore,
                       "the repository's own '\(Self.headBranch)' is not the fork's branch and must not move")
    }

    func testCommentOnForkPullRequestOpensADraftFromTheNewBranchIntoTheBase() throws {
        let s = try runCommentOnPullRequest(fromFork: true)
        let pr = try XCTUnwrap(s.world.fake.pullRequestsCreated.first, "a draft PR was opened\n\(s.world.log)")
        XCTAssertEqual([pr.head, pr.base], [Checkout.forkBranch(taskID: s.taskID), "main"])
    }
}

extension EndToEndTests.World {
    var bareRepository: String { dir + "/repos/acme/widgets.git" }

    /// A new commit (same tree as `parent`) in the bare repository, on no ref yet.
    func commit(parent: String, message: String) throws -> String {
        let tree = try GitSmartHTTPServer.git(["rev-parse", parent + "^{tree}"], in: bareRepository)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return try GitSmartHTTPServer.git(["-c", "user.name=t", "-c", "user.email=t@example.invalid",
                                           "commit-tree", tree, "-p", parent, "-m", message], in: bareRepository)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func updateRef(_ ref: String, to sha: String) throws {
        try GitSmartHTTPServer.git(["update-ref", ref, sha], in: bareRepository)
    }

    func parent(of sha: String) throws -> String {
        try GitSmartHTTPServer.git(["rev-parse", sha + "^"], in: bareRepository).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A signed `issue_comment.created` on pull request `number` (the payload has no head).
    func deliverPullRequestComment(number: Int, body comment: String, delivery: String = UUID().uuidString) throws
        -> HTTPClientResponse
    {
        let body = """
        {"action": "created",
         "issue": {"number": \(number), "title": "Add widgets", "body": "", "user": {"login": "octocat"},
                   "pull_request": {"url": "https://api.github.example/repos/acme/widgets/pulls/\(number)"}},
         "comment": {"id": 99, "body": "\(comment)", "user": {"login": "octocat", "type": "User"}},
         "repository": {"name": "widgets", "owner": {"login": "acme"}, "clone_url": "\(cloneURL)",
                        "default_branch": "main"},
         "installation": {"id": \(EndToEndTests.installation)},
         "sender": {"login": "octocat"}}
        """
        return try deliverSigned(event: "issue_comment", delivery: delivery, body: body)
    }
}
