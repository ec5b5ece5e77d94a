import Foundation
import XCTest
import Supervisor
@testable import Adapter

/// `GitHubPublisher.publish` as the outbox calls it: which failures ask for a retry, and
/// that a retried event repeats nothing GitHub already has.
final class GitHubPublisherRetryTests: GitHubTestCase {
    private func publisher() throws -> GitHubPublisher { GitHubPublisher(client: try client(), log: logs.log) }

    /// The retry reason `publish` threw, nil when it returned.
    private func retryReason(_ p: GitHubPublisher, _ event: PublicationEvent) async -> String? {
        do throws(PublicationError) {
            try await p.publish(event)
            return nil
        } catch {
            switch error { case .retryLater(let reason): return reason }
        }
    }

    func testA5xxThatOutlastsTheClientsRetriesAsksForARetry() async throws {
        fake.injectFailure(status: 500, count: 1000) { _, path in path.contains("/comments") }
        let reason = await retryReason(try publisher(), .queued(GitHubFixture.issueTask()))
        XCTAssertTrue(reason?.contains("status comment") ?? false, "a 5xx is worth another try later, got \(reason ?? "nil")")
    }

    func testA4xxCountsAsDelivered() async throws {
        fake.injectFailure(status: 422, count: 1) { method, path in method == "POST" && path.hasSuffix("/check-runs") }
        let reason = await retryReason(try publisher(), .queued(GitHubFixture.issueTask()))
        XCTAssertNil(reason, "retrying a refused call cannot help")
    }

    func testARetriedFinishedEventCompletesTheSameCheckRunAndOpensOnePR() async throws {
        let p = try publisher()
        let task = GitHubFixture.issueTask()
        await p.taskQueued(task)
        fake.injectFailure(status: 500, count: 1000) { _, path in path.contains("/comments") }
        let first = await retryReason(p, .finished(task, GitHubFixture.success()))
        XCTAssertNotNil(first, "the comment step failed")
        fake.clearInjectedFailures()
        let second = await retryReason(p, .finished(task, GitHubFixture.success()))
        XCTAssertNil(second, "GitHub is back")
        XCTAssertEqual(fake.checkRuns.map(\.conclusion), ["success"], "one Check Run, completed")
        XCTAssertEqual(fake.pullRequestsCreated.count, 1, "the PR of the first try is reused")
    }

    func testAPRThatCannotBeOpenedForNowLeavesTheCheckRunOpen() async throws {
        let p = try publisher()
        let task = GitHubFixture.issueTask()
        await p.taskQueued(task)
        fake.injectFailure(status: 502, count: 1000) { method, path in method == "POST" && path.hasSuffix("/pulls") }
        let reason = await retryReason(p, .finished(task, GitHubFixture.success()))
        XCTAssertNotNil(reason, "a 502 on the PR is worth another try")
        XCTAssertEqual(fake.checkRuns.first?.status, "queued", "not completed without the PR it is about to get")
    }
}
