import XCTest
import Supervisor
@testable import Adapter
@testable import AdapterTesting

/// What a pull request task checks out, decided from the PR as GitHub (the fake) has it.
final class GitHubCheckoutResolverTests: GitHubTestCase {
    private func resolve(_ task: TaskSpec) async throws(CheckoutError) -> Checkout {
        let resolver = GitHubCheckoutResolver(client: try! client())
        return try await resolver.checkout(for: task)
    }

    func testSameRepositoryPullRequestChecksOutItsHeadBranch() async throws {
        let checkout = try await resolve(GitHubFixture.prTask())
        XCTAssertEqual(checkout, .branch("feature/pr-7"))
    }

    func testForkPullRequestChecksOutItsHeadOnANewBranch() async throws {
        let task = GitHubFixture.prTask()
        fake.setPullRequest(GitHubFixture.fullName, .init(number: GitHubFixture.prNumber, headRef: "feature/pr-7",
                                                          headSHA: GitHubFixture.prHeadSHA, baseRef: "main",
                                                          headRepository: "forker/widgets"))
        let checkout = try await resolve(task)
        XCTAssertEqual(checkout, .forkHead(pullRequest: GitHubFixture.prNumber, base: "main",
                                           branch: Checkout.forkBranch(taskID: task.id)))
    }

    func testMissingPullRequestIsNotFound() async {
        var task = GitHubFixture.prTask()
        task.kind = .addressReviewComment(prNumber: 404, commentBody: "x", diffHunk: nil, path: nil, line: nil)
        do {
            let c = try await resolve(task)
            XCTFail("expected pullRequestNotFound, got \(c)")
        } catch {
            XCTAssertEqual(error, .pullRequestNotFound(404))
        }
    }

    func testIssueTaskChecksOutTheDefaultBranchWithoutAskingGitHub() async throws {
        let checkout = try await resolve(GitHubFixture.issueTask())
        XCTAssertEqual(checkout, .branch("main"))
        XCTAssertTrue(fake.calls("GET", pathSuffix: "/pulls/\(GitHubFixture.prNumber)").isEmpty)
    }
}
