import Foundation
import Supervisor

/// Decides a task's checkout from GitHub: for a pull request task, the pull request as it
/// is now (`GET /repos/{o}/{r}/pulls/{n}`). A comment on a pull request names only its
/// number, and a review's payload may be stale by the time the attempt runs.
///
/// - head in the task's repository → clone the head branch (commits land on the PR);
/// - head in a fork (or the fork is gone) → clone the base, fetch `refs/pull/N/head`,
///   work on `coven/<task id>` (pushed to the task's repository, opened as a draft PR).
///
/// - a review → clone the base, fetch `refs/pull/N/head` and check out the commit reviewed
///   (the task's pinned SHA, else the head now), detached; its files come from
///   `GET /repos/{o}/{r}/pulls/{n}/files`.
///
/// Other tasks (and local ones, without an installation) check out `Checkout.fromSpec`.
public struct GitHubCheckoutResolver: CheckoutResolver {
    public let client: GitHubClient

    public init(client: GitHubClient) { self.client = client }

    public func checkout(for task: TaskSpec) async throws(CheckoutError) -> Checkout {
        guard let number = task.kind.pullRequestNumber, let installation = task.installationID else {
            return Checkout.fromSpec(task)
        }
        let repo = GitHubClient.Repo(task.repo)
        let pull: GitHubClient.PullRequestInfo
        do {
            pull = try await client.pullRequest(repo, number: number, auth: .installation(installation))
        } catch let e as GitHubAPIError where e.isHTTP(404) {
            throw .pullRequestNotFound(number)
        } catch {
            throw .unavailable(GitHubPublisher.shortError(error))
        }
        if task.kind.isReview {
            return .reviewHead(base: pull.baseRef, fetch: Checkout.pullHeadRef(number), sha: task.headSHA ?? pull.headSHA)
        }
        if pull.headIsIn(repo) { return .branch(pull.headRef) }
        return .forkHead(pullRequest: number, base: pull.baseRef, branch: Checkout.forkBranch(taskID: task.id))
    }

    public func reviewFiles(for task: TaskSpec) async throws(CheckoutError) -> [String] {
        guard let number = task.kind.pullRequestNumber, let installation = task.installationID else { return [] }
        do {
            return try await client.pullRequestFiles(GitHubClient.Repo(task.repo), number: number,
                                                     auth: .installation(installation)).map(\.filename)
        } catch let e as GitHubAPIError where e.isHTTP(404) {
            throw .pullRequestNotFound(number)
        } catch {
            throw .unavailable(GitHubPublisher.shortError(error))
        }
    }
}
